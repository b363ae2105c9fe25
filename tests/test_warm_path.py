"""The warm route (``invoke(function_or_name, event)`` on a warm environment) against the general path.

The warm route is a flat copy of the general path's success case, so it must
produce the same results, logs and records, and give way to the general path
whenever the target changes or anything unusual happens.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs
import pytest

from pylambda import InvocationResult, TooManyRequestsError
from pylambda._result import blank_result, result_template

VARYING = {"request_id", "duration_ms", "billed_duration_ms", "log_parts", "raw_payload"}


def _normalised_logs(result: InvocationResult) -> str:
    text = result.logs.replace(result.request_id, "<id>")
    text = re.sub(r"\d+\.\d\d ms", "<ms>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)
    return re.sub(r"Billed Duration: \d+ ms", "Billed Duration: <ms>", text)


@pytest.mark.parametrize(
    ("handler", "event"),
    [
        ("faults.echo", {"a": [1, 2.5, "x"], "b": None}),
        ("faults.raises", {}),
        ("faults.rawbytes", None),
        ("faults.nonjson", {}),
        ("logs_demo.handler", {"n": 1}),
    ],
)
def test_routed_and_general_results_agree(invoker, make_fn, handler, event):
    """Function target (warm route) and ``name:$LATEST`` (general path) give the same result."""
    fn = make_fn(handler)
    invoker.invoke(fn, event)  # cold, general path; makes the route
    routed = invoker.invoke(fn, event)
    general = invoker.invoke(f"{fn.name}:$LATEST", event)
    for field in attrs.fields(InvocationResult):
        if field.name not in VARYING:
            assert getattr(routed, field.name) == getattr(general, field.name), field.name
    assert _normalised_logs(routed) == _normalised_logs(general)
    assert routed.raw_payload.replace(routed.request_id.encode(), b"<id>") == general.raw_payload.replace(
        general.request_id.encode(), b"<id>"
    )
    records = list(invoker.history)[-2:]
    assert [r.request_id for r in records] == [routed.request_id, general.request_id]
    assert records[0].qualifier is None
    assert records[1].qualifier == "$LATEST"


def test_name_target_takes_the_route_and_agrees(invoker, make_fn):
    """A plain name routes too; its results match the Function target's."""
    fn = make_fn("faults.echo")
    by_fn = invoker.invoke(fn, {"x": 1})
    by_name = [invoker.invoke(fn.name, {"x": 1}) for _ in range(3)]
    assert all(r.payload == {"x": 1} and r.executed_version == "$LATEST" for r in by_name)
    assert {r.environment_id for r in by_name} == {by_fn.environment_id}


def test_blank_result_equals_init():
    """The warm path's result construction gives what the frozen __init__ gives."""
    template = result_template(status_code=200, executed_version="$LATEST", function_name="f", memory_size_mb=128)
    fields = {"raw_payload": b'{"a": 1}', "request_id": "r", "duration_ms": 1.25, "billed_duration_ms": 2}
    result, state = blank_result(template)
    state.update(fields)
    assert result == InvocationResult(**{**template, **fields})
    assert result.payload == {"a": 1}
    assert attrs.evolve(result, request_id="s").request_id == "s"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.request_id = "t"
    with pytest.raises(TypeError, match="not InvocationResult fields"):
        result_template(bogus=1)


@pytest.mark.parametrize("by_name", [False, True])
def test_route_follows_configuration_updates(invoker, make_fn, by_name):
    """An update makes a new $LATEST: the next call uses it (cold), not the old route."""
    fn = make_fn("faults.echo")
    target = fn.name if by_name else fn
    invoker.invoke(fn)
    assert invoker.invoke(target).memory_size_mb == 128
    fn.update_configuration(memory_size=256)
    after = invoker.invoke(target)
    assert (after.memory_size_mb, after.cold_start) == (256, True)
    assert invoker.invoke(target).cold_start is False


