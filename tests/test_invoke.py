"""Synchronous invocation as a user sees it: targets, payloads, context, environment, logs."""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import threading
from pathlib import Path

import pytest

from pylambda import (
    Function,
    FunctionError,
    InvalidParameterValueError,
    InvalidRequestContentError,
    InvocationResult,
    Invoker,
    InvokerClosedError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)

REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\tDuration: (?P<d>\d+\.\d\d) ms\tBilled Duration: (?P<b>\d+) ms\t"
    r"Memory Size: (?P<m>\d+) MB\tMax Memory Used: (?P<u>\d+) MB\t(?:Init Duration: (?P<i>\d+\.\d\d) ms\t)?\n$"
)


def add(event, context):
    """A handler defined in this test file: shipped by value."""
    return {"sum": event["a"] + event["b"], "version": context.function_version}


def test_callable_handler_defined_in_a_test_file_runs(invoker):
    """A test-file function runs in a real environment (another process)."""
    fn = Function("adder", add)
    r = invoker.invoke(fn, {"a": 2, "b": 3})
    assert isinstance(r, InvocationResult)
    assert r.status_code == 200
    assert r.function_error is None
    assert r.payload == {"sum": 5, "version": "$LATEST"}
    assert r.executed_version == "$LATEST"


def explode(event, context):
    """Raises from a helper, to check the frames of a by-value handler."""
    return _helper(event)


def _helper(event):
    raise KeyError(event["missing"])


def test_callable_handler_stack_traces_name_the_source_file(invoker):
    """A by-value handler's error frames point at this file and its real lines."""
    r = invoker.invoke(Function("exploder", explode), {"missing": "k"})
    frames = r.payload["stackTrace"]
    assert len(frames) == 2
    assert all(f'File "{__file__}", line ' in frame for frame in frames)
    assert "in explode" in frames[0]
    assert "in _helper" in frames[1]
    assert "raise KeyError" in frames[1]


def test_example_module_handler_cold_then_warm(invoker):
    """The shipped example: cold start with Init Duration, then warm reuse."""
    fn = Function("hello", "app.handler", code=Path(__file__).parent.parent / "examples" / "hello")
    first = invoker.invoke(fn, {"name": "Ada"})
    second = invoker.invoke(fn, {"name": "Bob"})
    assert first.payload["greeting"] == "Hello, Ada!"
    assert first.payload["cold"] is True
    assert second.payload["cold"] is False
    assert first.cold_start
    assert not second.cold_start
    assert first.init_duration_ms is not None
    assert second.init_duration_ms is None
    assert first.environment_id == second.environment_id


def test_handler_in_a_subdirectory_with_slashes(invoker, make_fn):
    """'dir/mod.fn' resolves like Lambda's: slashes become dots."""
    assert invoker.invoke(make_fn("pkg/sub/mod.fn")).payload == "nested"
    assert invoker.invoke(make_fn("pkg.sub.mod.fn")).payload == "nested"


def test_context_object_matches_lambda(invoker, make_fn):
    """Every context attribute has Lambda's value and type."""
    fn = make_fn("inspect_env.handler", memory_size=256, timeout=7)
    r = invoker.invoke(fn)
    ctx = r.payload["context"]
    assert REQUEST_ID.fullmatch(ctx["aws_request_id"])
    assert ctx["aws_request_id"] == r.request_id
    assert ctx["function_name"] == fn.name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == fn.arn  # unqualified stays unqualified
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["types"]["memory_limit_in_mb"] == "str"
    assert ctx["log_group_name"] == f"/aws/lambda/{fn.name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", ctx["log_stream_name"])
    assert ctx["log_stream_name"] == r.log_stream_name
    assert 6000 < ctx["remaining"] <= 7000
    assert ctx["types"]["remaining"] == "int"
    assert ctx["identity"] == [None, None]
    assert ctx["client_context"] is None
    assert ctx["repr"].startswith("LambdaContext([aws_request_id=")


