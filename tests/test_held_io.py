"""Pipe I/O that keeps the GIL while invocations are concurrent (``_environment.held``).

Held writes and reads are used only where they cannot block, and must carry
every frame exactly as ``os.write``/``os.read`` do: small frames go whole in
one held call, larger ones fall back or are completed by ``os.read``.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

import pytest

from pylambda._environment import held


@pytest.fixture
def counted(monkeypatch):
    """Count the held calls that the environments make (after binding them)."""
    assert held.bind()
    calls = {"write": 0, "read": 0}

    def counting(name, real):
        def call(*args):
            calls[name] += 1
            return real(*args)

        return call

    monkeypatch.setattr(held, "write", counting("write", held.write))
    monkeypatch.setattr(held, "read", counting("read", held.read))
    return calls


def test_frames_around_the_held_limits_arrive_whole(invoker, make_fn, counted):
    """Events and replies from below to above MAX_WRITE and READ_SIZE, two at a time: each comes back intact."""
    fn = make_fn("faults.echo")
    events = [{"s": "x" * n} for n in range(held.MAX_WRITE - 400, held.READ_SIZE + 100, 3)]
    results = invoker.map(fn, events, concurrency=2)
    assert [r.payload for r in results] == events
    assert counted["write"] > 0  # small requests went out held,
    assert counted["read"] > 0  # and replies came in held


def test_sequential_calls_release_the_gil_as_usual(invoker, make_fn, counted):
    """One caller alone has nobody to hand the GIL to: the plain os calls, no ctypes cost."""
    fn = make_fn("faults.echo")
    for i in range(20):
        assert invoker.invoke(fn, {"i": i}).payload == {"i": i}
    assert counted == {"write": 0, "read": 0}


def test_a_held_write_to_a_dead_environment_reports_it_gone(invoker, make_fn):
    """EPIPE from the held write is reported as os.write reports it: nothing ran, the environment is reaped."""
    fn = make_fn("faults.echo")
    invoker.invoke(fn, {})
    (env,) = invoker.environments()
    os.kill(env.pid, signal.SIGKILL)
    assert select.select([env._status_r], [], [], 10)[0]  # the zygote reaped it; its pipe ends are closed
    assert held.bind()
    from pylambda._environment.backend import Request

    assert env.send(Request("r" * 36, "arn", "", b"", b"{}", 0, 2, True)) is False
    assert env.state == "DEAD"


def test_without_ctypes_concurrent_calls_use_the_os_functions(monkeypatch, invoker, make_fn):
    """Where ctypes cannot load, bind() says so once and invocations go on unheld."""
    monkeypatch.setattr(held, "_bound", None)
    monkeypatch.setattr(held, "write", None)
    monkeypatch.setattr(held, "read", None)
    monkeypatch.setitem(sys.modules, "ctypes", None)  # import ctypes raises ImportError
    assert held.bind() is False
    assert held.bind() is False
    fn = make_fn("faults.echo")
    events = [{"i": i} for i in range(50)]
    invoker._admission.concurrent_until = time.time() + 60  # concurrent lately: would hold if it could
    assert [r.payload for r in invoker.map(fn, events, concurrency=2)] == events
