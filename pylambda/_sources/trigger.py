"""The source protocol: what every trigger (an event source mapping, a rule target, a notification) offers.

A *source* holds records (a ``Queue``, a ``Stream``, a ``Table``, a
``Bucket``, a ``Schedule``; later an ARN on a services endpoint).  A
*trigger* connects one source to one function and invokes it with the
source's semantics.  ``invoker.create_event_source_mapping(source, fn)``
looks the source's kind up in ``kinds.py`` and asks that trigger class to
``create`` itself; the Invoker's one collaborator for triggers
(``pylambda._triggers.Triggers``) keeps them and is the only thing that
waits on them or closes them.  What a trigger must offer::

    kind                      class attribute: "sqs", "kinesis", "dynamodb", "schedule", "s3" ...
    create(owner, source, target, function_name, options) -> Trigger
                              classmethod: validate ``options`` as Lambda does, build, don't start
    start()                   begin delivering (a thread, or a subscription)
    stop(timeout)             stop for good, bounded; work in flight finishes first
    enable() / disable()      Lambda's Enabled/Disabled states (the source keeps its records)
    delete(timeout)           stop() and leave the owner
    due_at() -> float | None  clock time at which work is next due (None: none by itself)
    pending() -> int          records it will still deliver without new input (in-flight included)
    idle() -> bool            nothing running and nothing due now
    describe() -> dict        the GetEventSourceMapping-like view (UUID, EventSourceArn, State ...)
    next_due(), settle(now, timeout)
                              what ``ManualClock.advance`` asks of a settler (here for every trigger)

``fast_forward`` says whether ``wait_for_idle`` may jump a manual clock to
``due_at()`` (a visibility timeout or a retry backoff: yes; a schedule's
next firing, which never ends: no).

Two bases implement it: ``Trigger`` (state, lifecycle, bookkeeping: enough
for a trigger the source pushes to, like a bucket notification) and
``PollingTrigger`` (a thread per trigger that sleeps on the clock until
``due_at()`` and then calls ``run_due()``).  A new kind of source is one
module: a source class (or an ARN service name) and a trigger class,
registered in ``kinds.py``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from .._errors import InvokerClosedError

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["MappingOptions", "PollingTrigger", "Trigger", "failed_item_ids"]


@attrs.frozen(kw_only=True)
class MappingOptions:
    """The parameters of ``create_event_source_mapping``, as given (each kind validates its own)."""

    batch_size: int | None = None
    """Records per invocation; None: the kind's default (SQS 10, streams 100)."""
    maximum_batching_window: float = 0
    """Seconds to wait to fill a batch (0..300)."""
    function_response_types: tuple[str, ...] = ()
    """``("ReportBatchItemFailures",)`` or nothing."""
    filter_criteria: dict | None = None
    """``{"Filters": [{"Pattern": "<JSON>"}]}``."""
    enabled: bool = True
    """Start Enabled (else Disabled)."""
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)
    """Bucket notifications: the S3 event types."""
    prefix: str = ""
    """Bucket notifications: the key prefix."""
    suffix: str = ""
    """Bucket notifications: the key suffix."""
    starting_position: str | None = None
    """Streams: ``TRIM_HORIZON``, ``LATEST`` or ``AT_TIMESTAMP``."""
    starting_position_timestamp: float | None = None
    """Streams with ``AT_TIMESTAMP``: epoch seconds."""
    bisect_batch_on_function_error: bool = False
    """Streams: split a failing batch in two."""
    maximum_retry_attempts: int = -1
    """Streams: -1 (infinite) or 0..10000."""
    maximum_record_age: int = -1
    """Streams: -1 (infinite) or 60..604800 seconds."""
    parallelization_factor: int = 1
    """Streams: 1..10."""
    destination_config: dict | None = None
    """Streams: ``{"OnFailure": {"Destination": queue_or_callable}}``."""


