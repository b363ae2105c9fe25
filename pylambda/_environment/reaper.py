"""One thread ends idle environments for every pool of the process.

Why: each pool used to start a reaper thread of its own at its first
check-in.  With an Invoker per test (the pytest plugin's ``lambda_invoker``),
starting that thread, and waiting for it to run, was a few tenths of a
millisecond of every test, for a thread that then slept through it.  One
daemon thread per process serves every pool instead: it sleeps until the
earliest pool is due, asks that pool to end what has been idle longer than
its ``idle_ttl`` (``EnvironmentPool.reap_idle``), and sleeps again.

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


def watch(pool: Any, period: float) -> None:
    """Call ``pool.reap_idle()`` about every ``period`` seconds until ``unwatch(pool)``."""
    global _thread, _pid
    with _cond:
        _pools[pool] = [period, time.monotonic() + period]
        if _thread is None or _pid != os.getpid():
            _pid = os.getpid()
            _thread = threading.Thread(target=_run, name="pylambda-reaper", daemon=True)
            _thread.start()
        _cond.notify_all()


def unwatch(pool: Any, timeout: float = 1.0) -> None:
    """Stop reaping ``pool``; waits (up to ``timeout``) while the thread is reaping it."""
    deadline = time.monotonic() + timeout
    with _cond:
        _pools.pop(pool, None)
        while id(pool) in _busy and time.monotonic() < deadline:
            _cond.wait(max(0.0, deadline - time.monotonic()))


def _run() -> None:
    while True:
        with _cond:
            while True:
                now = time.monotonic()
                due = [pool for pool, (_period, at) in _pools.items() if at <= now]
                if due:
                    break
                nexts = [at for _period, at in _pools.values()]
                _cond.wait(min(nexts) - now if nexts else None)
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
    global _cond, _thread
    _cond = threading.Condition()
    _thread = None
    _busy.clear()


os.register_at_fork(after_in_child=_forget_in_child)
