"""Parent-side handle on the zygote process that forks environments.

The zygote is started with ``python -I -S`` (no site, no user environment),
given the caller's ``sys.path`` explicitly, in a new session so a Ctrl-C in
the terminal reaches the caller only.  It is started as soon as the Invoker
is created, without waiting, so its ~30 ms of imports overlap with the
caller's own work; the first fork request simply queues on the socket.

If the zygote dies (a user's ``kill``, the OOM killer), the next fork request
sees EOF, and a new zygote is started transparently.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading

from .._errors import PylambdaError

__all__ = ["Zygote"]

_PID = struct.Struct("<i")
_BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from pylambda._runtime.zygote import main; main(int(sys.argv[2]))"
)


class Zygote:
    """One zygote process and the socket to it; thread-safe."""

    def __init__(self, executable: str | None = None) -> None:
        # Another interpreter (a python3.X runtime) gets only pylambda's root
        # on its path: the caller's site-packages were built for the caller.
        self.executable = executable or sys.executable
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self.generation = 0

    def start(self) -> None:
        """Start the zygote if it is not running (does not wait for it)."""
        with self._lock:
            if self._proc is None:
                self._spawn()

    def _spawn(self) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        path = [p for p in sys.path if p] if self.executable == sys.executable else []
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if pkg_root not in path:
            path.insert(0, pkg_root)
        try:
            self._proc = subprocess.Popen(
                [self.executable, "-I", "-S", "-c", _BOOT, json.dumps(path), str(child_sock.fileno())],
                pass_fds=[child_sock.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            child_sock.close()
        self._sock = parent_sock
        self.generation += 1

    @property
    def pid(self) -> int | None:
        """The zygote's pid, or None when not running."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def fork(self, fds: list[int], name: str) -> tuple[int, int]:
        """Fork an environment that owns ``fds``; return (pid, status pipe read end)."""
        msg = b"F" + name.encode()[:15]
        with self._lock:
            for _attempt in (1, 2):
                if self._proc is None:
                    self._spawn()
                try:
                    socket.send_fds(self._sock, [msg], fds)
                    reply, rfds, _flags, _addr = socket.recv_fds(self._sock, 16, 1)
                except OSError:
                    reply, rfds = b"", []
                if len(reply) == _PID.size and len(rfds) == 1:
                    return _PID.unpack(reply)[0], rfds[0]
                for fd in rfds:
                    os.close(fd)
                self._stop_locked(timeout=1.0)  # dead or confused: replace it
        raise PylambdaError("the zygote process could not fork an environment twice in a row")

    def _stop_locked(self, timeout: float) -> None:
        proc, sock = self._proc, self._sock
        self._proc = self._sock = None
        if sock is not None:
            sock.close()  # EOF: the zygote exits, its environments die with it
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the zygote; environments it forked receive SIGKILL."""
        with self._lock:
            proc = self._proc
            self._stop_locked(timeout)
            if proc is not None:
                try:
                    os.killpg(proc.pid, 9)  # anything a handler left in the session
                except (ProcessLookupError, PermissionError):
                    pass
