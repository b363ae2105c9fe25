"""The spare sandbox the shared zygote keeps ready for the next cold start (``_runtime/spare.py``).

No timing here (benchmarks/per_test.py measures it): what is checked is
that a spare is taken only by an environment of its shape, that an
environment made from one is sandboxed exactly as a cloned one, and that
spares are the process's, never a test's leak, and never outlive it.
"""

from __future__ import annotations

import inspect
import os
import signal

import pytest

from pylambda import Function, Invoker
from pylambda._environment.shared import stop_shared_zygotes
from pylambda._environment.zygote import parent_of
from pylambda.testing import leftover_processes, spare_pids, zygote_children


def _need(sandbox: dict, *parts: str) -> None:
    for part in parts:
        if sandbox.get(part) is not None:
            pytest.skip(f"not enforced on this machine: {sandbox[part]}")


def _spare_init() -> int:
    """The pid of the init of the spare waiting now (a cold start of the default shape made one)."""
    (init,) = [p for p in spare_pids() if parent_of(p) not in spare_pids()]
    return init


def _env_init(invoker: Invoker) -> int:
    (env,) = invoker.environments()
    return parent_of(env.pid)


def probe(event, context):
    """What the environment's sandbox looks like from inside."""
    import os

    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    stat = os.statvfs("/tmp")
    code = os.path.dirname(os.path.abspath(__file__))
    try:
        open(os.path.join(code, "written-by-handler"), "w").close()
        code_writable = True
    except OSError:
        code_writable = False
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    with open("/proc/self/limits") as f:
        limits = f.read()
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(),
        "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
        "no_new_privs": status["NoNewPrivs"].strip(),
        "tmp_mb": stat.f_blocks * stat.f_frsize // 2**20,
        "tmp_files": sorted(os.listdir("/tmp")),  # empty, or the mount points of views under /tmp
        "tmp_is_tmpfs": any(line.split()[4] == "/tmp" and " - tmpfs " in line for line in mounts.splitlines()),
        "code_writable": code_writable,
        "invoker_dir_visible": os.path.isdir(event["hidden"]),
        "nofile": limits.count("Max open files            1024"),
    }


def test_an_environment_from_a_spare_is_sandboxed_as_a_cloned_one(sandbox, tmp_path):
    """Same pids, capabilities, limits, /tmp (private, sized) and read-only code, cloned or from a spare."""
    _need(sandbox, "namespaces")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(inspect.getsource(probe))
    stop_shared_zygotes()  # no spare yet: the first environment is cloned
    seen = []
    for _ in range(2):
        with Invoker() as inv:
            fn = Function("probe", "app.probe", code=str(code), ephemeral_storage=600)
            result = inv.invoke(fn, {"hidden": inv._workdir})
            assert result.function_error is None, result.payload
            seen.append((result.payload, _env_init(inv)))
            spare = _spare_init()
    (cloned, cloned_init), (spared, spared_init) = seen
    assert spared_init != cloned_init
    assert cloned == spared
    assert cloned["pid"] == 2
    assert cloned["ppid"] == 1
    assert cloned["pids"] == [1, 2]
    assert cloned["caps"][:3] == ["0000000000000000"] * 3
    assert cloned["no_new_privs"] == "1"
    assert cloned["tmp_is_tmpfs"]
    assert cloned["tmp_mb"] == 600
    assert not cloned["code_writable"]
    assert not cloned["invoker_dir_visible"]
    assert cloned["nofile"] == 1
    assert spare not in zygote_children()