def test_client_context_reaches_the_handler(invoker, make_fn):
    """A client context dict (or boto3's base64 form) becomes context.client_context."""
    fn = make_fn("inspect_env.handler")
    cc = {"custom": {"k": "v"}, "env": {"platform": "test"}, "client": {"app_title": "t"}}
    assert invoker.invoke(fn, client_context=cc).payload["context"]["client_context"] == {
        "custom": {"k": "v"},
        "env": {"platform": "test"},
    }
    b64 = base64.b64encode(json.dumps(cc).encode()).decode()
    assert invoker.invoke(fn, client_context=b64).payload["context"]["client_context"]["custom"] == {"k": "v"}
    with pytest.raises(InvalidRequestContentError):
        invoker.invoke(fn, client_context={"custom": {"x": "y" * 4000}})


def test_environment_variables_are_lambdas_and_isolated(invoker, make_fn, monkeypatch):
    """Reserved variables are set, user variables added, the caller's never leak."""
    monkeypatch.setenv("HOST_SECRET", "must-not-leak")
    fn = make_fn("inspect_env.handler", environment={"TABLE": "orders"}, memory_size=512)
    env = invoker.invoke(fn).payload["environ"]
    assert "HOST_SECRET" not in env
    assert env["TABLE"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn.name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn.name}"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "inspect_env.handler"
    assert env["LAMBDA_TASK_ROOT"] == fn.latest.code.path
    assert env["TZ"] == ":UTC"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert "AWS_LAMBDA_FUNCTION_TIMEOUT" not in env  # not a real Lambda variable


def test_inherit_env_opt_in(make_fn, monkeypatch):
    """inherit_env passes the named host variables (and only those)."""
    monkeypatch.setenv("HOST_VISIBLE", "yes")
    monkeypatch.setenv("HOST_HIDDEN", "no")
    with Invoker(inherit_env=["HOST_VISIBLE"]) as inv:
        env = inv.invoke(make_fn("inspect_env.handler")).payload["environ"]
    assert env["HOST_VISIBLE"] == "yes"
    assert "HOST_HIDDEN" not in env


def test_cwd_tmp_and_trace_header(invoker, make_fn, sandbox):
    """cwd is the code root, /tmp is private, a caller's trace header is passed on."""
    fn = make_fn("inspect_env.handler")
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    r = invoker.invoke(fn, trace_header=header).payload
    assert r["cwd"] == fn.latest.code.path
    assert r["tempdir"] == r["environ"]["TMPDIR"]
    # /tmp itself is private in the sandbox; without it, a private TMPDIR stands in
    assert (r["tempdir"] == "/tmp") == (sandbox["namespaces"] is None)
    assert r["environ"]["_X_AMZN_TRACE_ID"] == header


def trace_everywhere(event, context):
    import os
    import subprocess

    child = subprocess.run(["sh", "-c", 'printf %s "$_X_AMZN_TRACE_ID"'], capture_output=True, text=True)
    return [os.environ.get("_X_AMZN_TRACE_ID"), os.getenv("_X_AMZN_TRACE_ID"), child.stdout]


def test_each_invocation_sets_its_own_trace_variable_for_python_and_child_processes(invoker):
    """_X_AMZN_TRACE_ID is the invocation's header in os.environ and in the C environment a child inherits."""
    fn = Function("traced_env", trace_everywhere)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    seen = [invoker.invoke(fn).payload, invoker.invoke(fn, trace_header=header).payload, invoker.invoke(fn).payload]
    headers = [record.trace_header for record in list(invoker.history)[-3:]]
    assert headers[1] == header
    assert len(set(headers)) == 3
    for values, expected in zip(seen, headers, strict=True):
        assert values == [expected] * 3


def trace_and_arn(event, context):
    import os

    return [os.environ["_X_AMZN_TRACE_ID"], context.invoked_function_arn, context.aws_request_id, event]


