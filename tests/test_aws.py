"""Handlers reach AWS services: pylambda.aws.services(), Invoker(aws_endpoint_url=), the aws_services fixture."""

from __future__ import annotations

import os
import socket
import threading

import pytest

import pylambda.aws
from pylambda import Function, InvalidParameterValueError, Invoker

pytest_plugins = ["pytester"]


def endpoint_view(event, context):
    """What an environment's SDK would use."""
    names = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    return {k: os.environ.get(k) for k in names}


def put_order(event, context):
    """Write the event's order to the table with the SDK's defaults (no endpoint in the code)."""
    import boto3

    boto3.client("dynamodb").put_item(TableName="orders", Item={"id": {"S": event["id"]}, "n": {"N": "1"}})
    return {"stored": event["id"]}


def test_services_start_on_loopback_and_nothing_listens_after():
    """services() serves on 127.0.0.1 on a free port and closes the port on exit."""
    with pylambda.aws.services() as aws:
        assert aws.url == f"http://127.0.0.1:{aws.port}"
        assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
        port = aws.port
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))


def test_importing_pylambda_aws_loads_neither_moto_nor_boto3():
    """moto and boto3 load when a server or client is made, not at import."""
    import subprocess
    import sys

    code = "import sys, pylambda.aws; print(sorted(m for m in ('moto', 'boto3', 'botocore') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_state_is_reset_when_the_last_services_closes():
    """A second services() sees nothing the first one created."""
    with pylambda.aws.services() as aws:
        aws.client("sqs").create_queue(QueueName="left-over")
    with pylambda.aws.services() as aws:
        assert aws.client("sqs").list_queues().get("QueueUrls", []) == []


def test_concurrent_clients_are_served():
    """Many threads sending at once through the threaded server: every message arrives."""
    with pylambda.aws.services() as aws:
        sqs = aws.client("sqs")
        url = sqs.create_queue(QueueName="busy")["QueueUrl"]
        errors: list[BaseException] = []

        def send(n: int) -> None:
            client = aws.client("sqs")
            try:
                for i in range(10):
                    client.send_message(QueueUrl=url, MessageBody=f"{n}-{i}")
            except BaseException as e:  # reported below
                errors.append(e)
            finally:
                client.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert count["Attributes"]["ApproximateNumberOfMessages"] == "50"
        sqs.close()


def test_environments_get_the_endpoint_and_a_function_may_override_it():
    """AWS_ENDPOINT_URL reaches every environment beside region and credentials; Function(environment=) wins."""
    with Invoker(aws_endpoint_url="http://127.0.0.1:4566/") as invoker:
        assert invoker.aws_endpoint_url == "http://127.0.0.1:4566"
        plain = Function("plain", endpoint_view)
        own = Function("own", endpoint_view, environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9999"})
        invoker.register(plain)
        invoker.register(own)
        seen = invoker.invoke(plain).payload
        assert seen["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
        assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "us-east-1"
        assert seen["AWS_ACCESS_KEY_ID"]
        assert seen["AWS_SECRET_ACCESS_KEY"]
        assert invoker.invoke(own).payload["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    with Invoker() as invoker:
        invoker.register(plain)
        assert invoker.aws_endpoint_url is None
        assert invoker.invoke(plain).payload["AWS_ENDPOINT_URL"] is None


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:5000", "ftp://127.0.0.1", "http://", "http://127.0.0.1:notaport", "http://h:1?x=1", 5000, b"http://h"],
)
def test_bad_endpoint_urls_are_refused(url):
    """An endpoint that botocore could not use is refused at construction, naming the parameter."""
    with pytest.raises(InvalidParameterValueError, match="aws_endpoint_url"):
        Invoker(aws_endpoint_url=url)


def test_a_handler_writes_to_dynamodb_and_the_test_reads_it_back(aws_services, lambda_invoker, lambda_function):
    """The issue's recipe: create a table with boto3, invoke a handler that writes to it, read the row back."""
    import boto3

    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    fn = lambda_function(put_order)
    result = lambda_invoker.invoke(fn, {"id": "o-1"})
    assert result.function_error is None, result.payload
    assert ddb.get_item(TableName="orders", Key={"id": {"S": "o-1"}})["Item"]["n"] == {"N": "1"}
    assert os.environ["AWS_ENDPOINT_URL"] == aws_services.url == lambda_invoker.aws_endpoint_url
    ddb.close()


def test_the_fixture_restores_the_test_process_environment(pytester, monkeypatch):
    """After a test with aws_services, AWS_ENDPOINT_URL and the credentials are what they were."""
    pytester.makepyfile(
        """
        import os

        def test_inside(aws_services):
            assert os.environ["AWS_ENDPOINT_URL"] == aws_services.url

        def test_after():
            assert os.environ.get("AWS_ENDPOINT_URL") == "http://before"
        """
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://before")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
