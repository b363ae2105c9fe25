"""The audit-streams example: DynamoDB and Kinesis stream mappings and a schedule, driven through the template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pylambda.sam
from pylambda import Invoker, ManualClock

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


@pytest.fixture
def clocked():
    """The app attached to an Invoker that shares its ManualClock (schedules fire when the clock advances)."""
    clock = ManualClock()
    with Invoker(clock=clock) as invoker:
        yield pylambda.sam.load(TEMPLATE, clock=clock).attach(invoker), invoker, clock


def _payloads(invoker, name):
    return [h.result.payload for h in invoker.history if h.function_name == name]


def test_mappings_follow_the_template(clocked):
    """BatchSize comes from Mappings by Environment; each event became a mapping."""
    app, invoker, _ = clocked
    sizes = sorted(getattr(m, "batch_size", 0) for m in invoker.event_source_mappings)
    assert sizes == [0, 10, 50]  # the schedule has no batch
    assert app.functions["AuditFunction"].config.log_format == "JSON"


def test_table_changes_reach_the_audit_function(clocked):
    """Writing to the table produces INSERT and MODIFY records for AuditFunction."""
    app, invoker, _ = clocked
    table = app.resources["AccountsTable"]
    table.put({"accountId": "a-1", "plan": "free"})
    table.put({"accountId": "a-1", "plan": "pro"})
    assert invoker.wait_for_idle(60)
    changes = [c for p in _payloads(invoker, "AuditFunction") for c in p["changes"]]
    assert changes == [{"event": "INSERT", "account": "a-1"}, {"event": "MODIFY", "account": "a-1"}]


def test_clicks_and_schedule(clocked):
    """Kinesis records reach ClicksFunction; an hour on the clock fires the staging schedule once."""
    app, invoker, clock = clocked
    stream = app.resources["ClickStream"]
    for page in ("/home", "/cart", "/home"):
        stream.put(json.dumps({"page": page}), partition_key="user-1")
    clock.advance(3600)
    assert invoker.wait_for_idle(60)
    assert sum(p["clicks"] for p in _payloads(invoker, "ClicksFunction")) == 3
    (nightly,) = _payloads(invoker, "NightlyFunction")
    assert nightly["rule"] == "NightlyFunctionNightly"
