"""Process order messages; report the ones that fail so only they are retried (ReportBatchItemFailures)."""

import json
import os


def process(order):
    if order.get("quantity", 0) <= 0:
        raise ValueError(f"order {order.get('id')} has no quantity")
    return order["quantity"] * order.get("price", 1)


def handler(event, context):
    failures = []
    total = 0
    for record in event["Records"]:
        try:
            total += process(json.loads(record["body"]))
        except (ValueError, KeyError) as e:
            print(f"{os.environ['SOURCE_QUEUE']}: {record['messageId']} failed: {e}")
            failures.append({"itemIdentifier": record["messageId"]})
    print(f"processed {len(event['Records']) - len(failures)} orders worth {total}")
    return {"batchItemFailures": failures}
