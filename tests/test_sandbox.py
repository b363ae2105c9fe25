"""The sandbox: nothing crosses between the caller, functions and the host (issue #16, items 7-10).

Each check that needs a kernel feature skips, saying why, where the kernel
refuses it (the ``sandbox`` fixture holds what this machine enforces).
"""

from __future__ import annotations

import os
import socket
import zipfile

import pytest

from pylambda import Function, InvalidParameterValueError, Invoker


def _need(sandbox: dict, part: str) -> None:
    if sandbox.get(part) is not None:
        pytest.skip(f"not enforced on this machine: {sandbox[part]}")


# -- 7. no secret, memory or signal crosses ------------------------------------------------


def read_own_environ(event, context):
    """Returns the environment the process was started with, as the kernel keeps it."""
    with open("/proc/self/environ", "rb") as f:
        return f.read().decode(errors="replace")


def test_the_callers_environment_is_not_in_proc_self_environ(invoker, monkeypatch):
    """/proc/self/environ of a handler holds none of the caller's variables (a real secret key included)."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-real-secret-0123456789")
    monkeypatch.setenv("PYLAMBDA_TEST_CALLER_ONLY", "caller-only-value")
    with Invoker() as inv:  # a new zygote, started with the caller's environment as it is now
        text = inv.invoke(Function("environ", read_own_environ)).payload
    assert "caller-real-secret-0123456789" not in text
    assert "caller-only-value" not in text


def reach(event, context):
    """Tries ``event["how"]`` on process ``event["pid"]``; returns "ok" or the errno's name."""
    import errno
    import os

    pid, how = event["pid"], event["how"]
    try:
        if how == "kill":
            os.kill(pid, 0)  # signal 0: permission and existence, as SIGKILL would be checked
        else:
            with open(f"/proc/{pid}/{how}", "rb") as f:
                f.read(1)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


@pytest.mark.parametrize("how", ["environ", "mem", "kill"])
@pytest.mark.parametrize("whom", ["caller", "zygote", "other environment"])
def test_a_handler_cannot_read_or_signal_other_processes(invoker, sandbox, whom, how):
    """No handler reads the environment or memory of, or signals, the caller, the zygote or another environment."""
    _need(sandbox, "namespaces")
    invoker.invoke(Function("bystander", lambda e, c: None))
    (bystander,) = invoker.environments()
    pid = {"caller": os.getpid(), "zygote": invoker.zygote_pid, "other environment": bystander.pid}[whom]
    outcome = invoker.invoke(Function("prober", reach), {"pid": pid, "how": how}).payload
    assert outcome in ("ENOENT", "ESRCH", "EACCES", "EPERM")


def test_a_handler_sees_only_its_own_processes(invoker, sandbox):
    """/proc inside an environment lists its own init and runtime, nothing of the host."""
    _need(sandbox, "namespaces")
    pids = invoker.invoke(Function("ps", lambda e, c: sorted(int(p) for p in os.listdir("/proc") if p.isdigit())))
    assert pids.payload == [1, 2]


# -- 8. code is read-only -------------------------------------------------------------------


def _package(tmp_path, name="pkg"):
    src = tmp_path / name
    src.mkdir()
    (src / "app.py").write_text(
        "import errno, os\n"
        "VALUE = 'original'\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        with open(os.path.join(os.environ['LAMBDA_TASK_ROOT'], event['file']), 'w') as f:\n"
        "            f.write(\"VALUE = 'rewritten'\\ndef handler(event, context):\\n    return VALUE\\n\")\n"
        "        written = 'ok'\n"
        "    except OSError as e:\n"
        "        written = errno.errorcode[e.errno]\n"
        "    return {'value': VALUE, 'write': written}\n"
    )
    return src


@pytest.mark.parametrize("shape", ["$LATEST directory", "published version", "zip file"])
def test_code_rejects_writes(invoker, sandbox, tmp_path, shape):
    """A handler cannot write into its code (EROFS), the source tree stays as it was, and calls stay warm."""
    _need(sandbox, "namespaces")
    src = _package(tmp_path)
    if shape == "zip file":
        with zipfile.ZipFile(tmp_path / "pkg.zip", "w") as zf:
            zf.write(src / "app.py", "app.py")
        target = Function("ro", "app.handler", code=str(tmp_path / "pkg.zip"))
    else:
        fn = Function("ro", "app.handler", code=str(src))
        target = fn.publish_version() if shape == "published version" else fn
    first = invoker.invoke(target, {"file": "app.py"})
    again = invoker.invoke(target, {"file": "new.py"})
    assert first.payload == {"value": "original", "write": "EROFS"}
    assert again.payload == {"value": "original", "write": "EROFS"}
    assert not again.cold_start
    assert sorted(p.name for p in src.iterdir()) == ["app.py"]


