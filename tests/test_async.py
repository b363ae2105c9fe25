"""Asynchronous invocation: 202/204, retries, event age, throttles, destinations, DLQ, chaos."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time

import pytest

from pylambda import (
    AsyncOutcome,
    Function,
    InvalidParameterValueError,
    Invoker,
    ManualClock,
    RequestTooLargeError,
)


def ok(event, context):
    return {"echo": event, "id": context.aws_request_id}


def always_fails(event, context):
    raise ValueError(f"bad {event.get('n')}")


def test_event_returns_202_at_once_and_runs_in_the_background(vinvoker):
    """Event: 202, empty payload, a request id; the invocation happens afterwards."""
    seen = []
    fn = Function("bg", ok)
    vinvoker.put_function_event_invoke_config(fn, on_success=seen.append)
    r = vinvoker.invoke(fn, {"x": 1}, invocation_type="Event")
    assert r.status_code == 202
    assert r.raw_payload == b""
    assert re.fullmatch(r"[0-9a-f-]{36}", r.request_id)
    assert r.executed_version is None
    assert vinvoker.wait_for_idle(30)
    (outcome,) = vinvoker.async_outcomes
    assert isinstance(outcome, AsyncOutcome)
    assert outcome.condition == "Success"
    assert outcome.attempts == 1
    assert outcome.delivered_to == ("on_success",)
    assert seen[0]["responsePayload"] == {"echo": {"x": 1}, "id": r.request_id}
    assert vinvoker.history[-1].request_id == r.request_id


def test_dry_run_validates_and_runs_nothing(vinvoker):
    """DryRun: 204, nothing runs, but bad targets and payloads still fail."""
    fn = Function("dry", ok)
    r = vinvoker.invoke(fn, {"x": 1}, invocation_type="DryRun")
    assert r.status_code == 204
    assert r.raw_payload == b""
    assert vinvoker.environments() == []
    assert len(vinvoker.history) == 0
    with pytest.raises(RequestTooLargeError):
        vinvoker.invoke(fn, "x" * 1_048_577, invocation_type="DryRun")


def test_async_payload_limit_is_1_mb(vinvoker):
    """Event requests over 1 MB are refused with Lambda's message."""
    with pytest.raises(RequestTooLargeError, match=r"byte payload is too large for the Event invocation type"):
        vinvoker.invoke(Function("big", ok), "x" * 1_048_576, invocation_type="Event")


