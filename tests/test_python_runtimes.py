"""``runtime="python3.X"``: the Python runtime under that interpreter when the machine has one (PATH, pyenv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pylambda import Function, InvalidParameterValueError, Invoker
from pylambda._config import PYTHON_RUNTIMES
from pylambda._environment import runtimes

CODE = str(Path(__file__).parent / "handlers" / "pyversion")
OWN = f"python{sys.version_info[0]}.{sys.version_info[1]}"
OTHERS = [r for r in PYTHON_RUNTIMES if r != OWN]


@pytest.mark.parametrize("runtime", OTHERS)
def test_another_interpreter_runs_the_handler(invoker, runtime):
    """The handler runs on that version's interpreter, with that interpreter's own standard library."""
    path = runtimes.python_interpreter(runtime.removeprefix("python"))
    if path is None:
        pytest.skip(f"no {runtime} interpreter on this machine (PATH, pyenv)")
    fn = Function(f"v{runtime.replace('.', '')}", "app.handler", code=CODE, runtime=runtime)
    r = invoker.invoke(fn, {})
    r.raise_for_error()
    assert r.payload["version"] == runtime.removeprefix("python")
    assert r.payload["executable"] == path
    assert r.payload["execution_env"] == f"AWS_Lambda_{runtime}"
    assert r.payload["request_id"] == r.request_id
    assert not r.payload["decimal_from"].startswith(sys.base_prefix)  # not the caller's stdlib
    assert f"running on {runtime.removeprefix('python')}." in r.logs
    failed = invoker.invoke(Function(f"b{runtime.replace('.', '')}", "app.boom", code=CODE, runtime=runtime), {})
    doc = json.loads(failed.raw_payload)
    assert (doc["errorType"], doc["errorMessage"]) == ("KeyError", "'missing'")
    assert not invoker.invoke(fn, {}).cold_start


def test_a_missing_interpreter_runs_on_the_callers_with_one_warning(monkeypatch):
    """A Lambda runtime not installed here runs on this interpreter; one warning names both."""
    runtime = OTHERS[-1]
    monkeypatch.setattr(runtimes, "python_interpreter", lambda version: None)
    runtimes._warned.discard(runtime)
    with Invoker() as invoker:
        fn = Function("fallback", "app.handler", code=CODE, runtime=runtime)
        with pytest.warns(RuntimeWarning, match=rf"runtime {runtime} asked for.*running it on this interpreter, {OWN}"):
            r = invoker.invoke(fn, {})
        assert r.payload["version"] == OWN.removeprefix("python")
        assert r.payload["execution_env"] == f"AWS_Lambda_{runtime}"
        invoker.reset(fn)
        assert invoker.invoke(fn, {}).function_error is None  # no second warning (warnings are errors here)


def test_a_callable_cannot_cross_interpreters(invoker):
    """A by-value handler on another interpreter is refused with a clear error."""
    other = next((r for r in OTHERS if runtimes.python_interpreter(r.removeprefix("python"))), None)
    if other is None:
        pytest.skip("no other Python interpreter on this machine")
    with pytest.raises(InvalidParameterValueError, match="cannot cross interpreter versions"):
        invoker.invoke(Function("callable-other", lambda e, c: 1, runtime=other), {})
