"""Kinesis-like streams and DynamoDB-like tables feeding functions, shard by shard."""

from __future__ import annotations

import base64
import json

import pytest

from pylambda import Function, InvalidParameterValueError, Queue, Stream, Table


def collect(event, context):
    """Handler: returns the decoded data of each record."""
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


def fails_on_poison(event, context):
    """Handler: fails any batch that contains the poison record."""
    data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if "poison" in data:
        raise ValueError("poison in " + ",".join(data))
    return data


def processed(invoker, name):
    """Every record a function returned successfully, in invocation order."""
    return [x for h in invoker.history if h.function_name == name and h.error_type is None for x in h.result.payload]


def test_records_arrive_in_order_per_shard(vinvoker, clock):
    """Records are delivered in order within each shard; shards by partition-key hash."""
    stream = Stream("clicks", shards=2, clock=clock)
    for i in range(20):
        stream.put(f"r{i}", partition_key=f"user{i % 4}")
    fn = Function("clicks", collect)
    vinvoker.create_event_source_mapping(stream, fn, starting_position="TRIM_HORIZON", batch_size=3)
    assert vinvoker.wait_for_idle(30)
    seen = processed(vinvoker, "clicks")
    assert sorted(seen, key=lambda x: int(x[1:])) == [f"r{i}" for i in range(20)]
    for shard in stream.shard_ids:
        expected = [r.data.decode() for r in stream.records(shard)]
        assert [x for x in seen if x in expected] == expected
    event = vinvoker.history[0].result
    assert event.function_error is None


def test_bisect_isolates_a_poison_record(vinvoker, clock):
    """Bisect splits the failing batch until the poison record stands alone; it then goes on-failure."""
    failures = Queue("stream-failures", clock=clock)
    stream = Stream("orders", clock=clock)
    for data in ("a", "b", "poison", "c", "d"):
        stream.put(data, partition_key="k")
    fn = Function("orders", fails_on_poison)
    vinvoker.create_event_source_mapping(
        stream, fn, starting_position="TRIM_HORIZON", batch_size=10, bisect_batch_on_function_error=True,
        maximum_retry_attempts=1, destination_config={"OnFailure": {"Destination": failures}},
    )  # fmt: skip
    assert vinvoker.wait_for_idle(30)
    assert processed(vinvoker, "orders") == ["a", "b", "c", "d"]
    (body,) = failures.bodies()
    record = json.loads(body)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["functionArn"] == fn.arn  # unqualified
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["shardId"] == "shardId-000000000000"
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["streamArn"] == stream.arn
    assert list(record) == ["requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"]


def test_partial_batch_response_checkpoints_at_the_lowest_failure(vinvoker, clock):
    """The retry starts at the lowest failed sequence number; earlier records are not re-sent."""
    stream = Stream("partial", clock=clock)
    seqs = [stream.put(x, partition_key="k")[1] for x in ("s1", "s2", "s3")]

    def handler(event, context, failing=seqs[1]):
        import json
        import os

        batch = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        print("BATCH " + json.dumps(batch))
        marker = os.path.join(os.environ["TMPDIR"], "failed-once")
        if failing in batch and not os.path.exists(marker):
            open(marker, "w").close()
            return {"batchItemFailures": [{"itemIdentifier": failing}]}
        return {"batchItemFailures": []}

    fn = Function("partial-stream", handler)
    vinvoker.create_event_source_mapping(stream, fn, starting_position="TRIM_HORIZON",
                                         function_response_types=["ReportBatchItemFailures"])  # fmt: skip
    assert vinvoker.wait_for_idle(30)
    batches = [json.loads(h.result.logs.split("BATCH ")[1].split("\n")[0]) for h in vinvoker.history]
    assert batches == [seqs, seqs[1:]]


def test_the_shard_blocks_until_the_failing_batch_succeeds(vinvoker, clock, handlers_dir):
    """With unlimited retries, later records wait; the order is kept once the failure clears."""
    stream = Stream("blocking", clock=clock)

    for x in ("x1", "x2"):
        stream.put(x, partition_key="k")
    fn = Function("blocking", "faults.kinesis_fails_twice", code=str(handlers_dir))
    vinvoker.create_event_source_mapping(stream, fn, starting_position="TRIM_HORIZON", batch_size=1)
    assert vinvoker.wait_for_idle(30)
    attempts = [(h.error_type, h.result.payload) for h in vinvoker.history]
    assert [e for e, _ in attempts] == ["RuntimeError", "RuntimeError", None, None]
    assert [p for e, p in attempts if e is None] == [["x1"], ["x2"]]


def test_records_too_old_go_on_failure_without_an_invocation(vinvoker, clock):
    """A batch older than maximum_record_age is skipped with RecordAgeExceeded."""
    failures = []
    stream = Stream("aged", clock=clock)
    stream.put("old", partition_key="k")
    fn = Function("aged", collect)
    mapping = vinvoker.create_event_source_mapping(
        stream, fn, starting_position="TRIM_HORIZON", maximum_record_age=60, enabled=False,
        destination_config={"OnFailure": {"Destination": failures.append}},
    )  # fmt: skip
    clock.advance(120)
    mapping.enable()
    assert vinvoker.wait_for_idle(30)
    assert len(vinvoker.history) == 0
    assert failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in failures[0]