def test_a_non_ascii_trace_header_reaches_the_handler_intact(invoker):
    """Field lengths on the wire are byte counts: a multi-byte character must not shift the fields after it."""
    fn = Function("traced_utf8", trace_and_arn)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Note=caf\u00e9 \u2615"
    r = invoker.invoke(fn, {"k": "\u00fc"}, trace_header=header)
    assert r.function_error is None, r.payload
    assert r.payload == [header, fn.arn, r.request_id, {"k": "\u00fc"}]


def decimals_and_tmp(event, context):
    import os
    import tempfile
    from decimal import Decimal

    return {
        "whole": Decimal("3"),
        "fraction": Decimal("1.5"),
        "nested": [Decimal("10")],
        "tmp": [tempfile.gettempdir(), os.environ["TMPDIR"]],
    }


def test_decimals_and_private_tmp_in_an_invokers_first_environment(sandbox):
    """Decimal results encode as RIC's (integral -> int, else float) and tempfile uses the private /tmp.

    The first environment of a new Invoker is usually forked before the zygote
    has imported decimal and tempfile (it does that once idle), so this covers
    environments that import them themselves.
    """
    from pylambda import Invoker

    with Invoker() as inv:
        out = inv.invoke(Function("decimals", decimals_and_tmp)).payload
    assert out["whole"] == 3
    assert isinstance(out["whole"], int)
    assert out["fraction"] == 1.5
    assert out["nested"] == [10]
    private = "/tmp" if sandbox["namespaces"] is None else out["tmp"][1]
    assert out["tmp"] == [private, private]
    assert private == "/tmp" or private.startswith(tempfile.gettempdir())


def test_globals_and_tmp_persist_while_warm(invoker, make_fn):
    """Module globals and /tmp survive warm invocations of one environment."""
    fn = make_fn("faults.counter")
    assert [invoker.invoke(fn).payload for _ in range(3)] == [1, 2, 3]
    tmp = make_fn("faults.tmpfile")
    assert invoker.invoke(tmp, {"value": "a"}).payload is None
    assert invoker.invoke(tmp, {"value": "b"}).payload == "a"


def test_concurrent_callers_get_separate_environments(invoker, make_fn):
    """An environment serves one invocation at a time."""

    def slow_pid(event, context):
        import os
        import time

        time.sleep(0.3)  # the four calls overlap whatever the scheduler does
        return os.getpid()

    fn = Function("slow-pid", slow_pid)
    barrier = threading.Barrier(4)
    ids = []

    def call():
        barrier.wait()
        ids.append(invoker.invoke(fn, {}).environment_id)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == 4
    assert len(set(ids)) == 4  # one environment per concurrent invocation
    assert os.getpid() not in [e.pid for e in invoker.environments()]


