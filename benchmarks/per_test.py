"""Per-test overhead of the pytest fixtures: a test suite at direct-call speed?

Run:  python benchmarks/per_test.py [--tests 100] [--quick]

Two pytest runs (subprocesses, on a generated project), each interleaving
two kinds of test so the machine's drift hits both alike:

1. ``direct``: calls the handler function itself (what a suite without a
   local Lambda does), and ``fixture``: ``lambda_invoker`` +
   ``lambda_function("app.handler")`` and one cold invoke of the same
   trivial handler (setup, the call, teardown with its leak check);
2. ``direct`` again, and ``fixture, a zygote per test``: the same, after
   stopping the shared zygote, so each test starts one as every Invoker
   did before the zygote was shared (the figure the issue measured, ~57 ms).

The zygote-per-test kind has a run of its own: interleaved with the
fixture tests it would make each of them start on a zygote started a
millisecond earlier, still importing and making its first spare, which
is no suite's steady state.  Each test's time is setup + call + teardown
as pytest reports them.  The target (design.md): the fixture's p50 at
most 5 ms over the direct call's (of the same run).

Also printed: the machine's speed of the moment (a pure-Python loop,
before and after the runs: this VM's speed moves by ~1.7 x with its
host's load, and every figure here with it), and the target as a ratio
in the run, as design.md measures its targets: the zygote-per-test
overhead over the fixture's, against the 57 / 5 = 11.4 x the target was
set at.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = """
def handler(event, context):
    return {"ok": True, "id": event.get("id")}
"""

CONFTEST = """
import json, os
import pytest

TIMES = {}

def pytest_runtest_logreport(report):
    TIMES.setdefault(report.nodeid, 0.0)
    TIMES[report.nodeid] += report.duration

def pytest_sessionfinish(session):
    with open(os.environ["PER_TEST_OUT"], "w") as f:
        json.dump(TIMES, f)

@pytest.fixture
def restart_zygote():
    from pylambda._environment.shared import stop_shared_zygotes
    stop_shared_zygotes()
    yield
"""

DIRECT = """
def test_direct_{i}():
    assert app.handler({{"id": {i}}}, None) == {{"ok": True, "id": {i}}}
"""

KIND_TESTS = {
    "fixture": """
def test_fixture_{i}(lambda_invoker, lambda_function):
    fn = lambda_function("app.handler")
    assert lambda_invoker.invoke(fn, {{"id": {i}}}).payload == {{"ok": True, "id": {i}}}
""",
    "restart": """
def test_restart_{i}(restart_zygote, lambda_invoker, lambda_function):
    fn = lambda_function("app.handler")
    assert lambda_invoker.invoke(fn, {{"id": {i}}}).payload == {{"ok": True, "id": {i}}}
""",
}

KINDS = {
    "direct": "direct call",
    "fixture": "lambda_invoker + one cold invoke",
    "restart": "the same, a zygote per test",
}


def run(tests: int, kind: str) -> dict[str, list[float]]:
    """Run a generated suite of direct tests interleaved with ``kind``; per-test milliseconds by kind."""
    with tempfile.TemporaryDirectory(prefix="pylambda-per-test-") as tmp:
        Path(tmp, "app.py").write_text(APP)
        Path(tmp, "conftest.py").write_text(CONFTEST)
        body = "".join(DIRECT.format(i=i) + KIND_TESTS[kind].format(i=i) for i in range(tests))
        Path(tmp, "test_suite.py").write_text("import app\n" + body)
        out = Path(tmp, "times.json")
        env = dict(os.environ, PER_TEST_OUT=str(out), PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", tmp],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"the generated suite failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        times = json.loads(out.read_text())
    by_kind: dict[str, list[float]] = {"direct": [], kind: []}
    for nodeid, seconds in times.items():
        kind = nodeid.rsplit("::test_", 1)[1].rsplit("_", 1)[0]
        by_kind[kind].append(seconds * 1000)
    return by_kind


def machine_speed() -> float:
    """Milliseconds a pure-Python loop takes here now (p50 of 5): which phase of a VM's speed a run met.

    The VM these figures come from runs Python up to ~1.8 × slower while its
    host is busy; every per-test figure moves with it (docs/benchmarks.md).
    """
    times = []
    for _ in range(5):
        start = time.perf_counter()
        sum(range(2_000_000))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100, help="tests of each kind (default 100)")
    parser.add_argument("--quick", action="store_true", help="20 tests of each kind")
    args = parser.parse_args()
    tests = 20 if args.quick else args.tests
    print(f"Per-test time, {tests} tests of each kind, two pytest runs (Python {sys.version.split()[0]})")
    print()
    print("| run | test | p50 (ms) | p90 (ms) | p50 over the run's direct call (ms) |")
    print("| --- | --- | ---: | ---: | ---: |")
    over = restart_over = 0.0
    speed_before = machine_speed()
    for number, kind in enumerate(("fixture", "restart"), 1):
        by_kind = run(tests, kind)
        direct = statistics.median(by_kind["direct"])
        for name in ("direct", kind):
            p50 = statistics.median(by_kind[name])
            print(f"| {number} | {KINDS[name]} | {p50:.2f} | {pct(by_kind[name], 0.9):.2f} | {p50 - direct:+.2f} |")
        if kind == "fixture":
            over = statistics.median(by_kind["fixture"]) - direct
        else:
            restart_over = statistics.median(by_kind["restart"]) - direct
    print()
    print(f"machine: a pure-Python loop (the sum of 2,000,000 ints) took {speed_before:.1f} ms before the runs, "
          f"{machine_speed():.1f} ms after")  # fmt: skip
    # design.md measures its targets as ratios in one run: this one was set at 5 ms
    # when a zygote per test (the third row) cost ~57 ms on this machine kind.
    print(f"as a ratio in this run: a zygote per test costs {restart_over / over:.1f} x the fixture's overhead "
          f"(the target set 5 ms against ~57 ms: 11.4 x)")  # fmt: skip
    print(f"target: lambda_invoker per test p50 <= 5 ms over the direct call: {over:.2f} ms, "
          f"{'met' if over <= 5 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
