"""Event source mappings: a poller that feeds a source's records to a function.

Implemented for ``Queue`` (SQS semantics, reference §5.1):

- up to ``batch_size`` messages per invocation (waiting up to
  ``maximum_batching_window`` seconds to fill a batch), invoked
  synchronously with a fresh request id;
- messages that do not match ``filter_criteria`` are deleted unseen;
- success deletes the batch; a function error (or a throttle) deletes
  nothing, so the messages come back after the queue's visibility timeout
  with ``ApproximateReceiveCount`` + 1, and the queue's redrive policy moves
  them to its dead-letter queue after ``max_receive_count`` receives;
- with ``function_response_types=["ReportBatchItemFailures"]`` only the
  messages listed in ``{"batchItemFailures": [{"itemIdentifier": id}]}`` come
  back; an unknown or empty identifier, a wrong key or a non-JSON response
  fails the whole batch; an empty list, null or no response is full success.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import events as _events
from .._errors import InvalidParameterValueError, InvokerClosedError, TooManyRequestsError
from .bucket import Bucket, check_event_types, matches_notification
from .filters import compile_filter_criteria
from .queue import Queue
from .schedule import Schedule

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["BucketNotification", "EventSourceMapping", "ScheduleTrigger", "Trigger", "create_mapping"]


class Trigger:
    """What polls a source on its own thread: state, lifecycle, the loop.

    Subclasses say when work is due (``_due_at``, on the source's clock) and
    do it (``_run_due``).  ``fast_forward`` tells ``wait_for_idle`` whether a
    manual clock may jump to the next due time (a queue's visibility timeout:
    yes; a schedule's next firing, which never ends: no).
    """

    fast_forward = True

    def __init__(self, invoker: Invoker, source: Any, target: Any, function_name: str, enabled: bool) -> None:
        self.uuid = str(uuid.uuid4())
        self.source = source
        self.target = target
        self.function_name = function_name
        self._invoker = invoker
        self._cond = threading.Condition()
        self._busy = False
        self.state = "Enabled" if enabled else "Disabled"
        self.invocations = 0
        source.clock.subscribe(self._cond)
        self._thread = threading.Thread(target=self._loop, name=f"pylambda-esm-{self.uuid[:8]}", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    @property
    def arn(self) -> str:
        """``arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>``."""
        return f"arn:aws:lambda:{self.source.region}:{self.source.account_id}:event-source-mapping:{self.uuid}"

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def enable(self) -> None:
        """Start polling again."""
        if self.state != "Deleted":
            self.state = "Enabled"
            self._wake()

    def disable(self) -> None:
        """Stop polling (the source keeps its records)."""
        if self.state != "Deleted":
            self.state = "Disabled"

    def delete(self, timeout: float = 2.0) -> None:
        """Stop for good; work in flight, if any, finishes first (bounded)."""
        self.state = "Deleted"
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._invoker._mappings.pop(self.uuid, None)

    def _due_at(self) -> float | None:
        raise NotImplementedError

    def _run_due(self) -> None:
        raise NotImplementedError

    def idle(self) -> bool:
        """Nothing being processed and nothing due now."""
        due = self._due_at()
        return not self._busy and (self.state != "Enabled" or due is None or due > self.source.clock.now())

    def _loop(self) -> None:
        clock = self.source.clock
        while self.state != "Deleted":
            if self.state == "Enabled":
                due = self._due_at()
                if due is not None and due <= clock.now():
                    self._busy = True
                    try:
                        self._run_due()
                    except InvokerClosedError:
                        return
                    finally:
                        self._busy = False
                    continue
            with self._cond:
                if self.state == "Deleted":
                    return
                until = self._due_at() if self.state == "Enabled" else None
                clock.wait(self._cond, until if until is not None else clock.now() + 0.05)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uuid} {self.source.name} -> {self.function_name} {self.state}>"


class EventSourceMapping(Trigger):
    """An SQS queue feeding a function; ``state`` is ``Enabled``, ``Disabled`` or ``Deleted``."""

    def __init__(self, invoker: Invoker, source: Queue, target: Any, function_name: str, *, batch_size: int,
                 window: float, report_failures: bool, keep, enabled: bool) -> None:  # fmt: skip
        super().__init__(invoker, source, target, function_name, enabled)
        self.batch_size = batch_size
        self.maximum_batching_window = window
        self.report_batch_item_failures = report_failures
        self._keep = keep
        self._lock = threading.Lock()
        source.clock.subscribe(source._lock)
        self._start()

    def _due_at(self) -> float | None:
        """Clock time at which the next batch can be taken (None: nothing to take)."""
        queue = self.source
        now = queue.clock.now()
        with queue._lock:
            visible = [m for m in queue._messages if m.visible_at <= now]
        if visible:
            if not self.maximum_batching_window or len(visible) >= self.batch_size:
                return now
            return min(m.visible_at if m.receive_count else m.sent for m in visible) + self.maximum_batching_window
        return queue.next_visible_at()

    def _run_due(self) -> None:
        self.poll_once()

    def poll_once(self) -> int:
        """Take one batch and invoke the function with it; return how many messages were taken."""
        with self._lock:
            return self._process(self.source.receive(self.batch_size))

    def _process(self, messages: list) -> int:
        queue = self.source
        if not messages:
            return 0
        records = {m.message_id: (m, self._record(m)) for m in messages}
        if self._keep is not None:
            for mid, (m, rec) in list(records.items()):
                if not self._keep(rec):
                    queue.delete(m.receipt_handle)
                    del records[mid]
        if not records:
            return len(messages)
        event = {"Records": [rec for _m, rec in records.values()]}
        try:
            result = self._invoker.invoke(self.target, event)
        except TooManyRequestsError:
            return len(messages)  # the batch comes back after the visibility timeout
        self.invocations += 1
        if result.function_error is not None:
            return len(messages)
        failed = self._failed_ids(result, set(records)) if self.report_batch_item_failures else set()
        if failed is None:  # a malformed partial response fails the whole batch
            return len(messages)
        for mid, (m, _rec) in records.items():
            if mid not in failed:
                queue.delete(m.receipt_handle)
        return len(messages)

    def _record(self, m) -> dict:
        queue = self.source
        return _events.sqs_message(
            m.body,
            message_id=m.message_id,
            receipt_handle=m.receipt_handle,
            message_attributes=m.message_attributes,
            receive_count=m.receive_count,
            sent_timestamp=m.sent,
            first_receive_timestamp=m.first_receive,
            queue_arn=queue.arn,
            region=queue.region,
            group_id=m.group_id,
            deduplication_id=m.deduplication_id,
            sequence_number=str(10**19 + m.sequence) if m.group_id is not None else None,
        )

    @staticmethod
    def _failed_ids(result, ids: set[str]) -> set[str] | None:
        """The message ids a partial batch response lists; None if the response is malformed."""
        raw = result.raw_payload
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


class ScheduleTrigger(Trigger):
    """A schedule rule invoking a function asynchronously at each firing time."""

    fast_forward = False

    def __init__(self, invoker: Invoker, source: Schedule, target: Any, function_name: str, enabled: bool) -> None:
        super().__init__(invoker, source, target, function_name, enabled)
        self.fired: list[float] = []
        self._next = source.next_after(source.clock.now())
        self._start()

    def _due_at(self) -> float | None:
        return self._next

    def _run_due(self) -> None:
        now = self.source.clock.now()
        while self._next is not None and self._next <= now and self.state == "Enabled":
            when = self._next
            event = _events.scheduled_event(self.source.arn, when, account=self.source.account_id,
                                            region=self.source.region)  # fmt: skip
            self._invoker.invoke(self.target, event, invocation_type="Event")
            self.invocations += 1
            self.fired.append(when)
            self._next = self.source.next_after(when)


class BucketNotification(Trigger):
    """An S3 notification configuration: matching object changes invoke a function (Event)."""

    fast_forward = False

    def __init__(self, invoker: Invoker, source: Bucket, target: Any, function_name: str, enabled: bool,
                 event_types: tuple[str, ...], prefix: str, suffix: str) -> None:  # fmt: skip
        super().__init__(invoker, source, target, function_name, enabled)
        self.event_types, self.prefix, self.suffix = event_types, prefix, suffix
        source.subscribe(self._changed)

    def _changed(self, event_name: str, key: str, size: int, etag: str) -> None:
        if self.state != "Enabled" or not matches_notification(self.event_types, self.prefix, self.suffix,
                                                               event_name, key):  # fmt: skip
            return
        event = _events.s3_event(self.source.name, key, event_name=event_name, size=size, etag=etag,
                                 event_time=self.source.clock.now(), region=self.source.region)  # fmt: skip
        self._invoker.invoke(self.target, event, invocation_type="Event")
        self.invocations += 1

    def _due_at(self) -> float | None:
        return None  # pushed by the bucket, never polled

    def delete(self, timeout: float = 2.0) -> None:
        """Remove the notification."""
        self.source.unsubscribe(self._changed)
        self.state = "Deleted"
        self._invoker._mappings.pop(self.uuid, None)


def create_mapping(
    invoker: Invoker,
    source: Any,
    target: Any,
    *,
    batch_size: int | None,
    maximum_batching_window: float,
    function_response_types: list[str] | tuple[str, ...],
    filter_criteria: dict | None,
    enabled: bool,
    events: tuple[str, ...] = ("s3:ObjectCreated:*",),
    prefix: str = "",
    suffix: str = "",
) -> Trigger:
    """Validate the parameters as Lambda (or S3, EventBridge) does and start the mapping."""
    _version, _arn, fn = invoker.resolve(target)
    if isinstance(source, Bucket):
        notification = BucketNotification(invoker, source, target, fn.name, enabled, check_event_types(events),
                                          prefix, suffix)  # fmt: skip
        invoker._mappings[notification.uuid] = notification
        return notification
    if isinstance(source, Schedule):
        trigger = ScheduleTrigger(invoker, source, target, fn.name, enabled)
        invoker._mappings[trigger.uuid] = trigger
        return trigger
    if not isinstance(source, Queue):
        raise InvalidParameterValueError(
            f"event sources supported so far: Queue, Schedule, Bucket; got {type(source).__name__}"
        )
    limit = 10 if source.fifo else 10_000
    size = 10 if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        raise InvalidParameterValueError(
            f"batch_size must be an integer from 1 to {limit} for this queue, got {size!r}"
        )
    if not 0 <= maximum_batching_window <= 300:
        raise InvalidParameterValueError("maximum_batching_window must be 0..300 seconds")
    if size > 10 and maximum_batching_window < 1:
        raise InvalidParameterValueError(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    types = list(function_response_types or [])
    if any(t != "ReportBatchItemFailures" for t in types):
        raise InvalidParameterValueError("function_response_types may only contain 'ReportBatchItemFailures'")
    for existing in invoker._mappings.values():
        if existing.source is source and existing.function_name == fn.name:
            raise InvalidParameterValueError(
                f'An event source mapping with SQS arn (" {source.arn} ") and function (" {fn.name} ") already '
                f"exists. Please update or delete the existing mapping with UUID {existing.uuid}"
            )
    keep = compile_filter_criteria(filter_criteria, "body")
    mapping = EventSourceMapping(
        invoker, source, target, fn.name, batch_size=size, window=float(maximum_batching_window),
        report_failures=bool(types), keep=keep, enabled=enabled,
    )  # fmt: skip
    invoker._mappings[mapping.uuid] = mapping
    return mapping


def wait_mappings_idle(mappings: list[Trigger], clock, deadline: float | None) -> bool:
    """Wait until every mapping is idle, fast-forwarding a manual clock; False on timeout."""
    while True:
        if all(m.idle() for m in mappings):
            movable = [m for m in mappings if m.state == "Enabled" and m.fast_forward]
            dues = [d for d in (m._due_at() for m in movable) if d is not None]
            if not (clock.manual and dues):
                return True
            clock.set(min(dues))  # e.g. a visibility timeout or a batch window to wait out
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