def test_routed_invocations_are_throttled(invoker, make_fn):
    """Reserved concurrency set to 0 after the route exists throttles, and is recorded."""
    fn = make_fn("faults.echo")
    invoker.invoke(fn)
    invoker.invoke(fn)
    fn.update_configuration(reserved_concurrency=0)
    with pytest.raises(TooManyRequestsError) as err:
        invoker.invoke(fn)
    assert err.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert invoker.throttles[-1].function_name == fn.name
    fn.update_configuration(reserved_concurrency=None)
    assert invoker.invoke(fn).ok


@pytest.mark.parametrize(
    ("options", "fn_options", "environments"),
    [
        ({"max_invocations_per_environment": 2}, {}, 3),
        ({"stateless": True}, {}, 5),
        ({}, {"stateless": True}, 5),
        ({}, {}, 1),
    ],
)
def test_routed_invocations_recycle_environments(make_fn, options, fn_options, environments):
    """Recycling knobs apply on the warm route as on the general path."""
    from pylambda import Invoker

    fn = make_fn("faults.counter", **fn_options)
    with Invoker(**options) as inv:
        results = [inv.invoke(fn) for _ in range(5)]
    assert len({r.environment_id for r in results}) == environments


def test_ids_drawn_ahead_carry_the_time_of_the_request_that_uses_them(invoker, make_fn, monkeypatch):
    """The trace id's time part is the invocation's start, even for ids drawn during an earlier one."""
    fn = make_fn("faults.echo")
    invoker.invoke(fn)
    invoker.invoke(fn)  # warm: draws the next invocation's ids while it runs
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # an hour later
    invoker.invoke(fn)
    record = list(invoker.history)[-1]
    root = re.match(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$", record.trace_header)
    assert root is not None
    assert int(root.group(1), 16) == int(record.timestamp)
    assert record.timestamp > real() + 3000


def test_request_ids_stay_unique_across_threads(invoker, make_fn):
    """Ids drawn ahead (while a handler runs) are never handed out twice."""
    fn = make_fn("faults.echo")
    invoker.invoke(fn)
    ids: list[str] = []

    def work() -> None:
        for _ in range(300):
            ids.append(invoker.invoke(fn).request_id)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 900
    assert len(set(ids)) == 900


@pytest.mark.parametrize(
    ("cores", "spin_us", "concurrency", "caller_spins", "environment_spins"),
    [
        (2, 100, 1, True, True),  # sequential: both sides spin
        (2, 100, 2, False, True),  # concurrent, within the cores: only environments (yielding)
        (2, 100, 3, False, False),  # more invocations than cores: nobody
        (8, 100, 8, False, True),
        (1, 100, 1, False, False),  # one CPU: a spinning caller would hold the CPU its environment needs
        (2, 0, 1, False, False),  # turned off
    ],
)
def test_spin_policy(monkeypatch, cores, spin_us, concurrency, caller_spins, environment_spins):
    """The process backend's waiting policy: who spins, and when pipe I/O keeps the GIL."""
    import pylambda._environment.process as process
    from pylambda._runtime.protocol import FLAG_SPIN

    monkeypatch.setattr(process, "_CORES", cores)
    spin_s, flags, hold = process.waiting(spin_us / 1e6, concurrency, concurrency > 1)
    assert (spin_s > 0, bool(flags & FLAG_SPIN)) == (caller_spins, environment_spins)
    assert hold == (concurrency > 1)  # pipe I/O keeps the GIL only when other callers want it
    spin_s, flags, hold = process.waiting(spin_us / 1e6, concurrency, True)  # concurrency was seen just now
    assert spin_s == 0  # a briefly lone caller between concurrent calls does not spin
    assert bool(flags & FLAG_SPIN) == environment_spins
    assert hold


def test_the_essential_caller_model_still_speaks_the_wire():
    """benchmarks/essential.py reaches into private modules; it must keep running as they change.

    Its model caller drives a real environment over the wire, so a renamed
    internal or a changed frame layout fails here (a timing is printed, never
    checked).
    """
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "essential.py"), "--quick"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    row = re.search(r"^\| 1 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out.stdout, re.M)
    assert row is not None, out.stdout
    assert "essential" in out.stdout.rsplit("median:", 1)[1]
