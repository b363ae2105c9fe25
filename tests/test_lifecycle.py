"""Processes from outside in: close, idle reaping, external kills, parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from pylambda import Function, Invoker, InvokerClosedError


def _wait_gone(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _running(p)}
        time.sleep(0.02)
    return alive


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_close_ends_every_environment(make_fn):
    """close() with many environments leaves no process behind."""
    fn = make_fn("faults.echo")
    inv = Invoker()
    barrier = threading.Barrier(8)

    def call():
        barrier.wait()
        inv.invoke(fn, {})

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    pids = [e.pid for e in inv.environments()]
    assert len(pids) >= 2
    zygote = inv.zygote_pid
    inv.close()
    assert _wait_gone(pids) == set()
    assert _wait_gone([zygote], timeout=0.1) == {zygote}  # the process's shared zygote stays


def test_idle_environments_are_reaped_after_ttl(make_fn):
    """Environments idle longer than idle_ttl are ended by the reaper."""
    with Invoker(idle_ttl=0.2) as inv:
        inv.invoke(make_fn("inspect_env.handler"))
        (pid,) = [e.pid for e in inv.environments()]
        deadline = time.monotonic() + 5
        while inv.environments() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inv.environments() == []
        assert _wait_gone([pid]) == set()
        assert inv.invoke(make_fn("faults.echo")).function_error is None


def test_a_short_idle_ttl_is_reaped_while_a_long_one_is_watched(make_fn):
    """The reaper, asleep until a long-lived pool's turn (seconds away), wakes for a pool due sooner."""
    with Invoker() as slow, Invoker(idle_ttl=0.2) as quick:
        slow.invoke(make_fn("faults.echo"))  # watched every 5 s: the reaper sleeps that long
        time.sleep(0.05)
        quick.invoke(make_fn("inspect_env.handler"))
        deadline = time.monotonic() + 3
        while quick.environments() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert quick.environments() == []
        assert len(slow.environments()) == 1


def test_idle_environment_killed_from_outside_is_replaced(invoker, make_fn):
    """A SIGKILLed idle environment is noticed; the next call starts a new one."""
    fn = make_fn("inspect_env.handler")
    first = invoker.invoke(fn)
    (pid,) = [e.pid for e in invoker.environments() if e.id == first.environment_id]
    os.kill(pid, signal.SIGKILL)
    _wait_gone([pid])
    second = invoker.invoke(fn)
    assert second.function_error is None
    assert second.cold_start
    assert second.environment_id != first.environment_id


def test_zygote_killed_from_outside_is_replaced(invoker, make_fn):
    """If the zygote dies, the next cold start starts a new one."""
    fn = make_fn("faults.echo")
    invoker.invoke(fn, {})
    old = invoker.zygote_pid
    os.kill(old, signal.SIGKILL)
    _wait_gone([old])
    r = invoker.invoke(make_fn("faults.echo"), {"after": 1})
    assert r.payload == {"after": 1}
    assert invoker.zygote_pid != old


def test_busy_environment_killed_from_outside_gives_a_result(invoker, make_fn):
    """Killing the environment mid-invocation returns Runtime.ExitError, then recovers."""
    fn = make_fn("faults.sleeps", timeout=30)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", invoker.invoke(fn)))
    t.start()
    deadline = time.monotonic() + 10
    while not invoker.environments() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    os.kill(invoker.environments()[0].pid, signal.SIGKILL)
    t.join(10)
    assert box["r"].error_type == "Runtime.ExitError"
    assert "signal: killed" in box["r"].payload["errorMessage"]


def test_close_during_an_invocation_raises_closed(make_fn):
    """An invocation in flight when close() runs raises InvokerClosedError, bounded."""
    inv = Invoker()
    fn = make_fn("faults.sleeps", timeout=60)
    box = {}

    def call():
        try:
            inv.invoke(fn)
        except InvokerClosedError as e:
            box["error"] = e

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 10
    while not inv.environments() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    inv.close()
    t.join(10)
    assert not t.is_alive()
    assert "error" in box


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_environments_die_with_the_parent(tmp_path, busy):
    """If the caller's process dies, its zygote and environments exit by themselves."""
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, threading, time
            sys.path.insert(0, {os.getcwd()!r})
            from pylambda import Function, Invoker

            def nap(event, context):
                time.sleep(60)

            inv = Invoker()
            inv.invoke(Function("quick", lambda e, c: None))
            pids = [*(e.pid for e in inv.environments()), inv.zygote_pid]
            if {busy}:
                threading.Thread(target=inv.invoke, args=(Function("nap", nap, timeout=60),), daemon=True).start()
                while len(inv.environments()) < 2:
                    time.sleep(0.01)
                pids += [e.pid for e in inv.environments()]
            print(" ".join(map(str, pids)), flush=True)
            os._exit(0)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    pids = [int(p) for p in out.stdout.split()]
    assert pids, out.stderr
    assert _wait_gone(pids, timeout=10) == set()


def test_processes_started_by_a_handler_end_with_the_invoker():
    """A subprocess a handler leaves running does not outlive close()."""

    def spawn(event, context):
        import subprocess

        return subprocess.Popen(["sleep", "60"]).pid

    inv = Invoker()
    inv.invoke(Function("spawner", spawn))
    (env,) = inv.environments()
    (pid,) = [p.pid for p in psutil.Process(env.pid).children() if p.name() == "sleep"]  # host pid
    assert _running(pid)
    inv.close()
    assert _wait_gone([pid]) == set()


def test_a_flood_of_output_neither_blocks_nor_is_lost(invoker, make_fn):
    """Megabytes on stdout (past any pipe buffer) are all in the log, and the call returns."""

    def flood(event, context):
        import sys

        line = "x" * 99 + "\n"
        for _ in range(30_000):  # 3 MB
            sys.stdout.write(line)
        return "done"

    r = invoker.invoke(Function("flood", flood, timeout=30))
    assert r.payload == "done"
    assert r.logs.count("x" * 99 + "\n") == 30_000
