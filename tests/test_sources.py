"""Event sources: event shapes, filter patterns, the SQS-like queue and its mapping."""

from __future__ import annotations

import base64
import json
import time

import pytest

from pylambda import Bucket, Function, InvalidParameterValueError, ManualClock, Queue, Stream, events
from pylambda._sources.filters import compile_filter_criteria

# -- event shapes ---------------------------------------------------------------------------


def test_sqs_message_shape():
    """An SQS record has Lambda's fields, in order, with string attributes."""
    rec = events.sqs_message({"a": 1}, message_attributes={"Author": "Ada"}, receive_count=2, sent_timestamp=1.5)
    keys = ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfMessageAttributes",
            "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"]  # fmt: skip
    assert list(rec) == keys
    assert rec["body"] == '{"a": 1}'
    assert rec["attributes"]["ApproximateReceiveCount"] == "2"
    assert rec["attributes"]["SentTimestamp"] == "1500"
    assert rec["messageAttributes"]["Author"] == {
        "stringValue": "Ada", "stringListValues": [], "binaryListValues": [], "dataType": "String",
    }  # fmt: skip
    assert events.sqs_message("x")["md5OfMessageAttributes"] is None
    assert rec["md5OfBody"] == "42b7b4f2921788ea14dac5566e6f06d0"  # md5('{"a": 1}')


def test_message_attributes_md5_is_sqs_algorithm():
    """SQS's attribute MD5 (value cross-checked against moto's independent implementation)."""
    rec = events.sqs_message("body", message_attributes={"Author": "Ada", "Count": 5})
    assert rec["messageAttributes"]["Count"]["dataType"] == "Number"
    assert rec["md5OfMessageAttributes"] == "e97757836dc19d563fed9d6704cd370a"


def test_other_event_shapes():
    """Kinesis data is base64; DynamoDB, S3, scheduled and HTTP events have Lambda's keys."""
    k = events.kinesis_record({"x": 1}, partition_key="p")
    assert json.loads(base64.b64decode(k["kinesis"]["data"])) == {"x": 1}
    assert k["eventID"] == f"shardId-000000000000:{k['kinesis']['sequenceNumber']}"
    d = events.dynamodb_record("INSERT", {"Id": {"N": "1"}}, new_image={"Id": {"N": "1"}})
    assert d["eventVersion"] == "1.1"
    assert set(d["dynamodb"]) >= {"Keys", "NewImage", "SequenceNumber"}
    s3 = events.s3_event("bucket", "my file.csv", size=5)["Records"][0]
    assert s3["s3"]["object"]["key"] == "my+file.csv"
    assert s3["eventName"] == "ObjectCreated:Put"
    sched = events.scheduled_event(when=0)
    assert sched["detail-type"] == "Scheduled Event"
    assert sched["time"] == "1970-01-01T00:00:00Z"
    h = events.http_api_event("post", "/p", query="a=1&a=2", headers={"Cookie": "c=1; d=2", "X-Y": "z"}, body="hi")
    assert h["queryStringParameters"] == {"a": "1,2"}
    assert h["cookies"] == ["c=1", "d=2"]
    assert h["headers"] == {"x-y": "z"}
    assert h["requestContext"]["http"]["method"] == "POST"


# -- filters --------------------------------------------------------------------------------

FILTER_CASES = [
    ('{"body": {"kind": ["order"]}}', '{"kind": "order"}', True),
    ('{"body": {"kind": ["order"]}}', '{"kind": "refund"}', False),
    ('{"body": {"kind": ["order", "refund"]}}', '{"kind": "refund"}', True),
    ('{"body": {"price": [{"numeric": [">", 10, "<=", 20]}]}}', '{"price": 15}', True),
    ('{"body": {"price": [{"numeric": [">", 10, "<=", 20]}]}}', '{"price": 25}', False),
    ('{"body": {"n": [300]}}', '{"n": 300.0}', False),
    ('{"body": {"region": [{"prefix": "us-"}]}}', '{"region": "us-east-1"}', True),
    ('{"body": {"weather": [{"anything-but": ["rain"]}]}}', '{"weather": "sun"}', True),
    ('{"body": {"weather": [{"anything-but": ["rain"]}]}}', '{"weather": "rain"}', False),
    ('{"body": {"id": [{"exists": true}]}}', '{"id": 1}', True),
    ('{"body": {"id": [{"exists": false}]}}', '{"id": 1}', False),
    ('{"body": {"id": [{"exists": false}]}}', '{"other": 1}', True),
    ('{"body": {"user": [null]}}', '{"user": null}', True),
    ('{"body": {"name": [""]}}', '{"name": ""}', True),
    ('{"body": {"tags": ["a"]}}', '{"tags": ["b", "a"]}', True),
    ('{"body": {"a": ["x"], "b": ["y"]}}', '{"a": "x", "b": "z"}', False),
    ('{"body": {"deep": {"er": ["v"]}}}', '{"deep": {"er": "v"}}', True),
    ('{"body": {"kind": ["order"]}}', "not json", False),
    ('{"messageAttributes": {"Author": {"stringValue": ["Ada"]}}}', "x", True),
]