def test_logs_capture_every_output_path(invoker, make_fn):
    """print, stderr, fd-level writes, logging and context.log all reach the log."""
    fn = make_fn("logs_demo.handler")
    r = invoker.invoke(fn)
    lines = r.logs.splitlines()
    assert lines[0].startswith("INIT_START Runtime Version: python:3.")
    assert lines[1] == "init output"
    assert lines[2] == f"START RequestId: {r.request_id} Version: $LATEST"
    body = "\n".join(lines[3:-2])
    for text in ("from print", "from stderr", "from fd 1", "via context.log"):
        assert text in body
    assert "info is dropped by default" not in body
    assert re.search(rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{r.request_id}\ta warning", body)
    assert lines[-2] == f"END RequestId: {r.request_id}"
    m = REPORT.search(r.logs)
    assert m
    assert m["id"] == r.request_id
    assert m["m"] == "128"
    assert m["i"] is not None
    assert float(m["d"]) == r.duration_ms
    assert int(m["b"]) == r.billed_duration_ms
    assert int(m["u"]) == r.max_memory_used_mb > 0
    warm = invoker.invoke(fn)
    assert not warm.logs.startswith("INIT_START")
    assert "Init Duration" not in warm.logs
    assert REPORT.search(warm.logs)["i"] is None


def test_tail_gives_base64_of_the_last_4kb(invoker, make_fn):
    """log_type='Tail' returns the log's last 4096 bytes, base64-encoded."""
    fn = make_fn("logs_demo.handler")
    r = invoker.invoke(fn, log_type="Tail")
    assert base64.b64decode(r.log_result) == r.logs.encode()[-4096:]
    assert invoker.invoke(fn).log_result is None


def test_billed_duration_includes_init(invoker, make_fn):
    """Billed Duration = ceil(Duration + Init Duration) on a cold start."""
    import math

    r = invoker.invoke(make_fn("faults.noop"))
    assert r.billed_duration_ms == math.ceil(round(r.duration_ms + r.init_duration_ms, 2))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {}),
        ({"event": None}, {}),
        ({"event": [1, "two", None]}, [1, "two", None]),
        ({"payload": b'{"raw": true}'}, {"raw": True}),
        ({"payload": '"text"'}, "text"),
        ({"payload": b""}, {}),
        # json.loads accepts these, as RIC does; the environment must too (it used to exit)
        ({"payload": '{"a": "\u00e9"}'.encode("utf-16")}, {"a": "\u00e9"}),
        ({"payload": '{"a": "\u00e9"}'.encode("utf-32")}, {"a": "\u00e9"}),
        ({"payload": b'\xef\xbb\xbf{"bom": 1}'}, {"bom": 1}),
        ({"payload": b' {"padded": 1}\n'}, {"padded": 1}),
    ],
)
def test_payload_forms(invoker, make_fn, kwargs, expected):
    """event objects, raw JSON bytes/text and nothing at all all arrive as JSON."""
    assert invoker.invoke(make_fn("faults.echo"), **kwargs).payload == expected


def test_returning_none_gives_null_and_bytes_pass_through(invoker, make_fn):
    """None is 'null' (4 bytes); bytes are sent verbatim."""
    r = invoker.invoke(make_fn("faults.noop"))
    assert r.raw_payload == b"null"
    assert r.payload is None
    b = invoker.invoke(make_fn("faults.rawbytes"))
    assert b.payload == b"\x00\x01raw"
    assert b.raw_payload == b"\x00\x01raw"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"payload": b"{not json"}, InvalidRequestContentError),
        ({"payload": b"\x87\x00"}, InvalidRequestContentError),
        ({"event": {1, 2}}, InvalidRequestContentError),
        ({"event": float("nan")}, InvalidRequestContentError),
        ({"event": "x" * 6_291_456}, RequestTooLargeError),
        ({"payload": b'"' + b"x" * 6_291_455 + b'"'}, RequestTooLargeError),
        ({"event": {}, "payload": b"{}"}, InvalidParameterValueError),
        ({"log_type": "Full"}, InvalidParameterValueError),
        ({"payload": 123}, InvalidParameterValueError),  # bytes(123) would be 123 NUL bytes
        # a client context that is JSON but not an object used to make the environment exit
        ({"client_context": [1, 2]}, InvalidRequestContentError),
        ({"client_context": base64.b64encode(b"[1, 2]").decode()}, InvalidRequestContentError),
        ({"client_context": "not base64!"}, InvalidRequestContentError),
    ],
)
def test_bad_requests_raise_before_any_environment(invoker, make_fn, kwargs, error):
    """A bad request raises a typed error and starts no process."""
    fn = make_fn("faults.echo")
    with pytest.raises(error):
        invoker.invoke(fn, **kwargs)
    assert invoker.environments() == []


