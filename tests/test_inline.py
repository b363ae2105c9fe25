"""Inline mode: the same behaviour as process mode, in the caller's own thread."""

from __future__ import annotations

import json
import os
import threading
from unittest import mock

import pytest

from pylambda import Function, Invoker


def describe(event, context):
    """Reports context and environment, logs a little."""
    import logging
    import os

    print("printed", event.get("n"))
    logging.warning("warned")
    return {
        "name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "version": context.function_version,
        "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "tz": os.environ["TZ"],
        "request_id": context.aws_request_id,
        "secret": os.environ.get("CALLER_ONLY"),
    }


def fails(event, context):
    raise ValueError("inline boom")


def quits(event, context):
    import sys

    sys.exit(3)


def oversleeps(event, context):
    import time

    time.sleep(1.2)
    return "late"


def returns_set(event, context):
    return {1}


def returns_bytes(event, context):
    return b"\x00raw"


def where(event, context):
    return {"pid": os.getpid(), "thread": threading.get_ident()}


def patched(event, context):
    import random

    return random.random()


@pytest.fixture(params=["process", "inline"])
def any_invoker(request, monkeypatch):
    """An Invoker in each mode."""
    monkeypatch.setenv("CALLER_ONLY", "caller")
    inv = Invoker(mode=request.param)
    yield inv
    inv.close()


def test_context_environment_and_logs_match(any_invoker):
    """Context, Lambda environment variables and log lines are the same in both modes."""
    r = any_invoker.invoke(Function("describe", describe, memory_size=256), {"n": 1})
    p = r.payload
    assert (p["name"], p["memory"], p["version"], p["env_name"], p["tz"]) == ("describe", "256", "$LATEST",
                                                                               "describe", ":UTC")  # fmt: skip
    assert p["request_id"] == r.request_id
    assert p["secret"] is None  # the caller's environment does not leak in
    lines = r.logs.splitlines()
    assert lines[0].startswith("INIT_START")
    assert f"START RequestId: {r.request_id} Version: $LATEST" in lines
    assert "printed 1" in lines
    assert any(line.startswith("[WARNING]\t") and line.endswith(f"\t{r.request_id}\twarned") for line in lines)
    assert lines[-1].startswith(f"REPORT RequestId: {r.request_id}\tDuration: ")
    assert "Init Duration" in lines[-1]
    assert os.environ["CALLER_ONLY"] == "caller"  # restored in the caller


@pytest.mark.parametrize(
    ("handler", "config", "error_type", "message"),
    [
        (fails, {}, "ValueError", "inline boom"),
        (returns_set, {}, "Runtime.MarshalError", "Unable to marshal response: Object of type set"),
        (quits, {}, "Runtime.ExitError", "Runtime exited with error: exit status 3"),
        (oversleeps, {"timeout": 1}, "Sandbox.Timedout", "Task timed out after 1.00 seconds"),
    ],
)
def test_failures_match(any_invoker, handler, config, error_type, message):
    """Errors give the same payloads in both modes (inline reports a timeout after the fact)."""
    r = any_invoker.invoke(Function(f"fail-{handler.__name__}", handler, **config), {})
    assert r.function_error == "Unhandled"
    assert r.error_type == error_type
    assert message in json.loads(r.raw_payload)["errorMessage"]


def test_init_failure_matches(any_invoker, handlers_dir):
    """A handler module that cannot be imported fails with Runtime.ImportModuleError."""
    r = any_invoker.invoke(Function("bad-import", "bad_import.handler", code=str(handlers_dir)))
    assert r.error_type == "Runtime.ImportModuleError"
    assert "INIT_REPORT Init Duration" in r.logs


def test_bytes_and_warm_reuse_match(any_invoker):
    """bytes pass through; the second call is warm."""
    fn = Function("raw", returns_bytes)
    first, second = any_invoker.invoke(fn), any_invoker.invoke(fn)
    assert second.payload == b"\x00raw"
    assert first.cold_start
    assert not second.cold_start


def test_inline_runs_in_the_calling_thread():
    """Inline handlers run in this process and thread (so breakpoint() stops here)."""
    with Invoker(mode="inline") as inv:
        r = inv.invoke(Function("where", where))
        assert inv.zygote_pid is None
    assert r.payload == {"pid": os.getpid(), "thread": threading.get_ident()}


def test_mock_patch_reaches_inline_handlers():
    """A mock.patch in the test is seen by the handler (it is not in process mode)."""
    fn = Function("patched", patched)
    with Invoker(mode="inline") as inv, mock.patch("random.random", return_value=7.0):
        assert inv.invoke(fn).payload == 7.0
    with Invoker() as inv, mock.patch("random.random", return_value=7.0):
        assert inv.invoke(fn).payload != 7.0


def test_inline_module_handlers_do_not_mix(tmp_path):
    """Two functions whose handler modules share a name each run their own."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(f"def handler(e, c):\n    return {name!r}\n")
    with Invoker(mode="inline") as inv:
        assert inv.invoke(Function("fa", "app.handler", code=str(tmp_path / "a"))).payload == "a"
        assert inv.invoke(Function("fb", "app.handler", code=str(tmp_path / "b"))).payload == "b"


def test_mode_is_validated():
    """An unknown mode is refused."""
    from pylambda import InvalidParameterValueError

    with pytest.raises(InvalidParameterValueError, match="mode"):
        Invoker(mode="thread")
