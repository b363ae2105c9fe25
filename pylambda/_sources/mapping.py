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
from .filters import compile_filter_criteria
from .queue import Queue

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["EventSourceMapping", "create_mapping"]


class EventSourceMapping:
    """One mapping from a source to a function; ``state`` is ``Enabled``, ``Disabled`` or ``Deleted``."""

    def __init__(self, invoker: Invoker, source: Queue, target: Any, function_name: str, *, batch_size: int,
                 window: float, report_failures: bool, keep, enabled: bool) -> None:  # fmt: skip
        self.uuid = str(uuid.uuid4())
        self.source = source
        self.target = target
        self.function_name = function_name
        self.batch_size = batch_size
        self.maximum_batching_window = window
        self.report_batch_item_failures = report_failures
        self._keep = keep
        self._invoker = invoker
        self._lock = threading.Lock()
        self._busy = False
        self.state = "Enabled" if enabled else "Disabled"
        self.invocations = 0
        self._thread = threading.Thread(target=self._loop, name=f"pylambda-esm-{self.uuid[:8]}", daemon=True)
        source.clock.subscribe(source._lock)
        self._thread.start()

    @property
    def arn(self) -> str:
        """``arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>``."""
        return f"arn:aws:lambda:{self.source.region}:{self.source.account_id}:event-source-mapping:{self.uuid}"

    def enable(self) -> None:
        """Start polling again."""
        if self.state != "Deleted":
            self.state = "Enabled"
            with self.source._lock:
                self.source._lock.notify_all()

    def disable(self) -> None:
        """Stop polling (messages stay in the queue)."""
        if self.state != "Deleted":
            self.state = "Disabled"

    def delete(self, timeout: float = 2.0) -> None:
        """Stop for good; the batch in flight, if any, finishes first (bounded)."""
        self.state = "Deleted"
        with self.source._lock:
            self.source._lock.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._invoker._mappings.pop(self.uuid, None)

    # -- polling -------------------------------------------------------------------
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

    def idle(self) -> bool:
        """Nothing being processed and nothing visible to process now."""
        due = self._due_at()
        return not self._busy and (self.state != "Enabled" or due is None or due > self.source.clock.now())

    def _loop(self) -> None:
        queue = self.source
        while self.state != "Deleted":
            if self.state == "Enabled":
                due = self._due_at()
                if due is not None and due <= queue.clock.now():
                    try:
                        self.poll_once()
                    except InvokerClosedError:
                        return
                    continue
            with queue._lock:
                if self.state == "Deleted":
                    return
                until = None if self.state != "Enabled" else self._due_at()
                queue.clock.wait(queue._lock, until if until is not None else queue.clock.now() + 0.05)

    def poll_once(self) -> int:
        """Take one batch and invoke the function with it; return how many messages were taken."""
        with self._lock:
            self._busy = True
            try:
                return self._process(self.source.receive(self.batch_size))
            finally:
                self._busy = False

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

    def __repr__(self) -> str:
        return f"<EventSourceMapping {self.uuid} {self.source.name} -> {self.function_name} {self.state}>"


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
) -> EventSourceMapping:
    """Validate the parameters as Lambda does and start the mapping."""
    if not isinstance(source, Queue):
        raise InvalidParameterValueError(
            f"event sources supported so far: pylambda.Queue (SQS); got {type(source).__name__}"
        )
    _version, _arn, fn = invoker.resolve(target)
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


def wait_mappings_idle(mappings: list[EventSourceMapping], clock, deadline: float | None) -> bool:
    """Wait until every mapping is idle, fast-forwarding a manual clock; False on timeout."""
    while True:
        if all(m.idle() for m in mappings):
            dues = [d for d in (m._due_at() for m in mappings if m.state == "Enabled") if d is not None]
            if not (clock.manual and dues):
                return True
            clock.set(min(dues))  # e.g. a visibility timeout or a batch window to wait out
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
