"""An Invoker's close() kills a sandboxed idle environment without waiting for it (``end_now``).

What is checked: when ``close()`` returns, every process of the
environment (its sandbox's init, the runtime, a child in the runtime's
group) has ended or has SIGKILL pending, so it runs nothing more; a
process the handler moved to a group of its own ends with the PID
namespace soon after; the leak checks (``leftover_processes``) count a
process with SIGKILL pending as ended and a live one as alive; the shared
zygote lives on.  No timing here (benchmarks/per_test.py measures it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pylambda import Function, Invoker
from pylambda._environment.ending import ended
from pylambda._environment.zygote import parent_of
from pylambda.testing import leftover_processes, shared_zygote_pids


def spawner(event, context):
    """Start a child in the runtime's group and a daemon in a session of its own; report their pids."""
    import os
    import subprocess

    child = subprocess.Popen(["sleep", "60"])
    daemon = subprocess.Popen(["sleep", "60"], start_new_session=True)
    return {"runtime": os.getpid(), "child": child.pid, "daemon": daemon.pid}


def test_close_leaves_nothing_of_a_sandboxed_environment_running(sandbox):
    if sandbox.get("namespaces") is not None:
        pytest.skip(f"not enforced on this machine: {sandbox['namespaces']}")
    invoker = Invoker()
    try:
        fn = Function("spawner", spawner)
        invoker.register(fn)
        inner = invoker.invoke(fn, {}).payload
        (env,) = invoker.environments()
        runtime, init = env.pid, parent_of(env.pid)
        group = [p for p in _all_children(runtime) if os.getpgid(p) == runtime]  # host pids: the same processes
        daemons = [p for p in _all_children(runtime) if os.getpgid(p) != runtime]
        assert (len(group), len(daemons)) == (1, 1)
    finally:
        invoker.close()
    # At once: SIGKILL is pending for (or has ended) the init, the runtime and the runtime's group.
    assert [p for p in (init, runtime, *group) if not ended(p)] == []
    # The daemon left the group: it ends with the PID namespace, whose init is dying.
    assert leftover_processes([init, runtime, *group, *daemons]) == []
    assert inner["runtime"] == 2
    zygotes = shared_zygote_pids()
    assert zygotes
    assert not any(ended(p) for p in zygotes)


def _all_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("running", False),
        ("stopped", False),
        ("zombie", True),
        ("reaped", True),
    ],
)
def test_ended(what, expected):
    """A live process (running or stopped) has not ended; a zombie or a reaped one has."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if what == "stopped":
            os.kill(proc.pid, signal.SIGSTOP)
        elif what in ("zombie", "reaped"):
            proc.kill()
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, not reaped
            if what == "reaped":
                proc.wait()
        assert ended(proc.pid) is expected
    finally:
        proc.kill()
        proc.wait()


def test_leftover_processes_waits_for_a_live_process_and_not_for_a_killed_one():
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(killed.pid, signal.SIGKILL)  # pending or done: either way it has ended for a leak check
        assert leftover_processes([live.pid, killed.pid], timeout=0.05) == [live.pid]
    finally:
        for proc in (live, killed):
            proc.kill()
            proc.wait()


def test_a_killed_process_is_known_by_its_pidfd_until_it_exits():
    """``ending.killed``: true for a process kill_sandbox sent SIGKILL until it exits, then false (its pid is free)."""
    from pylambda._environment.ending import kill_sandbox, killed

    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    runtime = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    status_r, status_w = os.pipe()
    try:
        os.kill(init.pid, signal.SIGSTOP)  # stopped: SIGKILL still ends it, but only once it is scheduled
        assert not killed(init.pid)
        kill_sandbox(init.pid, runtime.pid, status_r)
        for proc in (init, runtime):
            assert ended(proc.pid)
            proc.wait()
            assert not killed(proc.pid)  # exited: the pidfd says so, whatever holds the pid next
    finally:
        os.close(status_r)
        os.close(status_w)
        for proc in (init, runtime):
            proc.kill()
            proc.wait()