@pytest.mark.parametrize(("pattern", "body", "kept"), FILTER_CASES)
def test_filter_patterns(pattern, body, kept):
    """EventBridge pattern grammar over SQS records."""
    keep = compile_filter_criteria({"Filters": [{"Pattern": pattern}]}, "body")
    assert keep(events.sqs_message(body, message_attributes={"Author": "Ada"})) is kept


def test_filters_are_or_ed():
    """A record is kept if any filter matches."""
    keep = compile_filter_criteria(
        {"Filters": [{"Pattern": '{"body": {"a": [1]}}'}, {"Pattern": '{"body": {"b": [2]}}'}]}, "body"
    )
    assert keep(events.sqs_message('{"b": 2}'))
    assert not keep(events.sqs_message('{"c": 3}'))


@pytest.mark.parametrize(
    "pattern",
    ["not json", "[]", '{"body": "x"}', '{"body": {"a": [{"numeric": ["~", 1]}]}}', '{"body": {"a": [{"what": 1}]}}'],
)
def test_invalid_patterns(pattern):
    """Bad patterns raise Lambda's 'Invalid filter pattern definition.'."""
    with pytest.raises(InvalidParameterValueError, match="Invalid filter pattern definition"):
        compile_filter_criteria({"Filters": [{"Pattern": pattern}]}, "body")


# -- the queue ------------------------------------------------------------------------------


def test_queue_visibility_and_redrive():
    """Received messages are invisible, come back after the timeout, and redrive to a DLQ."""
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    q = Queue("q", visibility_timeout=30, dead_letter_queue=dlq, max_receive_count=2, clock=clock)
    q.send("m")
    (m,) = q.receive()
    assert m.receive_count == 1
    assert q.visible == 0
    assert q.in_flight == 1
    assert q.receive() == []
    clock.advance(30)
    (m,) = q.receive()
    assert m.receive_count == 2
    clock.advance(30)
    assert q.receive() == []  # a third receive would exceed max_receive_count: redriven
    assert dlq.bodies() == ["m"]
    assert len(q) == 0


def test_fifo_groups_in_order():
    """A FIFO queue delivers each group in order and holds a group with a message in flight."""
    q = Queue("f", fifo=True, content_based_deduplication=True, clock=ManualClock())
    assert q.name == "f.fifo"
    for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a")):
        q.send(body, group_id=group)
    q.send("a1", group_id="a")  # duplicate content within 5 minutes: dropped
    first = q.receive(10)
    assert [m.body for m in first] == ["a1", "b1", "a2"]
    assert len(q) == 3


# -- pipelines: queue -> mapping -> handler -> side effect ----------------------------------------


def record_bodies(event, context):
    """Handler: processes a batch; reports failures for bodies starting with 'bad'."""
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("bad")]
    print("batch", [r["body"] for r in event["Records"]])
    return {"batchItemFailures": failures}


def fails_on_poison(event, context):
    """Handler: raises on a poison message, saying how often it was received."""
    for r in event["Records"]:
        if r["body"] == "poison":
            raise ValueError(f"poison, receive {r['attributes']['ApproximateReceiveCount']}")


