"""An EventBridge rule target: a ``Schedule`` invoking a function asynchronously at each firing time.

Each firing sends EventBridge's ``Scheduled Event`` (reference §5.5) with
``invocation_type="Event"``, so retries, destinations and dead letters are
the asynchronous path's.  Under a ``ManualClock`` every occurrence passed by
``clock.advance`` fires, in order, each with its own ``time``.
"""

from __future__ import annotations

from typing import Any

from .. import events as _events
from .schedule import Schedule
from .trigger import MappingOptions, PollingTrigger

__all__ = ["ScheduleTrigger"]


class ScheduleTrigger(PollingTrigger):
    """A schedule rule invoking a function asynchronously at each firing time; ``fired`` lists the times."""

    kind = "schedule"
    fast_forward = False  # a schedule is always due again: wait_for_idle must not chase it

    def __init__(self, owner: Any, source: Schedule, target: Any, function_name: str, enabled: bool) -> None:
        super().__init__(owner, source, target, function_name, enabled)
        self.fired: list[float] = []
        self._next = source.next_after(source.clock.now())

    @classmethod
    def create(cls, owner: Any, source: Schedule, target: Any, function_name: str,
               options: MappingOptions) -> ScheduleTrigger:  # fmt: skip
        """A rule target needs nothing but the function (the expression was checked by ``Schedule``)."""
        return cls(owner, source, target, function_name, options.enabled)

    def due_at(self) -> float | None:
        """The next firing time."""
        return self._next

    def enable(self) -> None:
        """Enable the rule again: it fires from the next occurrence on; what it missed while disabled is gone.

        EventBridge does not catch up a disabled rule's occurrences.
        """
        if self.state == "Disabled":
            self._next = self.source.next_after(self.clock.now())
        super().enable()

    def disable(self) -> None:
        """Disable the rule: no firing until ``enable()``, and none caught up then."""
        super().disable()

    def run_due(self) -> None:
        """Fire every occurrence due by now, in order."""
        now = self.source.clock.now()
        while self._next is not None and self._next <= now and self.state == "Enabled":
            when = self._next
            event = _events.scheduled_event(self.source.arn, when, account=self.source.account_id,
                                            region=self.source.region)  # fmt: skip
            self._invoker.invoke(self.target, event, invocation_type="Event")
            self.invocations += 1
            self.fired.append(when)
            self._next = self.source.next_after(when)

    def describe(self) -> dict:
        """The target with its rule's expression."""
        return {**super().describe(), "ScheduleExpression": self.source.expression}
