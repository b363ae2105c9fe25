"""The template's queues, tables, streams and buckets as pylambda's in-memory sources.

pylambda does not run these services; it stands them in with the sources
its event source mappings already read (``Queue``, ``Table``, ``Stream``,
``Bucket``), named and ARN'd as the template names them, so a test can put a
message, item, record or object in and watch the function run.  Only the
properties that change what a function sees are read (a FIFO queue, a
redrive policy, a table's key and stream view type, a stream's shards);
capacity, encryption and tags mean nothing here.
"""

from __future__ import annotations

import json
from typing import Any

from ._template import Node, TemplateError, line_of

__all__ = ["build_data_resource", "dead_letter_sender"]


def build_data_resource(app: Any, logical_id: str, resource: Node) -> Any:
    """The in-memory source standing in for one ``AWS::SQS::Queue``/``DynamoDB``/``Kinesis``/``S3`` resource."""
    from .. import Bucket, Queue, Stream, Table

    kind = resource["Type"]
    props = resource.get("Properties") or Node()
    name = app._name(logical_id)
    region = {"region": app.region, "account_id": app.account_id, "clock": app.clock}

    def value(prop: str, default: Any = None) -> Any:
        return app.resolve(props[prop], logical_id, prop, props) if prop in props else default

    # resolved, for creating the resource at a services endpoint (_remote)
    app.data_props[logical_id] = {k: value(k) for k in props}

    if kind == "AWS::SQS::Queue":
        fifo = str(value("FifoQueue", False)).lower() == "true"
        redrive = value("RedrivePolicy") or {}
        dlq = None
        if redrive:
            target = redrive.get("deadLetterTargetArn")
            dlq = _queue_by_arn(app, target, logical_id, "RedrivePolicy", props)
        content_based = fifo and str(value("ContentBasedDeduplication", False)).lower() == "true"
        return Queue(name, fifo=fifo, visibility_timeout=float(value("VisibilityTimeout", 30)), dead_letter_queue=dlq,
                     max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
                     content_based_deduplication=content_based, **region)  # fmt: skip
    if kind == "AWS::DynamoDB::Table":
        schema = value("KeySchema") or []
        keys = sorted(schema, key=lambda k: 0 if k.get("KeyType") == "HASH" else 1)
        names = tuple(str(k["AttributeName"]) for k in keys) or ("id",)
        view = (value("StreamSpecification") or {}).get("StreamViewType", "NEW_AND_OLD_IMAGES")
        return Table(name, names if len(names) > 1 else names[0], view_type=str(view), **region)
    if kind == "AWS::Serverless::SimpleTable":
        key = (value("PrimaryKey") or {}).get("Name", "id")
        return Table(name, str(key), **region)
    if kind == "AWS::Kinesis::Stream":
        return Stream(name, shards=int(value("ShardCount", 1)), **region)
    if kind == "AWS::S3::Bucket":
        return Bucket(name, **region)
    raise TemplateError(f"{app.template.where(resource, 'Type')}: {logical_id}: {kind} is not a data resource")


def _queue_by_arn(app: Any, arn: Any, logical_id: str, prop: str, props: Any) -> Any:
    for source in app.resources.values():
        if getattr(source, "arn", None) == arn and type(source).__name__ == "Queue":
            return source
    raise TemplateError(f"{app.template.path.name}: {logical_id}.{prop} (line {line_of(props, prop)}): "
                        f"{arn!r} is not a queue of this template (declare the queue before its users)")  # fmt: skip


def dead_letter_sender(app: Any, dlq: Any, logical_id: str, props: Any):
    """A ``dead_letter_target`` that sends a failed asynchronous event to the template's DLQ queue."""
    prop = "DeadLetterQueue" if "DeadLetterQueue" in props else "DeadLetterConfig"
    arn = dlq.get("TargetArn") if isinstance(dlq, dict) else None
    if isinstance(dlq, dict) and dlq.get("Type", "SQS") != "SQS":
        raise TemplateError(f"{app.template.path.name}: {logical_id}.{prop} (line {line_of(props, prop)}): "
                            "only an SQS dead-letter queue is available locally")  # fmt: skip
    queue = _queue_by_arn(app, arn, logical_id, prop, props)

    def send(event: Any, attributes: dict) -> None:
        wire = {k: v if isinstance(v, dict) else {"DataType": "String", "StringValue": str(v)}
                for k, v in attributes.items()}  # fmt: skip
        if isinstance(event, (bytes, bytearray)):
            event = bytes(event).decode("utf-8", "replace")
        queue.send(event if isinstance(event, str) else json.dumps(event), message_attributes=wire)

    return send
