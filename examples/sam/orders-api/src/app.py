"""Orders API: GET /orders/{id} and POST /orders (API Gateway REST, payload format 1.0)."""

import json
import os


def _response(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    if event["httpMethod"] == "POST":
        order = json.loads(event.get("body") or "{}")
        if "item" not in order:
            return _response(400, {"message": "item is required"})
        order_id = context.aws_request_id[:8]
        return _response(201, {"id": order_id, "item": order["item"], "table": os.environ["TABLE_NAME"]})
    order_id = event["pathParameters"]["id"]
    return _response(200, {"id": order_id, "stage": os.environ["STAGE"], "greeting": os.environ["GREETING"]})
