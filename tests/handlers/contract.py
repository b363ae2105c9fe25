"""Handlers of the environment contract test that tests/handlers/faults.py lacks (test fixtures)."""

import time

STATE = {"inits": 0, "calls": 0}
STATE["inits"] += 1  # runs once per init


def counts(event, context):
    STATE["calls"] += 1
    return {"inits": STATE["inits"], "calls": STATE["calls"]}


def late(event, context):
    """Outlive a 1 s timeout briefly (an inline environment can only notice afterwards)."""
    time.sleep(1.3)
    return "too late"