def test_batches_are_deleted_on_success(vinvoker, clock):
    """Messages are delivered in batches with Lambda's SQS event and deleted after success."""
    q = Queue("orders", clock=clock)
    for i in range(5):
        q.send(f"m{i}")
    fn = Function("consumer", record_bodies)
    mapping = vinvoker.create_event_source_mapping(q, fn, batch_size=2)
    assert vinvoker.wait_for_idle(30)
    assert len(q) == 0
    batches = [json.loads(h.result.logs.split("batch ")[1].split("\n")[0].replace("'", '"')) for h in vinvoker.history]
    assert sorted(b for batch in batches for b in batch) == [f"m{i}" for i in range(5)]
    assert all(len(b) <= 2 for b in batches)
    assert mapping.state == "Enabled"
    assert mapping.arn.endswith(mapping.uuid)
    assert len({h.request_id for h in vinvoker.history}) == len(vinvoker.history)  # a fresh id per batch


def test_partial_batch_failure_returns_only_failed_messages(vinvoker, clock):
    """With ReportBatchItemFailures only the listed messages come back."""
    q = Queue("partial", clock=clock, visibility_timeout=30)
    for body in ("ok1", "bad1", "ok2"):
        q.send(body)
    fn = Function("partial", record_bodies)
    vinvoker.create_event_source_mapping(q, fn, batch_size=10, function_response_types=["ReportBatchItemFailures"])
    deadline = time.monotonic() + 10
    while len(q) != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.bodies() == ["bad1"]


@pytest.mark.parametrize(
    "response",
    [
        '{"batchItemFailures": [{"itemIdentifier": "nope"}]}',
        '{"foo": "notvalid"}',
        '{"batchItemFailures": [{"itemIdentifier": ""}]}',
        '"not an object"',
    ],
)
def test_malformed_partial_response_fails_the_whole_batch(vinvoker, clock, response):
    """An unknown id, a wrong key or a non-object response: every message comes back."""
    q = Queue("malformed", clock=clock)
    q.send("a")
    q.send("b")
    body = json.loads(response)
    fn = Function("malformed", lambda e, c, body=body: body)
    mapping = vinvoker.create_event_source_mapping(q, fn, function_response_types=["ReportBatchItemFailures"])
    deadline = time.monotonic() + 10
    while mapping.invocations < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    mapping.disable()
    assert sorted(q.bodies()) == ["a", "b"]


def test_poison_message_ends_in_the_dead_letter_queue(vinvoker, clock):
    """A batch that keeps failing is retried after each visibility timeout, then redriven."""
    dlq = Queue("dlq", clock=clock)
    q = Queue("work", clock=clock, visibility_timeout=60, dead_letter_queue=dlq, max_receive_count=3)
    q.send("poison")
    fn = Function("poisoned", fails_on_poison)
    vinvoker.create_event_source_mapping(q, fn, batch_size=1)
    assert vinvoker.wait_for_idle(30)
    assert dlq.bodies() == ["poison"]
    assert len(q) == 0
    attempts = [h for h in vinvoker.history if h.function_name == "poisoned"]
    assert [h.result.payload["errorMessage"] for h in attempts] == [
        "poison, receive 1", "poison, receive 2", "poison, receive 3",
    ]  # fmt: skip


def test_filter_criteria_drop_unmatched_messages(vinvoker, clock):
    """Messages that do not match the filter are deleted without invoking the function."""
    q = Queue("filtered", clock=clock)
    q.send({"kind": "order", "n": 1})
    q.send({"kind": "refund", "n": 2})
    q.send("plain text")
    seen = []
    fn = Function("filtered", lambda e, c: [json.loads(r["body"])["n"] for r in e["Records"]])
    vinvoker.create_event_source_mapping(
        q, fn, filter_criteria={"Filters": [{"Pattern": '{"body": {"kind": ["order"]}}'}]}
    )
    assert vinvoker.wait_for_idle(30)
    seen = [n for h in vinvoker.history for n in h.result.payload]
    assert seen == [1]
    assert len(q) == 0


def test_disable_enable_delete(vinvoker, clock):
    """A disabled mapping leaves messages alone; enabling resumes; delete stops it."""
    q = Queue("toggled", clock=clock)
    fn = Function("toggled", lambda e, c: None)
    mapping = vinvoker.create_event_source_mapping(q, fn, enabled=False)
    q.send("x")
    time.sleep(0.2)
    assert len(q) == 1
    assert len(vinvoker.history) == 0
    mapping.enable()
    assert vinvoker.wait_for_idle(30)
    assert len(q) == 0
    mapping.delete()
    assert mapping.state == "Deleted"
    assert vinvoker.event_source_mappings == []


