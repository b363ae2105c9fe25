"""One thread ends idle environments for every pool of the process.

Why: each pool used to start a reaper thread of its own at its first
check-in.  With an Invoker per test (the pytest plugin's ``lambda_invoker``),
starting that thread, and waiting for it to run, was a few tenths of a
millisecond of every test, for a thread that then slept through it.  One
daemon thread per process serves every pool instead: it sleeps until the
earliest pool is due, asks that pool to end what has been idle longer than
its ``idle_ttl`` (``EnvironmentPool.reap_idle``), and sleeps again.

The thread is woken only when a pool is due before the time it sleeps
until: with an Invoker per test, waking it at every pool's first check-in
(for a turn due in seconds) made it contend for the GIL with the test, a
few tenths of a millisecond each time on a 2-vCPU VM.  It is not woken when
a pool is unwatched either: it finds the pool gone when it wakes.

A pool is watched from its first check-in until it closes; ``unwatch``
returns once the thread is not reaping that pool, so nothing of a closed
pool is touched afterwards (as joining a pool's own thread guaranteed).
Pools are held weakly: an Invoker dropped without ``close()`` is not kept
alive by its reaping.  A forked child starts its own thread when it needs one.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

__all__ = ["unwatch", "watch"]

_cond = threading.Condition()
# pool -> [period s, next due (monotonic)]
_pools: weakref.WeakKeyDictionary[Any, list[float]] = weakref.WeakKeyDictionary()
_busy: set[int] = set()  # id() of the pools being reaped now
_thread: threading.Thread | None = None
_pid = 0
_wake_at: float | None = None  # when the thread wakes by itself next (None: only when notified)


def watch(pool: Any, period: float) -> None:
    """Call ``pool.reap_idle()`` about every ``period`` seconds until ``unwatch(pool)``."""
    global _thread, _pid
    with _cond:
        at = time.monotonic() + period
        _pools[pool] = [period, at]
        if _thread is None or _pid != os.getpid():
            _pid = os.getpid()
            _thread = threading.Thread(target=_run, name="pylambda-reaper", daemon=True)
            _thread.start()
        elif _wake_at is None or at < _wake_at:  # it would sleep past this pool's first turn
            _cond.notify_all()


def unwatch(pool: Any, timeout: float = 1.0) -> None:
    """Stop reaping ``pool``; waits (up to ``timeout``) while the thread is reaping it."""
    deadline = time.monotonic() + timeout
    with _cond:
        _pools.pop(pool, None)
        while id(pool) in _busy and time.monotonic() < deadline:
            _cond.wait(max(0.0, deadline - time.monotonic()))


def _run() -> None:
    global _wake_at
    while True:
        with _cond:
            while True:
                now = time.monotonic()
                due = [pool for pool, (_period, at) in _pools.items() if at <= now]
                if due:
                    break
                _wake_at = min((at for _period, at in _pools.values()), default=None)
                _cond.wait(_wake_at - now if _wake_at is not None else None)
                _wake_at = None
            for pool in due:
                entry = _pools.get(pool)
                if entry is not None:
                    entry[1] = now + entry[0]
        for pool in due:
            with _cond:
                if pool not in _pools:
                    continue  # unwatched meanwhile
                _busy.add(id(pool))
            try:
                pool.reap_idle(time.monotonic() - pool.idle_ttl)
            except Exception:  # one pool's failure must not end every pool's reaping
                pass
            finally:
                with _cond:
                    _busy.discard(id(pool))
                    _cond.notify_all()
        due = pool = None  # no strong reference while asleep: pools are watched weakly


def _forget_in_child() -> None:
    """After ``os.fork()``: the thread is not in the child, and the lock may have been held."""
    global _cond, _thread, _wake_at
    _cond = threading.Condition()
    _thread = None
    _wake_at = None
    _busy.clear()


os.register_at_fork(after_in_child=_forget_in_child)
