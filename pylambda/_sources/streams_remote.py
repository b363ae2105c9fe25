"""Kinesis and DynamoDB Streams mappings on real streams (reference §5.2, §5.3), polled with boto3.

The semantics are the in-memory ``StreamMapping``'s, unchanged: in order per
shard, a checkpoint per shard, retries with backoff that block the shard,
``BisectBatchOnFunctionError``, ``ReportBatchItemFailures`` (checkpoint at the
lowest failed sequence number), ``MaximumRetryAttempts``,
``MaximumRecordAgeInSeconds`` and on-failure records.  What changes is where
the records come from: ``RemoteShards`` keeps, per shard, a shard iterator
and a buffer of the records fetched with ``GetRecords`` past the checkpoint,
and presents them as the in-memory streams do (``shard_ids``,
``records(shard)``).  A shard is read at most every ``poll_interval`` seconds
(Lambda polls Kinesis shards about once a second, DynamoDB streams four
times a second); ``wait_for_idle`` reads every shard once more before it
calls a mapping idle, so records written just before are never missed.

On-failure destinations may be ARNs: an SQS queue (``SendMessage``) or an SNS
topic (``Publish``) at the same endpoint, with the on-failure record as JSON.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import attrs

from .._clock import RealClock
from .._errors import InvalidParameterValueError
from .remote import SourceArn, check_remote_source, make_client, parse_source_arn, service_error, unreachable
from .stream_mapping import StreamMapping
from .trigger import MappingOptions

__all__ = ["RemoteShards", "RemoteStreamMapping"]

KINESIS_POLL_INTERVAL_S = 1.0
DYNAMODB_POLL_INTERVAL_S = 0.25
# Records fetched but not yet processed, per shard: fetching pauses above this.
BUFFER_LIMIT = 10_000


@attrs.frozen
class RemoteRecord:
    """A fetched record, as the in-memory streams' ``StreamRecord`` (sequence numbers as ints)."""

    sequence_number: int
    partition_key: str
    data: Any
    arrival: float