def test_latest_skips_existing_records(vinvoker, clock):
    """LATEST starts after the records already in the stream; TRIM_HORIZON from the oldest."""
    stream = Stream("positions", clock=clock)
    stream.put("before", partition_key="k")
    latest = Function("latest", collect)
    vinvoker.create_event_source_mapping(stream, latest, starting_position="LATEST")
    stream.put("after", partition_key="k")
    assert vinvoker.wait_for_idle(30)
    assert processed(vinvoker, "latest") == ["after"]


def ddb_changes(event, context):
    """Handler: summarises DynamoDB stream records."""
    return [
        (r["eventName"], r["dynamodb"]["Keys"]["id"]["S"], r["dynamodb"].get("NewImage"), r["dynamodb"].get("OldImage"))
        for r in event["Records"]
    ]


def test_table_changes_stream_to_a_function(vinvoker, clock):
    """put/update/delete produce INSERT/MODIFY/REMOVE records with keys and images."""
    table = Table("users", key="id", clock=clock)
    fn = Function("users", ddb_changes)
    vinvoker.create_event_source_mapping(table, fn, starting_position="TRIM_HORIZON")
    table.put({"id": "u1", "name": "Ada", "age": 36})
    table.update({"id": "u1"}, {"age": 37})
    table.delete({"id": "u1"})
    assert table.delete({"id": "missing"}) is None
    assert vinvoker.wait_for_idle(30)
    changes = [tuple(c) for h in vinvoker.history for c in h.result.payload]
    assert [c[0] for c in changes] == ["INSERT", "MODIFY", "REMOVE"]
    assert changes[0][2] == {"id": {"S": "u1"}, "name": {"S": "Ada"}, "age": {"N": "36"}}
    assert changes[0][3] is None
    assert changes[1][2]["age"] == {"N": "37"}
    assert changes[1][3]["age"] == {"N": "36"}
    assert changes[2][2] is None
    assert changes[2][3]["name"] == {"S": "Ada"}
    record = vinvoker.history[0].result
    assert record.function_error is None


def test_table_filters_and_view_types(vinvoker, clock):
    """A filter on dynamodb.NewImage keeps matching changes; KEYS_ONLY has no images."""
    table = Table("items", key="id", view_type="KEYS_ONLY", clock=clock)
    fn = Function("items", lambda e, c: [sorted(r["dynamodb"]) for r in e["Records"]])
    vinvoker.create_event_source_mapping(table, fn, starting_position="TRIM_HORIZON")
    table.put({"id": "a", "v": 1})
    assert vinvoker.wait_for_idle(30)
    assert vinvoker.history[0].result.payload == [
        ["ApproximateCreationDateTime", "Keys", "SequenceNumber", "SizeBytes", "StreamViewType"]
    ]
    filtered_table = Table("filtered", key="id", clock=clock)
    fn2 = Function("filtered-items", ddb_changes)
    vinvoker.create_event_source_mapping(
        filtered_table, fn2, starting_position="TRIM_HORIZON",
        filter_criteria={"Filters": [{"Pattern": '{"dynamodb": {"NewImage": {"kind": {"S": ["vip"]}}}}'}]},
    )  # fmt: skip
    filtered_table.put({"id": "1", "kind": "vip"})
    filtered_table.put({"id": "2", "kind": "normal"})
    assert vinvoker.wait_for_idle(30)
    assert [c[1] for h in vinvoker.history if h.function_name == "filtered-items" for c in h.result.payload] == ["1"]


@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [
        ("stream", {}, "starting_position"),
        ("table", {"starting_position": "AT_TIMESTAMP"}, "Unsupported starting position for arn type"),
        ("stream", {"starting_position": "LATEST", "batch_size": 10_001}, "batch_size"),
        ("stream", {"starting_position": "LATEST", "maximum_retry_attempts": -2}, "maximum_retry_attempts"),
        ("stream", {"starting_position": "LATEST", "maximum_record_age": 59}, "maximum_record_age"),
        ("stream", {"starting_position": "LATEST", "parallelization_factor": 11}, "parallelization_factor"),
    ],
)
def test_stream_mapping_validation(vinvoker, source, kwargs, match):
    """Lambda's ranges for stream mappings."""
    src = Stream("v") if source == "stream" else Table("v")
    with pytest.raises(InvalidParameterValueError, match=match):
        vinvoker.create_event_source_mapping(src, Function("v", collect), **kwargs)


def test_stream_retention(clock):
    """Records older than the retention period are gone."""
    stream = Stream("short", retention_hours=24, clock=clock)
    stream.put("x", partition_key="k")
    clock.advance(24 * 3600 + 1)
    assert stream.records(stream.shard_ids[0]) == []


def test_a_failing_batch_retries_with_backoff(vinvoker, clock):
    """With unlimited retries, retries wait 1 s, 2 s, 4 s… (on the clock) instead of spinning."""

    def always_fails(event, context):
        raise RuntimeError("down")

    stream = Stream("backoff", clock=clock)
    stream.put("x", partition_key="k")
    fn = Function("backoff", always_fails)
    mapping = vinvoker.create_event_source_mapping(stream, fn, starting_position="TRIM_HORIZON")
    counts = []
    for step in (0, 0.5, 0.5, 2, 4):  # attempts due at +0, +1, +3, +7 s
        clock.advance(step)
        counts.append(mapping.invocations)
    assert counts == [1, 1, 2, 3, 4]
    mapping.disable()
