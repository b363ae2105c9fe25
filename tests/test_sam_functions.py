"""pylambda.sam function properties: code shapes, aliases, provisioned concurrency, async config, DLQ, timeouts."""

from __future__ import annotations

import http.client
import json
import textwrap
import zipfile

import pytest

import pylambda.sam
from pylambda import Invoker, ManualClock

HANDLER = textwrap.dedent(
    """
    import os, time
    def ok(event, context):
        return {"version": context.function_version, "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
                "tmp": os.environ.get("TMPDIR") is not None}
    def fail(event, context):
        raise ValueError("always")
    def slow(event, context):
        time.sleep(0.3)
        return {"statusCode": 200, "body": "late"}
    """
)

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Failures:
    Type: AWS::SQS::Queue
  Live:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.ok
      Runtime: python3.11
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}
      EphemeralStorage: {Size: 1024}
      Tracing: Active
  Zipped:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: package.zip
      Handler: app.ok
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        def handler(event, context):
            return "inline"
      Handler: index.handler
  Classic:
    Type: AWS::Lambda::Function
    Properties:
      Handler: index.handler
      Runtime: python3.11
      Role: !GetAtt ClassicRole.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return "classic"
  ClassicRole:
    Type: AWS::IAM::Role
  Failing:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.fail
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Failures.Arn}
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 120
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.slow
      Events:
        Get: {Type: HttpApi, Properties: {Path: /slow, Method: GET, TimeoutInMillis: 100}}
        Rest: {Type: Api, Properties: {Path: /slow, Method: GET}}
"""


@pytest.fixture
def project(tmp_path):
    """The template above, with a code directory and the same code as package.zip."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(HANDLER)
    with zipfile.ZipFile(tmp_path / "package.zip", "w") as zf:
        zf.writestr("app.py", HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path / "template.yaml"


def test_code_shapes(project, lambda_invoker):
    """CodeUri directories and zips, InlineCode and AWS::Lambda::Function's Code.ZipFile all run."""
    app = pylambda.sam.load(project).attach(lambda_invoker)
    assert lambda_invoker.invoke(app.functions["Zipped"]).payload["version"] == "$LATEST"
    assert lambda_invoker.invoke(app.functions["Inline"]).payload == "inline"
    assert lambda_invoker.invoke(app.functions["Classic"]).payload == "classic"
    assert ("ClassicRole", "Type", 39, "AWS::IAM::Role has no local effect") in app.ignored


def test_alias_and_provisioned_concurrency(project, lambda_invoker):
    """AutoPublishAlias publishes version 1 behind `live`; its provisioned environment serves the alias."""
    app = pylambda.sam.load(project).attach(lambda_invoker)
    fn = app.functions["Live"]
    assert fn.get_alias("live").version.version == "1"
    assert fn.config.ephemeral_storage == 1024
    assert fn.config.tracing == "Active"
    result = lambda_invoker.invoke("Live:live")
    assert result.payload["version"] == "1"
    assert result.payload["init"] == "provisioned-concurrency"


def test_async_failure_goes_to_the_dead_letter_queue(project):
    """EventInvokeConfig's one retry, then the DeadLetterQueue gets the event with Lambda's attributes."""
    clock = ManualClock()
    with Invoker(clock=clock) as invoker:
        app = pylambda.sam.load(project, clock=clock).attach(invoker)
        config = invoker.event_invoke_config_for(app.functions["Failing"].name, None)
        assert (config.maximum_retry_attempts, config.maximum_event_age_in_seconds) == (1, 120)
        invoker.invoke(app.functions["Failing"], {"order": 9}, invocation_type="Event")
        assert invoker.wait_for_idle(60)
        (message,) = app.resources["Failures"].receive(10)
        assert json.loads(message.body) == {"order": 9}
        assert message.message_attributes["ErrorMessage"]["StringValue"] == "always"


@pytest.mark.parametrize(("api", "status", "body"), [
    ("ServerlessHttpApi", 503, b'{"message":"Service Unavailable"}'), ("ServerlessRestApi", 200, b"late"),
])  # fmt: skip
def test_integration_timeout(project, lambda_invoker, api, status, body):
    """A response slower than TimeoutInMillis is the HTTP API's 503; the REST API's 29 s is not reached."""
    app = pylambda.sam.load(project).attach(lambda_invoker)
    with app.start_api(lambda_invoker, apis=[api]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rstrip("/").rsplit(":", 1)[1]), timeout=30)
        conn.request("GET", "/slow")
        response = conn.getresponse()
        assert (response.status, response.read()) == (status, body)
        conn.close()