class RemoteShards:
    """The shards of a Kinesis stream or a DynamoDB table stream at an endpoint, fetched on demand."""

    def __init__(self, source: SourceArn, client: Any, *, starting_position: str | None,
                 starting_timestamp: float | None) -> None:  # fmt: skip
        self.remote = source
        self.arn = source.arn
        self.name = source.name
        self.region = source.region
        self.account_id = source.account_id
        self.kind = "kinesis" if source.service == "kinesis" else "dynamodb"
        self.clock = RealClock()
        self.poll_interval = KINESIS_POLL_INTERVAL_S if self.kind == "kinesis" else DYNAMODB_POLL_INTERVAL_S
        self.last_error: str | None = None
        self.clients = [client]  # closed with the mapping: this one's and its destination's
        self._client = client
        self._start = starting_position or "TRIM_HORIZON"
        self._start_ts = starting_timestamp
        self._lock = threading.Lock()
        if self.kind == "kinesis":
            description = client.describe_stream(StreamName=self.name)["StreamDescription"]
            self.view_type = None
        else:
            description = client.describe_stream(StreamArn=self.arn)["StreamDescription"]
            self.view_type = description.get("StreamViewType", "NEW_AND_OLD_IMAGES")
        self.shard_ids = [s["ShardId"] for s in description.get("Shards", [])]
        self._iterators: dict[str, str | None] = {}
        self._ended: set[str] = set()  # closed shards read to their end
        self._last_seq: dict[str, str] = {}
        self._buffer: dict[str, list[RemoteRecord]] = {s: [] for s in self.shard_ids}
        self._fetched_at: dict[str, float] = {}

    def records(self, shard_id: str) -> list[RemoteRecord]:
        """The shard's fetched records past the checkpoint, oldest first (reads the shard when due)."""
        if time.monotonic() - self._fetched_at.get(shard_id, -1e9) >= self.poll_interval:
            self._fetch(shard_id)
        with self._lock:
            return list(self._buffer[shard_id])

    def refresh(self) -> None:
        """Read every shard now (``wait_for_idle``: nothing written before the call is missed)."""
        for shard in self.shard_ids:
            self._fetch(shard)

    def trim(self, shard_id: str, position: int) -> None:
        """Forget fetched records below the checkpoint ``position``."""
        with self._lock:
            self._buffer[shard_id] = [r for r in self._buffer[shard_id] if r.sequence_number >= position]

    def close(self) -> None:
        """Close the clients' connections."""
        for client in self.clients:
            client.close()

    def _fetch(self, shard: str) -> None:
        with self._lock:
            self._fetched_at[shard] = time.monotonic()
            if shard in self._ended or len(self._buffer[shard]) >= BUFFER_LIMIT:
                return
            try:
                iterator = self._iterators.get(shard) or self._new_iterator(shard)
                limit = 10_000 if self.kind == "kinesis" else 1000
                response = self._client.get_records(ShardIterator=iterator, Limit=limit)
            except Exception as e:  # expired iterator, endpoint down: start over from the last record next time
                self._iterators.pop(shard, None)
                self.last_error = f"{type(e).__name__}: {e}"
                return
            self.last_error = None
            following = response.get("NextShardIterator")
            if following is None:
                self._ended.add(shard)
            self._iterators[shard] = following
            for raw in response.get("Records", []):
                record = self._convert(raw)
                self._buffer[shard].append(record)
                self._last_seq[shard] = str(record.sequence_number)

    def _new_iterator(self, shard: str) -> str:
        if self.kind == "kinesis":
            options: dict[str, Any] = {"StreamName": self.name, "ShardId": shard}
        else:
            options = {"StreamArn": self.arn, "ShardId": shard}
        if shard in self._last_seq:  # after an error: resume past the last record fetched
            key = "StartingSequenceNumber" if self.kind == "kinesis" else "SequenceNumber"
            options.update({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", key: self._last_seq[shard]})
        elif self._start == "AT_TIMESTAMP":
            options.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self._start_ts or 0)
        else:
            options.update(ShardIteratorType=self._start)
        return self._client.get_shard_iterator(**options)["ShardIterator"]

    def _convert(self, raw: dict) -> RemoteRecord:
        if self.kind == "kinesis":
            arrival = raw.get("ApproximateArrivalTimestamp")
            return RemoteRecord(
                int(raw["SequenceNumber"]), raw.get("PartitionKey", ""), bytes(raw.get("Data", b"")),
                arrival.timestamp() if arrival is not None else time.time(),
            )  # fmt: skip
        change = raw["dynamodb"]
        created = change.get("ApproximateCreationDateTime")
        data = {
            "eventName": raw["eventName"],
            "eventID": raw.get("eventID"),
            "Keys": change.get("Keys", {}),
            "NewImage": change.get("NewImage"),
            "OldImage": change.get("OldImage"),
        }
        arrival = created.timestamp() if hasattr(created, "timestamp") else float(created or time.time())
        return RemoteRecord(int(change["SequenceNumber"]), "", data, arrival)

    def __repr__(self) -> str:
        return f"<RemoteShards {self.arn} shards={len(self.shard_ids)}>"


class RemoteStreamMapping(StreamMapping):
    """A ``StreamMapping`` over ``RemoteShards``: the same semantics on a stream at the endpoint."""

    @classmethod
    def create(cls, owner: Any, source: Any, target: Any, function_name: str,
               options: MappingOptions) -> RemoteStreamMapping:  # fmt: skip
        """Check the stream exists at the endpoint, then the options as the in-memory streams' (same checks)."""
        arn, endpoint = check_remote_source(owner, source, function_name)
        service = "kinesis" if arn.service == "kinesis" else "dynamodbstreams"
        clients = [make_client(endpoint, service, arn.region)]
        try:
            try:
                shards = RemoteShards(arn, clients[0], starting_position=options.starting_position,
                                      starting_timestamp=options.starting_position_timestamp)  # fmt: skip
            except Exception as e:
                if "ResourceNotFound" in service_error(e):
                    raise InvalidParameterValueError(f"event source {arn.arn}: no such stream at {endpoint}") from None
                raise unreachable(arn.arn, endpoint, e) from None
            on_failure = (options.destination_config or {}).get("OnFailure", {}).get("Destination")
            if on_failure is not None:
                deliver = _destination(endpoint, on_failure, clients)
                options = attrs.evolve(options, destination_config={"OnFailure": {"Destination": deliver}})
            shards.clients = clients
            mapping = super().create(owner, shards, target, function_name, options)
        except BaseException:
            for client in clients:
                client.close()
            raise
        return mapping  # type: ignore[return-value]

    def next_due(self) -> float | None:
        """None: a ManualClock never jumps to the service's (real) time."""
        return None

    @property
    def last_error(self) -> str | None:
        """The last error from the endpoint while reading (None once a read succeeds)."""
        return self.source.last_error

    def idle(self) -> bool:
        """Nothing being processed, and nothing due once every shard has been read again."""
        if self._busy:
            return False
        if self.state == "Enabled":
            self.source.refresh()
        return super().idle()

    def _advance(self, shard: str, position: int) -> None:
        super()._advance(shard, position)
        self.source.trim(shard, position)

    def _loop(self) -> None:
        try:
            super()._loop()
        finally:
            self.source.close()


def _destination(endpoint: str, destination: Any, clients: list) -> Any:
    """An on-failure destination: a callable as given, or an SQS queue / SNS topic ARN made into one."""
    if destination is None or callable(destination):
        return destination
    if not isinstance(destination, str):
        raise InvalidParameterValueError("destination_config OnFailure Destination: a Queue, an ARN or a callable")
    target = parse_destination_arn(destination)
    client = make_client(endpoint, target.service, target.region)
    clients.append(client)
    if target.service == "sqs":
        try:
            url = client.get_queue_url(QueueName=target.name, QueueOwnerAWSAccountId=target.account_id)
        except Exception as e:
            if "NonExistent" in service_error(e) or "DoesNotExist" in service_error(e):
                raise InvalidParameterValueError(f"on-failure destination {destination}: no such queue") from None
            raise unreachable(destination, endpoint, e) from None

        def send(record: dict) -> None:
            client.send_message(QueueUrl=url["QueueUrl"], MessageBody=json.dumps(record))

        return _guarded(send)

    def publish(record: dict) -> None:
        client.publish(TopicArn=destination, Message=json.dumps(record))

    return _guarded(publish)


def _guarded(deliver):
    """A destination that never raises into the poller's thread (a lost record is what Lambda risks too)."""

    def call(record: dict) -> None:
        try:
            deliver(record)
        except Exception:
            pass

    return call


def parse_destination_arn(arn: str) -> SourceArn:
    """An on-failure destination ARN: an SQS queue or an SNS topic."""
    parts = arn.split(":")
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns" and all(parts[3:]):
        return SourceArn(arn, "sns", parts[3], parts[4], parts[5])
    if len(parts) == 6 and parts[2] == "sqs":
        return parse_source_arn(arn)
    raise InvalidParameterValueError(
        f"on-failure destination {arn!r}: an SQS queue or SNS topic ARN (or a Queue, or a callable) is expected"
    )
