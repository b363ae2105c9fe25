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
from .._clock import iso_ms
from .._errors import InvalidParameterValueError, InvokerClosedError, TooManyRequestsError
from .bucket import Bucket, check_event_types, matches_notification
from .filters import compile_filter_criteria
from .queue import Queue
from .schedule import Schedule
from .stream import Stream, Table

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["BucketNotification", "EventSourceMapping", "ScheduleTrigger", "StreamMapping", "Trigger", "create_mapping"]


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
        source.clock.register(self)
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

    def next_due(self) -> float | None:
        """When work is next due (clock time), for ManualClock.advance."""
        return self._due_at() if self.state == "Enabled" else None

    def settle(self, now: float, timeout: float) -> None:
        """Wait (bounded, real time) until nothing due at ``now`` is pending or running."""
        deadline = time.monotonic() + timeout
        while self.state == "Enabled" and time.monotonic() < deadline:
            due = self._due_at()
            if not self._busy and (due is None or due > now):
                return
            self._wake()
            time.sleep(0.002)

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


# Backoff between retries of a failing stream batch (Lambda's schedule is not
# documented: this is a choice).  Longer spares the CPU; shorter retries sooner.
STREAM_RETRY_BACKOFF_S = 1.0
STREAM_RETRY_BACKOFF_MAX_S = 60.0


