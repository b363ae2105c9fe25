"""Audit handlers: table changes (DynamoDB stream), clicks (Kinesis) and a scheduled summary."""

import base64
import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def on_change(event, context):
    changes = []
    for record in event["Records"]:
        keys = record["dynamodb"]["Keys"]
        changes.append({"event": record["eventName"], "account": keys["accountId"]["S"]})
        logger.info("change", extra={"change": changes[-1]})
    return {"environment": os.environ["ENVIRONMENT"], "changes": changes}


def on_clicks(event, context):
    pages = [json.loads(base64.b64decode(r["kinesis"]["data"]))["page"] for r in event["Records"]]
    return {"clicks": len(pages), "pages": sorted(set(pages))}


def nightly(event, context):
    logger.info("summary for %s", event["time"])
    return {"rule": event["resources"][0].rsplit("/", 1)[1], "at": event["time"]}