class Trigger:
    """A source connected to a function: state, lifecycle and bookkeeping (see the module docstring).

    ``state`` is ``Enabled``, ``Disabled`` or ``Deleted``; ``invocations``
    counts the invocations it made.  Subclasses set ``kind`` and implement
    ``create``, ``due_at`` and ``pending`` (and ``start``/``stop`` when
    they need more than the state).
    """

    kind: ClassVar[str] = ""
    fast_forward: ClassVar[bool] = True

    def __init__(self, owner: Any, source: Any, target: Any, function_name: str, enabled: bool) -> None:
        self.uuid = str(uuid.uuid4())
        self.source = source
        self.target = target
        self.function_name = function_name
        self._owner = owner  # pylambda._triggers.Triggers
        self._invoker: Invoker = owner.invoker
        self._busy = False
        self.state = "Enabled" if enabled else "Disabled"
        self.invocations = 0

    @classmethod
    def create(cls, owner: Any, source: Any, target: Any, function_name: str, options: MappingOptions) -> Trigger:
        """Validate ``options`` as Lambda does for this kind of source and build the trigger (not started)."""
        raise NotImplementedError

    @property
    def clock(self):
        """The clock this trigger follows (its source's, which is the Invoker's once attached)."""
        return self.source.clock

    @property
    def arn(self) -> str:
        """``arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>``."""
        region = getattr(self.source, "region", "us-east-1")
        account = getattr(self.source, "account_id", "123456789012")
        return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{self.uuid}"

    @property
    def source_arn(self) -> str:
        """The source's ARN (an ARN string source is its own)."""
        return self.source if isinstance(self.source, str) else self.source.arn

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Begin delivering (the base needs nothing: a pushed trigger works from ``__init__``)."""

    def stop(self, timeout: float = 2.0) -> None:
        """Stop for good (the base only changes the state)."""
        self.state = "Deleted"

    def enable(self) -> None:
        """Start delivering again."""
        if self.state != "Deleted":
            self.state = "Enabled"

    def disable(self) -> None:
        """Stop delivering (the source keeps its records)."""
        if self.state != "Deleted":
            self.state = "Disabled"

    def delete(self, timeout: float = 2.0) -> None:
        """Stop for good and leave the Invoker; work in flight, if any, finishes first (bounded)."""
        self.stop(timeout)
        self._owner.forget(self)

    # -- what waiting asks ---------------------------------------------------------
    def due_at(self) -> float | None:
        """Clock time at which work is next due; None: nothing will be due without new input."""
        return None

    def pending(self) -> int:
        """Records this trigger will still deliver without new input (0 when not Enabled)."""
        return 0

    def idle(self) -> bool:
        """Nothing being processed and nothing due now."""
        if self._busy:
            return False
        if self.state != "Enabled":
            return True
        due = self.due_at()
        return due is None or due > self.clock.now()

    def next_due(self) -> float | None:
        """When work is next due (clock time), for ``ManualClock.advance``."""
        return self.due_at() if self.state == "Enabled" else None

    def settle(self, now: float, timeout: float) -> None:
        """Wait (bounded, real time) until nothing due at ``now`` is pending or running."""

    def describe(self) -> dict:
        """The mapping as ``GetEventSourceMapping`` shows it (the fields this kind has)."""
        return {
            "UUID": self.uuid,
            "EventSourceMappingArn": self.arn,
            "EventSourceArn": self.source_arn,
            "FunctionArn": self._invoker.resolve(self.target)[1],
            "State": self.state,
        }

    def __repr__(self) -> str:
        name = getattr(self.source, "name", self.source)
        return f"<{type(self).__name__} {self.uuid} {name} -> {self.function_name} {self.state}>"


class PollingTrigger(Trigger):
    """A trigger that polls its source on its own thread, sleeping on the clock until work is due.

    Subclasses implement ``due_at`` and ``run_due`` (do what is due now).
    The thread registers with the clock, so ``ManualClock.advance`` runs
    what falls due on the way before time moves on.
    """

    def __init__(self, owner: Any, source: Any, target: Any, function_name: str, enabled: bool) -> None:
        super().__init__(owner, source, target, function_name, enabled)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"pylambda-esm-{self.uuid[:8]}", daemon=True)

    def start(self) -> None:
        """Subscribe to the clock and start the polling thread."""
        self.clock.subscribe(self._cond)
        self.clock.register(self)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (bounded); a batch in flight finishes first."""
        self.state = "Deleted"
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def enable(self) -> None:
        """Start polling again."""
        super().enable()
        self._wake()

    def run_due(self) -> None:
        """Do the work due now (called on the trigger's thread)."""
        raise NotImplementedError

    def settle(self, now: float, timeout: float) -> None:
        """Wait (bounded, real time) until nothing due at ``now`` is pending or running."""
        deadline = time.monotonic() + timeout
        while self.state == "Enabled" and time.monotonic() < deadline:
            due = self.due_at()
            if not self._busy and (due is None or due > now):
                return
            self._wake()
            time.sleep(0.002)

    def _loop(self) -> None:
        clock = self.clock
        while self.state != "Deleted":
            if self.state == "Enabled":
                due = self.due_at()
                if due is not None and due <= clock.now():
                    self._busy = True
                    try:
                        self.run_due()
                    except InvokerClosedError:
                        return
                    finally:
                        self._busy = False
                    continue
            with self._cond:
                if self.state == "Deleted":
                    return
                until = self.due_at() if self.state == "Enabled" else None
                clock.wait(self._cond, until if until is not None else clock.now() + 0.05)


def failed_item_ids(raw: bytes, ids: set[str]) -> set[str] | None:
    """The item ids a partial batch response (``ReportBatchItemFailures``) lists; None if it is malformed.

    Lambda's rules (reference §5.1): an empty, null or ``{}`` response, or a
    null list, is full success; a response that is not JSON, has another
    key, or lists an empty or unknown identifier fails the whole batch.
    """
    if not raw or raw == b"null":
        return set()
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if doc is None or doc == {}:
        return set()
    if not isinstance(doc, dict) or set(doc) != {"batchItemFailures"}:
        return None
    items = doc["batchItemFailures"]
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    failed = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in ids:
            return None
        failed.add(ident)
    return failed