class StreamMapping(Trigger):
    """A Kinesis stream or a DynamoDB stream feeding a function, shard by shard, in order.

    Per shard: a batch of up to ``batch_size`` records from the checkpoint;
    success moves the checkpoint past it.  A function error (or a partial
    batch response) blocks the shard and retries: with
    ``bisect_batch_on_function_error`` the failing batch is split in two (a
    split is not a retry); with ``ReportBatchItemFailures`` the checkpoint
    moves to the lowest failed sequence number.  When retries
    (``maximum_retry_attempts``) or the record age
    (``maximum_record_age``) run out, the batch is skipped and an
    on-failure record goes to ``destination_config["OnFailure"]``.
    """

    def __init__(self, invoker: Invoker, source, target: Any, function_name: str, *, batch_size: int, window: float,
                 starting_position: str, starting_timestamp: float | None, report_failures: bool, keep,
                 bisect: bool, max_retries: int, max_age: int, on_failure: Any, enabled: bool) -> None:  # fmt: skip
        super().__init__(invoker, source, target, function_name, enabled)
        self.batch_size = batch_size
        self.maximum_batching_window = window
        self.report_batch_item_failures = report_failures
        self.bisect_batch_on_function_error = bisect
        self.maximum_retry_attempts = max_retries
        self.maximum_record_age = max_age
        self.on_failure = on_failure
        self._keep = keep
        self._position: dict[str, int] = {}
        self._retries: dict[str, int] = {}
        self._limit: dict[str, int] = {}  # a bisected batch's size, per shard
        self._blocked_until: dict[str, float] = {}  # retry backoff per shard (clock time)
        for shard in source.shard_ids:
            records = source.records(shard)
            if starting_position == "LATEST":
                self._position[shard] = records[-1].sequence_number + 1 if records else 0
            elif starting_position == "AT_TIMESTAMP":
                later = [r.sequence_number for r in records if r.arrival >= (starting_timestamp or 0)]
                self._position[shard] = min(later) if later else (records[-1].sequence_number + 1 if records else 0)
            else:
                self._position[shard] = 0
        self._start()

    def _pending(self, shard: str) -> list:
        pos = self._position[shard]
        return [r for r in self.source.records(shard) if r.sequence_number >= pos]

    def _due_at(self) -> float | None:
        now = self.source.clock.now()
        dues = []
        for shard in self._position:
            pending = self._pending(shard)
            if not pending:
                continue
            if self.maximum_batching_window and len(pending) < self.batch_size:
                due = pending[0].arrival + self.maximum_batching_window
            else:
                due = now
            dues.append(max(due, self._blocked_until.get(shard, due)))
        return min(dues) if dues else None

    def _run_due(self) -> None:
        now = self.source.clock.now()
        for shard in list(self._position):
            if self.state == "Enabled" and self._pending(shard) and self._blocked_until.get(shard, now) <= now:
                self._process_shard(shard)

    def _event_record(self, shard: str, r) -> dict:
        src = self.source
        if src.kind == "kinesis":
            return _events.kinesis_record(
                r.data, partition_key=r.partition_key, sequence_number=str(r.sequence_number), shard_id=shard,
                arrival=r.arrival, stream_arn=src.arn, region=src.region,
            )  # fmt: skip
        change = r.data
        return _events.dynamodb_record(change["eventName"], change["Keys"], new_image=change["NewImage"],
                                       old_image=change["OldImage"], sequence_number=str(r.sequence_number),
                                       view_type=src.view_type, created=r.arrival, stream_arn=src.arn,
                                       region=src.region, event_id=change["eventID"])  # fmt: skip

    def _process_shard(self, shard: str) -> None:
        pending = self._pending(shard)
        limit = self._limit.get(shard, self.batch_size)
        batch = pending[:limit]
        kept = [r for r in batch if self._keep is None or self._keep(self._event_record(shard, r))]
        if not kept:  # nothing matched the filter: skip these records
            self._advance(shard, batch[-1].sequence_number + 1)
            return
        now = self.source.clock.now()
        if self.maximum_record_age != -1 and now - kept[0].arrival > self.maximum_record_age:
            self._give_up(shard, kept, "RecordAgeExceeded", None)
            return
        event = {"Records": [self._event_record(shard, r) for r in kept]}
        try:
            result = self._invoker.invoke(self.target, event)
        except TooManyRequestsError:
            return  # throttles do not count as retries; the shard stays where it is
        self.invocations += 1
        if result.function_error is None:
            failed = None
            if self.report_batch_item_failures:
                failed = EventSourceMapping._failed_ids(result, {str(r.sequence_number) for r in kept})
                if failed is None:  # malformed: the whole batch failed
                    failed = {str(kept[0].sequence_number)}
            if not failed:
                self._advance(shard, batch[-1].sequence_number + 1)
                return
            lowest = min(int(f) for f in failed)  # checkpoint at the lowest failed record
            self._position[shard] = lowest
            kept = [r for r in kept if r.sequence_number >= lowest]
        self._retries[shard] = self._retries.get(shard, 0)
        if self.bisect_batch_on_function_error and len(kept) > 1:
            self._limit[shard] = max(1, len(kept) // 2)  # a split is not a retry
            return
        self._retries[shard] += 1
        if self.maximum_retry_attempts != -1 and self._retries[shard] > self.maximum_retry_attempts:
            self._give_up(shard, kept, "RetryAttemptsExhausted", result)
            return
        # The shard stays blocked; the retry waits, doubling from 1 s to 60 s,
        # so a batch that keeps failing does not spin until its records expire.
        delay = min(STREAM_RETRY_BACKOFF_MAX_S, STREAM_RETRY_BACKOFF_S * 2 ** (self._retries[shard] - 1))
        self._blocked_until[shard] = self.source.clock.now() + delay

    def _advance(self, shard: str, position: int) -> None:
        self._position[shard] = position
        self._retries.pop(shard, None)
        self._limit.pop(shard, None)
        self._blocked_until.pop(shard, None)

    def _give_up(self, shard: str, batch: list, condition: str, result) -> None:
        attempts = self._retries.get(shard, 0)
        self._advance(shard, batch[-1].sequence_number + 1)
        if self.on_failure is None:
            return
        src = self.source
        record: dict[str, Any] = {
            "requestContext": {
                "requestId": result.request_id if result is not None else str(uuid.uuid4()),
                "functionArn": self._invoker.resolve(self.target)[2].arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
        }
        if result is not None:
            record["responseContext"] = {"statusCode": 200, "executedVersion": result.executed_version,
                                         "functionError": result.function_error or "Unhandled"}  # fmt: skip
        record["version"] = "1.0"
        record["timestamp"] = iso_ms(src.clock.now())
        info_key = "KinesisBatchInfo" if src.kind == "kinesis" else "DDBStreamBatchInfo"
        record[info_key] = {
            "shardId": shard,
            "startSequenceNumber": str(batch[0].sequence_number),
            "endSequenceNumber": str(batch[-1].sequence_number),
            "approximateArrivalOfFirstRecord": iso_ms(batch[0].arrival),
            "approximateArrivalOfLastRecord": iso_ms(batch[-1].arrival),
            "batchSize": len(batch),
            "streamArn": src.arn,
        }
        self.on_failure(record)


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
    stream_options: dict | None = None,
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
    if isinstance(source, (Stream, Table)):
        return _create_stream_mapping(invoker, source, target, fn.name, batch_size, maximum_batching_window,
                                      function_response_types, filter_criteria, enabled, stream_options)  # fmt: skip
    if not isinstance(source, Queue):
        raise InvalidParameterValueError(
            f"event sources supported: Queue, Stream, Table, Schedule, Bucket; got {type(source).__name__}"
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


def _create_stream_mapping(invoker, source, target, function_name, batch_size, window, response_types,
                           filter_criteria, enabled, options) -> StreamMapping:  # fmt: skip
    options = dict(options or {})
    position = options.get("starting_position")
    if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
        raise InvalidParameterValueError("starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP for streams")
    if position == "AT_TIMESTAMP" and source.kind == "dynamodb":
        raise InvalidParameterValueError(f"Unsupported starting position for arn type: {source.arn}")
    size = 100 if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000:
        raise InvalidParameterValueError(f"batch_size must be an integer from 1 to 10000, got {size!r}")
    if not 0 <= window <= 300:
        raise InvalidParameterValueError("maximum_batching_window must be 0..300 seconds")
    retries = options.get("maximum_retry_attempts", -1)
    if isinstance(retries, bool) or not isinstance(retries, int) or not -1 <= retries <= 10_000:
        raise InvalidParameterValueError("maximum_retry_attempts must be -1 (infinite) or 0..10000")
    age = options.get("maximum_record_age", -1)
    if isinstance(age, bool) or not isinstance(age, int) or not (age == -1 or 60 <= age <= 604_800):
        raise InvalidParameterValueError("maximum_record_age must be -1 (infinite) or 60..604800 seconds")
    factor = options.get("parallelization_factor", 1)
    if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= 10:
        raise InvalidParameterValueError("parallelization_factor must be 1..10")
    types = list(response_types or [])
    if any(t != "ReportBatchItemFailures" for t in types):
        raise InvalidParameterValueError("function_response_types may only contain 'ReportBatchItemFailures'")
    destination = (options.get("destination_config") or {}).get("OnFailure", {}).get("Destination")
    if destination is not None and not callable(destination):
        raise InvalidParameterValueError("destination_config OnFailure Destination must be a Queue or a callable")
    keep = compile_filter_criteria(filter_criteria, "data" if source.kind == "kinesis" else "dynamodb")
    mapping = StreamMapping(
        invoker, source, target, function_name, batch_size=size, window=float(window), starting_position=position,
        starting_timestamp=options.get("starting_position_timestamp"), report_failures=bool(types), keep=keep,
        bisect=bool(options.get("bisect_batch_on_function_error", False)), max_retries=retries, max_age=age,
        on_failure=destination, enabled=enabled,
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
