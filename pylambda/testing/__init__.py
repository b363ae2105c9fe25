"""Helpers for tests of Lambda handlers (the pytest plugin lives in ``_plugin``).

The plugin is registered through the ``pytest11`` entry point, so installing
pylambda gives every pytest run the ``lambda_invoker`` and
``lambda_function`` fixtures; nothing here is imported until a test uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["environment_pids", "leftover_processes"]


def environment_pids(invoker: Invoker) -> list[int]:
    """Pids of every process the Invoker started (its environments, zygotes and hosts).

    Inline environments run in this process and are not counted.
    """
    import os

    pids = [env.pid for env in invoker.environments() if env.pid is not None and env.pid != os.getpid()]
    return pids + invoker._backends.pids()


def leftover_processes(pids: list[int], timeout: float = 2.0) -> list[int]:
    """The pids among ``pids`` still alive after up to ``timeout`` seconds."""
    import os
    import time

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return False

    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if alive(p)]
    return left
