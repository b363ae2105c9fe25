"""An SQS event source mapping: a ``Queue`` feeding a function in batches (reference §5.1).

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

import threading
from typing import Any

from .. import events as _events
from .._errors import InvalidParameterValueError, TooManyRequestsError
from .filters import compile_filter_criteria
from .queue import Message, Queue
from .trigger import MappingOptions, PollingTrigger, failed_item_ids

__all__ = ["EventSourceMapping", "check_queue_options", "check_response_types", "check_visibility_timeout"]


def check_response_types(types: tuple[str, ...] | list[str]) -> bool:
    """Whether ``function_response_types`` asks for partial batch responses (anything else is refused)."""
    types = list(types or [])
    if any(t != "ReportBatchItemFailures" for t in types):
        raise InvalidParameterValueError("function_response_types may only contain 'ReportBatchItemFailures'")
    return bool(types)


def check_queue_options(fifo: bool, options: MappingOptions) -> tuple[int, float, bool]:
    """An SQS mapping's batch size (default 10), batching window and partial responses, checked as Lambda does.

    For the in-memory ``Queue`` and for queue ARNs (``sqs_remote``) alike.
    """
    limit = 10 if fifo else 10_000
    size = 10 if options.batch_size is None else options.batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        raise InvalidParameterValueError(
            f"batch_size must be an integer from 1 to {limit} for this queue, got {size!r}"
        )
    window = options.maximum_batching_window
    if not 0 <= window <= 300:
        raise InvalidParameterValueError("maximum_batching_window must be 0..300 seconds")
    if size > 10 and window < 1:
        raise InvalidParameterValueError(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    return size, float(window), check_response_types(options.function_response_types)


def check_visibility_timeout(visibility_timeout: float, function_timeout: int) -> None:
    """Lambda refuses a queue that hides a message for less time than the function may run.

    Otherwise a batch could come back, and be processed twice, while its
    first invocation is still running.
    """
    if visibility_timeout < function_timeout:
        raise InvalidParameterValueError(
            f"Queue visibility timeout: {visibility_timeout:g} seconds is less than Function timeout: "
            f"{function_timeout} seconds"
        )


class EventSourceMapping(PollingTrigger):
    """An SQS event source mapping: a ``Queue`` feeding a function in batches.

    ``invoker.create_event_source_mapping(queue, fn)`` returns one (other
    sources return their own trigger types: ``StreamMapping``,
    ``ScheduleTrigger``, ``BucketNotification``; all share the protocol of
    ``pylambda._sources.trigger``).  ``state`` is ``Enabled``, ``Disabled``
    or ``Deleted``; ``enable()``, ``disable()``, ``delete()``;
    ``invocations`` counts the batches it delivered; ``poll_once()`` takes
    one batch now.
    """

    kind = "sqs"

    def __init__(self, owner: Any, source: Queue, target: Any, function_name: str, *, batch_size: int,
                 window: float, report_failures: bool, keep, enabled: bool) -> None:  # fmt: skip
        super().__init__(owner, source, target, function_name, enabled)
        self.batch_size = batch_size
        self.maximum_batching_window = window
        self.report_batch_item_failures = report_failures
        self.receive_visibility_timeout: float | None = None  # None: the queue's own
        self._keep = keep
        self._lock = threading.Lock()

    @classmethod
    def create(cls, owner: Any, source: Queue, target: Any, function_name: str,
               options: MappingOptions) -> EventSourceMapping:  # fmt: skip
        """Lambda's checks for an SQS mapping: batch size, window, response types, duplicates, filters."""
        size, window, report = check_queue_options(source.fifo, options)
        function_timeout = owner.invoker.resolve(target)[0].config.timeout
        check_visibility_timeout(source.visibility_timeout, function_timeout)
        existing = owner.find(source, function_name)
        if existing is not None:
            raise InvalidParameterValueError(
                f'An event source mapping with SQS arn (" {source.arn} ") and function (" {function_name} ") already '
                f"exists. Please update or delete the existing mapping with UUID {existing.uuid}"
            )
        keep = compile_filter_criteria(options.filter_criteria, "body")
        mapping = cls(owner, source, target, function_name, batch_size=size, window=float(window),
                      report_failures=report, keep=keep, enabled=options.enabled)  # fmt: skip
        # Reference §5.1: when the batch window plus the function timeout exceed the
        # queue's visibility timeout, Lambda receives with window + timeout + 30 s,
        # so messages do not come back while their batch is still being gathered or run.
        if window + function_timeout > source.visibility_timeout:
            mapping.receive_visibility_timeout = window + function_timeout + 30
        return mapping

    def start(self) -> None:
        """Start polling (a send or a visibility change on the queue wakes the poller under a manual clock)."""
        self.clock.subscribe(self.source._lock)
        super().start()

    def due_at(self) -> float | None:
        """Clock time at which the next batch can be taken (None: nothing to take)."""
        queue = self.source
        now = queue.clock.now()
        ready = queue.receivable()
        if ready:
            if not self.maximum_batching_window or len(ready) >= self.batch_size:
                return now
            return min(m.visible_at if m.receive_count else m.sent for m in ready) + self.maximum_batching_window
        return queue.next_receivable_at()

    def pending(self) -> int:
        """The queue's messages, in flight ones included (they come back unless deleted)."""
        return len(self.source) if self.state == "Enabled" else 0

    def run_due(self) -> None:
        """Take and deliver one batch."""
        self.poll_once()

    def poll_once(self) -> int:
        """Take one batch and invoke the function with it; return how many messages were taken."""
        with self._lock:
            return self._process(self.source.receive(self.batch_size, self.receive_visibility_timeout))

    def _process(self, messages: list[Message]) -> int:
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
        failed = failed_item_ids(result.raw_payload, set(records)) if self.report_batch_item_failures else set()
        if failed is None:  # a malformed partial response fails the whole batch
            return len(messages)
        for mid, (m, _rec) in records.items():
            if mid not in failed:
                queue.delete(m.receipt_handle)
        return len(messages)

    def _record(self, m: Message) -> dict:
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

    def describe(self) -> dict:
        """``GetEventSourceMapping``'s view of an SQS mapping."""
        return {
            **super().describe(),
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": int(self.maximum_batching_window),
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_batch_item_failures else [],
        }