def test_targets_by_name_qualifier_and_arn(invoker, make_fn):
    """Functions resolve by object, name, name:qualifier, full and partial ARN."""
    fn = make_fn("inspect_env.handler")
    v1 = fn.publish_version()
    fn.create_alias("live", v1)
    invoker.register(fn)
    cases = {
        fn.name: ("$LATEST", fn.arn),
        f"{fn.name}:$LATEST": ("$LATEST", f"{fn.arn}:$LATEST"),
        f"{fn.name}:1": ("1", f"{fn.arn}:1"),
        f"{fn.name}:live": ("1", f"{fn.arn}:live"),
        fn.arn: ("$LATEST", fn.arn),
        f"{fn.arn}:live": ("1", f"{fn.arn}:live"),
        f"123456789012:function:{fn.name}:1": ("1", f"{fn.arn}:1"),
    }
    for target, (version, arn) in cases.items():
        r = invoker.invoke(target)
        assert r.executed_version == version, target
        assert r.payload["context"]["invoked_function_arn"] == arn, target
        assert r.payload["context"]["function_version"] == version
        assert r.payload["environ"]["AWS_LAMBDA_FUNCTION_VERSION"] == version
        assert f"START RequestId: {r.request_id} Version: {version}\n" in r.logs


@pytest.mark.parametrize(
    "target",
    ["nope", "nope:1", "arn:aws:lambda:us-east-1:123456789012:function:nope"],
)
def test_unknown_targets_raise_resource_not_found(invoker, target):
    """Unknown names raise ResourceNotFoundError with Lambda's message."""
    with pytest.raises(ResourceNotFoundError, match="Function not found: arn:aws:lambda:"):
        invoker.invoke(target)


def test_unknown_qualifiers_and_regions(invoker, make_fn):
    """An unknown version, alias or a foreign region is not found."""
    fn = make_fn("faults.echo")
    invoker.register(fn)
    for target in (f"{fn.name}:7", f"{fn.name}:nope", f"arn:aws:lambda:eu-west-1:123456789012:function:{fn.name}"):
        with pytest.raises(ResourceNotFoundError):
            invoker.invoke(target)


def test_versions_run_in_their_own_environments(invoker, make_fn):
    """$LATEST and a published version never share an environment."""
    fn = make_fn("inspect_env.handler")
    v1 = fn.publish_version()
    a = invoker.invoke(fn)
    b = invoker.invoke(v1)
    assert a.environment_id != b.environment_id
    assert "[1]" in b.log_stream_name
    assert "[$LATEST]" in a.log_stream_name


def test_alias_routing_executes_both_versions(invoker, make_fn):
    """A weighted alias runs the extra version about `weight` of the time."""
    fn = make_fn("faults.echo")
    v1 = fn.publish_version()
    fn.update_configuration(description="two")
    v2 = fn.publish_version()
    live = fn.create_alias("live", v1, routing={v2: 0.5})
    seen = {invoker.invoke(live).executed_version for _ in range(60)}
    assert seen == {"1", "2"}


def test_edits_to_a_latest_directory_are_served(invoker, tmp_path):
    """Editing a $LATEST code directory starts new environments with the new code."""
    import time

    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'one'\n")
    fn = Function("reloading", "app.handler", code=str(tmp_path))
    v1 = fn.publish_version()
    first = invoker.invoke(fn)
    assert first.payload == "one"
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'two'\n")
    deadline = time.monotonic() + 10
    r = invoker.invoke(fn)
    while r.payload != "two" and time.monotonic() < deadline:
        time.sleep(0.05)
        r = invoker.invoke(fn)
    assert r.payload == "two"
    assert r.cold_start
    assert r.environment_id != first.environment_id
    assert invoker.invoke(v1).payload == "one"  # published versions never change


def test_functions_on_one_code_directory_share_its_fingerprint(tmp_path, monkeypatch):
    """Functions started together on one directory walk it once for their baselines; an edit is still served."""
    from pylambda import _watch

    walks = []
    walk = _watch._tree_fingerprint
    monkeypatch.setattr(_watch, "WATCH_INTERVAL_S", 10.0)  # shared for 5 s: however slow the machine
    monkeypatch.setattr(_watch, "_tree_fingerprint", lambda root: walks.append(root) or walk(root))
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'one'\n")
    with Invoker() as inv:
        for i in range(3):
            assert inv.invoke(Function(f"shared-{i}", "app.handler", code=str(tmp_path))).payload == "one"
    assert walks == [str(tmp_path)]