def test_invocation_type_is_validated(vinvoker):
    """An unknown invocation type is an InvalidParameterValueError."""
    with pytest.raises(InvalidParameterValueError, match="invocation_type"):
        vinvoker.invoke(Function("it", ok), {}, invocation_type="Later")


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_retry_counts_reuse_the_request_id(vinvoker, clock, retries):
    """A failing event is tried 1 + retries times, 60 s then 120 s apart, with one request id."""
    failures = []
    fn = Function(f"retry{retries}", always_fails)
    vinvoker.put_function_event_invoke_config(fn, maximum_retry_attempts=retries, on_failure=failures.append)
    t0 = clock.now()
    r = vinvoker.invoke(fn, {"n": 1}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    attempts = [h for h in vinvoker.history if h.request_id == r.request_id]
    assert len(attempts) == 1 + retries
    gaps = [round(b.timestamp - a.timestamp) for a, b in itertools.pairwise(attempts)]
    assert all(g < 5 for g in gaps)  # real time: the manual clock skipped the waits
    assert clock.now() - t0 == [0, 60, 180][retries]
    (outcome,) = vinvoker.async_outcomes
    assert outcome.condition == "RetriesExhausted"
    assert outcome.attempts == 1 + retries
    record = failures[0]
    assert record["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert record["requestContext"]["requestId"] == r.request_id


def test_retry_then_success(vinvoker, handlers_dir):
    """An event that fails once then succeeds ends in Success after 2 attempts."""
    fn = Function("flaky", "faults.fails_until", code=str(handlers_dir))
    done = []
    vinvoker.put_function_event_invoke_config(fn, on_success=done.append)
    vinvoker.invoke(fn, {"succeed_on": 2}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    (outcome,) = vinvoker.async_outcomes
    assert (outcome.condition, outcome.attempts) == ("Success", 2)
    assert done[0]["responsePayload"] == 2


def test_success_and_failure_records_are_exact(vinvoker, clock):
    """Destination records have Lambda's keys, order and values."""
    got = {}
    good = Function("rec-ok", ok)
    bad = Function("rec-bad", always_fails)
    vinvoker.put_function_event_invoke_config(good, on_success=lambda r: got.setdefault("ok", r))
    vinvoker.put_function_event_invoke_config(
        bad, maximum_retry_attempts=0, on_failure=lambda r: got.setdefault("bad", r)
    )
    a = vinvoker.invoke(good, {"k": "v"}, invocation_type="Event")
    b = vinvoker.invoke(bad, {"n": 5}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    success = got["ok"]
    assert list(success) == [
        "version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload",
    ]  # fmt: skip
    assert success["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", success["timestamp"])
    assert success["requestContext"] == {
        "requestId": a.request_id,
        "functionArn": f"{good.arn}:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert success["requestPayload"] == {"k": "v"}
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    failure = got["bad"]
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["responsePayload"]["errorType"] == "ValueError"
    assert failure["responsePayload"]["errorMessage"] == "bad 5"
    assert failure["responsePayload"]["requestId"] == b.request_id
    json.dumps(failure)  # a record is plain JSON


def test_destination_may_be_another_function(vinvoker):
    """A function destination is invoked asynchronously with the record as its event."""
    sink = Function("sink", lambda event, context: event["requestContext"]["condition"])
    fn = Function("src", ok)
    vinvoker.put_function_event_invoke_config(fn, on_success=sink)
    vinvoker.invoke(fn, {}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    sink_runs = [h for h in vinvoker.history if h.function_name == "sink"]
    assert len(sink_runs) == 1
    assert sink_runs[0].result.payload == "Success"


def test_a_function_cannot_be_its_own_destination(vinvoker):
    """Self-destinations are refused with Lambda's message."""
    fn = Function("selfish", ok)
    with pytest.raises(InvalidParameterValueError, match="destination for itself"):
        vinvoker.put_function_event_invoke_config(fn, on_failure=fn)
    with pytest.raises(InvalidParameterValueError, match="destination for itself"):
        vinvoker.put_function_event_invoke_config(fn, on_success="selfish")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"maximum_retry_attempts": 3}, "0 to 2"),
        ({"maximum_retry_attempts": -1}, "0 to 2"),
        ({"maximum_event_age_in_seconds": 59}, "60 to 21600"),
        ({"maximum_event_age_in_seconds": 21601}, "60 to 21600"),
        # accepted before, and only failed (logged) when an event was delivered
        ({"on_success": 42}, "on_success must be a function .* or a callable"),
        ({"on_failure": {"arn": "x"}}, "on_failure must be a function .* or a callable"),
    ],
)
def test_event_invoke_config_ranges(vinvoker, kwargs, match):
    """Retry attempts 0..2, event age 60..21600 and the destinations' kinds are enforced."""
    with pytest.raises(InvalidParameterValueError, match=match):
        vinvoker.put_function_event_invoke_config(Function("cfg", ok), **kwargs)


def test_dead_letter_target_gets_the_event_and_attributes(vinvoker):
    """The function's dead-letter target gets the original event with Lambda's attributes."""
    dead = []
    fn = Function("dlq", always_fails, dead_letter_target=lambda body, attrs: dead.append((body, attrs)))
    vinvoker.put_function_event_invoke_config(fn, maximum_retry_attempts=1)
    r = vinvoker.invoke(fn, {"n": 9}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    ((body, attrs),) = dead
    assert body == {"n": 9}
    assert attrs == {
        "RequestID": {"DataType": "String", "StringValue": r.request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "bad 9"},
    }
    assert vinvoker.async_outcomes[0].delivered_to == ("dead_letter",)


def test_event_age_expires_between_attempts(vinvoker, clock):
    """With a 60 s maximum age, the retry due at +60 s is too old: EventAgeExceeded."""
    failures = []
    fn = Function("aged", always_fails)
    vinvoker.put_function_event_invoke_config(fn, maximum_event_age_in_seconds=60, on_failure=failures.append)
    vinvoker.invoke(fn, {"n": 1}, invocation_type="Event")
    clock_before = clock.now()
    assert vinvoker.wait_for_idle(30)
    (outcome,) = vinvoker.async_outcomes
    # The first retry is due exactly at +60 s (not older than 60): it runs; the second, at +180 s, is too old.
    assert outcome.condition == "EventAgeExceeded"
    assert outcome.attempts == 2
    assert failures[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert "responseContext" in failures[0]
    assert clock.now() - clock_before == 180


@contextlib.contextmanager
def _only_slot_taken(inv, seconds):
    """Occupy the Invoker's only concurrency slot for ``seconds`` with a sleeping invocation."""
    blocker = Function("blocker", lambda e, c: time.sleep(e["s"]))
    t = threading.Thread(target=inv.invoke, args=(blocker, {"s": seconds}))
    t.start()
    while not inv.environments():
        time.sleep(0.01)
    try:
        yield
    finally:
        t.join(10)


def _queue_until_throttled(inv, fn):
    """Send an Event and wait until its first attempt has been throttled."""
    inv.invoke(fn, {}, invocation_type="Event")
    deadline = time.monotonic() + 10
    while not any(t.function_name == fn.name for t in inv.throttles) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_event_age_expires_before_any_attempt(clock):
    """An event that waited too long (throttled) ends without any attempt."""
    failures = []
    with Invoker(clock=clock, concurrency_limit=1) as inv:
        fn = Function("starved", ok)
        inv.put_function_event_invoke_config(fn, maximum_event_age_in_seconds=60, on_failure=failures.append)
        with _only_slot_taken(inv, 1.0):
            _queue_until_throttled(inv, fn)
            clock.advance(61)  # the throttled event's backoff wakes it up too old
        assert inv.wait_for_idle(30)
    (outcome,) = [o for o in inv.async_outcomes if o.function_name == "starved"]
    assert outcome.condition == "EventAgeExceeded"
    assert outcome.attempts == 0
    assert "responseContext" not in failures[0]


def test_throttled_events_go_back_to_the_queue(clock):
    """A throttled event is retried with backoff and does not use up attempts."""
    with Invoker(clock=clock, concurrency_limit=1) as inv:
        fn = Function("patient", ok)
        inv.put_function_event_invoke_config(fn, maximum_retry_attempts=0)
        with _only_slot_taken(inv, 0.5):
            _queue_until_throttled(inv, fn)
        assert inv.wait_for_idle(30)
    (outcome,) = [o for o in inv.async_outcomes if o.function_name == "patient"]
    assert outcome.condition == "Success"
    assert outcome.attempts == 1
    assert any(th.function_name == "patient" for th in inv.throttles)


def test_zero_reserved_concurrency(vinvoker):
    """Reserved concurrency 0: straight to failure, no attempt, no response context."""
    failures = []
    fn = Function("zero", ok, reserved_concurrency=0)
    vinvoker.put_function_event_invoke_config(fn, on_failure=failures.append)
    r = vinvoker.invoke(fn, {"a": 1}, invocation_type="Event")
    assert r.status_code == 202
    assert vinvoker.wait_for_idle(30)
    (record,) = failures
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert "responsePayload" not in record
    assert len(vinvoker.history) == 0


def test_no_destination_drops_with_a_logged_reason(vinvoker, caplog):
    """Without any target, a failed event is dropped and the reason is logged."""
    fn = Function("dropped", always_fails)
    vinvoker.put_function_event_invoke_config(fn, maximum_retry_attempts=0)
    vinvoker.invoke(fn, {}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    assert vinvoker.async_outcomes[0].delivered_to == ()
    assert "dropped" in caplog.text
    assert "RetriesExhausted" in caplog.text


def test_alias_config_overrides_function_config(vinvoker):
    """A config on an alias applies to events invoked through it."""
    fn = Function("layered", always_fails)
    v1 = fn.publish_version()
    fn.create_alias("live", v1)
    vinvoker.put_function_event_invoke_config(fn, maximum_retry_attempts=2)
    vinvoker.put_function_event_invoke_config("layered:live", maximum_retry_attempts=0)
    vinvoker.invoke("layered:live", {}, invocation_type="Event")
    assert vinvoker.wait_for_idle(30)
    assert vinvoker.async_outcomes[0].attempts == 1
    assert vinvoker.get_function_event_invoke_config("layered:live").maximum_retry_attempts == 0


def chaos(event, context):
    """Random failures of every kind, decided by the event."""
    import ctypes
    import os
    import time

    kind = event["kind"]
    if kind == "raise":
        raise RuntimeError("chaos")
    if kind == "exit":
        os._exit(1)
    if kind == "segv":
        ctypes.string_at(0)
    if kind == "timeout":
        time.sleep(5)
    if kind == "oom":
        b = bytearray(300 * 1024 * 1024)
        for i in range(0, len(b), 4096):
            b[i] = 1
    return "fine"


def test_chaos_accounting(clock):
    """A few hundred events with random crashes: each ends in exactly one outcome."""
    import random

    rng = random.Random(42)
    kinds = ["ok"] * 6 + ["raise", "exit", "segv", "oom"] + ["timeout"] * 1
    events = [{"i": i, "kind": rng.choice(kinds)} for i in range(200)]
    successes, failures = [], []
    with Invoker(clock=clock, async_workers=8) as inv:
        fn = Function("chaos", chaos, timeout=1)
        inv.put_function_event_invoke_config(fn, maximum_retry_attempts=1, on_success=successes.append,
                                             on_failure=failures.append)  # fmt: skip
        ids = [inv.invoke(fn, e, invocation_type="Event").request_id for e in events]
        assert inv.wait_for_idle(240)
        outcomes = inv.async_outcomes
    assert sorted(o.request_id for o in outcomes) == sorted(ids)
    by_id = {o.request_id: o for o in outcomes}
    for event, rid in zip(events, ids, strict=False):
        o = by_id[rid]
        if event["kind"] == "ok":
            assert (o.condition, o.attempts) == ("Success", 1)
        else:
            assert (o.condition, o.attempts) == ("RetriesExhausted", 2)
    assert len(successes) + len(failures) == 200


def test_close_with_a_non_empty_queue_discards_and_reports(clock):
    """close() does not hang on queued retries: they end as Discarded outcomes."""
    inv = Invoker(clock=clock)
    fn = Function("pending", always_fails)
    inv.put_function_event_invoke_config(fn, maximum_retry_attempts=2)
    for i in range(5):
        inv.invoke(fn, {"n": i}, invocation_type="Event")
    deadline = time.monotonic() + 30
    while len([h for h in inv.history if h.function_name == "pending"]) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)  # every first attempt ran; the retries wait 60 s on the manual clock
    t0 = time.monotonic()
    inv.close()
    assert time.monotonic() - t0 < 10
    conditions = [o.condition for o in inv.async_outcomes]
    assert conditions == ["Discarded"] * 5


def test_the_docs_example_runs():
    """examples/async_retries.py (the docs' example) runs and reports every outcome."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "examples" / "async_retries.py")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" Success           attempts=1 -> on_success\n") == 2
    assert out.stdout.count(" RetriesExhausted  attempts=3 -> on_failure, dead_letter\n") == 2
    assert "on_success got 2 records, on_failure 2, dead letters 2" in out.stdout
    assert "virtual time spent: 180 seconds" in out.stdout


def test_advancing_the_clock_runs_due_work_first(handlers_dir):
    """A queued event is attempted when it was sent, even if the clock then jumps past its max age."""
    clock = ManualClock(start=1_700_000_000.0)
    with Invoker(clock=clock) as inv:
        fn = Function("prompt", "faults.fails_until", code=str(handlers_dir))
        inv.put_function_event_invoke_config(fn, maximum_event_age_in_seconds=120)
        inv.invoke(fn, {"succeed_on": 2}, invocation_type="Event")
        clock.advance(24 * 3600)  # the first attempt runs at t0, the retry at t0+60, both inside the jump
        assert inv.wait_for_idle(30)
        (outcome,) = inv.async_outcomes
        attempts = [h.timestamp for h in inv.history]
    assert (outcome.condition, outcome.attempts) == ("Success", 2)
    assert len(attempts) == 2


def test_event_invoke_config_targets_agree(vinvoker):
    """A config put through a partial ARN is the one read through name:alias or the Alias."""
    fn = Function("cfg-forms", ok)
    v1 = fn.publish_version()
    live = fn.create_alias("live", v1)
    vinvoker.register(fn)
    vinvoker.put_function_event_invoke_config("123456789012:function:cfg-forms:live", maximum_retry_attempts=1)
    assert vinvoker.get_function_event_invoke_config("cfg-forms:live").maximum_retry_attempts == 1
    assert vinvoker.get_function_event_invoke_config(live).maximum_retry_attempts == 1
    assert vinvoker.get_function_event_invoke_config(f"{fn.arn}:live").maximum_retry_attempts == 1


def naps(event, context):
    time.sleep(0.02)
    return event


@pytest.mark.parametrize(("handler", "many"), [(ok, False), (naps, True)])
def test_workers_grow_only_for_slow_handlers(handler, many):
    """A burst of short events is served by two workers; attempts that wait on handlers get more."""
    with Invoker(async_workers=6) as inv:
        fn = Function("burst", handler)
        for n in range(40 if many else 400):
            inv.invoke(fn, {"n": n}, invocation_type="Event")
        assert inv.wait_for_idle(60)
        assert {o.condition for o in inv.async_outcomes} == {"Success"}
        environments = {r.environment_id for r in inv.history}
    assert (len(environments) > 2) is many


def test_outcome_record_is_built_when_read(vinvoker):
    """Without a destination the record is built lazily, with the values of the moment it ended."""
    fn = Function("lazy", ok)
    r = vinvoker.invoke(fn, {"k": 1}, invocation_type="Event")
    assert vinvoker.wait_for_idle(10)
    outcome = vinvoker.async_outcomes[0]
    vinvoker.clock.advance(3600)
    record = outcome.record
    assert record is outcome.record
    assert record["requestPayload"] == {"k": 1}
    assert record["requestContext"]["requestId"] == r.request_id
    assert record["timestamp"] == "2023-11-14T22:13:20.000Z"  # not an hour later
