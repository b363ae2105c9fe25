"""The sandbox around Runtime API runtimes (Node, a Go ``bootstrap``): what Python environments get (issue #16).

The same probes run in each runtime (tests/handlers/node/probe.js and
tests/handlers/go/probe.go): each tries one thing and answers "ok" or the
errno's name.  Node comes from PATH, Go from the ``go_code`` fixture; each
check skips, saying why, where the runtime or the kernel feature is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from pylambda import Function, Invoker

NODE_PROBE = Path(__file__).parent / "handlers" / "node" / "probe.js"
_COUNTER = iter(range(10**6))


def _kill(procs: list[psutil.Process]) -> None:
    """SIGKILL what a failed check left running (each may have ended meanwhile)."""
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def _need(sandbox: dict, part: str) -> None:
    if sandbox.get(part) is not None:
        pytest.skip(f"not enforced on this machine: {sandbox[part]}")


@pytest.fixture(scope="module", params=["node", "go"])
def probe_code(request, tmp_path_factory) -> tuple[str, str, str]:
    """(runtime, handler, code directory) of one runtime's probes; the code is a copy of its own."""
    if request.param == "node":
        if shutil.which("node") is None:
            pytest.skip("node is not on PATH")
        code = tmp_path_factory.mktemp("node-probe")
        shutil.copy(NODE_PROBE, code / "probe.js")
        return "nodejs20.x", "probe.handler", str(code)
    return "provided.al2023", "bootstrap", request.getfixturevalue("go_code")


@pytest.fixture
def probe_fn(probe_code):
    """Make a Function of the runtime's probes (a new name each call)."""
    runtime, handler, code = probe_code

    def make(**config) -> Function:
        return Function(f"probe-{next(_COUNTER)}", handler, code=code, runtime=runtime, **config)

    return make


@pytest.fixture(scope="module")
def warm(probe_code):
    """(Invoker, probe function, a Python bystander's pid): both environments started before any test."""
    runtime, handler, code = probe_code
    inv = Invoker()
    try:
        fn = Function(f"probe-{next(_COUNTER)}", handler, code=code, runtime=runtime)
        inv.invoke(fn, {"op": "env", "arg": "HOME"}).raise_for_error()
        inv.invoke(Function("bystander", lambda e, c: None)).raise_for_error()
        (bystander,) = [e for e in inv.environments() if e.key[0] == "bystander"]
        yield inv, fn, bystander.pid
    finally:
        inv.close()


# -- no process outside the environment can be seen, read or signalled --------------------------


@pytest.mark.parametrize("how", ["environ", "mem", "kill"])
@pytest.mark.parametrize("whom", ["caller", "zygote", "other environment"])
def test_a_runtime_cannot_read_or_signal_other_processes(warm, sandbox, whom, how):
    """No runtime reads the environment or memory of, or signals, the caller, the zygote or another environment."""
    _need(sandbox, "namespaces")
    inv, fn, bystander = warm
    pid = {"caller": os.getpid(), "zygote": inv.zygote_pid, "other environment": bystander}[whom]
    event = {"op": "kill", "n": pid} if how == "kill" else {"op": "read", "arg": f"/proc/{pid}/{how}"}
    assert inv.invoke(fn, event).payload in ("ENOENT", "ESRCH", "EACCES", "EPERM")


def test_a_runtime_sees_only_its_own_processes(warm, sandbox):
    """/proc inside a runtime's environment lists its init and the runtime, nothing of the host."""
    _need(sandbox, "namespaces")
    inv, fn, _bystander = warm
    assert inv.invoke(fn, {"op": "pids"}).payload == [1, 2]


@pytest.mark.parametrize(("field", "value"), [("CapEff", "0000000000000000"), ("CapPrm", "0000000000000000"),
                                             ("NoNewPrivs", "1")])  # fmt: skip
def test_a_runtime_cannot_undo_its_sandbox(warm, sandbox, field, value):
    """The runtime holds no capability (it cannot unmount its read-only code or /tmp) and gains none by exec."""
    _need(sandbox, "namespaces")
    inv, fn, _bystander = warm
    assert inv.invoke(fn, {"op": "status", "arg": field}).payload == value