@pytest.mark.parametrize(
    ("function", "invoker", "part"),
    [
        pytest.param({"network": "none"}, {}, "network", id="network none"),
        pytest.param({}, {"cpu_scaling": True}, "cpu", id="cpu scaling"),
    ],
)
def test_a_spare_is_never_given_to_an_environment_of_another_shape(sandbox, make_fn, function, invoker, part):
    """An environment with a network namespace or a CPU quota is cloned; the spare keeps waiting."""
    _need(sandbox, "namespaces", part)
    with Invoker() as first:
        first.invoke(make_fn("faults.echo"), {})
        spare = _spare_init()
    with Invoker(**invoker) as other:
        result = other.invoke(make_fn("faults.echo", **function), {"k": 1})
        assert result.payload == {"k": 1}
        assert _env_init(other) != spare
        assert _spare_init() == spare


def test_a_cold_start_of_the_default_shape_takes_the_spare(sandbox, make_fn):
    """The next default environment is the spare waiting (its init), and the zygote makes another; close keeps it."""
    _need(sandbox, "namespaces")
    with Invoker() as first:
        first.invoke(make_fn("faults.echo"), {})
        spare = _spare_init()
    assert leftover_processes([spare], timeout=0) == [spare]  # an Invoker's close() does not end the spare
    with Invoker() as second:
        assert second.invoke(make_fn("faults.echo"), {"n": 2}).payload == {"n": 2}
        assert _env_init(second) == spare
        assert _spare_init() != spare


def test_a_spare_that_died_is_replaced(sandbox, make_fn):
    """A spare killed while it waits is not handed out: the next cold start is cloned, and a new spare made."""
    _need(sandbox, "namespaces")
    with Invoker() as first:
        first.invoke(make_fn("faults.echo"), {})
        spare = _spare_init()
    os.kill(spare, signal.SIGKILL)
    assert leftover_processes([spare], timeout=5) == []
    with Invoker() as second:
        assert second.invoke(make_fn("faults.echo"), {"n": 3}).payload == {"n": 3}
        assert _env_init(second) != spare
        assert _spare_init() not in (spare, 0)


def test_spares_end_with_their_zygote(sandbox):
    """Stopping the shared zygotes ends the spare (the caller's exit too: test_shared_zygote.py)."""
    _need(sandbox, "namespaces")
    with Invoker() as inv:
        inv.invoke(Function("quick", lambda e, c: 1))
        mine = sorted(spare_pids())
    assert mine
    stop_shared_zygotes()
    assert leftover_processes(mine, timeout=5) == []


def test_a_kernel_without_open_tree_gets_clones_and_no_more_spares(monkeypatch):
    """When open_tree is refused, the claim gives the spare up (it sees EOF) and the zygote makes no other."""
    import errno
    import socket as socketlib

    from pylambda._runtime import spare as spare_mod

    def refused(tmp):
        raise OSError(errno.ENOSYS, "open_tree: Function not implemented")

    monkeypatch.setattr(spare_mod.sandbox, "private_tmp", lambda conf: "/tmp/an-environments-tmp")
    monkeypatch.setattr(spare_mod, "_tmp_tree", refused)
    mine, theirs = socketlib.socketpair()
    status_r, status_w = os.pipe()
    spares = spare_mod.Spares()
    spares._spare = spare_mod._Spare(12345, mine, status_r)
    children = {12345: status_w}
    conf = {"tmp": "/tmp/an-environments-tmp", "tmp_mb": 512, "hide": [], "views": []}
    try:
        assert spares.claim(conf, None, [], b"fn", children) is None
        assert theirs.recv(16) == b""  # the spare's runtime would exit on this EOF
        assert spares.make(children, []) == (-errno.ENOSYS, None)  # no fork attempted
        assert spares.fds() == []
    finally:
        theirs.close()
        os.close(status_w)


def draw(event, context):
    """A number from the random module, as a handler that never seeds it draws it."""
    import random

    return random.random()


def test_every_environment_has_a_random_sequence_of_its_own(sandbox):
    """Environments share the zygote's state, not its random sequence: each reseeds when its runtime forks."""
    _need(sandbox, "namespaces")
    with Invoker() as invoker:
        draws = [invoker.invoke(Function(f"draw-{i}", draw)).payload for i in range(4)]
    assert len(set(draws)) == 4, draws