def test_functions_sharing_a_package_cannot_change_each_others_code(invoker, sandbox, tmp_path):
    """Two functions with the same zip: what one handler tries to write, the other never runs."""
    _need(sandbox, "namespaces")
    src = _package(tmp_path)
    with zipfile.ZipFile(tmp_path / "pkg.zip", "w") as zf:
        zf.write(src / "app.py", "app.py")
    a = Function("writer", "app.handler", code=str(tmp_path / "pkg.zip"))
    b = Function("reader", "app.handler", code=str(tmp_path / "pkg.zip"))
    assert invoker.invoke(a, {"file": "app.py"}).payload["write"] == "EROFS"
    assert invoker.invoke(b, {"file": "other.py"}).payload["value"] == "original"


# -- 9. /tmp ------------------------------------------------------------------------------------


def tmp_note(event, context):
    """Writes ``event["write"]`` to /tmp/note (if given) and returns what /tmp held before."""
    import os
    from pathlib import Path

    path = "/tmp/note"
    before = Path(path).read_text() if os.path.exists(path) else None
    if event.get("write") is not None:
        with open(path, "w") as f:
            f.write(event["write"])
    return {"before": before, "listing": sorted(os.listdir("/tmp"))}


def test_each_environment_has_its_own_tmp_at_slash_tmp(invoker, sandbox, tmp_path):
    """/tmp is private per environment: another function's files and the host's are not there."""
    _need(sandbox, "namespaces")
    host_file = f"/tmp/pylambda-host-{os.getpid()}"
    with open(host_file, "w") as f:
        f.write("host")
    try:
        a, b = Function("tmp-a", tmp_note), Function("tmp-b", tmp_note)
        assert invoker.invoke(a, {"write": "a"}).payload["before"] is None
        seen_by_b = invoker.invoke(b, {"write": "b"}).payload
        assert seen_by_b["before"] is None
        assert os.path.basename(host_file) not in seen_by_b["listing"]
        assert invoker.invoke(a, {}).payload["before"] == "a"  # kept while warm
        assert invoker.invoke(b, {}).payload["before"] == "b"
    finally:
        os.unlink(host_file)


def fill_tmp(event, context):
    """Writes 8 MB blocks to /tmp until the file system refuses; returns (MB written, errno name)."""
    import errno

    block = b"\0" * (8 << 20)
    written = 0
    try:
        with open("/tmp/fill", "wb", buffering=0) as f:
            while written < (600 << 20):
                written += f.write(block)
    except OSError as e:
        return [written >> 20, errno.errorcode[e.errno]]
    return [written >> 20, None]


def _writes_tmp(event, context):
    with open("/tmp/secret", "w") as f:
        f.write("of another invoker")
    return "written"


def _walks(event, context):
    import os

    return [os.path.join(root, f) for root, _dirs, files in os.walk(event["dir"]) for f in files]


def test_no_environment_sees_another_invokers_tmp_when_tmpdir_is_elsewhere(sandbox, monkeypatch):
    """With ``TMPDIR`` outside /tmp, the work directories' parent is hidden: no /tmp of another Invoker shows."""
    import shutil
    import tempfile

    _need(sandbox, "namespaces")
    try:
        root = tempfile.mkdtemp(prefix="pylambda-test-", dir="/var/tmp")
    except OSError:
        pytest.skip("no writable /var/tmp")
    monkeypatch.setattr(tempfile, "tempdir", root)
    a, b = Invoker(), Invoker()
    try:
        assert os.path.dirname(a._workdir) == root
        assert b.invoke(Function("writer", _writes_tmp), {}).payload == "written"
        assert a.invoke(Function("walker", _walks), {"dir": root}).payload == []
    finally:
        a.close()
        b.close()
        shutil.rmtree(root, ignore_errors=True)


def test_tmp_is_sized_by_ephemeral_storage(invoker, sandbox):
    """A write past ephemeral_storage (512 MB) fails with ENOSPC, as on Lambda."""
    _need(sandbox, "namespaces")
    fn = Function("filler", fill_tmp, ephemeral_storage=512, timeout=60)
    mb, error = invoker.invoke(fn).payload
    invoker.reset(fn)  # frees the 512 MB at once
    assert error == "ENOSPC"
    assert 500 <= mb <= 512


def _tmp_mounts(zygote_pid: int) -> list[str]:
    """The private /tmp file systems the zygote holds (one per environment /tmp alive)."""
    with open(f"/proc/{zygote_pid}/mountinfo") as f:
        points = [line.split()[4] for line in f if " - tmpfs " in line]
    return [p for p in points if os.path.basename(p).startswith("env-") and "/pylambda-" in p]


