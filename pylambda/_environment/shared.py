"""The process's zygotes: one per interpreter and settings, shared by every Invoker.

Why: a zygote costs 35-40 ms to start (an interpreter and the runtime's
imports), and a test suite creates an Invoker per test.  Starting one per
Invoker made that the cost of every test; sharing it makes a test's cold
start a fork (~2 ms).  Nothing about a zygote belongs to one Invoker: it
forks environments on request, and each environment's pipes and status
pipe go to the Invoker that asked for it.

Lifetime: a shared zygote is started on first use and kept until the
process exits.  An Invoker's ``close()`` ends its own environments, never
the zygote.  At exit the zygote module's ``atexit`` hook stops every zygote
(its environments, and anything adopted from them, die with it); if the
process dies without running it, the zygote sees EOF on its socket, or its
parent-death signal, and exits the same way.  A forked child of the caller forgets the parent's zygotes (their
sockets are the parent's conversation) and starts its own when it needs one.

Keys: the settings that shape the zygote (the interpreter, later isolation
options) are its key; Invokers with the same key share one.
"""

from __future__ import annotations

import os
import threading

from .zygote import Zygote

__all__ = ["shared_spare_pids", "shared_zygote", "shared_zygote_pids", "stop_shared_zygotes"]

_lock = threading.Lock()
_zygotes: dict[tuple, Zygote] = {}


def shared_zygote(**settings) -> Zygote:
    """The process's zygote for ``settings`` (started lazily by its first fork or ``start()``).

    ``zygote.py``'s exit hook closes it when the interpreter exits.
    """
    key = tuple(sorted(settings.items()))
    with _lock:
        zygote = _zygotes.get(key)
        if zygote is None:
            zygote = _zygotes[key] = Zygote(**settings)
        return zygote


def shared_zygote_pids() -> list[int]:
    """Pids of the shared zygotes running now (the process's, not any one test's)."""
    with _lock:
        zygotes = list(_zygotes.values())
    return [pid for pid in (z.pid for z in zygotes) if pid is not None]


def shared_spare_pids() -> list[int]:
    """Pids of the spare sandboxes' inits the shared zygotes keep ready for their next fork."""
    with _lock:
        zygotes = list(_zygotes.values())
    return [pid for z in zygotes for pid in z.spare_pids()]


def stop_shared_zygotes(timeout: float = 1.0) -> None:
    """Stop every shared zygote (at exit; a later Invoker would start a new one)."""
    with _lock:
        zygotes = list(_zygotes.values())
        _zygotes.clear()
    for zygote in zygotes:
        zygote.close(timeout)


def _forget_in_child() -> None:
    """After ``os.fork()`` in the caller: the child must not talk on the parent's sockets."""
    global _lock
    _lock = threading.Lock()  # it may have been held by another thread at the fork
    for zygote in _zygotes.values():
        zygote.forget()
    _zygotes.clear()


os.register_at_fork(after_in_child=_forget_in_child)
