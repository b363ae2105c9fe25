"""The Invoker's collaborator for event-source triggers, and waiting until nothing is pending.

The Invoker's event-source API (``create_event_source_mapping``,
``event_source_mappings``, ``wait_for_idle``, ``pending_work``) delegates
here.  ``Triggers`` owns the mappings: it creates them
through the registry of source kinds (``_sources/kinds.py``), makes each
attached source follow the Invoker's clock, keeps them by UUID, waits on
them for ``wait_for_idle`` and stops them on ``close()``.  Triggers reach
the Invoker only through ``invoke`` and ``resolve`` and leave through
``Triggers.forget``; nothing else touches the mapping table.

The sources themselves load on first use (``_sources``): they are half of
the package's import time.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ._errors import InvalidParameterValueError

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._async import AsyncQueue
    from ._clock import Clock
    from ._invoker import Invoker
    from ._sources.trigger import Trigger

__all__ = ["Triggers", "pending_work", "wait_for_idle"]

# How often wait_for_idle looks at the triggers again (real seconds).  Shorter
# notices sooner; longer spares the CPU while a handler runs.
_POLL_S = 0.005


def _same_clock(a: Clock, b: Clock) -> bool:
    """Whether two clocks tell the same time: the same object, or both real."""
    return a is b or (not a.manual and not b.manual)


class Triggers:
    """The mappings of one Invoker: create (via the registry), list, find, forget, wait, close."""

    def __init__(self, invoker: Invoker, clock: Clock) -> None:
        self.invoker = invoker
        self.clock = clock
        self._lock = threading.Lock()
        self._by_uuid: dict[str, Trigger] = {}

    def create(self, source: Any, target: Any, **options: Any) -> Trigger:
        """Validate, attach ``source`` to the Invoker's clock, build and start the trigger its kind names."""
        from ._sources.kinds import trigger_class_for
        from ._sources.trigger import MappingOptions

        _version, _arn, fn = self.invoker.resolve(target)
        cls = trigger_class_for(source)
        opts = MappingOptions(**options)
        adopted = self.attach_clock(source)
        try:
            trigger = cls.create(self, source, target, fn.name, opts)
        except BaseException:
            if adopted:  # a refused mapping leaves the source as it was
                source.detach_clock(self.clock)
            raise
        with self._lock:
            self._by_uuid[trigger.uuid] = trigger
        trigger.start()
        return trigger

    def attach_clock(self, source: Any) -> bool:
        """Make ``source`` follow the Invoker's clock, or refuse a source following another one.

        Returns whether the source adopted the clock just now (it had none bound).
        """
        attach = getattr(source, "attach_clock", None)
        if attach is None:  # e.g. an ARN: the source lives elsewhere
            return False
        current = getattr(source, "bound_clock", None)
        if current is not None and not _same_clock(current, self.clock):
            raise InvalidParameterValueError(
                f"{source!r} follows {current!r} but the Invoker follows {self.clock!r}: a source attached to an "
                f"Invoker must use the Invoker's clock (leave the source's clock= out and it adopts the Invoker's)"
            )
        attach(self.clock)
        return current is None

    def find(self, source: Any, function_name: str) -> Trigger | None:
        """The live trigger connecting ``source`` to ``function_name``, if any."""
        with self._lock:
            for trigger in self._by_uuid.values():
                if trigger.source is source and trigger.function_name == function_name:
                    return trigger
        return None

    def forget(self, trigger: Trigger) -> None:
        """Drop a deleted trigger (``Trigger.delete`` calls this)."""
        with self._lock:
            self._by_uuid.pop(trigger.uuid, None)

    def all(self) -> list[Trigger]:
        """Every live trigger, in creation order."""
        with self._lock:
            return list(self._by_uuid.values())

    def idle(self) -> bool:
        """No trigger has work (see ``waiting``)."""
        return not any(self.waiting(t) for t in self.all())

    def waiting(self, trigger: Trigger) -> bool:
        """Whether ``trigger`` still has work, now or later (a schedule's next firing aside).

        On a manual clock "later" never holds anyone up: ``wait_for_idle``
        jumps the clock instead.  On the real clock the records a trigger
        still owes (``pending()``: messages waiting out a visibility
        timeout, a blocked shard's records) are waited for.
        """
        if not trigger.idle():
            return True
        return not self.clock.manual and trigger.fast_forward and trigger.pending() > 0

    def wait_for_idle(self, deadline: float | None) -> bool:
        """Wait until no trigger has work (True), or ``deadline`` (``time.monotonic``) passes (False).

        With a manual clock, once nothing runs the clock jumps to the next
        due time of a trigger that may be fast-forwarded (a visibility
        timeout, a batch window, a retry backoff), so waiting costs no real
        time.  With the real clock the wait lasts until no trigger owes
        anything (see ``waiting``).
        """
        clock = self.clock
        while True:
            triggers = self.all()
            if not any(self.waiting(t) for t in triggers):
                dues = [t.next_due() for t in triggers if t.fast_forward] if clock.manual else []
                dues = [d for d in dues if d is not None]
                if not dues:
                    return True
                clock.set(min(dues))  # type: ignore[attr-defined]
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)

    def pending_work(self) -> list[str]:
        """What ``wait_for_idle`` would still wait for, one line per trigger."""
        lines = []
        now = self.clock.now()
        for t in self.all():
            if not self.waiting(t):
                continue
            due = t.next_due()
            what = f"{getattr(t.source, 'name', t.source_arn)} -> {t.function_name}"
            if due is None or due <= now:
                lines.append(f"{what}: a batch is being processed or is due now")
            else:
                in_flight = getattr(t.source, "in_flight", None)
                held = f"{in_flight} message(s) invisible, " if in_flight else ""
                lines.append(f"{what}: {held}next batch due in {due - now:.1f} s")
        return lines

    def close(self) -> None:
        """Delete every trigger (each stop is bounded)."""
        for trigger in self.all():
            trigger.delete()


def wait_for_idle(queue: AsyncQueue, triggers: Triggers, timeout: float | None) -> bool:
    """``Invoker.wait_for_idle``: until neither the asynchronous queue nor a trigger has work (True), or timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not queue.wait_for_idle(left):
            return False
        if not triggers.wait_for_idle(deadline):
            return False
        if queue.pending() == 0 and triggers.idle():
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def pending_work(queue: AsyncQueue, triggers: Triggers) -> list[str]:
    """``Invoker.pending_work``: what ``wait_for_idle`` would still wait for, one line each."""
    lines = []
    queued = queue.pending()
    if queued:
        lines.append(f"{queued} asynchronous event(s) queued, running or waiting for a retry")
    return lines + triggers.pending_work()
