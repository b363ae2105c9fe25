"""Ending a sandboxed environment without waiting for it, and telling that a process has ended.

Why: an Invoker's ``close()`` used to wait for each idle environment to
exit after EOF (the runtime's exit, its init's, the zygote's report:
~1.5 ms), and a test suite closes an Invoker per test.  SIGKILL to the
init of an environment's PID namespace ends every process in it, so
``close()`` sends it and goes on (``kill_sandbox``); from then on nothing
of the environment runs, and the zygote reaps what is left.  Leak checks
follow with ``ended``: a process with SIGKILL pending runs no code of its
own again, and counts as ended.

The processes ``kill_sandbox`` killed are remembered by pidfd
(``killed``): until such a process has exited, ``ended`` answers from
that without reading ``/proc``, whose reads of a process being torn
down were ~0.05 ms each right after a ``close()`` (on a 2-vCPU VM), and
the pidfd, unlike the pid, can name no other process.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time

__all__ = ["ended", "kill_sandbox", "killed", "read_proc", "wait_exits"]

# pid -> pidfd of a process kill_sandbox sent SIGKILL, until it is seen to have exited
_killed: dict[int, int] = {}
_killed_lock = threading.Lock()
_KILLED_MAX = 256  # the oldest are forgotten past this many (then looked up in /proc as any other)


def killed(pid: int) -> bool:
    """Whether ``pid`` is a process this process sent SIGKILL (``kill_sandbox``) and that has not exited yet.

    Such a process runs none of its own code again, and its descendants
    are in its PID namespace, which ends with it.
    """
    with _killed_lock:
        fd = _killed.get(pid)
        if fd is None:
            return False
        if not select.select([fd], [], [], 0)[0]:  # a pidfd turns readable when its process exits
            return True
        del _killed[pid]
    os.close(fd)
    return False


def _forget_in_child() -> None:
    """After ``os.fork()``: the lock may have been held; the child sent no SIGKILL of its own yet."""
    global _killed_lock
    _killed_lock = threading.Lock()
    for fd in _killed.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _killed.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _remember(pid: int) -> None:
    """Keep a pidfd of ``pid`` (alive, about to be sent SIGKILL) for ``killed``."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone, or no pidfds here: /proc answers for it
        return
    old: list[int] = []
    with _killed_lock:
        previous = _killed.pop(pid, None)
        if previous is not None:
            old.append(previous)
        _killed[pid] = fd
        while len(_killed) > _KILLED_MAX:
            old.append(_killed.pop(next(iter(_killed))))
    for stale in old:
        os.close(stale)


def read_proc(path: str) -> bytes:
    """A ``/proc`` file's bytes, in one read (they are small): a third of what ``open().read()`` costs.

    The leak checks read a few per test (14.6 -> 4.5 us each here); raises
    OSError as ``open`` does (FileNotFoundError once the process is gone).
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def wait_exits(pids: list[int], deadline: float, same=None) -> list[int]:
    """Wait on pidfds until every one of ``pids`` has ended or ``deadline`` (monotonic); the ones left.

    A pidfd turns readable the moment its process ends (a zombie has
    ended), so a clean teardown is seen at once, not at the next look.
    Pids without a pidfd (Linux < 5.3, not Linux) are among those left,
    for the caller to look at otherwise.  ``same(pid)``, asked once the
    pid's pidfd is open, says whether the pid still names the process
    meant; False: that one is gone (its pid was given to another).
    """
    watched: dict[int, int] = {}
    left: list[int] = []
    try:
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue  # gone already
            except (OSError, AttributeError):  # no pidfds here
                left.append(pid)
                continue
            watched[fd] = pid
            if same is not None and not same(pid):
                del watched[fd]
                os.close(fd)
        poller = select.poll()
        for fd in watched:
            poller.register(fd, select.POLLIN)
        pending = set(watched)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for fd, _event in poller.poll(max(1, int(remaining * 1000))):
                pending.discard(fd)
                poller.unregister(fd)
        return left + [watched[fd] for fd in pending]
    finally:
        for fd in watched:
            os.close(fd)


def ended(pid: int) -> bool:
    """Whether process ``pid`` has ended or is bound to: gone, a zombie, or with SIGKILL pending.

    A process sent SIGKILL runs none of its own code again; the kernel
    ends it as soon as it is scheduled.  Counting it as ended lets a leak
    check follow an Invoker that kills its environments without waiting
    for them (``ProcessEnvironment.end_now``).
    """
    if killed(pid):
        return True
    try:
        status = read_proc(f"/proc/{pid}/status")
    except FileNotFoundError:
        return True
    except OSError:  # not readable here: ask the kernel whether it exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    pending = 0
    for line in status.splitlines():
        if line.startswith(b"State:"):
            if line.split()[1:2] in ([b"Z"], [b"X"]):
                return True
        elif line.startswith((b"SigPnd:", b"ShdPnd:")):
            pending |= int(line.split()[1], 16)
    return bool(pending & (1 << (signal.SIGKILL - 1)))


def kill_sandbox(init: int, runtime: int, status_r: int) -> None:
    """SIGKILL a sandboxed environment's init and its runtime's group, unless its status pipe says it ended.

    Nothing on the status pipe: the runtime has not ended, so neither it
    nor its init has been reaped and their pids are still theirs.  Once the
    runtime's status is there, its init is ending the rest by itself.  Each
    shows SIGKILL pending at once (``ended``); the init's death ends its
    PID namespace.
    """
    if select.select([status_r], [], [], 0)[0]:
        return
    for kill, pid in ((os.kill, init), (os.killpg, runtime)):
        _remember(pid)
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
