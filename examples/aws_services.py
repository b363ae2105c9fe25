"""Handlers that use boto3, on moto's server: SQS -> function -> DynamoDB + SQS -> function.

    pip install -e '.[aws]'          # in the pylambda checkout: moto with its server, and boto3
    python examples/aws_services.py

``pylambda.aws.services()`` starts moto's server on 127.0.0.1; the Invoker
gives every environment ``AWS_ENDPOINT_URL`` and polls the queues by their
ARNs, as Lambda's event source mappings do.  The handlers in
``aws_orders/app.py`` are unchanged AWS code.  A malformed order is reported
as a failed item, comes back once per visibility timeout, and the queue's
redrive policy moves it to the dead-letter queue (a few seconds here).
"""

import json
import time
from pathlib import Path

import pylambda.aws
from pylambda import Function, Invoker

CODE = str(Path(__file__).resolve().parent / "aws_orders")


def main() -> None:
    with pylambda.aws.services() as aws:
        dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
        dynamodb.create_table(
            TableName="orders", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        dead = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
        redrive = json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:{aws.region}:{aws.account_id}:orders-dlq",
                              "maxReceiveCount": 2})  # fmt: skip
        orders = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "2", "RedrivePolicy": redrive})
        sqs.create_queue(QueueName="notifications", Attributes={"VisibilityTimeout": "2"})

        with Invoker(aws_endpoint_url=aws.url) as invoker:
            # A queue's visibility timeout must cover the function's timeout (else Lambda holds
            # each batch for timeout + 30 s): 2 s each here, so the retries in this demo are quick.
            env = {"TABLE": "orders", "NOTIFY_QUEUE": "notifications"}
            store = Function("store-order", "app.store_order", code=CODE, environment=env, timeout=2)
            notify = Function("notify", "app.notify", code=CODE, environment=env, timeout=2)
            invoker.register(store, notify)
            arn = f"arn:aws:sqs:{aws.region}:{aws.account_id}"
            invoker.create_event_source_mapping(f"{arn}:orders", store, batch_size=10,
                                                function_response_types=["ReportBatchItemFailures"])  # fmt: skip
            invoker.create_event_source_mapping(f"{arn}:notifications", notify)

            for body in ('{"id": "o-1", "total": 12}', '{"id": "o-2", "total": 30}', "not json"):
                sqs.send_message(QueueUrl=orders["QueueUrl"], MessageBody=body)
            started = time.monotonic()
            invoker.wait_for_idle(60)  # until the queues are empty: processed, or redriven
            elapsed = time.monotonic() - started

            rows = dynamodb.scan(TableName="orders")["Items"]
            print("rows:", sorted((r["id"]["S"], r["total"]["N"]) for r in rows))
            notified = [h.result.payload for h in invoker.history if h.function_name == "notify"]
            print("notified:", sorted(order for batch in notified for order in batch))
            dead_letters = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10).get("Messages", [])
            print("dead letters:", [m["Body"] for m in dead_letters])
            print(f"invocations: {len(invoker.history)} in {elapsed:.1f} s")
        dynamodb.close()
        sqs.close()


if __name__ == "__main__":
    main()
