"""What Lambda lets you observe: history, logs, metrics, bills, recycling knobs."""

from __future__ import annotations

import re
import threading
import time

import pytest

from pylambda import (
    Bill,
    Function,
    History,
    InvalidParameterValueError,
    InvalidRequestContentError,
    Invoker,
    TooManyRequestsError,
)
from pylambda._billing import PRICE_PER_GB_S, PRICE_PER_REQUEST, PRICE_STORAGE_PER_GB_S, make_bill
from pylambda._history import InvocationRecord


def handler(event, context):
    import os

    if event.get("fail"):
        raise RuntimeError("asked to fail")
    print("handled", event.get("n"))
    return os.getpid()


def test_history_records_every_invocation(invoker):
    """invoker.history has one record per invocation with the REPORT's numbers."""
    fn = Function("hist", handler)
    first = invoker.invoke(fn, {"n": 1})
    second = invoker.invoke(fn, {"n": 2, "fail": True})
    history = invoker.history
    assert isinstance(history, History)
    assert len(history) == 2
    a, b = history
    assert a.request_id == first.request_id
    assert a.cold_start
    assert a.init_duration_ms is not None
    assert b.request_id == second.request_id
    assert not b.cold_start
    assert b.error_type == "RuntimeError"
    assert a.billed_duration_ms == first.billed_duration_ms
    assert a.environment_id == b.environment_id
    assert a.executed_version == "$LATEST"
    assert a.qualifier is None
    assert a.timestamp <= a.end_timestamp <= b.timestamp
    assert len(history.where(cold_start=True)) == 1
    assert "2 invocations, 1 cold, 1 errors" in repr(history)
    assert "<table>" in history._repr_html_()


def test_history_keeps_the_invoked_qualifier(invoker):
    """An alias invocation records the alias as qualifier and the version that ran."""
    fn = Function("histq", handler)
    v1 = fn.publish_version()
    fn.create_alias("live", v1)
    invoker.register(fn)
    invoker.invoke("histq:live", {})
    rec = invoker.history[-1]
    assert rec.qualifier == "live"
    assert rec.executed_version == "1"


def test_log_group_streams_and_filter(invoker):
    """invoker.logs gives the function's group, a stream per environment, and filtering."""
    fn = Function("logged", handler)
    invoker.invoke(fn, {"n": 1})
    invoker.invoke(fn, {"n": 2})
    group = invoker.logs("logged")
    assert group.name == "/aws/lambda/logged"
    assert len(group.streams) == 1
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", group.streams[0].name)
    messages = [e.message for e in group.events()]
    assert messages[0].startswith("INIT_START")
    assert messages[1].startswith("START RequestId:")
    assert [m.split()[0] for m in messages if m.split()[0] in ("START", "END", "REPORT")] == [
        "START", "END", "REPORT", "START", "END", "REPORT",
    ]  # fmt: skip
    assert [e.message for e in group.filter("handled")] == ["handled 1", "handled 2"]
    assert len(group.filter(re.compile(r"^REPORT .*Init Duration"))) == 1
    stamps = [e.timestamp for e in group.events()]
    assert stamps == sorted(stamps)
    assert group.events(start=time.time() + 60) == []


def test_html_representations(invoker):
    """Results and log groups render as HTML tables for notebooks."""
    r = invoker.invoke(Function("html", handler), {"n": "<b>"})
    assert "<table>" in r._repr_html_()
    assert "START RequestId" in r._repr_html_()
    html_logs = invoker.logs("html")._repr_html_()
    assert "<table>" in html_logs
    assert "handled &lt;b&gt;" in html_logs


