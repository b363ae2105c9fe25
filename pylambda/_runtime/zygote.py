"""The zygote: a small, single-threaded process that forks execution environments.

Why: forking the caller is unsafe (it has threads and may be huge) and starting
an interpreter per environment costs ~90 ms.  The Invoker starts one zygote
(``python -I -S``), which imports the runtime once, freezes its objects out of
the garbage collector's reach (so children do not copy pages on their first
collection) and then forks one child per environment in about a millisecond.

Requests arrive on a Unix socket, with the new environment's three pipe ends
attached as SCM_RIGHTS: ``F<name>`` with fds (request read end, response write
end, log write end).  The reply is the child's pid (``<i``) with one fd
attached: the read end of a *status pipe*.  When the zygote reaps the child it
writes the raw wait status (``<i``) to that pipe and closes it, so the Invoker
learns exit codes and signals without being the parent.  EOF on the socket
means the Invoker is gone: the zygote exits, and every environment it forked
dies with it (``PR_SET_PDEATHSIG``).

Each environment leads a process group of its own, and when one ends the
zygote kills that group before reaping it: whatever a handler forked dies
with its environment, as a sandbox's processes do, instead of holding the
environment's pipes open (which would hide the exit from the Invoker until
the timeout).  The zygote is also the child subreaper of anything that
escapes its group, so nothing it is responsible for lingers as a zombie.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import struct
import sys
from _socket import CMSG_LEN, SCM_RIGHTS, SOL_SOCKET
from _socket import socket as _Socket

__all__ = ["main"]

_PID = struct.Struct("<i")
_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError, ImportError):  # not Linux: no prctl
        return None


def _preload() -> None:
    """Import what every environment needs, once, before any fork."""
    import json  # noqa: F401
    import logging  # noqa: F401
    import pickle  # noqa: F401
    import traceback  # noqa: F401

    from . import bootstrap  # noqa: F401

    try:
        import cloudpickle  # noqa: F401  (callable handlers unpickle with it)
    except ImportError:
        pass


def _preload_later() -> None:
    """Import what handlers commonly use, once the zygote has nothing to do.

    ``tempfile`` (with shutil and random) and ``decimal`` are a seventh of the
    zygote's imports, and an environment needs them only if its handler
    does: importing them after the first fork takes them off the first
    invocation of every Invoker.  Environments forked before this import
    them themselves if they need them.
    """
    import decimal  # noqa: F401
    import tempfile  # noqa: F401


# File descriptors travel as SCM_RIGHTS ancillary data, native ints.  Written
# against ``_socket`` rather than with ``socket.recv_fds``/``send_fds``: the
# ``socket`` module (with ``selectors``) is a fifteenth of the zygote's
# imports, and nothing else in an environment needs it.
_FD = struct.Struct("i")


def _recv_fds(sock: _Socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One message and the descriptors attached to it."""
    msg, ancdata, _flags, _addr = sock.recvmsg(bufsize, CMSG_LEN(maxfds * _FD.size))
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            whole = len(data) - len(data) % _FD.size
            fds.extend(fd for (fd,) in _FD.iter_unpack(data[:whole]))
    return msg, fds


def _send_fds(sock: _Socket, data: bytes, fds: list[int]) -> None:
    """Send ``data`` with ``fds`` attached."""
    sock.sendmsg([data], [(SOL_SOCKET, SCM_RIGHTS, b"".join(_FD.pack(fd) for fd in fds))])


def main(sock_fd: int) -> None:
    """Serve fork requests until the Invoker closes the socket."""
    _preload()
    prctl = _prctl()
    sock = _Socket(fileno=sock_fd)
    children: dict[int, int] = {}  # pid -> write end of its status pipe

    def reap(_signum=None, _frame=None) -> None:
        while True:
            try:  # look, without reaping: while it is a zombie its group id cannot be reused
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            _kill_group(info.si_pid)  # what a handler left running dies with its environment
            pid, status = os.waitpid(info.si_pid, 0)
            w = children.pop(pid, None)
            if w is not None:
                try:
                    os.write(w, _PID.pack(status))
                finally:
                    os.close(w)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if prctl is not None:
        prctl(_PR_SET_CHILD_SUBREAPER, 1)
    gc.freeze()
    zygote_pid = os.getpid()
    later = True
    while True:
        if later and not select.select([sock], [], [], 0)[0]:  # idle: the rest of the imports
            later = False
            _preload_later()
            gc.freeze()
        try:
            msg, fds = _recv_fds(sock, 1024, 3)
        except OSError:
            break
        if not msg:
            break
        name = msg[1:]
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            status_r, status_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                _child(fds, name, sock, children, status_r, status_w, prctl, zygote_pid)
            for fd in fds:
                os.close(fd)
            children[pid] = status_w
            try:
                _send_fds(sock, _PID.pack(pid), [status_r])
            finally:
                os.close(status_r)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    for pid in list(children):  # the environments die by PR_SET_PDEATHSIG; their groups here
        _kill_group(pid)
    _kill_adopted()
    os._exit(0)


def _kill_adopted() -> None:
    """SIGKILL what the zygote adopted as subreaper (processes that left their environment's group)."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            pids = [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` (an environment's), if it exists."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child(fds, name, sock, children, status_r, status_w, prctl, zygote_pid) -> None:
    """Become an execution environment; never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        os.setpgid(0, 0)  # its own group: the zygote ends it with the environment
        sock.close()
        os.close(status_r)
        os.close(status_w)
        for w in children.values():
            os.close(w)
        children.clear()
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            prctl(_PR_SET_NAME, name[:15])
        if os.getppid() != zygote_pid:  # the zygote died before PDEATHSIG was set
            os._exit(1)
        req_r, resp_w, log_w = fds
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        os.close(log_w)
        from .bootstrap import main as run

        run(req_r, resp_w)
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(70)
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover - started by pylambda itself
    main(int(sys.argv[1]))
