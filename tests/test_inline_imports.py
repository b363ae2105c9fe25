"""Inline mode: the function's code is importable in the caller, imported with the function's environment."""

from __future__ import annotations

import os
import sys
from unittest import mock

import pytest

from pylambda import Function, Invoker

APP = """
import os
TABLE = os.environ["TABLE"]
CWD = os.getcwd()

def send():
    return "real"

def handler(event, context):
    return {"table": TABLE, "env": os.environ["TABLE"], "cwd": CWD, "send": send()}
"""


@pytest.fixture
def code_dir(tmp_path):
    """A code directory whose module reads the function's environment at import; forgotten after the test."""
    (tmp_path / "inline_imports_app.py").write_text(APP)
    yield tmp_path
    sys.modules.pop("inline_imports_app", None)


def test_patch_before_the_first_invocation_reaches_the_handler(code_dir):
    """mock.patch("app.x") imports the function's module in the caller, with its environment; the handler sees it."""
    fn = Function("inline-imports", "inline_imports_app.handler", code=str(code_dir), environment={"TABLE": "t1"})
    with Invoker(mode="inline") as invoker:
        invoker.register(fn)
        with mock.patch("inline_imports_app.send", return_value="mocked"):
            patched = invoker.invoke(fn).payload
        plain = invoker.invoke(fn).payload
        finders = list(sys.meta_path)
    assert patched == {"table": "t1", "env": "t1", "cwd": str(code_dir), "send": "mocked"}
    assert plain["send"] == "real"
    assert "TABLE" not in os.environ
    assert not any(type(f).__name__ == "CallerImports" for f in sys.meta_path)
    assert any(type(f).__name__ == "CallerImports" for f in finders)


def test_a_stale_module_of_the_same_name_is_replaced(code_dir, tmp_path_factory):
    """A module of the handler's name left from another code directory does not shadow this function's."""
    other = tmp_path_factory.mktemp("other")
    (other / "inline_imports_app.py").write_text("def send():\n    return 'stale'\n")
    sys.path.insert(0, str(other))
    try:
        import inline_imports_app  # noqa: F401  (an earlier test's module of the same name)
    finally:
        sys.path.remove(str(other))
    fn = Function("inline-stale", "inline_imports_app.handler", code=str(code_dir), environment={"TABLE": "t2"})
    with Invoker(mode="inline") as invoker:
        invoker.register(fn)
        with mock.patch("inline_imports_app.send", return_value="mocked"):
            assert invoker.invoke(fn).payload["send"] == "mocked"
