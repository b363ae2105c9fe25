"""Serving edits to a ``$LATEST`` code directory without a restart (``Invoker(watch_code=True)``).

A published version is a snapshot and never changes; ``$LATEST`` of a
function whose code is a directory follows that directory: at most every
``WATCH_INTERVAL_S`` per function the tree's (path, mtime, size)
fingerprint is compared with the last one, and a change makes a new
``$LATEST`` revision (``Function.reload_code``), whose environments start
cold with the new code while the old revision's are retired.

A fingerprint is shared by every function of the process with the same
code directory for half that interval (``_fingerprint``): a test suite
makes a Function per test, often with the tests' own directory as its code,
and each one's first invocation walked the whole tree for its baseline
(0.2 ms for 50 files, far more for a project's root).  An edit is then
noticed up to half an interval later; a baseline taken just before an edit
only makes that function start one more cold environment with the code it
already runs.
"""

from __future__ import annotations

import os
import time

from ._function import Function
from ._version import LATEST, Version

__all__ = ["WATCH_INTERVAL_S", "CodeWatch"]

# How often a $LATEST code directory is checked for edits.  Shorter notices
# edits sooner; each check walks the tree.
WATCH_INTERVAL_S = 0.2


_recent: dict[str, tuple[float, int]] = {}  # code directory -> (valid until, fingerprint): the process's


def _fingerprint(root: str, now: float) -> int:
    """``_tree_fingerprint(root)``, or the one taken for it less than half a watch interval ago."""
    seen = _recent.get(root)
    if seen is not None and now < seen[0]:
        return seen[1]
    fingerprint = _tree_fingerprint(root)
    if len(_recent) >= 256:
        _recent.clear()
    _recent[root] = (now + WATCH_INTERVAL_S / 2, fingerprint)
    return fingerprint


def _tree_fingerprint(root: str) -> int:
    """A hash of every file's path, mtime and size under ``root`` (bytecode caches aside)."""
    entries = []
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            stack.append(entry.path)
                    else:
                        st = entry.stat()
                        entries.append((entry.path, st.st_mtime_ns, st.st_size))
        except OSError:
            continue
    return hash(frozenset(entries))


class CodeWatch:
    """The last fingerprint of each watched function's code directory."""

    __slots__ = ("_enabled", "_state")

    def __init__(self, enabled: bool) -> None:
        self._enabled = bool(enabled)
        self._state: dict[str, tuple[float, int, int]] = {}  # name -> (next check, fingerprint, revision)

    def watches(self, version: Version) -> bool:
        """Whether edits to ``version``'s code are served (a ``$LATEST`` code directory, watching on)."""
        return self._enabled and version.code.kind == "directory" and version.version == LATEST

    def current(self, fn: Function, version: Version) -> Version:
        """``version``, or the new ``$LATEST`` revision if its code directory changed since the last look."""
        if not self.watches(version):
            return version
        now = time.monotonic()
        state = self._state.get(fn.name)
        if state is not None and state[2] == version.revision and now < state[0]:
            return version
        fingerprint = _fingerprint(version.code.path, now)
        if state is not None and state[2] == version.revision and fingerprint != state[1]:
            version = fn.reload_code()
        self._state[fn.name] = (now + WATCH_INTERVAL_S, fingerprint, version.revision)
        return version
