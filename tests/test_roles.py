"""Execution roles (STS AssumeRole on the services endpoint) and event source mappings created through the API."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

import pylambda.aws as aws
from pylambda import Function, InvalidParameterValueError, Invoker

ROLE = "arn:aws:iam::123456789012:role/orders"


def whoami(event, context):
    """Who the handler's credentials say it is."""
    import os

    import boto3

    return {"arn": boto3.client("sts").get_caller_identity()["Arn"], "key": os.environ["AWS_ACCESS_KEY_ID"]}


def access_key(event, context):
    """The access key the environment was given."""
    import os

    return os.environ["AWS_ACCESS_KEY_ID"]


def record_bodies(event, context):
    """Return the bodies of an SQS batch."""
    return [r["body"] for r in event["Records"]]


@pytest.mark.parametrize(
    "role",
    ["orders", "arn:aws:iam::123:role/orders", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:user/orders", 7],
)
def test_role_must_be_an_iam_role_arn(role):
    """A role that is not an IAM role ARN is refused where it is given."""
    with pytest.raises(InvalidParameterValueError, match="role must be an IAM role ARN"):
        Function("f", access_key, role=role)


def test_without_a_services_endpoint_the_fake_credentials_stay():
    """No aws_endpoint_url: a function with a role keeps the fake credentials (nothing to ask)."""
    with Invoker() as invoker:
        assert invoker.invoke(Function("f", access_key, role=ROLE)).payload == "ASIAPYLAMBDAFAKEKEY0"


def test_role_credentials_come_from_the_endpoints_sts():
    """With moto as the services endpoint, the handler runs as assumed-role/ROLE/FUNCTION."""
    with aws.services() as services, Invoker(aws_endpoint_url=services.url) as invoker:
        result = invoker.invoke(Function("orders", whoami, role=ROLE))
        assert result.function_error is None, result.payload
        assert result.payload["arn"] == "arn:aws:sts::123456789012:assumed-role/orders/orders"
        assert result.payload["key"] != "ASIAPYLAMBDAFAKEKEY0"


def test_event_source_mapping_on_an_sqs_arn_through_the_api():
    """CreateEventSourceMapping on a moto queue's ARN feeds the function; Get/List/Update/Delete round-trip."""
    with aws.services() as services, Invoker(aws_endpoint_url=services.url) as invoker:
        invoker.register(Function("consumer", record_bodies))
        sqs = services.client("sqs")
        queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        with invoker.serve() as endpoint:
            lam = boto3.client("lambda", endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id="t",
                               aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1}))  # fmt: skip
            created = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="consumer", BatchSize=5)
            assert (created["State"], created["EventSourceArn"], created["BatchSize"]) == ("Creating", queue_arn, 5)
            uuid = created["UUID"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"order": 1}))
            assert invoker.wait_for_idle(30)
            ran = [r for r in invoker.history if r.function_name == "consumer"]
            assert ran
            assert ran[0].result.payload == [json.dumps({"order": 1})]
            assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
            listed = lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
            assert [m["UUID"] for m in listed] == [uuid]
            assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Updating"
            assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
            resized = lam.update_event_source_mapping(UUID=uuid, BatchSize=2)
            assert (resized["UUID"], resized["BatchSize"]) == (uuid, 2)
            assert lam.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
            with pytest.raises(lam.exceptions.ResourceNotFoundException):
                lam.get_event_source_mapping(UUID=uuid)
