"""The uploads-s3 example: an S3 notification with prefix/suffix filters on the template's bucket."""

from __future__ import annotations

from pathlib import Path

import pylambda.sam
from pylambda import events

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


def test_handler_decodes_keys(lambda_invoker):
    """An S3 event's URL-encoded key is decoded."""
    app = pylambda.sam.load(TEMPLATE).attach(lambda_invoker)
    bucket = app.resources["UploadsBucket"].name
    result = lambda_invoker.invoke(app.functions["IndexFunction"], events.s3_event(bucket, "incoming/a b.csv", size=3))
    assert result.payload == {"indexed": [{"key": "incoming/a b.csv", "size": 3}]}


def test_only_matching_uploads_invoke(lambda_invoker):
    """Putting objects into the bucket invokes the function for incoming/*.csv only."""
    app = pylambda.sam.load(TEMPLATE).attach(lambda_invoker)
    bucket = app.resources["UploadsBucket"]
    bucket.put("incoming/jan.csv", "a,b\n1,2\n")
    bucket.put("incoming/notes.txt", "skip me")
    bucket.put("archive/old.csv", "skip me too")
    assert lambda_invoker.wait_for_idle(30)
    payloads = [h.result.payload for h in lambda_invoker.history if h.function_name == "IndexFunction"]
    assert payloads == [{"indexed": [{"key": "incoming/jan.csv", "size": 8}]}]
