"""pylambda.sam with a services endpoint: the template's resources are created there and its events poll them."""

from __future__ import annotations

import json
import textwrap

import boto3

import pylambda.sam

HANDLER = textwrap.dedent(
    """
    import json, os
    import boto3

    table = boto3.client("dynamodb")  # at init, as real handlers do: AWS_ENDPOINT_URL points it at moto

    def handler(event, context):
        for record in event["Records"]:
            order = json.loads(record["body"])
            table.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": order["id"]}})
        return {"stored": len(event["Records"])}
    """
)

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties: {QueueName: orders, VisibilityTimeout: 20}
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders-table
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Store:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Environment: {Variables: {TABLE: !Ref OrdersTable}}
      Events:
        Orders: {Type: SQS, Properties: {Queue: !GetAtt Orders.Arn, BatchSize: 5}}
"""


def test_resources_and_mappings_at_the_endpoint(tmp_path, aws_services, lambda_invoker):
    """The queue and table exist at moto; a message sent there is stored by the isolated handler's boto3."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    pylambda.sam.load(tmp_path / "template.yaml").attach(lambda_invoker)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "o-1"}))
    assert lambda_invoker.wait_for_idle(60)
    item = boto3.client("dynamodb").get_item(TableName="orders-table", Key={"id": {"S": "o-1"}})
    assert item["Item"]["id"] == {"S": "o-1"}


def test_local_invoke_with_aws_services(tmp_path, monkeypatch, capsys):
    """`pylambda local invoke --aws-services` starts moto for the run and creates the template's table there."""
    from pylambda._cli import main

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        "import boto3\ndef handler(event, context):\n    return boto3.client('dynamodb').list_tables()['TableNames']\n"
    )
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    monkeypatch.chdir(tmp_path)
    assert main(["local", "invoke", "Store", "--aws-services"]) == 0
    assert json.loads(capsys.readouterr().out) == ["orders-table"]


def test_local_start_lambda_serves_the_templates_functions(tmp_path):
    """`pylambda local start-lambda` serves the template's functions on the Lambda API that boto3 invokes."""
    import subprocess
    import sys

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return {'got': event}\n")
    text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Echo:\n    Type: AWS::Serverless::Function\n"
    (tmp_path / "template.yaml").write_text(text + "    Properties: {CodeUri: src/, Handler: app.handler}\n")
    command = [sys.executable, "-m", "pylambda", "local", "start-lambda", "-p", "0"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in process.stderr:
            if "the Lambda API on " in line:
                url = line.split("the Lambda API on ")[1].split()[0]
                break
        assert url is not None
        client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        response = client.invoke(FunctionName="Echo", Payload=b'{"n": 1}')
        assert json.loads(response["Payload"].read()) == {"got": {"n": 1}}
    finally:
        process.terminate()
        process.wait(30)
        process.stderr.close()
    assert process.returncode == 0
