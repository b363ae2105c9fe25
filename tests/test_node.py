"""Node.js functions (nodejs20.x / nodejs22.x) through the Runtime API host and pylambda's Node bootstrap."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pylambda import Function, Invoker

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")

NODE = str(Path(__file__).parent / "handlers" / "node")
_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t(\S+)\t(INFO|WARN|ERROR|DEBUG)\t(.*)$")
_COUNTER = iter(range(10**6))


def node_fn(handler: str, **config) -> Function:
    """A nodejs20.x function over tests/handlers/node."""
    config.setdefault("runtime", "nodejs20.x")
    return Function(f"node-{next(_COUNTER)}", handler, code=NODE, **config)


@pytest.fixture
def inv(invoker):
    """The test's Invoker."""
    return invoker


def test_context_environment_and_console_lines(inv):
    """Lambda's Node context, variables and console line format reach a CommonJS handler."""
    fn = node_fn("index.context", memory_size=256)
    r = inv.invoke(fn, {"k": "v"}, client_context={"custom": {"a": 1}})
    r.raise_for_error()
    p = r.payload
    assert p["event"] == {"k": "v"}
    assert p["awsRequestId"] == r.request_id
    assert p["functionName"] == fn.name
    assert p["functionVersion"] == "$LATEST"
    assert p["memoryLimitInMB"] == "256"
    assert p["invokedFunctionArn"] == fn.arn
    assert p["logGroupName"] == f"/aws/lambda/{fn.name}"
    assert p["logStreamName"] == r.log_stream_name
    assert 0 < p["remaining"] <= 3000
    assert p["waits"] is True
    assert p["clientContext"] == {"custom": {"a": 1}}
    assert p["trace"].startswith("Root=1-")
    assert p["runtimeApi"].startswith("127.0.0.1:")
    assert p["executionEnv"] == "AWS_Lambda_nodejs20.x"
    assert p["tz"] == ":UTC"
    lines = [m.groups() for m in map(_LINE.match, r.logs.split("\n")) if m]
    assert lines == [
        (r.request_id, "INFO", "hello { a: 1 }"),
        (r.request_id, "WARN", "careful\rnow"),  # one call stays one line
        (r.request_id, "ERROR", "bad"),
    ]
    assert "INIT_START Runtime Version: nodejs:20." in r.logs
    assert r.logs.splitlines()[-1].startswith(f"REPORT RequestId: {r.request_id}\tDuration: ")


def test_esm_handler_warm_reuse(inv):
    """An .mjs module loads as ES module; the second call is warm in the same environment."""
    fn = node_fn("esm.handler")
    first, second = inv.invoke(fn, {"n": 1}), inv.invoke(fn, {"n": 2})
    assert first.payload == {"esm": True, "calls": 1, "id": first.request_id, "event": {"n": 1}}
    assert second.payload["calls"] == 2
    assert first.cold_start
    assert not second.cold_start
    assert second.environment_id == first.environment_id


@pytest.mark.parametrize(
    ("handler", "payload"),
    [
        ("index.callback", {"late": {"x": 1}}),  # callback from a timer
        ("index.callbackWaits", "answered"),  # answered once the event loop is empty
        ("index.sync", {"x": 1}),  # a plain return value
        ("index.nothing", None),  # undefined -> null
    ],
)
def test_async_callback_and_sync_styles(inv, handler, payload):
    """Every handler style Lambda's Node runtime accepts answers with its value."""
    r = inv.invoke(node_fn(handler), {"x": 1})
    assert r.function_error is None
    assert r.payload == payload


def test_callback_waits_for_the_event_loop(inv):
    """With callbackWaitsForEmptyEventLoop, a timer the handler left runs inside the invocation."""
    r = inv.invoke(node_fn("index.callbackWaits"), {})
    assert "timer ran" in r.logs


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("index.raises", "ValidationError", "bad input"),
        ("index.throwsString", "string", "just a string"),
        ("index.callbackError", "Error", "cb fail"),
    ],
)
def test_handler_errors_have_nodes_shape(inv, handler, error_type, message):
    """{errorType, errorMessage, trace} as Node's runtime reports them; the environment stays warm."""
    fn = node_fn(handler)
    r = inv.invoke(fn, {})
    assert r.function_error == "Unhandled"
    doc = json.loads(r.raw_payload)
    assert (doc["errorType"], doc["errorMessage"]) == (error_type, message)
    assert isinstance(doc["trace"], list)
    assert "\tERROR\tInvoke Error \t{" in r.logs
    assert not inv.invoke(fn, {}).cold_start


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("bad_import.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'missing-pkg'"),
        ("nope.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'nope'"),
        ("index.missing", "Runtime.HandlerNotFound", "index.missing is undefined or not exported"),
        ("bad_syntax.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected end of input"),
        ("throws_at_init.handler", "Error", "init went wrong"),
    ],
)
def test_init_errors(inv, handler, error_type, message):
    """A failed init returns the document the runtime posted to /init/error, with INIT_REPORT lines."""
    r = inv.invoke(node_fn(handler), {})
    assert r.error_type == error_type
    doc = json.loads(r.raw_payload)
    assert doc["errorType"] == error_type
    assert doc["errorMessage"].startswith(message)
    assert f"Phase: init\tStatus: error\tError Type: {error_type}" in r.logs
    assert f"Phase: invoke\tStatus: error\tError Type: {error_type}" in r.logs


