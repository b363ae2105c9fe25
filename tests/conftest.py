"""Shared fixtures: an Invoker per test and a check that nothing is left running."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from pylambda import Function, Invoker, ManualClock
from pylambda.testing import shared_zygote_pids

HANDLERS = Path(__file__).parent / "handlers"


def _children() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # it ended between the two questions
        return False


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Fail a test that leaves any child process of the test run behind.

    The shared zygote is the run's (started by the first test that needs it,
    ended at exit), not a test's; what it forked is counted.
    """
    before = {p.pid for p in _children()}
    yield
    deadline = time.monotonic() + 3.0
    shared = set(shared_zygote_pids())
    leaked = [p for p in _children() if p.pid not in before and p.pid not in shared]
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = [p for p in leaked if _alive(p)]
    for p in leaked:
        try:
            p.kill()
        except psutil.Error:
            pass
    assert not leaked, f"test left processes behind: {[(p.pid, p.name()) for p in leaked]}"


@pytest.fixture(scope="session")
def sandbox() -> dict:
    """What this machine's sandbox enforces: ``{part: None or why not}`` (docs/guide.md#sandbox)."""
    inv = Invoker()
    try:
        return inv._backends.default.sandbox_report()
    finally:
        inv.close()


@pytest.fixture
def invoker():
    """An Invoker closed after the test."""
    inv = Invoker()
    yield inv
    inv.close()


@pytest.fixture
def handlers_dir() -> Path:
    """The directory of fixture handler modules."""
    return HANDLERS


@pytest.fixture
def make_fn():
    """Build a Function over tests/handlers with a unique name per call."""
    counter = iter(range(10**6))

    def make(handler, **kwargs) -> Function:
        kwargs.setdefault("code", str(HANDLERS) if isinstance(handler, str) else None)
        if kwargs["code"] is None:
            kwargs.pop("code")
        return Function(f"fn-{os.getpid()}-{next(counter)}", handler, **kwargs)

    return make


@pytest.fixture
def clock():
    """A manual clock (for the Invoker, queues, streams and schedules of a test)."""
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def vinvoker(clock):
    """An Invoker on the test's manual clock, closed after the test."""
    inv = Invoker(clock=clock)
    yield inv
    inv.close()


@pytest.fixture
def run_example():
    """Run ``examples/<name>`` in a fresh interpreter; return its stdout (the test fails on a non-zero exit)."""
    import subprocess
    import sys

    def run(name: str) -> str:
        script = Path(__file__).resolve().parent.parent / "examples" / name
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run