def crash(event, context):
    """Writes /tmp/note, then (if asked) exits as a crash does."""
    import os
    from pathlib import Path

    before = Path("/tmp/note").read_text() if os.path.exists("/tmp/note") else None
    with open("/tmp/note", "w") as f:
        f.write("kept")
    if event.get("exit"):
        os._exit(1)
    return before


@pytest.mark.parametrize("end", ["reset", "stateless", "idle expiry", "close"])
def test_tmp_outlives_a_crash_but_not_the_environment(sandbox, end):
    """/tmp survives a runtime crash (a reset) and is freed when pylambda ends the environment."""
    _need(sandbox, "namespaces")
    import time

    inv = Invoker(idle_ttl=0.2 if end == "idle expiry" else None, stateless=end == "stateless")
    try:
        fn = Function("tmp-life", crash)
        inv.invoke(fn, {"exit": True})
        if end != "stateless":
            assert inv.invoke(fn, {}).payload == "kept"  # a new runtime, the same /tmp
        zygote = inv.zygote_pid  # the process's (shared by every Invoker): only this Invoker's /tmp count
        workdir = inv._workdir + os.sep

        def mounts() -> list[str]:
            return [m for m in _tmp_mounts(zygote) if m.startswith(workdir)]

        if end == "reset":
            assert mounts()
            inv.reset(fn)
        elif end == "idle expiry":
            deadline = time.monotonic() + 5
            while inv.environments() and time.monotonic() < deadline:
                time.sleep(0.05)
        elif end == "close":
            assert mounts()
            inv.close()
            deadline = time.monotonic() + 5  # the directories go in the background after close()
            while mounts() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert mounts() == []
            return
        assert mounts() == []
        assert inv.invoke(fn, {}).payload is None  # a new environment starts with an empty /tmp
    finally:
        inv.close()


# -- 10. limits -------------------------------------------------------------------------


