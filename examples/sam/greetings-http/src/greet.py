"""GET /greet/{name}?lang=fr and GET /languages (HTTP API, payload format 2.0)."""

import json
import os

from greetings import GREETINGS, greet  # from the CommonLayer layer


def handler(event, context):
    if event["routeKey"] == "GET /languages":
        return sorted(GREETINGS)  # a plain value: the HTTP API answers 200 with it as JSON
    name = event["pathParameters"]["name"]
    language = (event.get("queryStringParameters") or {}).get("lang", os.environ["DEFAULT_LANGUAGE"])
    try:
        text = greet(name, language)
    except ValueError as e:
        return {"statusCode": 400, "body": json.dumps({"message": str(e)})}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "cookies": [f"last_greeted={name}"],
        "body": json.dumps({"greeting": text, "owner": (event.get("stageVariables") or {}).get("owner")}),
    }
