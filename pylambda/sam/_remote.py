"""The template's queues, tables, streams and buckets on an AWS services endpoint (moto's server).

When ``app.attach(invoker)`` gets an Invoker with ``aws_endpoint_url`` (e.g.
``pylambda.aws.services().url``), the handlers' boto3 calls reach that
endpoint, so the resources they use must exist there, under the names the
template gives them (the same names ``!Ref`` and ``!GetAtt`` resolved to).
They are created with boto3 as a deployment would create them, and the
``SQS``, ``Kinesis`` and ``DynamoDB`` events become mappings on their ARNs,
polled at the endpoint, as on Lambda.  S3 notifications and schedules stay on
pylambda's own sources (the endpoint's buckets notify nobody).
"""

from __future__ import annotations

import json
from typing import Any

from ._template import TemplateError

__all__ = ["create_remote_resources"]


def _client(app: Any, endpoint: str, service: str) -> Any:
    import boto3

    from ..aws import FAKE_CREDENTIALS

    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=app.region, **FAKE_CREDENTIALS)


def create_remote_resources(app: Any, endpoint: str) -> dict[str, str]:
    """Create every data resource at ``endpoint``; returns logical id -> the ARN its events map on."""
    arns: dict[str, str] = {}
    for logical_id, source in app.resources.items():
        kind = app._raw[logical_id]["Type"]
        props = app.data_props.get(logical_id, {})
        try:
            arns[logical_id] = _create(app, endpoint, kind, source, props)
        except Exception as e:  # botocore's errors: the endpoint refused the resource
            raise TemplateError(f"{app.template.path.name}: {logical_id}: creating it at {endpoint} failed: {e}") from e
    return arns


def _create(app: Any, endpoint: str, kind: str, source: Any, props: dict) -> str:
    if kind == "AWS::SQS::Queue":
        attributes = {"VisibilityTimeout": str(int(source.visibility_timeout))}
        if source.fifo:
            attributes["FifoQueue"] = "true"
            if source.content_based_deduplication:
                attributes["ContentBasedDeduplication"] = "true"
        redrive = props.get("RedrivePolicy")
        if redrive:
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        _client(app, endpoint, "sqs").create_queue(QueueName=source.name, Attributes=attributes)
        return source.arn
    if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
        if kind == "AWS::DynamoDB::Table":
            schema = props.get("KeySchema") or [{"AttributeName": source.key_names[0], "KeyType": "HASH"}]
            definitions = props.get("AttributeDefinitions") or [
                {"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in schema
            ]
        else:
            key = props.get("PrimaryKey") or {}
            schema = [{"AttributeName": key.get("Name", "id"), "KeyType": "HASH"}]
            definitions = [{"AttributeName": key.get("Name", "id"), "AttributeType": key.get("Type", "String")[0]}]
        stream = {"StreamEnabled": True, "StreamViewType": source.view_type}
        created = _client(app, endpoint, "dynamodb").create_table(
            TableName=source.name, KeySchema=schema, AttributeDefinitions=definitions,
            BillingMode="PAY_PER_REQUEST", StreamSpecification=stream,
        )  # fmt: skip
        return created["TableDescription"].get("LatestStreamArn", "")
    if kind == "AWS::Kinesis::Stream":
        _client(app, endpoint, "kinesis").create_stream(StreamName=source.name, ShardCount=len(source.shard_ids))
        return source.arn
    if kind == "AWS::S3::Bucket":
        client = _client(app, endpoint, "s3")
        if app.region == "us-east-1":
            client.create_bucket(Bucket=source.name)
        else:
            client.create_bucket(Bucket=source.name, CreateBucketConfiguration={"LocationConstraint": app.region})
        return source.arn
    raise TemplateError(f"{app.template.path.name}: {kind} cannot be created at a services endpoint")