def test_fifo_mapping_keeps_group_order(vinvoker, clock):
    """A FIFO queue's groups are processed in order."""
    q = Queue("ordered", fifo=True, content_based_deduplication=True, clock=clock)
    for i in range(6):
        q.send(f"{'ab'[i % 2]}{i}", group_id="ab"[i % 2])
    fn = Function("ordered", lambda e, c: [r["body"] for r in e["Records"]])
    vinvoker.create_event_source_mapping(q, fn, batch_size=10)
    assert vinvoker.wait_for_idle(30)
    seen = [b for h in vinvoker.history for b in h.result.payload]
    assert [b for b in seen if b[0] == "a"] == ["a0", "a2", "a4"]
    assert [b for b in seen if b[0] == "b"] == ["b1", "b3", "b5"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 11}, "Maximum batch window in seconds must be greater than 0"),
        ({"batch_size": 10_001, "maximum_batching_window": 1}, "batch_size"),
        ({"maximum_batching_window": 301}, "maximum_batching_window"),
        ({"function_response_types": ["Everything"]}, "ReportBatchItemFailures"),
        ({"filter_criteria": {"Filters": [{"Pattern": "x"}]}}, "Invalid filter pattern definition"),
    ],
)
def test_mapping_parameters_are_validated(vinvoker, kwargs, match):
    """Lambda's ranges and messages for mapping parameters."""
    with pytest.raises(InvalidParameterValueError, match=match):
        vinvoker.create_event_source_mapping(Queue("v"), Function("v", lambda e, c: None), **kwargs)


def test_duplicate_mapping_is_refused(vinvoker):
    """A second mapping of the same queue to the same function is a conflict."""
    q = Queue("dup")
    fn = Function("dup", lambda e, c: None)
    first = vinvoker.create_event_source_mapping(q, fn)
    with pytest.raises(InvalidParameterValueError, match=f"existing mapping with UUID {first.uuid}"):
        vinvoker.create_event_source_mapping(q, fn)


def test_queue_as_async_destination_and_dead_letter_target(vinvoker):
    """A Queue receives destination records and dead letters."""
    failures, dead = Queue("failures"), Queue("dead")
    fn = Function("to-queues", lambda e, c: 1 / 0, dead_letter_target=dead)
    vinvoker.put_function_event_invoke_config(fn, maximum_retry_attempts=0, on_failure=failures)
    vinvoker.invoke(fn, {"x": 1}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    assert json.loads(failures.bodies()[0])["requestContext"]["condition"] == "RetriesExhausted"
    assert json.loads(dead.bodies()[0]) == {"x": 1}
    (message,) = dead.receive()
    assert message.message_attributes["ErrorCode"]["StringValue"] == "200"


def test_the_event_pipeline_example_runs(run_example):
    """examples/event_pipeline.py (the docs' example) runs every source end to end."""
    stdout = run_example("event_pipeline.py")
    assert "uploads seen: ['incoming/a.csv']" in stdout
    assert "jobs left in the queue: [] dead letters: ['bad-job']" in stdout
    assert "audit: [['INSERT', 'o1'], ['MODIFY', 'o1'], ['REMOVE', 'o1']]" in stdout
    assert "reports: ['2027-01-16T02:00:00Z']" in stdout


@pytest.mark.parametrize(
    ("put", "message"),
    [
        (lambda: Queue("q").send({1, 2}), "a message body must be str or a JSON value"),
        (lambda: Queue("q").send(b"raw"), "not bytes"),
        (lambda: Stream("s").put({"a": 1}, "k"), "a stream record's data must be bytes or str, got dict"),
        (lambda: Stream("s").put(5, "k"), "got int"),  # bytes(5) would be five NUL bytes
        (lambda: Bucket("bkt").put("key", 7), "an object's data must be bytes or str, got int"),
    ],
)
def test_sources_refuse_data_they_cannot_hold(put, message):
    """Wrong data types raise InvalidParameterValueError naming the problem (not a TypeError from inside)."""
    with pytest.raises(InvalidParameterValueError, match=message):
        put()
