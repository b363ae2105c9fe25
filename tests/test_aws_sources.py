"""Event source mappings on ARNs: SQS, Kinesis and DynamoDB Streams at moto's endpoint, polled with boto3."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import urllib.parse

import pytest

import pylambda.aws
from pylambda import Function, InvalidParameterValueError, Invoker

ACCOUNT = "123456789012"
_names = itertools.count()


@pytest.fixture(scope="module")
def aws():
    """One moto server for the module (tests use their own resource names)."""
    with pylambda.aws.services() as services:
        yield services


@pytest.fixture
def sqs(aws):
    """An SQS client at the endpoint."""
    client = aws.client("sqs")
    yield client
    client.close()


@pytest.fixture
def invoker(aws):
    """An Invoker whose environments and mappings use the module's endpoint."""
    with Invoker(aws_endpoint_url=aws.url) as inv:
        yield inv


def unique(prefix: str) -> str:
    """A resource name no other test of the module uses."""
    return f"{prefix}-{next(_names)}"


def make_queue(sqs, name: str, **attributes) -> tuple[str, str]:
    """Create a queue; return its URL and ARN."""
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def wait_until(predicate, timeout: float = 15.0):
    """Poll ``predicate`` until it is truthy (returned) or the timeout passes (its last value)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = predicate()
    return value


def payloads(invoker: Invoker, fn: Function) -> list:
    """The payloads ``fn`` returned, oldest first."""
    return [h.result.payload for h in invoker.history if h.function_name == fn.name]


def queue_bodies(sqs, url: str) -> list[str]:
    """Receive (and delete) what the queue holds now."""
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


# -- handlers (shipped by value to the environments) ---------------------------------------


def echo_records(event, context):
    """Return the records as received."""
    return event["Records"]


def fail_first_receive_of_bad(event, context):
    """Report messages whose body starts with 'bad' as failed, on their first receive only."""
    import json

    failed = [
        {"itemIdentifier": r["messageId"]}
        for r in event["Records"]
        if r["body"].startswith("bad") and r["attributes"]["ApproximateReceiveCount"] == "1"
    ]
    print("BODIES", json.dumps(sorted(r["body"] for r in event["Records"])))
    return {"batchItemFailures": failed}


def always_fail(event, context):
    """Fail every batch."""
    raise RuntimeError("receive " + event["Records"][0].get("attributes", {}).get("ApproximateReceiveCount", "?"))


def shout(event, context):
    """Forward every body upper-cased to the queue named in the environment."""
    import os

    import boto3

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]
    for r in event["Records"]:
        sqs.send_message(QueueUrl=url, MessageBody=r["body"].upper())


def kinesis_data(event, context):
    """The decoded data of each record, failing a batch that holds b'poison'."""
    import base64

    data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if "poison" in data:
        raise ValueError(f"poison in {data}")
    return data


# -- SQS ------------------------------------------------------------------------------------


def test_sqs_batches_have_lambdas_record_shape_and_are_deleted(invoker, sqs):
    """Messages arrive as Lambda's SQS records (attributes, message attributes, ARN) and are deleted on success."""
    name = unique("orders")
    url, arn = make_queue(sqs, name, VisibilityTimeout=5)
    sqs.send_message(QueueUrl=url, MessageBody="m0", MessageAttributes={
        "Author": {"DataType": "String", "StringValue": "Ada"}, "Blob": {"DataType": "Binary", "BinaryValue": b"\x01"},
    })  # fmt: skip
    for i in range(1, 5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    fn = Function(unique("orders-fn"), echo_records)
    invoker.register(fn)
    mapping = invoker.create_event_source_mapping(arn, fn, batch_size=2)
    assert invoker.wait_for_idle(20)
    records = [r for batch in payloads(invoker, fn) for r in batch]
    assert sorted(r["body"] for r in records) == [f"m{i}" for i in range(5)]
    assert all(len(batch) <= 2 for batch in payloads(invoker, fn))
    first = next(r for r in records if r["body"] == "m0")
    assert list(first) == [
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfMessageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    ]  # fmt: skip
    assert list(first["attributes"])[:4] == [
        "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    ]  # fmt: skip
    assert first["messageAttributes"]["Author"] == {
        "stringValue": "Ada", "stringListValues": [], "binaryListValues": [], "dataType": "String",
    }  # fmt: skip
    assert first["messageAttributes"]["Blob"]["binaryValue"] == base64.b64encode(b"\x01").decode()
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
    assert next(r for r in records if r["body"] == "m1")["md5OfMessageAttributes"] is None
    assert queue_bodies(sqs, url) == []
    assert mapping.state == "Enabled"
    assert mapping.source_arn == arn
    assert mapping.arn.endswith(mapping.uuid)
    assert mapping in invoker.event_source_mappings


def test_sqs_partial_batch_failures_return_only_the_listed_messages(invoker, sqs):
    """With ReportBatchItemFailures the batch's good messages are deleted and only the failed one comes back.

    (The visibility timeout covers the function's timeout: Lambda would otherwise receive with a longer one.)
    """
    url, arn = make_queue(sqs, unique("partial"), VisibilityTimeout=2)
    for body in ("ok1", "bad1", "ok2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    fn = Function(unique("partial-fn"), fail_first_receive_of_bad, timeout=1)
    invoker.register(fn)
    invoker.create_event_source_mapping(arn, fn, batch_size=10, function_response_types=["ReportBatchItemFailures"])

    def batches():
        logs = [h.result.logs for h in invoker.history if h.function_name == fn.name]
        return [json.loads(log.split("BODIES ")[1].split("\n")[0]) for log in logs] if len(logs) >= 2 else []

    seen = wait_until(batches)
    assert seen == [["bad1", "ok1", "ok2"], ["bad1"]]
    assert invoker.wait_for_idle(10)
    assert queue_bodies(sqs, url) == []


def test_sqs_failing_batches_go_to_the_queues_dead_letter_queue(invoker, sqs):
    """A batch that keeps failing comes back after each visibility timeout; the queue's redrive moves it."""
    dlq_url, dlq_arn = make_queue(sqs, unique("dlq"))
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = make_queue(sqs, unique("poison"), VisibilityTimeout=1, RedrivePolicy=redrive)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    fn = Function(unique("poison-fn"), always_fail, timeout=1)
    invoker.register(fn)
    invoker.create_event_source_mapping(arn, fn, batch_size=1)
    assert wait_until(lambda: queue_bodies(sqs, dlq_url), timeout=20) == ["poison"]
    messages = [p["errorMessage"] for p in payloads(invoker, fn)]
    assert messages == ["receive 1", "receive 2"]


def test_sqs_filter_criteria_delete_unmatched_messages(invoker, sqs):
    """Messages the filter does not match are deleted without an invocation."""
    url, arn = make_queue(sqs, unique("filtered"), VisibilityTimeout=5)
    for body in ({"kind": "order"}, {"kind": "noise"}, {"kind": "order"}):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    fn = Function(unique("filtered-fn"), echo_records)
    invoker.register(fn)
    pattern = json.dumps({"body": {"kind": ["order"]}})
    invoker.create_event_source_mapping(arn, fn, filter_criteria={"Filters": [{"Pattern": pattern}]})
    assert invoker.wait_for_idle(20)
    kinds = [json.loads(r["body"])["kind"] for batch in payloads(invoker, fn) for r in batch]
    assert kinds == ["order", "order"]
    assert queue_bodies(sqs, url) == []


def test_sqs_to_function_to_sqs_to_function(invoker, sqs):
    """A handler writes to a queue another function consumes: both hops run through the endpoint."""
    url_in, arn_in = make_queue(sqs, unique("hop-in"), VisibilityTimeout=5)
    out_name = unique("hop-out")
    _url_out, arn_out = make_queue(sqs, out_name, VisibilityTimeout=5)
    forward = Function(unique("forward"), shout, environment={"OUT": out_name})
    sink = Function(unique("sink"), echo_records)
    invoker.register(forward)
    invoker.register(sink)
    invoker.create_event_source_mapping(arn_in, forward)
    invoker.create_event_source_mapping(arn_out, sink)
    for word in ("alpha", "beta", "gamma"):
        sqs.send_message(QueueUrl=url_in, MessageBody=word)
    assert wait_until(lambda: len([r for b in payloads(invoker, sink) for r in b]) >= 3)
    assert invoker.wait_for_idle(20)
    assert [p for p in payloads(invoker, forward) if p is not None] == []  # no errors on the first hop
    assert sorted(r["body"] for b in payloads(invoker, sink) for r in b) == ["ALPHA", "BETA", "GAMMA"]


def test_s3_notifications_to_sqs_reach_the_function(invoker, sqs, aws):
    """S3 -> SQS notifications configured on the endpoint arrive in the function as on AWS."""
    bucket = unique("uploads")
    _url, arn = make_queue(sqs, unique("uploads-q"), VisibilityTimeout=5)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}],
    })  # fmt: skip
    fn = Function(unique("uploads-fn"), echo_records)
    invoker.register(fn)
    invoker.create_event_source_mapping(arn, fn)
    s3.put_object(Bucket=bucket, Key="in/report.csv", Body=b"a,b\n")

    def s3_records():
        bodies = [json.loads(r["body"]) for b in payloads(invoker, fn) for r in b]
        return [rec for body in bodies for rec in body.get("Records", [])]  # skips S3's s3:TestEvent

    records = wait_until(s3_records)
    assert records[0]["eventSource"] == "aws:s3"
    assert records[0]["eventName"].startswith("ObjectCreated:")
    key = urllib.parse.unquote_plus(records[0]["s3"]["object"]["key"])  # keys are URL-encoded in notifications
    assert (records[0]["s3"]["bucket"]["name"], key) == (bucket, "in/report.csv")
    s3.close()


