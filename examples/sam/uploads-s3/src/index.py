"""Record each uploaded CSV's key and size (an S3 ObjectCreated notification per object)."""

import os
from urllib.parse import unquote_plus


def handler(event, context):
    indexed = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        if bucket != os.environ["BUCKET"]:
            raise ValueError(f"notification from an unexpected bucket {bucket}")
        key = unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded, spaces as '+'
        indexed.append({"key": key, "size": record["s3"]["object"]["size"]})
        print(f"indexed s3://{bucket}/{key}")
    return {"indexed": indexed}
