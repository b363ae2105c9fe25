"""The Lambda API driven by the AWS CLI (aws lambda invoke --endpoint-url), and `pylambda serve`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from pylambda import Function, Invoker

AWS = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")
pytestmark = pytest.mark.skipif(AWS is None, reason="the AWS CLI (awscli, in the test extra) is not installed")


def echo(event, context):
    """Return the event; print a line for the log."""
    print("cli echo")
    return event


def fail(event, context):
    """Raise."""
    raise RuntimeError("cli failure")


def aws(endpoint_url: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``aws lambda ARGS --endpoint-url URL`` with fake credentials and a region."""
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }  # fmt: skip
    return subprocess.run([AWS, "lambda", *args, "--endpoint-url", endpoint_url], capture_output=True, text=True,
                          timeout=60, env=env)  # fmt: skip


@pytest.fixture
def served():
    """An Invoker with ``echo`` (version 1, alias live) and ``fail``, and its endpoint."""
    with Invoker() as invoker:
        fn = Function("echo", echo)
        fn.create_alias("live", fn.publish_version())
        invoker.register(fn, Function("fail", fail))
        with invoker.serve() as endpoint:
            yield invoker, endpoint


@pytest.mark.parametrize(
    ("args", "expected", "body"),
    [
        (["--qualifier", "live", "--payload", '{"a": 1}'], {"StatusCode": 200, "ExecutedVersion": "1"}, '{"a": 1}'),
    ],
)
def test_aws_lambda_invoke(served, tmp_path, args, expected, body):
    """`aws lambda invoke` writes the payload to the outfile and prints StatusCode and ExecutedVersion."""
    out = tmp_path / "out.json"
    proc = aws(served[1].url, "invoke", "--function-name", "echo", *args, str(out))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert {k: printed.get(k) for k in expected} == expected
    assert out.read_text() == body


def test_aws_lambda_invoke_tail_and_function_error(served, tmp_path):
    """--log-type Tail prints LogResult; a function error prints FunctionError and still exits 0."""
    out = tmp_path / "out.json"
    proc = aws(served[1].url, "invoke", "--function-name", "fail", "--log-type", "Tail", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["FunctionError"] == "Unhandled"
    assert "REPORT RequestId" in base64.b64decode(printed["LogResult"]).decode()
    assert json.loads(out.read_text())["errorMessage"] == "cli failure"


def test_aws_cli_error_exits_255_naming_the_exception(served, tmp_path):
    """An unknown function: exit 255 and `An error occurred (ResourceNotFoundException)` on stderr."""
    proc = aws(served[1].url, "invoke", "--function-name", "nope", str(tmp_path / "out.json"))
    assert proc.returncode == 255
    assert "An error occurred (ResourceNotFoundException) when calling the Invoke operation" in proc.stderr


def test_pylambda_serve_serves_a_definition_file(tmp_path: Path):
    """`pylambda serve FILE --port 0` prints its URL, serves the file's functions, and stops on SIGTERM."""
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return {'served': event}\n")
    (tmp_path / "functions.json").write_text(json.dumps({"functions": {"hello": {"handler": "app.handler",
                                                                                 "code": "."}}}))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "pylambda", "serve", str(tmp_path / "functions.json"), "--port",
                             "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        c = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t",
                         aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1}))  # fmt: skip
        r = c.invoke(FunctionName="hello", Payload=b'{"x": 1}')
        assert json.loads(r["Payload"].read()) == {"served": {"x": 1}}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "the Lambda API is at" in err


def test_pylambda_serve_warns_when_not_on_loopback():
    """Binding anything but loopback (here a port already taken, so it stops at once) prints a warning."""
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "pylambda", "serve", "--host", "0.0.0.0", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "WARNING: serving on 0.0.0.0, not loopback" in proc.stderr
    assert proc.returncode == 2
