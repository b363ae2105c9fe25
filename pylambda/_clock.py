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
import weakref

__all__ = ["Clock", "ManualClock", "RealClock", "iso_ms"]

# How long (real time) ManualClock.advance waits for the work due at one moment.
SETTLE_TIMEOUT_S = 30.0


def iso_ms(t: float) -> str:
    """``2026-11-26T17:55:28.123Z``: UTC with milliseconds, as Lambda's records and logs write time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


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

    def register(self, settler) -> None:
        """Ask to settle due work before the clock moves on (manual clocks)."""


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
        self._settler_refs: list[weakref.ref] = []

    def now(self) -> float:
        """The clock's current time, epoch seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward, running what falls due on the way, in time order.

        Like a discrete-event simulator: before time passes a moment, every
        scheduler registered on this clock (the Invoker's async queue, event
        source mappings) finishes what is due at that moment.  So an event
        queued now is attempted now, not judged a day old because the clock
        jumped a day.  Each step waits at most ``SETTLE_TIMEOUT_S`` of real
        time, so a stuck handler cannot hang the caller.
        """
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        target = self._now + seconds
        while True:
            self._settle()
            dues = [d for d in (s.next_due() for s in self._settlers()) if d is not None and self._now < d <= target]
            if not dues:
                break
            self._jump(min(dues))
        self._jump(target)
        self._settle()
        return self._now

    def _jump(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)
            conds = list(self._conds)
        for cond in conds:
            with cond:
                cond.notify_all()

    def _settlers(self) -> list:
        with self._lock:
            alive = [ref() for ref in self._settler_refs]
            self._settler_refs = [ref for ref, obj in zip(self._settler_refs, alive, strict=True) if obj is not None]
        return [obj for obj in alive if obj is not None]

    def _settle(self) -> None:
        for settler in self._settlers():
            settler.settle(self._now, SETTLE_TIMEOUT_S)

    def register(self, settler) -> None:
        """Let ``advance`` run ``settler``'s due work in order (``next_due()``, ``settle(now, timeout)``)."""
        with self._lock:
            self._settler_refs.append(weakref.ref(settler))

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
