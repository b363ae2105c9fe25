"""Reports the interpreter it runs on (test fixture for python3.X runtimes)."""

import decimal
import os
import sys


def handler(event, context):
    print("running on", sys.version.split()[0])
    return {
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "executable": sys.executable,
        "decimal_from": os.path.dirname(decimal.__file__),
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "request_id": context.aws_request_id,
    }


def boom(event, context):
    raise KeyError("missing")