def test_what_a_runtime_starts_ends_with_its_environment(invoker, sandbox, probe_fn):
    """A process a runtime starts in a session of its own is gone once pylambda ends the environment."""
    _need(sandbox, "namespaces")
    marker = f"1000.{os.getpid()}{next(_COUNTER):04d}"  # how long it sleeps, and what tells it apart
    fn = probe_fn()

    def started() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if marker in (p.info["cmdline"] or []):
                found.append(p)
        return found

    try:
        assert invoker.invoke(fn, {"op": "spawn", "arg": marker}).payload == "ok"
        assert started()
        invoker.reset(fn)
        deadline = time.monotonic() + 5
        while started() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started() == []
    finally:
        _kill(started())


def test_close_kills_a_runtime_without_waiting(sandbox, probe_fn):
    """``close()`` SIGKILLs a sandboxed runtime's init and group and returns; what it started ends with them."""
    from pylambda._environment.ending import ended
    from pylambda._environment.zygote import parent_of
    from pylambda.testing import leftover_processes

    _need(sandbox, "namespaces")
    marker = f"1000.{os.getpid()}{next(_COUNTER):04d}"
    fn = probe_fn()
    inv = Invoker()
    try:
        assert inv.invoke(fn, {"op": "spawn", "arg": marker}).payload == "ok"
        (env,) = inv.environments()
        runtime, init = env.pid, parent_of(env.pid)
        daemons = [p.pid for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
        assert daemons
    finally:
        inv.close()
    assert [p for p in (init, runtime) if not ended(p)] == []  # at once: SIGKILL pending, or gone
    try:
        assert leftover_processes([init, runtime, *daemons]) == []
    finally:
        _kill([p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])])