def open_files(event, context):
    """Returns the descriptor limits and how many more files could be opened."""
    import errno
    import resource

    fds = []
    error = None
    try:
        while len(fds) < 2000:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        error = errno.errorcode[e.errno]
    for fd in fds:
        os.close(fd)
    return {"limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "opened": len(fds), "error": error}


def test_file_descriptors_are_limited_to_1024(invoker):
    """RLIMIT_NOFILE is Lambda's 1,024 (soft and hard): the 1,025th descriptor fails with EMFILE."""
    out = invoker.invoke(Function("fds", open_files)).payload
    assert out["limit"] == [1024, 1024]
    assert out["error"] == "EMFILE"
    assert 1000 < out["opened"] < 1024


def start_threads(event, context):
    """Starts threads until the system refuses; returns how many ran at once."""
    import threading

    threading.stack_size(64 << 10)
    stop = threading.Event()
    threads = []
    try:
        while len(threads) < 1100:
            t = threading.Thread(target=stop.wait)
            t.start()
            threads.append(t)
    except RuntimeError:
        pass
    stop.set()
    for t in threads:
        t.join()
    return len(threads)


def test_processes_and_threads_are_limited_to_1024(invoker, sandbox):
    """At most 1,024 processes and threads in one environment (its init and runtime included)."""
    _need(sandbox, "nproc")
    started = invoker.invoke(Function("threads", start_threads, timeout=60)).payload
    assert 1000 < started < 1024


def connect(event, context):
    """Connects to 127.0.0.1:port; returns "ok" or the errno's name, and the interfaces seen."""
    import errno
    import socket

    names = [name for _index, name in socket.if_nameindex()]
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return ["ok", names]
    except OSError as e:
        return [errno.errorcode.get(e.errno, str(e)), names]


def test_network_none_leaves_loopback_only(invoker, sandbox):
    """network="none": only an own loopback (up), so the host's 127.0.0.1 server is out of reach."""
    _need(sandbox, "network")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        assert invoker.invoke(Function("net-host", connect), {"port": port}).payload[0] == "ok"
        outcome, names = invoker.invoke(Function("net-none", connect, network="none"), {"port": port}).payload
    finally:
        server.close()
    assert outcome == "ECONNREFUSED"
    assert names == ["lo"]


def cpu_quota(event, context):
    """Returns this environment's CPU quota (CPUs) from its cgroup."""
    from pathlib import Path

    with open("/proc/self/cgroup") as f:
        for line in f:
            _h, controllers, path = line.rstrip("\n").split(":", 2)
            if "cpu" in controllers.split(","):
                base = f"/sys/fs/cgroup/{controllers}{path}"
                quota = int(Path(f"{base}/cpu.cfs_quota_us").read_text())
                return quota / int(Path(f"{base}/cpu.cfs_period_us").read_text())
            if controllers == "":
                quota, period = Path(f"/sys/fs/cgroup{path}/cpu.max").read_text().split()
                if quota != "max":
                    return int(quota) / int(period)
    return None


@pytest.mark.parametrize(("memory", "cpus"), [(128, 128 / 1769), (1769, 1.0), (3538, 2.0)])
def test_cpu_scaling_gives_cpu_in_proportion_to_memory(sandbox, memory, cpus):
    """Invoker(cpu_scaling=True): an environment's CPU quota is memory / 1,769 MB of one CPU."""
    _need(sandbox, "cpu")
    with Invoker(cpu_scaling=True) as inv:
        quota = inv.invoke(Function("cpu", cpu_quota, memory_size=memory)).payload
    assert quota == pytest.approx(cpus, rel=0.01)


def _cpu_cgroup(pid: int) -> str | None:
    """The directory of process ``pid``'s cpu cgroup (v1 or v2), seen from the host."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _h, controllers, path = line.rstrip("\n").split(":", 2)
            if "cpu" in controllers.split(",") or controllers == "":
                for base in (f"/sys/fs/cgroup/{controllers}{path}", f"/sys/fs/cgroup{path}"):
                    if path != "/" and os.path.isdir(base):
                        return base
    return None


def test_an_init_nobody_listens_to_still_ends_its_environment_cleanly(sandbox):
    """An init whose Invoker stopped listening (status pipe closed) still removes its cgroup and ends, in its own code.

    The failed status write (EPIPE) used to escape the init into the zygote's
    request loop: its cgroup stayed behind, and a later init given the same
    pid failed its setup ("could not fork an environment: Input/output error").
    """
    _need(sandbox, "namespaces")
    _need(sandbox, "cpu")
    import signal
    import time

    from pylambda._environment.zygote import parent_of

    with Invoker(cpu_scaling=True) as inv:
        inv.invoke(Function("deaf", lambda e, c: None, memory_size=1769))
        (env,) = inv.environments()
        init = parent_of(env.pid)
        cgroup = _cpu_cgroup(env.pid)
        assert cgroup is not None
        assert _cpu_cgroup(init) == cgroup
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, env._status_r)  # the Invoker's end of the status pipe closed: nobody listens
        os.close(devnull)
        os.kill(env.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a timing check
        while os.path.exists(f"/proc/{init}") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not os.path.exists(cgroup)


@pytest.mark.parametrize(
    ("make", "value"),
    [
        (lambda: Function("n", lambda e, c: None, network="bogus"), "'bogus'"),
        (lambda: Function("n", lambda e, c: None, network=""), "''"),
        (lambda: Function("n", lambda e, c: None).update_configuration(network="vpc"), "'vpc'"),
        (lambda: Invoker(cpu_scaling="yes"), "'yes'"),
        (lambda: Invoker(cpu_scaling=1), "1"),
    ],
)
def test_sandbox_options_are_validated(make, value):
    """Bad network= or cpu_scaling= values raise InvalidParameterValueError naming the value."""
    with pytest.raises(InvalidParameterValueError, match=value):
        make()


@pytest.mark.parametrize(
    ("report", "asked", "named"),
    [
        ({"namespaces": "unshare: Operation not permitted", "nproc": "x"}, {}, ["PID, mount and user namespaces"]),
        ({"namespaces": None, "nproc": "RLIMIT_NPROC does not bind root"}, {}, ["1,024 processes and threads"]),
        ({"namespaces": None, "nproc": None, "network": "EPERM"}, {"network": True}, ["network='none'"]),
        ({"namespaces": None, "nproc": None, "cpu": "no cgroup"}, {"cpu_scaling": True}, ["cpu_scaling=True"]),
        ({"namespaces": None, "nproc": None, "network": "EPERM", "cpu": "no cgroup"}, {}, []),
    ],
)
def test_what_is_not_enforced_is_said_once(monkeypatch, report, asked, named):
    """One RuntimeWarning per process names each part the kernel refuses (opt-in parts only when asked for)."""
    import warnings

    from pylambda._environment import isolation, runtimes

    monkeypatch.setattr(runtimes, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        isolation.warn_unenforced(report, **asked)
        isolation.warn_unenforced(report, **asked)
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(named)
    for text, message in zip(named, messages, strict=True):
        assert message.startswith("pylambda sandbox: ")
        assert text in message
    conf = isolation.sandbox_for(
        report, tmpdir="/x", tmp_mb=512, views=[], hide=[], network=None, memory_mb=128, cpu_scaling=False
    )
    assert (conf is None) == (report["namespaces"] is not None)