def test_delete_disable_and_close_stop_polling(aws, sqs):
    """A disabled or deleted mapping leaves messages in the queue; close() ends every poller thread."""
    url, arn = make_queue(sqs, unique("stop"), VisibilityTimeout=5)
    fn = Function(unique("stop-fn"), echo_records)
    with Invoker(aws_endpoint_url=aws.url) as invoker:
        invoker.register(fn)
        mapping = invoker.create_event_source_mapping(arn, fn, enabled=False)
        sqs.send_message(QueueUrl=url, MessageBody="kept")
        assert invoker.wait_for_idle(5)
        assert payloads(invoker, fn) == []
        mapping.enable()
        assert wait_until(lambda: payloads(invoker, fn))
        mapping.delete()
        assert mapping.state == "Deleted"
        assert mapping not in invoker.event_source_mappings
        sqs.send_message(QueueUrl=url, MessageBody="after")
        invoker.create_event_source_mapping(arn, fn, batch_size=1)
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("pylambda-esm")], 5)
    assert "after" in queue_bodies(sqs, url) or len(payloads(invoker, fn)) == 2


def test_an_endpoint_that_goes_away_is_survived(sqs):
    """The endpoint stops under a running poller: it backs off, says why, and close() still ends it."""
    with pylambda.aws.services() as own:
        client = own.client("sqs")
        _url, arn = make_queue(client, unique("vanishing"))
        client.close()
        invoker = Invoker(aws_endpoint_url=own.url)
        fn = Function(unique("vanishing-fn"), echo_records)
        invoker.register(fn)
        mapping = invoker.create_event_source_mapping(arn, fn)
    try:
        assert wait_until(lambda: mapping.last_error, timeout=10)
        assert "Error" in mapping.last_error
    finally:
        invoker.close()
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("pylambda-esm")], 5)