CALLER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {cwd!r})
    from pylambda import Function, Invoker

    inv = Invoker()
    fn = Function("spawner", {handler!r}, code={code!r}, runtime={runtime!r})
    assert inv.invoke(fn, {{"op": "spawn", "arg": {marker!r}}}).payload == "ok"
    print(" ".join(str(e.pid) for e in inv.environments()), flush=True)
    time.sleep(120)
    """
)


def test_nothing_a_runtime_started_outlives_a_killed_caller(probe_code, tmp_path):
    """After SIGKILL of the caller, its runtime and the daemon the runtime started are gone within seconds."""
    runtime, handler, code = probe_code
    marker = f"1000.{os.getpid()}{next(_COUNTER):04d}"
    script = tmp_path / "caller.py"
    script.write_text(CALLER.format(cwd=os.getcwd(), handler=handler, code=code, runtime=runtime, marker=marker))
    caller = subprocess.Popen([sys.executable, "-W", "ignore", str(script)], stdout=subprocess.PIPE, text=True)

    def left(pids: list[int]) -> list[psutil.Process]:
        out = []
        for p in psutil.process_iter(["cmdline", "status"]):
            if p.info["status"] != psutil.STATUS_ZOMBIE and (marker in (p.info["cmdline"] or []) or p.pid in pids):
                out.append(p)
        return out

    pids: list[int] = []
    try:
        pids = [int(p) for p in caller.stdout.readline().split()]
        assert len(pids) == 1
        assert left([])  # the daemon is running
        caller.send_signal(signal.SIGKILL)
        caller.wait(30)
        deadline = time.monotonic() + 5  # the goal is 2 s; a loaded CI machine gets slack
        while left(pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left(pids) == []
    finally:
        caller.kill()
        caller.wait()
        caller.stdout.close()
        _kill(left(pids))


# -- code, /tmp ---------------------------------------------------------------------------------


def test_a_runtimes_code_is_read_only(invoker, sandbox, probe_fn, probe_code):
    """A write into the code directory fails with EROFS and leaves the directory as it was."""
    _need(sandbox, "namespaces")
    code = probe_code[2]
    before = sorted(os.listdir(code))
    try:
        assert invoker.invoke(probe_fn(), {"op": "write", "arg": f"{code}/written"}).payload == "EROFS"
        assert sorted(os.listdir(code)) == before
    finally:
        if os.path.exists(f"{code}/written"):
            os.unlink(f"{code}/written")


def test_a_runtimes_tmp_is_its_own_and_ends_with_it(invoker, sandbox, probe_fn):
    """/tmp is the environment's own: the host's files are not in it, and it is empty after a reset."""
    _need(sandbox, "namespaces")
    name = f"pylambda-probe-{os.getpid()}-{next(_COUNTER)}"
    host_file = Path("/tmp") / f"{name}-host"
    host_file.write_text("host")
    fn = probe_fn()
    try:
        assert invoker.invoke(fn, {"op": "write", "arg": f"/tmp/{name}"}).payload == "ok"
        listing = invoker.invoke(fn, {"op": "ls", "arg": "/tmp"}).payload
        assert name in listing
        assert host_file.name not in listing
        invoker.reset(fn)
        assert name not in invoker.invoke(fn, {"op": "ls", "arg": "/tmp"}).payload
    finally:
        host_file.unlink()
        Path(f"/tmp/{name}").unlink(missing_ok=True)


def test_a_runtimes_tmp_is_sized_by_ephemeral_storage(invoker, sandbox, probe_fn):
    """A write past ephemeral_storage (512 MB) fails with ENOSPC, as on Lambda."""
    _need(sandbox, "namespaces")
    fn = probe_fn(ephemeral_storage=512, timeout=60)
    try:
        mb, error = invoker.invoke(fn, {"op": "fill", "arg": "/tmp/fill"}).payload
    finally:
        invoker.reset(fn)
    assert error == "ENOSPC"
    assert 500 <= mb <= 512


# -- limits, network ----------------------------------------------------------------------------


def test_a_runtime_has_1024_file_descriptors(warm, sandbox):
    """RLIMIT_NOFILE is Lambda's 1,024: the runtime's 1,025th descriptor fails with EMFILE."""
    if sandbox.get("disabled"):
        pytest.skip("the sandbox is turned off (PYLAMBDA_SANDBOX=0)")
    inv, fn, _bystander = warm
    opened, error = inv.invoke(fn, {"op": "nofile"}).payload
    assert error == "EMFILE"
    assert 900 < opened < 1024


def test_a_runtime_without_network_reaches_its_host_and_nothing_else(invoker, sandbox, probe_fn):
    """network="none": the runtime gets its events (at Lambda's 127.0.0.1:9001); the host's servers are out of reach."""
    _need(sandbox, "network")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        assert invoker.invoke(probe_fn(), {"op": "connect", "n": port}).payload == "ok"
        fn = probe_fn(network="none")
        outcome = invoker.invoke(fn, {"op": "connect", "n": port})
        address = invoker.invoke(fn, {"op": "env", "arg": "AWS_LAMBDA_RUNTIME_API"}).payload
    finally:
        server.close()
    assert outcome.payload == "ECONNREFUSED"
    assert address == "127.0.0.1:9001"


FALLBACK_CALLER = textwrap.dedent(
    """
    import json, sys, time, warnings
    import psutil
    sys.path.insert(0, {cwd!r})
    from pylambda import Function, Invoker

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Invoker() as inv:
            fn = Function("fallback", {handler!r}, code={code!r}, runtime={runtime!r})
            nofile = inv.invoke(fn, {{"op": "nofile"}}).payload
            spawned = inv.invoke(fn, {{"op": "spawn", "arg": {marker!r}}}).payload
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [p.pid for p in psutil.process_iter(["cmdline", "status"])
                 if {marker!r} in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.05)
    print(json.dumps({{"nofile": nofile, "spawned": spawned, "alive": alive,
                       "warnings": [str(w.message) for w in caught if "sandbox" in str(w.message)]}}))
    """
)


def test_a_runtime_on_a_kernel_refusing_namespaces_keeps_the_promises_that_remain(
    probe_code, tmp_path, refusing_namespaces
):
    """Without namespaces (tests/test_sandbox_fallback.py's caller): one warning, 1,024 fds, no daemon left."""
    runtime, handler, code = probe_code
    marker = f"1000.{os.getpid()}{next(_COUNTER):04d}"
    script = tmp_path / "caller.py"
    script.write_text(
        FALLBACK_CALLER.format(cwd=os.getcwd(), handler=handler, code=code, runtime=runtime, marker=marker)
    )
    env = {k: v for k, v in os.environ.items() if k != "PYLAMBDA_SANDBOX"}
    try:
        done = subprocess.run(
            [*refusing_namespaces, sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
        )
    finally:  # a daemon left by a failure here must not outlive the test
        _kill([p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])])
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["warnings"]) == 1, seen["warnings"]
    assert "per-environment PID, mount and user namespaces" in seen["warnings"][0]
    opened, error = seen["nofile"]
    assert error == "EMFILE"
    assert 900 < opened < 1024
    assert seen["spawned"] == "ok"
    assert seen["alive"] == []  # the setsid'd daemon ended with its environment