def test_another_node_major_warns_once_and_runs():
    """nodejs22.x on this machine's node: a warning naming both, then it runs."""
    import pylambda._environment.runtimes as runtimes

    node = runtimes.node_executable()
    asked = "nodejs22.x" if node[1] != 22 else "nodejs20.x"
    runtimes._warned.discard(asked)
    with Invoker() as invoker:
        with pytest.warns(RuntimeWarning, match=rf"runtime {asked} asked for, running it on node v{node[1]}"):
            r = invoker.invoke(node_fn("index.sync", runtime=asked), {"v": 1})
        assert r.payload == {"v": 1}
        assert invoker.invoke(node_fn("index.sync", runtime=asked), {"v": 2}).payload == {"v": 2}  # no second warning


def test_concurrent_invocations_get_their_own_environments(inv):
    """Two at a time: two node environments, each one invocation at a time."""
    fn = node_fn("index.counts")
    results = inv.map(fn, [{}] * 6, concurrency=2)
    assert all(r.function_error is None for r in results)
    assert len({r.environment_id for r in results}) <= 2
    assert sum(r.payload["calls"] == 1 for r in results) == len({r.environment_id for r in results})


def test_async_invocation_and_bill(inv):
    """Event invocations run on node too, and show up in history and the bill."""
    fn = node_fn("index.sync")
    inv.invoke(fn, {"a": 1}, invocation_type="Event")
    inv.wait_for_idle(30)
    records = [r for r in inv.history if r.function_name == fn.name]
    assert len(records) == 1
    (row,) = [row for row in inv.bill().rows if row.function_name == fn.name]
    assert row.requests == 1
    assert row.billed_ms >= 1


@pytest.mark.parametrize("runtime", ["python3.99", "nodejs7.x", "java21"])
def test_a_name_that_is_not_a_lambda_runtime_is_refused(runtime):
    """InvalidParameterValueError naming the runtimes and the interpreters found on this machine."""
    from pylambda import InvalidParameterValueError

    with pytest.raises(InvalidParameterValueError, match=r"runtime must be one of .*nodejs20\.x.*interpreters found"):
        Function("bad-runtime", "index.sync", code=NODE, runtime=runtime)


def test_an_sqs_mapping_drives_a_node_function(clock):
    """A queue's event source mapping invokes a Node function with Lambda's SQS event."""
    from pylambda import Queue

    queue = Queue("node-orders", visibility_timeout=30)
    with Invoker(clock=clock) as invoker:
        fn = node_fn("index.records")
        invoker.create_event_source_mapping(queue, fn, batch_size=10)
        queue.send("one")
        queue.send("two")
        assert invoker.wait_for_idle(60)
        records = [r for r in invoker.history if r.function_name == fn.name]
        assert records
        assert all(r.result.function_error is None for r in records)
        assert sorted(b for r in records for b in r.result.payload["bodies"]) == ["one", "two"]
        assert "\tINFO\tbatch of " in records[0].result.logs


def test_an_error_outside_the_handler_ends_the_runtime_after_reporting_it(inv):
    """A throw in a timer is the invocation's error; the runtime ends and the next invocation starts a new one."""
    fn = node_fn("index.throwsLater")
    r = inv.invoke(fn, {})
    doc = json.loads(r.raw_payload)
    assert (r.error_type, doc["errorType"], doc["errorMessage"]) == ("TypeError", "TypeError", "from a timer")
    assert "\tERROR\tUncaught Exception \t{" in r.logs
    again = inv.invoke(node_fn("index.sync"), {"k": 1})
    assert again.payload == {"k": 1}
    nxt = inv.invoke(fn, {})
    assert nxt.error_type == "TypeError"
    assert nxt.cold_start  # the runtime that reported it is gone: a new environment


def test_boto3_invokes_a_node_function_through_the_lambda_endpoint(inv):
    """boto3's Lambda client reaches a Node function through invoker.serve(): payload, error header, logs."""
    boto3 = pytest.importorskip("boto3")
    import base64

    from botocore.config import Config

    echo, raises = node_fn("index.sync"), node_fn("index.raises")
    inv.register(echo, raises)
    with inv.serve() as endpoint:
        lam = boto3.client("lambda", endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id="t",
                           aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1}))  # fmt: skip
        ok = lam.invoke(FunctionName=echo.name, Payload=b'{"hello": "node"}', LogType="Tail")
        assert json.loads(ok["Payload"].read()) == {"hello": "node"}
        assert "FunctionError" not in ok
        assert "REPORT RequestId:" in base64.b64decode(ok["LogResult"]).decode()
        failed = lam.invoke(FunctionName=raises.name, Payload=b"{}")
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "ValidationError"
