"""One thread accepts connections for every HTTP server of the process.

Why: every Invoker that starts an environment starts its Lambda API
endpoint (``AWS_ENDPOINT_URL_LAMBDA``, see ``environ.py``), and a server
with an accept thread of its own paid a thread start (waiting for the
thread to run) when it opened and a join when it closed: ~0.4 ms of every
test with an Invoker per test, for a thread that, in most tests, never
accepts anything.  Listening sockets are registered here instead; one
daemon thread polls them all (and a pipe that wakes it when the set
changes) and hands each new connection to its server, which serves it on
a thread of its own as before.

``remove`` returns at once: the server shuts its socket down itself, which
ends the listening (nothing is accepted after the server's ``close()``
returns); the thread forgets the socket on its next turn.  A forked child
starts its own thread when it needs one.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from typing import Any

__all__ = ["add", "remove"]

_lock = threading.Lock()
_servers: dict[int, tuple[socket.socket, Any]] = {}  # fd -> (listening socket, server)
_wake: tuple[int, int] | None = None
_pid = 0


def add(sock: socket.socket, server: Any) -> None:
    """Accept on ``sock`` from now on, handing each connection to ``server._accepted(conn)``."""
    global _wake, _pid
    with _lock:
        if _wake is None or _pid != os.getpid():  # none yet, or a forked child's copy of a dead thread
            _pid = os.getpid()
            _wake = os.pipe()
            os.set_blocking(_wake[1], False)
            threading.Thread(target=_run, args=(_wake[0],), name="pylambda-api-accept", daemon=True).start()
        sock.setblocking(False)  # a connection reset between poll and accept must not block the thread
        _servers[sock.fileno()] = (sock, server)
        _poke()


def remove(sock: socket.socket) -> None:
    """Stop accepting on ``sock`` (the caller shuts it down and closes it)."""
    with _lock:
        for fd, (known, _server) in list(_servers.items()):
            if known is sock:
                del _servers[fd]
        _poke()


def _poke() -> None:
    if _wake is not None:
        try:
            os.write(_wake[1], b"x")
        except BlockingIOError:  # already woken
            pass


def _run(wake_r: int) -> None:
    while True:
        with _lock:
            watched = dict(_servers)
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        for fd in watched:
            poller.register(fd, select.POLLIN)
        for fd, _event in poller.poll():
            if fd == wake_r:
                os.read(wake_r, 4096)
                continue
            with _lock:
                entry = _servers.get(fd)
            if entry is None or entry is not watched.get(fd):
                continue  # removed (and maybe closed) meanwhile
            sock, server = entry
            try:
                conn, _addr = sock.accept()
            except OSError:  # shut down by close(), or the peer went away first
                continue
            conn.setblocking(True)
            server._accepted(conn)
