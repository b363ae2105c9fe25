"""Ending a sandboxed environment without waiting for it, and telling that a process has ended.

Why: an Invoker's ``close()`` used to wait for each idle environment to
exit after EOF (the runtime's exit, its init's, the zygote's report:
~1.5 ms), and a test suite closes an Invoker per test.  SIGKILL to the
init of an environment's PID namespace ends every process in it, so
``close()`` sends it and goes on (``kill_sandbox``); from then on nothing
of the environment runs, and the zygote reaps what is left.  Leak checks
follow with ``ended``: a process with SIGKILL pending runs no code of its
own again, and counts as ended.
"""

from __future__ import annotations

import os
import select
import signal

__all__ = ["ended", "kill_sandbox"]


def ended(pid: int) -> bool:
    """Whether process ``pid`` has ended or is bound to: gone, a zombie, or with SIGKILL pending.

    A process sent SIGKILL runs none of its own code again; the kernel
    ends it as soon as it is scheduled.  Counting it as ended lets a leak
    check follow an Invoker that kills its environments without waiting
    for them (``ProcessEnvironment.end_now``).
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
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
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
