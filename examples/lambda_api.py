"""The Lambda API of an Invoker, driven by boto3 as deployment scripts and tests drive AWS.

Run: ``python examples/lambda_api.py`` (needs boto3: ``pip install -e '.[test]'``
in a pylambda checkout).

1. ``invoker.serve()`` starts the Lambda REST API on 127.0.0.1.
2. boto3 creates two functions from zip packages (``CreateFunction``),
   publishes a version and points an alias at it.
3. ``orders`` calls ``billing`` with a plain ``boto3.client("lambda")``: the
   environment's ``AWS_ENDPOINT_URL_LAMBDA`` points at the same Invoker, so
   both invocations show in its history and bill.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile

import boto3
from botocore.config import Config

from pylambda import Invoker

ORDERS = """
import json
import boto3

lam = boto3.client("lambda")   # no endpoint here: AWS_ENDPOINT_URL_LAMBDA says where


def handler(event, context):
    r = lam.invoke(FunctionName="billing:live", Payload=json.dumps({"amount": event["amount"]}))
    return {"order": event["id"], "billing": json.loads(r["Payload"].read()), "ran": r["ExecutedVersion"]}
"""

# The interpreter running this script (a python3.X of another version runs on that interpreter, when installed).
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

BILLING = """
def handler(event, context):
    return {"charged": round(event["amount"] * 1.2, 2)}
"""


def package(source: str) -> bytes:
    """A zip with ``app.py``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def main() -> None:
    """Deploy two functions through the API and run the chain."""
    with Invoker() as invoker, invoker.serve() as endpoint:
        lam = boto3.client(
            "lambda", endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local", config=Config(retries={"total_max_attempts": 1}),
        )  # fmt: skip
        role = "arn:aws:iam::123456789012:role/app"
        for name, source in (("orders", ORDERS), ("billing", BILLING)):
            lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=role, Handler="app.handler",
                                Code={"ZipFile": package(source)}, Timeout=10)  # fmt: skip
        version = lam.publish_version(FunctionName="billing")["Version"]
        lam.create_alias(FunctionName="billing", Name="live", FunctionVersion=version)

        r = lam.invoke(FunctionName="orders", Payload=json.dumps({"id": 42, "amount": 10}), LogType="Tail")
        print("orders answered:", json.loads(r["Payload"].read()))
        print("orders log tail:", base64.b64decode(r["LogResult"]).decode().splitlines()[-1])
        print("history:", [(rec.function_name, rec.executed_version) for rec in invoker.history])
        print(f"bill: ${invoker.bill().total_usd:.10f}")


if __name__ == "__main__":
    main()
