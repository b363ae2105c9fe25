"""When one more caller thread helps: the growth rule of the async queue's workers and of ``map``.

More threads help when invocations wait on handlers (their Duration is long):
the threads then overlap handlers running in parallel environments.  With
short handlers the work is the caller's own Python under one GIL, which more
threads only contend for (measured: a burst of no-op events ran at 6,000/s
with 16 workers and 8,400/s with one).  So a pool stays at a small base until
the median Duration of its last few invocations reaches ``GROW_AFTER_MS``;
the median ignores the odd slow invocation of a short handler (a preempted
process, a garbage collection).
"""

from __future__ import annotations

import collections

__all__ = ["GROW_AFTER_MS", "Growth"]

GROW_AFTER_MS = 1.0
_WINDOW = 5


class Growth:
    """Tracks recent Durations and says whether a pool of ``n`` threads should add one (thread-safe enough).

    ``base`` threads are always allowed; beyond that, up to ``limit``, only
    while recent invocations are slow.  Appends to a deque are atomic, and a
    stale read only delays a decision by one invocation.
    """

    def __init__(self, base: int, limit: int) -> None:
        self.base = base
        self.limit = limit
        self._durations: collections.deque[float] = collections.deque(maxlen=_WINDOW)

    def note(self, duration_ms: float) -> None:
        """Record one invocation's Duration."""
        self._durations.append(duration_ms)

    def wants_more(self, n: int) -> bool:
        """Whether a pool of ``n`` threads should start another."""
        if n >= self.limit:
            return False
        if n < self.base:
            return True
        recent = sorted(self._durations)
        return len(recent) >= 3 and recent[len(recent) // 2] >= GROW_AFTER_MS
