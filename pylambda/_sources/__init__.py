"""Event sources (queues, streams, tables, schedules, buckets, function URLs) and their mappings."""

from __future__ import annotations

from typing import Any

from .._errors import InvalidParameterValueError


def data_bytes(data: Any, what: str) -> bytes:
    """``data`` (bytes-like or str, UTF-8) as bytes, or an error naming ``what`` was given instead.

    For the sources' records and objects, and for ``invoke(payload=...)``.

    ``bytes(data)`` alone would turn an int into that many NUL bytes and a
    dict into a TypeError from deep inside.
    """
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidParameterValueError(f"{what} must be bytes or str, got {type(data).__name__}")


class Clocked:
    """A source's clock: the one given (``clock=``), else the Invoker's it is attached to, else real time.

    Forgetting ``clock=`` used to leave a source on real time beside an
    Invoker on a ``ManualClock``, silently.  Now attaching a source to an
    Invoker (``create_event_source_mapping``) binds a source that has no
    clock of its own to the Invoker's, and the Invoker refuses a source bound
    to a different clock.  Times the source recorded before (a message's
    sent and visible times, a record's arrival, a schedule's creation) move
    with it, so what was sent a second ago is still a second old.
    """

    _explicit_clock: Any = None
    _adopted_clock: Any = None
    _adopted_delta = 0.0

    def _init_clock(self, clock: Any) -> None:
        self._explicit_clock = clock
        self._adopted_clock = None

    @property
    def clock(self) -> Any:
        """The clock this source follows."""
        return self._explicit_clock or self._adopted_clock or _real_clock()

    @property
    def bound_clock(self) -> Any:
        """The clock this source is bound to (given, or adopted from an Invoker); None while free."""
        return self._explicit_clock or self._adopted_clock

    def attach_clock(self, clock: Any) -> bool:
        """Follow ``clock`` from now on, if no clock is bound yet (the Invoker checks for conflicts).

        Returns whether it adopted ``clock`` now.
        """
        if self.bound_clock is not None:
            return False
        delta = clock.now() - _real_clock().now() if clock.manual else 0.0
        self._adopted_clock = clock
        self._adopted_delta = delta
        if delta:
            self._rebase(delta)
        return True

    def detach_clock(self, clock: Any) -> None:
        """Undo ``attach_clock(clock)`` (the mapping it was for was refused): back to real time, times restored."""
        if self._adopted_clock is not clock:
            return
        self._adopted_clock = None
        if self._adopted_delta:
            self._rebase(-self._adopted_delta)

    def _rebase(self, delta: float) -> None:
        """Shift the times this source recorded by ``delta`` seconds (it moved to another clock)."""


def _real_clock() -> Any:
    from .._clock import RealClock

    global _REAL
    if _REAL is None:
        _REAL = RealClock()
    return _REAL


_REAL: Any = None
