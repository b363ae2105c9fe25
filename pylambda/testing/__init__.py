"""Helpers for tests of Lambda handlers (the pytest plugin lives in ``_plugin``).

The plugin is registered through the ``pytest11`` entry point, so installing
pylambda gives every pytest run the ``lambda_invoker``, ``lambda_function``
and ``lambda_session_invoker`` fixtures; nothing here is imported until a
test uses them.

Leak checks and the shared zygote: every Invoker of a process forks its
environments from one zygote per interpreter, started once and kept until
the process exits (``shared_zygote_pids()``).  It is the process's, not a
test's, so a leak check leaves it out; what it forked is counted
(``zygote_children()``): an environment still alive after its Invoker
closed, or a process a handler started that outlived its environment
(adopted by the zygote), is a leak.  So is a spare sandbox the zygote
keeps ready for its next cold start (``spare_pids()``): the process's, not
a test's, until a fork takes it and it becomes that test's environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["environment_pids", "leftover_processes", "shared_zygote_pids", "spare_pids", "zygote_children"]


def environment_pids(invoker: Invoker) -> list[int]:
    """Pids of every process the Invoker started: its environments and its backends' hosts.

    Inline environments run in this process and are not counted; nor is the
    zygote, which is shared by the process's Invokers (``shared_zygote_pids``).
    """
    import os

    pids = [env.pid for env in invoker.environments() if env.pid is not None and env.pid != os.getpid()]
    return pids + invoker._backends.pids()


def shared_zygote_pids() -> list[int]:
    """Pids of this process's shared zygotes (started once, ended at exit)."""
    from .._environment.shared import shared_zygote_pids as pids

    return pids()


def spare_pids() -> set[int]:
    """Pids of the spare sandboxes the shared zygotes keep ready (each an init and its runtime).

    Like the zygotes, they are the process's: a leak check leaves them out.
    """
    from .._environment.shared import shared_spare_pids

    return _descendants(shared_spare_pids(), keep_roots=True)


def zygote_children() -> set[int]:
    """Pids of every live descendant of the shared zygotes: environments (and their sandboxes' inits), and
    processes adopted from them; not the spare sandboxes (``spare_pids``)."""
    from .._environment.shared import shared_spare_pids

    return _descendants(shared_zygote_pids(), skip=set(shared_spare_pids()))  # a spare's init: its subtree is skipped


def _descendants(roots: list[int], skip: set[int] = frozenset(), keep_roots: bool = False) -> set[int]:
    """Every live descendant of ``roots`` (and the roots, with ``keep_roots``), not entering ``skip``.

    Nor entering a process this process killed (an environment's init an
    Invoker's ``close()`` sent SIGKILL, ``ending.killed``): it is listed,
    and what runs under it is in its PID namespace, ending with it.
    """
    import os

    from .._environment.ending import killed, read_proc
    from .._environment.zygote import parent_of

    found: set[int] = set(roots) if keep_roots else set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if killed(pid):
            continue
        try:
            kids = [int(p) for p in read_proc(f"/proc/{pid}/task/{pid}/children").split()]
        except (OSError, ValueError):  # gone, or a kernel without the children file: scan for the parent
            kids = []
            for entry in os.listdir("/proc") if os.path.exists(f"/proc/{pid}") else ():
                if entry.isdigit() and parent_of(int(entry)) == pid:
                    kids.append(int(entry))
        kids = [k for k in kids if k not in skip]
        found.update(kids)
        todo.extend(kids)
    return found


def leftover_processes(pids: list[int], timeout: float = 2.0) -> list[int]:
    """The pids among ``pids`` still alive after up to ``timeout`` seconds.

    A process with SIGKILL pending counts as ended: it runs no code of its
    own again (an Invoker's ``close()`` kills a sandboxed environment
    without waiting for it to go).
    """
    import time

    from .._environment.ending import ended, wait_exits

    deadline = time.monotonic() + timeout
    left = [p for p in pids if not ended(p)]
    if left:
        left = wait_exits(left, deadline)
    # Without pidfds: a closed environment's processes are usually gone within
    # a millisecond or two: look again soon, then back off.
    pause = 0.0005
    while left and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
        left = [p for p in left if not ended(p)]
    return left
