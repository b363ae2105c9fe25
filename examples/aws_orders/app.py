"""Two handlers as they are written for AWS: boto3 clients at module level, no endpoint in the code.

``store_order`` consumes the ``orders`` queue, writes each order to the
``orders`` table and announces it on the ``notifications`` queue;
``notify`` consumes ``notifications``.  Under pylambda the SDK reaches the
Invoker's ``aws_endpoint_url`` (moto's server) through ``AWS_ENDPOINT_URL``.
"""

import json
import os

import boto3

dynamodb = boto3.client("dynamodb")  # created once per environment, at init, as on Lambda
sqs = boto3.client("sqs")
NOTIFY_URL = sqs.get_queue_url(QueueName=os.environ["NOTIFY_QUEUE"])["QueueUrl"]


def store_order(event, context):
    """SQS batch -> DynamoDB rows + one notification each; malformed orders are reported as failed items."""
    failures = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            item = {"id": {"S": order["id"]}, "total": {"N": str(order["total"])}}
        except (ValueError, KeyError):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        dynamodb.put_item(TableName=os.environ["TABLE"], Item=item)
        sqs.send_message(QueueUrl=NOTIFY_URL, MessageBody=json.dumps({"order": order["id"]}))
    return {"batchItemFailures": failures}


def notify(event, context):
    """SQS batch -> the order ids it announces (a real one would e-mail someone)."""
    return [json.loads(record["body"])["order"] for record in event["Records"]]