def test_watch_code_can_be_turned_off(tmp_path):
    """With watch_code=False, $LATEST keeps its environments after an edit."""
    import time

    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'one'\n")
    fn = Function("frozen-latest", "app.handler", code=str(tmp_path))
    with Invoker(watch_code=False) as inv:
        inv.invoke(fn)
        (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'two'\n")
        time.sleep(0.3)
        assert inv.invoke(fn).payload == "one"


def test_update_configuration_retires_latest_environments(invoker, make_fn):
    """After an update, $LATEST starts a fresh environment with the new config."""
    fn = make_fn("inspect_env.handler")
    first = invoker.invoke(fn)
    fn.update_configuration(environment={"COLOUR": "blue"})
    second = invoker.invoke(fn)
    assert second.cold_start
    assert second.environment_id != first.environment_id
    assert second.payload["environ"]["COLOUR"] == "blue"


def test_reserved_concurrency_zero_throttles(invoker, make_fn):
    """reserved_concurrency=0 always throttles with Lambda's reason."""
    fn = make_fn("faults.echo", reserved_concurrency=0)
    with pytest.raises(TooManyRequestsError) as info:
        invoker.invoke(fn)
    assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_account_concurrency_limit_throttles(make_fn):
    """Beyond concurrency_limit in-flight invocations, callers are throttled."""
    fn = make_fn("faults.sleeps", timeout=2)
    with Invoker(concurrency_limit=1) as inv:
        t = threading.Thread(target=inv.invoke, args=(fn,))
        t.start()
        try:
            for _ in range(200):
                if inv.environments():
                    break
                threading.Event().wait(0.01)
            with pytest.raises(TooManyRequestsError) as info:
                inv.invoke(fn)
            assert info.value.reason == "ConcurrentInvocationLimitExceeded"
        finally:
            t.join(10)


def test_raise_for_error(invoker, make_fn):
    """raise_for_error raises FunctionError for errors and returns self otherwise."""
    ok = invoker.invoke(make_fn("faults.echo"), {"x": 1})
    assert ok.raise_for_error() is ok
    assert ok.ok
    bad = invoker.invoke(make_fn("faults.raises"))
    with pytest.raises(FunctionError) as info:
        bad.raise_for_error()
    assert info.value.error_type == "ValueError"
    assert info.value.error_message == "boom"
    assert info.value.request_id == bad.request_id
    assert info.value.stack_trace


def test_closed_invoker_refuses_work(make_fn):
    """After close(), invoke and register raise InvokerClosedError; close is idempotent."""
    inv = Invoker()
    inv.invoke(make_fn("faults.echo"))
    inv.close()
    inv.close()
    with pytest.raises(InvokerClosedError):
        inv.invoke("anything")
    with pytest.raises(InvokerClosedError):
        inv.register(make_fn("faults.echo"))


def test_setup_hook_runs_before_the_handler_is_loaded(invoker):
    """Function(setup=...) runs in each new environment before the handler import."""

    def setup():
        os.environ["PATCHED_BY_SETUP"] = "1"

    def handler(event, context):
        return os.environ.get("PATCHED_BY_SETUP")

    assert invoker.invoke(Function("setup-demo", handler, setup=setup)).payload == "1"


def test_old_latest_revisions_leave_no_cached_state(invoker):
    """Each $LATEST revision's init spec is dropped once a newer revision runs."""
    fn = Function("revisions", lambda e, c: 1)
    for i in range(5):
        fn.update_configuration(description=str(i))
        invoker.invoke(fn)
    assert [k[2] for k in invoker._launcher._init_specs if k[0] == "revisions"] == [fn.latest.revision]
    assert [k[2] for k in invoker._launcher._platform_lines if k[0] == "revisions"] == [fn.latest.revision]
