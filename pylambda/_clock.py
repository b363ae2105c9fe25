"""Time for the Invoker's schedules: real, or advanced by hand in tests.

Asynchronous retries wait minutes and events may age for six hours; a test
cannot.  Everything that *schedules* (retry delays, throttle backoff, event
age) asks the Invoker's clock; what *measures* an invocation (durations,
timeouts inside an environment) always uses real time, since a handler runs
in real time whatever the clock says.
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock", "ManualClock", "RealClock"]


class Clock:
    """The interface: ``now()`` in epoch seconds and ``wait(cond, until)``."""

    manual = False

    def now(self) -> float:
        """Current time, epoch seconds."""
        raise NotImplementedError

    def wait(self, cond: threading.Condition, until: float | None) -> None:
        """Wait on ``cond`` (held) until notified or the clock reaches ``until``."""
        raise NotImplementedError

    def subscribe(self, cond: threading.Condition) -> None:
        """Ask to have ``cond`` notified when the clock jumps (manual clocks)."""


class RealClock(Clock):
    """Wall-clock time (the default)."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    def wait(self, cond: threading.Condition, until: float | None) -> None:
        """Wait until notified or ``until`` passes."""
        cond.wait(None if until is None else max(0.0, until - time.time()))


class ManualClock(Clock):
    """A clock that moves only when told: ``clock.advance(60)``.

    Pass it to ``Invoker(clock=...)``: retry delays, throttle backoff and event
    age then follow it, so a retry sequence spread over minutes, or a six-hour
    event age, runs in milliseconds with the same ordering and the same
    records.  ``Invoker.wait_for_idle()`` advances it by itself to the next
    scheduled attempt when nothing else is running.
    """

    manual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()
        self._conds: list[threading.Condition] = []

    def now(self) -> float:
        """The clock's current time, epoch seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; wake whatever waits on it; return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            self._now += seconds
            conds = list(self._conds)
        for cond in conds:
            with cond:
                cond.notify_all()
        return self._now

    def set(self, when: float) -> float:
        """Move the clock to ``when`` (not earlier than now)."""
        return self.advance(max(0.0, when - self._now))

    def wait(self, cond: threading.Condition, until: float | None) -> None:
        """Wait until notified (advancing notifies); a bounded real wait guards against misses."""
        if until is not None and self._now >= until:
            return
        cond.wait(1.0)

    def subscribe(self, cond: threading.Condition) -> None:
        """Notify ``cond`` on every advance."""
        with self._lock:
            self._conds.append(cond)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now:.3f})"