def test_each_environment_has_its_own_stream(invoker):
    """Concurrent invocations in separate environments log to separate streams."""
    fn = Function("streams", lambda e, c: time.sleep(0.2))
    threads = [threading.Thread(target=invoker.invoke, args=(fn, {})) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(invoker.logs(fn).streams) == len({r.environment_id for r in invoker.history}) >= 2


def test_metrics_statistics(invoker):
    """Invocations, Errors, Duration statistics, ColdStarts from the history."""
    fn = Function("metered", handler)
    for i in range(9):
        invoker.invoke(fn, {"n": i, "fail": i == 4})
    m = invoker.metrics("metered")
    assert m.get("Invocations") == 9.0
    assert m.get("Errors") == 1.0
    assert m.get("ColdStarts") == 1.0
    durations = sorted(r.duration_ms for r in invoker.history)
    assert m.get("Duration", "Maximum") == durations[-1]
    assert m.get("Duration", "Minimum") == durations[0]
    assert m.get("Duration", "p50") == durations[4]
    assert m.get("Duration", "p99") == durations[-1]
    assert m.get("Duration", "Average") == pytest.approx(sum(durations) / 9)
    assert m.get("Duration", "SampleCount") == 9.0
    assert m.get("ConcurrentExecutions") == 1.0
    assert m.get("Invocations", start=time.time() + 60) == 0.0
    assert m.get("Duration", start=time.time() + 60) is None
    with pytest.raises(InvalidParameterValueError):
        m.get("Bogus")
    with pytest.raises(InvalidParameterValueError):
        m.get("Duration", "p101")


def test_metrics_per_version_and_alias(invoker):
    """qualifier= narrows metrics to a version or an alias."""
    fn = Function("metq", handler)
    v1 = fn.publish_version()
    fn.create_alias("live", v1)
    invoker.register(fn)
    invoker.invoke("metq:live", {})
    invoker.invoke("metq:live", {})
    invoker.invoke(fn, {})
    assert invoker.metrics("metq").get("Invocations") == 3.0
    assert invoker.metrics("metq", qualifier="live").get("Invocations") == 2.0
    assert invoker.metrics("metq", qualifier="1").get("Invocations") == 2.0
    assert invoker.metrics("metq", qualifier="$LATEST").get("Invocations") == 1.0


def test_throttles_are_counted(invoker):
    """A throttled request appears in Throttles, not in Invocations."""
    fn = Function("throttled", handler, reserved_concurrency=0)
    with pytest.raises(TooManyRequestsError):
        invoker.invoke(fn, {})
    m = invoker.metrics(fn)
    assert m.get("Throttles") == 1.0
    assert m.get("Invocations") == 0.0
    assert invoker.throttles[0].reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def _record(memory, billed_ms, arch="x86_64", storage=512, version="1"):
    return InvocationRecord(
        request_id="r", function_name="f", executed_version=version, qualifier=None, cold_start=False,
        duration_ms=billed_ms, billed_duration_ms=billed_ms, init_duration_ms=None, memory_size_mb=memory,
        max_memory_used_mb=1, error_type=None, environment_id="e", log_stream_name="s", architecture=arch,
        ephemeral_storage_mb=storage, timestamp=0.0, end_timestamp=0.0, concurrent_executions=1,
        trace_header="Root=1-0-0", segments=None, result=None,
    )  # fmt: skip


def test_bill_arithmetic_by_hand():
    """GB-s × price + requests (+ /tmp above 512 MB), checked against hand-computed values."""
    records = [_record(1024, 1000)] * 3 + [_record(2048, 500, arch="arm64", storage=1536)] * 2
    bill = make_bill(records)
    x86 = next(r for r in bill.rows if r.architecture == "x86_64")
    arm = next(r for r in bill.rows if r.architecture == "arm64")
    # x86: 3 × (1 GB × 1 s) = 3 GB-s; arm: 2 × (2 GB × 0.5 s) = 2 GB-s, /tmp 2 × (1 GB × 0.5 s) = 1 GB-s.
    assert x86.gb_seconds == pytest.approx(3.0)
    assert arm.gb_seconds == pytest.approx(2.0)
    assert x86.cost_usd == pytest.approx(3 * 0.0000166667 + 3 * 0.0000002)
    assert arm.cost_usd == pytest.approx(2 * 0.0000133334 + 2 * 0.0000002 + 1 * 0.0000000309)
    assert bill.total_usd == pytest.approx(x86.cost_usd + arm.cost_usd)
    assert sum(r.cost_usd for r in records) == pytest.approx(bill.total_usd)
    assert records[0].cost_usd == pytest.approx(0.0000166667 + 0.0000002)
    assert PRICE_PER_GB_S == {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    assert pytest.approx(2e-7) == PRICE_PER_REQUEST
    assert PRICE_STORAGE_PER_GB_S == 0.0000000309


def test_free_tier_covers_small_workloads():
    """With the free tier, a small workload costs nothing."""
    assert make_bill([_record(128, 100)] * 10, free_tier=True).total_usd == 0.0


def test_bill_from_real_invocations(invoker):
    """invoker.bill() prices what ran, per function, version and architecture."""
    fn = Function("billed", handler, memory_size=256, architecture="arm64")
    for _ in range(3):
        invoker.invoke(fn, {})
    bill = invoker.bill()
    assert isinstance(bill, Bill)
    (row,) = bill.rows
    assert (row.function_name, row.version, row.architecture, row.requests) == ("billed", "$LATEST", "arm64", 3)
    expected = sum(r.billed_duration_ms for r in invoker.history) / 1000 * 0.25
    assert row.gb_seconds == pytest.approx(expected)
    assert row.cost_usd == pytest.approx(expected * 0.0000133334 + 3 * 0.0000002)
    assert "<table>" in bill._repr_html_()
    assert "Bill 1 rows" in repr(bill)


@pytest.mark.parametrize("where", ["invoker", "function"])
def test_stateless_gives_every_invocation_a_fresh_environment(where):
    """stateless=True: every invocation is a cold start in a new environment."""
    fn = Function("stateless", handler, stateless=where == "function")
    with Invoker(stateless=where == "invoker") as inv:
        results = [inv.invoke(fn, {}) for _ in range(3)]
        assert all(r.cold_start for r in results)
        assert len({r.environment_id for r in results}) == 3
        assert inv.environments() == []


def test_max_invocations_per_environment_recycles():
    """An environment is retired after N invocations."""
    with Invoker(max_invocations_per_environment=2) as inv:
        fn = Function("recycled", handler)
        ids = [inv.invoke(fn, {}).environment_id for _ in range(5)]
    assert ids[0] == ids[1] != ids[2] == ids[3] != ids[4]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_invocations_per_environment": 0}, {"spin_us": -1}, {"concurrency_limit": 0}, {"idle_ttl": 0}],
)
def test_invoker_knobs_are_validated(kwargs):
    """Invoker options outside their range raise InvalidParameterValueError."""
    with pytest.raises(InvalidParameterValueError):
        Invoker(**kwargs)


def test_map_returns_results_in_order_with_a_summary(invoker):
    """invoker.map fans out, keeps the event order, and summarises the run."""
    fn = Function("mapped", lambda event, context: event["i"] * 10, memory_size=256)
    result = invoker.map(fn, [{"i": i} for i in range(20)], concurrency=4, progress=False)
    assert result.payloads == [i * 10 for i in range(20)]
    summary = result.summary()
    assert summary["count"] == 20
    assert summary["errors"] == 0
    assert 1 <= summary["cold_starts"] <= 4
    assert summary["p50_ms"] <= summary["p99_ms"]
    expected = sum(r.memory_size_mb / 1024 * r.billed_duration_ms / 1000 * 0.0000166667 + 2e-7 for r in result)
    assert summary["cost_usd"] == pytest.approx(expected)
    assert "20 results, 0 errors" in repr(result)


def test_map_reports_errors_and_retries_throttles():
    """Function errors are results; throttled calls are retried until they run."""
    with Invoker() as inv:
        fn = Function("mapped-throttled", lambda event, context: 1 / event["d"], reserved_concurrency=1)
        result = inv.map(fn, [{"d": 1}, {"d": 0}, {"d": 2}], concurrency=3, progress=False)
    assert [r.error_type for r in result] == [None, "ZeroDivisionError", None]
    assert len(result.errors) == 1


def test_map_tries_every_event_then_raises_the_first_error_in_order(invoker):
    """An event that cannot be sent does not stop the others; the first such error is raised."""
    fn = Function("mapped-bad-events", lambda event, context: event)
    events = [{"i": 0}, {"bad": {1, 2}}, {"i": 2}, {"bad": object()}, {"i": 4}]
    with pytest.raises(InvalidRequestContentError, match="set"):
        invoker.map(fn, events, concurrency=2, progress=False)
    seen = sorted(r.result.payload["i"] for r in invoker.history if r.function_name == fn.name)
    assert seen == [0, 2, 4]


def _naps(event, context):
    import time

    time.sleep(0.01)
    return event


@pytest.mark.parametrize(("handler", "more_than_two"), [(lambda event, context: event, False), (_naps, True)])
def test_map_default_concurrency_grows_only_for_slow_handlers(invoker, handler, more_than_two):
    """By default two threads serve short handlers; slow ones get more (up to 32)."""
    fn = Function(f"mapped-growth-{more_than_two}", handler)
    result = invoker.map(fn, [{"i": i} for i in range(120)], progress=False)
    assert result.payloads == [{"i": i} for i in range(120)]
    assert (len({r.environment_id for r in result}) > 2) is more_than_two