# -- Kinesis and DynamoDB Streams -----------------------------------------------------------


def test_kinesis_records_arrive_in_order_with_lambdas_shape(invoker, aws):
    """Per-shard order across batches, base64 data, eventSourceARN and eventID as Lambda builds them."""
    kinesis = aws.client("kinesis")
    name = unique("clicks")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"
    kinesis.put_record(StreamName=name, Data=b"before", PartitionKey="k")
    fn = Function(unique("clicks-fn"), echo_records)
    invoker.register(fn)
    mapping = invoker.create_event_source_mapping(arn, fn, batch_size=3, starting_position="TRIM_HORIZON")
    for i in range(7):
        kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="k")
    assert invoker.wait_for_idle(20)
    records = [r for batch in payloads(invoker, fn) for r in batch]
    data = [base64.b64decode(r["kinesis"]["data"]) for r in records]
    assert data == [b"before"] + [f"r{i}".encode() for i in range(7)]
    assert all(len(b) <= 3 for b in payloads(invoker, fn))
    first = records[0]
    assert (first["eventSource"], first["eventSourceARN"]) == ("aws:kinesis", arn)
    assert first["eventName"] == "aws:kinesis:record"
    assert first["eventID"] == f"shardId-000000000000:{first['kinesis']['sequenceNumber']}"
    mapping.source._iterators.clear()  # as after an expired iterator: resume past the last record read
    kinesis.put_record(StreamName=name, Data=b"after", PartitionKey="k")
    assert invoker.wait_for_idle(20)
    again = [base64.b64decode(r["kinesis"]["data"]) for b in payloads(invoker, fn) for r in b]
    assert again == [*data, b"after"]  # nothing read twice
    kinesis.close()


