"""A stream event source mapping: a Kinesis ``Stream`` or a DynamoDB ``Table``'s stream feeding a function.

Reference §5.2 and §5.3: shard by shard, in order, from a starting
position; a failing batch blocks its shard and is retried (with backoff),
bisected, checkpointed at a partial response's lowest failure, or given up
on with an on-failure record when retries or record age run out.
"""

from __future__ import annotations

import uuid
from typing import Any

from .. import events as _events
from .._clock import iso_ms
from .._errors import InvalidParameterValueError, TooManyRequestsError
from .filters import compile_filter_criteria
from .queue_mapping import check_response_types
from .stream import Stream, Table
from .trigger import MappingOptions, PollingTrigger, failed_item_ids

__all__ = ["StreamMapping"]


# Backoff between retries of a failing stream batch (Lambda's schedule is not
# documented: this is a choice).  Longer spares the CPU; shorter retries sooner.
STREAM_RETRY_BACKOFF_S = 1.0
STREAM_RETRY_BACKOFF_MAX_S = 60.0


class StreamMapping(PollingTrigger):
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

    def __init__(self, owner: Any, source: Stream | Table, target: Any, function_name: str, *, batch_size: int,
                 window: float,
                 starting_position: str, starting_timestamp: float | None, report_failures: bool, keep,
                 bisect: bool, max_retries: int, max_age: int, on_failure: Any, enabled: bool) -> None:  # fmt: skip
        super().__init__(owner, source, target, function_name, enabled)
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

    @property
    def kind(self) -> str:  # type: ignore[override]
        """``kinesis`` or ``dynamodb``, after the source."""
        return self.source.kind

    @classmethod
    def create(cls, owner: Any, source: Stream | Table, target: Any, function_name: str,
               options: MappingOptions) -> StreamMapping:  # fmt: skip
        """Lambda's checks for a stream mapping: starting position, batch size, window, retries, age ..."""
        position = options.starting_position
        if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
            raise InvalidParameterValueError(
                "starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP for streams"
            )
        if position == "AT_TIMESTAMP" and source.kind == "dynamodb":
            raise InvalidParameterValueError(f"Unsupported starting position for arn type: {source.arn}")
        size = 100 if options.batch_size is None else options.batch_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000:
            raise InvalidParameterValueError(f"batch_size must be an integer from 1 to 10000, got {size!r}")
        window = options.maximum_batching_window
        if not 0 <= window <= 300:
            raise InvalidParameterValueError("maximum_batching_window must be 0..300 seconds")
        retries = options.maximum_retry_attempts
        if isinstance(retries, bool) or not isinstance(retries, int) or not -1 <= retries <= 10_000:
            raise InvalidParameterValueError("maximum_retry_attempts must be -1 (infinite) or 0..10000")
        age = options.maximum_record_age
        if isinstance(age, bool) or not isinstance(age, int) or not (age == -1 or 60 <= age <= 604_800):
            raise InvalidParameterValueError("maximum_record_age must be -1 (infinite) or 60..604800 seconds")
        factor = options.parallelization_factor
        if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= 10:
            raise InvalidParameterValueError("parallelization_factor must be 1..10")
        report = check_response_types(options.function_response_types)
        destination = (options.destination_config or {}).get("OnFailure", {}).get("Destination")
        if destination is not None and not callable(destination):
            raise InvalidParameterValueError("destination_config OnFailure Destination must be a Queue or a callable")
        keep = compile_filter_criteria(options.filter_criteria, "data" if source.kind == "kinesis" else "dynamodb")
        return cls(
            owner, source, target, function_name, batch_size=size, window=float(window), starting_position=position,
            starting_timestamp=options.starting_position_timestamp, report_failures=report, keep=keep,
            bisect=bool(options.bisect_batch_on_function_error), max_retries=retries, max_age=age,
            on_failure=destination, enabled=options.enabled,
        )  # fmt: skip

    def _pending(self, shard: str) -> list:
        pos = self._position[shard]
        return [r for r in self.source.records(shard) if r.sequence_number >= pos]

    def due_at(self) -> float | None:
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

    def pending(self) -> int:
        """Records past each shard's checkpoint (a blocked shard's included)."""
        if self.state != "Enabled":
            return 0
        return sum(len(self._pending(shard)) for shard in self._position)

    def run_due(self) -> None:
        """Deliver a batch from every shard that is due."""
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
                failed = failed_item_ids(result.raw_payload, {str(r.sequence_number) for r in kept})
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

    def describe(self) -> dict:
        """``GetEventSourceMapping``'s view of a stream mapping."""
        return {
            **super().describe(),
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": int(self.maximum_batching_window),
            "BisectBatchOnFunctionError": self.bisect_batch_on_function_error,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "MaximumRecordAgeInSeconds": self.maximum_record_age,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_batch_item_failures else [],
        }
