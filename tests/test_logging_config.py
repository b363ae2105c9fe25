"""Per-function logging config (Text/JSON, levels, log group), tracing, echo."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from pylambda import Function, Invoker


def logs_everything(event, context):
    import logging
    import os

    log = logging.getLogger("app")
    log.debug("debug line")
    log.info("info line", extra={"order": 7})
    log.warning("warning line")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("caught")
    print("plain print")
    if event.get("fail"):
        raise ValueError("bad input")
    return {
        k: os.environ.get(k) for k in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_GROUP_NAME")
    }


def _json_lines(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_text_format_drops_info_by_default(invoker):
    """Text format: logging.info is dropped (root at WARNING), lines are RIC's text."""
    r = invoker.invoke(Function("text-logs", logs_everything), {})
    assert "info line" not in r.logs
    assert "debug line" not in r.logs
    assert re.search(r"\[WARNING\]\t\S+Z\t" + r.request_id + r"\twarning line", r.logs)
    assert r.payload["AWS_LAMBDA_LOG_FORMAT"] is None


def test_json_format_application_records(invoker):
    """JSON format: logging records are RIC's JSON objects; print stays plain text."""
    r = invoker.invoke(Function("json-logs", logs_everything, log_format="JSON"), {})
    assert r.payload["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert r.payload["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    records = [d for d in _json_lines(r.logs) if "level" in d]
    info = next(d for d in records if d["message"] == "info line")
    assert info["level"] == "INFO"
    assert info["logger"] == "app"
    assert info["order"] == 7
    assert info["requestId"] == r.request_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["timestamp"])
    assert re.fullmatch(r".+test_logging_config\.py:logs_everything:\d+", info["location"])
    caught = next(d for d in records if d["message"] == "caught")
    assert caught["errorType"] == "KeyError"
    assert caught["stackTrace"]
    assert not any(d["message"] == "debug line" for d in records)
    assert "\nplain print\n" in r.logs


def test_json_application_level_debug(invoker):
    """application_log_level=DEBUG keeps debug records."""
    fn = Function("json-debug", logs_everything, log_format="JSON", application_log_level="DEBUG")
    r = invoker.invoke(fn, {})
    assert any(d.get("message") == "debug line" for d in _json_lines(r.logs))


def test_json_platform_records(invoker):
    """JSON format: platform lines are platform.* records, as the Telemetry API shapes them."""
    fn = Function("json-platform", logs_everything, log_format="JSON", memory_size=256)
    r = invoker.invoke(fn, {})
    platform = [d for d in _json_lines(r.logs) if d.get("type", "").startswith("platform.")]
    kinds = [d["type"] for d in platform]
    assert kinds == ["platform.initStart", "platform.start", "platform.report"]
    init = platform[0]["record"]
    assert init["initializationType"] == "on-demand"
    assert init["phase"] == "init"
    assert init["functionName"] == "json-platform"
    assert init["instanceMaxMemory"] == 256 * 2**20
    assert init["instanceId"] == r.log_stream_name
    start = platform[1]["record"]
    assert start == {"requestId": r.request_id, "functionArn": fn.arn, "version": "$LATEST"}
    report = platform[2]["record"]
    assert report["status"] == "success"
    assert report["metrics"]["billedDurationMs"] == r.billed_duration_ms
    assert report["metrics"]["memorySizeMB"] == 256
    assert "initDurationMs" in report["metrics"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", platform[1]["time"])
    assert "END RequestId" not in r.logs
    assert "REPORT RequestId" not in r.logs


def test_json_uncaught_error_and_system_levels(invoker):
    """An uncaught error is a log_level ERROR object; DEBUG adds runtimeDone; WARN keeps failures."""
    debug = Function("json-sys-debug", logs_everything, log_format="JSON", system_log_level="DEBUG")
    r = invoker.invoke(debug, {"fail": True})
    docs = _json_lines(r.logs)
    err = next(d for d in docs if d.get("log_level") == "ERROR")
    assert list(err) == ["timestamp", "log_level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert err["errorType"] == "ValueError"
    assert err["requestId"] == r.request_id
    assert "platform.runtimeDone" in [d.get("type") for d in docs]
    warn = Function("json-sys-warn", logs_everything, log_format="JSON", system_log_level="WARN")
    quiet = invoker.invoke(warn, {})
    assert not [d for d in _json_lines(quiet.logs) if d.get("type", "").startswith("platform.")]


def test_custom_log_group(invoker):
    """A custom log group names the group and puts the function name in the stream."""
    fn = Function("grouped", logs_everything, log_group="/shared/services")
    r = invoker.invoke(fn, {})
    assert r.payload["AWS_LAMBDA_LOG_GROUP_NAME"] == "/shared/services"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/grouped\[\$LATEST\][0-9a-f]{32}", r.log_stream_name)
    assert invoker.logs(fn).name == "/shared/services"


def test_active_tracing(invoker):
    """tracing=Active: sampled trace header, the XRAY line after REPORT, segments in history."""
    fn = Function("traced", lambda e, c: __import__("os").environ["_X_AMZN_TRACE_ID"], tracing="Active")
    r = invoker.invoke(fn, {})
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1", r.payload)
    last = r.logs.rstrip("\n").split("\n")[-1]
    root = r.payload.split(";")[0].removeprefix("Root=")
    assert re.fullmatch(rf"XRAY TraceId: {root}\tSegmentId: [0-9a-f]{{16}}\tSampled: true", last)
    rec = invoker.history[-1]
    assert rec.trace_header == r.payload
    assert set(rec.segments) == {"init", "invocation", "overhead"}
    assert rec.segments["overhead"] >= 0
    plain = invoker.invoke(Function("untraced", lambda e, c: 1), {})
    assert "XRAY" not in plain.logs
    assert invoker.history[-1].segments is None
    assert invoker.history[-1].trace_header.endswith("Sampled=0")


@pytest.mark.parametrize("kind", ["stderr", "logger", "callable"])
def test_echo_logs(kind, capsys):
    """echo_logs writes each invocation's log to stderr, a Logger or a callable."""
    seen = []
    if kind == "logger":
        stream = io.StringIO()
        logger = logging.getLogger("pylambda-echo-test")
        logger.addHandler(logging.StreamHandler(stream))
        logger.setLevel(logging.INFO)
        echo = logger
    elif kind == "callable":
        echo = seen.append
    else:
        echo = True
    with Invoker(echo_logs=echo) as inv:
        r = inv.invoke(Function("echoed", lambda e, c: 1), {})
    if kind == "stderr":
        assert f"START RequestId: {r.request_id}" in capsys.readouterr().err
    elif kind == "logger":
        assert f"START RequestId: {r.request_id}" in stream.getvalue()
    else:
        assert seen == [r.logs]


def test_provisioned_init_lines_are_in_the_log_group(invoker):
    """A provisioned environment's INIT_START/INIT_REPORT appear in its stream."""
    fn = Function("prov-logs", lambda e, c: 1)
    v1 = fn.publish_version()
    invoker.put_provisioned_concurrency_config(v1, 1)
    r = invoker.invoke(v1, {})
    stream = invoker.logs(fn).stream(r.log_stream_name)
    messages = [e.message for e in stream.events()]
    assert messages[0].startswith("INIT_START")
    assert messages[1].startswith("INIT_REPORT Init Duration:")
    assert messages[2].startswith("START RequestId:")