def test_kinesis_latest_skips_what_was_there(invoker, aws):
    """StartingPosition LATEST: records written before the mapping are not delivered."""
    kinesis = aws.client("kinesis")
    name = unique("latest")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.put_record(StreamName=name, Data=b"old", PartitionKey="k")
    fn = Function(unique("latest-fn"), kinesis_data)
    invoker.register(fn)
    invoker.create_event_source_mapping(f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}", fn,
                                        starting_position="LATEST")  # fmt: skip
    kinesis.put_record(StreamName=name, Data=b"new", PartitionKey="k")
    assert invoker.wait_for_idle(20)
    assert payloads(invoker, fn) == [["new"]]
    kinesis.close()


def test_kinesis_bisect_retries_and_on_failure_destination_arn(invoker, aws, sqs):
    """A poison record: bisected down to itself, retried, then skipped with a record sent to an SQS ARN."""
    kinesis = aws.client("kinesis")
    name = unique("poisoned")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    for data in ("a", "b", "poison", "c"):
        kinesis.put_record(StreamName=name, Data=data.encode(), PartitionKey="k")
    fn = Function(unique("poisoned-fn"), kinesis_data)
    invoker.register(fn)
    invoker.create_event_source_mapping(
        arn, fn, batch_size=4, starting_position="TRIM_HORIZON", bisect_batch_on_function_error=True,
        maximum_retry_attempts=1, destination_config={"OnFailure": {"Destination": failures_arn}},
    )  # fmt: skip
    failure = wait_until(lambda: queue_bodies(sqs, failures_url), timeout=20)
    record = json.loads(failure[0])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = record["KinesisBatchInfo"]
    assert (info["batchSize"], info["streamArn"], info["shardId"]) == (1, arn, "shardId-000000000000")
    assert invoker.wait_for_idle(20)
    delivered = [d for p in payloads(invoker, fn) if isinstance(p, list) for d in p]
    assert delivered == ["a", "b", "c"]
    kinesis.close()


