"""aws-lambda-powertools accepts pylambda's events unchanged (data classes and the batch processor)."""

from __future__ import annotations

import time

import pytest

from pylambda import Function, Invoker, ManualClock, Queue, Stream, events

pytest.importorskip("aws_lambda_powertools")

from aws_lambda_powertools.utilities.data_classes import (
    DynamoDBStreamEvent,
    EventBridgeEvent,
    KinesisStreamEvent,
    LambdaFunctionUrlEvent,
    S3Event,
    SQSEvent,
)


def test_data_classes_read_every_shape():
    """Powertools' data classes read the fields of each event builder's output."""
    sqs = SQSEvent(events.sqs_event(events.sqs_message("hi", message_attributes={"Author": "Ada"}, receive_count=3)))
    rec = next(sqs.records)
    assert rec.body == "hi"
    assert rec.attributes.approximate_receive_count == "3"
    assert rec.message_attributes["Author"].string_value == "Ada"
    kin = KinesisStreamEvent(events.kinesis_event(events.kinesis_record(b"payload", partition_key="p")))
    assert next(kin.records).kinesis.data_as_bytes() == b"payload"
    ddb = DynamoDBStreamEvent(events.dynamodb_event(events.dynamodb_record(
        "INSERT", {"id": {"S": "1"}}, new_image={"id": {"S": "1"}, "n": {"N": "5"}})))  # fmt: skip
    new = next(ddb.records).dynamodb.new_image
    assert new["id"] == "1"
    assert int(new["n"]) == 5
    s3 = S3Event(events.s3_event("bucket", "a file.txt", size=3))
    assert s3.bucket_name == "bucket"
    assert s3.object_key == "a file.txt"
    eb = EventBridgeEvent(events.scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r"))
    assert eb.detail_type == "Scheduled Event"
    assert eb.source == "aws.events"
    url = LambdaFunctionUrlEvent(events.http_api_event("POST", "/p", query="a=1", headers={"Cookie": "c=1"}, body="x"))
    assert url.path == "/p"
    assert url.http_method == "POST"
    assert url.query_string_parameters == {"a": "1"}
    assert url.cookies == ["c=1"]
    assert url.body == "x"


def sqs_batch_handler(event, context):
    """A real powertools batch handler: fails records whose body is 'bad'."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def record_handler(record):
        if record.body == "bad":
            raise ValueError("bad record")
        return record.body

    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=context)  # fmt: skip


def kinesis_batch_handler(event, context):
    """A powertools Kinesis batch handler: fails the record 'bad'."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def record_handler(record):
        if record.kinesis.data_as_text() == "bad":
            raise ValueError("bad record")

    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=BatchProcessor(event_type=EventType.KinesisDataStreams),
                                    context=context)  # fmt: skip


def test_powertools_batch_processor_with_a_queue():
    """Powertools' SQS partial response is honoured: only the failed message comes back."""
    clock = ManualClock()
    queue = Queue("pt", clock=clock, visibility_timeout=300)
    for body in ("ok1", "bad", "ok2"):
        queue.send(body)
    with Invoker(clock=clock) as inv:
        fn = Function("pt-sqs", sqs_batch_handler, timeout=30)
        mapping = inv.create_event_source_mapping(queue, fn, function_response_types=["ReportBatchItemFailures"])
        deadline = time.monotonic() + 30
        while mapping.invocations < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        mapping.disable()
        result = inv.history[0].result
    assert result.function_error is None, result.payload
    assert queue.bodies() == ["bad"]


def test_powertools_batch_processor_with_a_stream():
    """Powertools' Kinesis partial response moves the checkpoint to the failed record."""
    clock = ManualClock()
    stream = Stream("pt-stream", clock=clock)
    seqs = [stream.put(x, partition_key="k")[1] for x in ("ok", "bad", "later")]
    with Invoker(clock=clock) as inv:
        fn = Function("pt-kinesis", kinesis_batch_handler, timeout=30)
        mapping = inv.create_event_source_mapping(stream, fn, starting_position="TRIM_HORIZON",
                                                  function_response_types=["ReportBatchItemFailures"],
                                                  maximum_retry_attempts=1)  # fmt: skip
        assert inv.wait_for_idle(60)
        mapping.disable()
        payloads = [h.result.payload for h in inv.history]
    # First the whole batch, then one retry from the checkpoint: each time only "bad" is reported
    # (test_streams checks that the retry batch starts at the failed record).
    assert payloads == [{"batchItemFailures": [{"itemIdentifier": seqs[1]}]}] * 2
