"""Directories removed in the background: an Invoker's close() does not wait for the filesystem.

Why: removing a directory costs 1-5 ms on an overlay filesystem (a
container's /tmp: each ``rmdir`` writes a whiteout), and an Invoker's close
removes three (its work directory, ``tmp/`` and an environment's /tmp).
With an Invoker per test that was a third of a test's overhead.  Nothing
reads those directories after close, so one daemon thread removes them,
and an ``atexit`` hook finishes what is left (bounded) before the process
exits.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import sys
import threading
import time

__all__ = ["remove_later"]

# How long the exit hook waits for removals still queued.  Larger leaves
# fewer directories behind after a huge run; smaller exits sooner.
EXIT_DRAIN_S = 5.0

_queue: queue.SimpleQueue[str] = queue.SimpleQueue()
_lock = threading.Lock()
_worker: threading.Thread | None = None
_pid = 0


def remove_later(path: str) -> None:
    """Remove the directory tree at ``path`` soon, in a background thread."""
    global _worker, _pid
    if sys.is_finalizing():  # no new thread would ever run now (an unclosed Invoker's __del__ at exit)
        shutil.rmtree(path, ignore_errors=True)
        return
    _queue.put(path)
    with _lock:
        if _worker is None or _pid != os.getpid():  # none yet, or a forked child's copy of a dead one
            _pid = os.getpid()
            _worker = threading.Thread(target=_work, name="pylambda-cleanup", daemon=True)
            _worker.start()


def _work() -> None:
    while True:
        shutil.rmtree(_queue.get(), ignore_errors=True)


def _drain() -> None:
    deadline = time.monotonic() + EXIT_DRAIN_S
    while time.monotonic() < deadline:
        try:
            path = _queue.get_nowait()
        except queue.Empty:
            return
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_drain)