def test_dynamodb_stream_changes_arrive_in_order(invoker, aws):
    """INSERT, MODIFY and REMOVE from a table's stream, with keys and images; a lost iterator resumes in place."""
    ddb = aws.client("dynamodb")
    table = unique("items")
    description = ddb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]  # fmt: skip
    stream_arn = description["LatestStreamArn"]
    fn = Function(unique("items-fn"), echo_records)
    invoker.register(fn)
    mapping = invoker.create_event_source_mapping(stream_arn, fn, starting_position="TRIM_HORIZON")
    ddb.put_item(TableName=table, Item={"id": {"S": "1"}, "v": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"id": {"S": "1"}, "v": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"id": {"S": "1"}})
    assert wait_until(lambda: len([r for b in payloads(invoker, fn) for r in b]) >= 3)
    records = [r for b in payloads(invoker, fn) for r in b]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert records[0]["dynamodb"]["Keys"] == {"id": {"S": "1"}}
    assert (records[0]["eventSource"], records[0]["eventSourceARN"]) == ("aws:dynamodb", stream_arn)
    mapping.source._iterators.clear()  # as after an expired iterator: resume past the last record read
    ddb.put_item(TableName=table, Item={"id": {"S": "2"}})
    assert wait_until(lambda: len([r for b in payloads(invoker, fn) for r in b]) >= 4)
    assert invoker.wait_for_idle(20)
    assert [r["dynamodb"]["Keys"]["id"]["S"] for b in payloads(invoker, fn) for r in b] == ["1", "1", "1", "2"]
    ddb.close()


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [
        ("not-an-arn", {}, "ARNs of dynamodb, kinesis, sqs; got 'not-an-arn'"),
        (f"arn:aws:sns:us-east-1:{ACCOUNT}:topic", {}, "ARNs of dynamodb, kinesis, sqs; got 'arn:aws:sns"),
        (f"arn:aws:sqs::{ACCOUNT}:q", {}, "must be an ARN like"),
        (f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/items", {}, "the table's stream ARN"),
        (f"arn:aws:kinesis:us-east-1:{ACCOUNT}:nostream", {}, "stream/<name>"),
        (f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue", {}, "no such queue"),
        (f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/no-such-stream", {"starting_position": "LATEST"},
         "no such stream"),
        (f"arn:aws:sqs:us-east-1:{ACCOUNT}:present", {"batch_size": 11}, "Maximum batch window"),
    ],
)  # fmt: skip
def test_bad_sources_are_refused_with_the_problem_named(invoker, sqs, source, kwargs, match):
    """A malformed ARN, an unsupported service, a missing resource or bad options: a typed error naming it."""
    make_queue(sqs, "present")
    fn = Function(unique("bad-fn"), echo_records)
    invoker.register(fn)
    with pytest.raises(InvalidParameterValueError, match=match):
        invoker.create_event_source_mapping(source, fn, **kwargs)
    assert invoker.event_source_mappings == []


def test_an_arn_needs_an_endpoint_and_a_duplicate_is_refused(aws, sqs):
    """Without aws_endpoint_url an ARN cannot be polled; the same queue and function twice is refused."""
    _url, arn = make_queue(sqs, unique("twice"))
    fn = Function(unique("twice-fn"), echo_records)
    with Invoker() as invoker:
        invoker.register(fn)
        with pytest.raises(InvalidParameterValueError, match="aws_endpoint_url"):
            invoker.create_event_source_mapping(arn, fn)
    with Invoker(aws_endpoint_url=aws.url) as invoker:
        invoker.register(fn)
        first = invoker.create_event_source_mapping(arn, fn)
        with pytest.raises(InvalidParameterValueError, match=first.uuid):
            invoker.create_event_source_mapping(arn, fn)


def test_an_endpoint_where_nothing_listens_is_named(sqs):
    """A mapping on an endpoint nobody serves fails at creation, naming the endpoint."""
    with Invoker(aws_endpoint_url="http://127.0.0.1:9") as invoker:
        fn = Function(unique("nowhere-fn"), echo_records)
        invoker.register(fn)
        with pytest.raises(InvalidParameterValueError, match=r"cannot reach the AWS endpoint http://127\.0\.0\.1:9"):
            invoker.create_event_source_mapping(f"arn:aws:sqs:us-east-1:{ACCOUNT}:q", fn)


def test_the_aws_services_example_runs(run_example):
    """examples/aws_services.py (the docs' example) runs SQS -> fn -> DynamoDB + SQS -> fn with a redrive."""
    stdout = run_example("aws_services.py")
    assert "rows: [('o-1', '12'), ('o-2', '30')]" in stdout
    assert "notified: ['o-1', 'o-2']" in stdout
    assert "dead letters: ['not json']" in stdout
