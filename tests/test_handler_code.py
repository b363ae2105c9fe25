"""The handler's module compiled by the caller and imported with that code (``_runtime/handler_code.py``).

Checked: an environment imports the handler's module with the caller's
code when the file holds the same bytes, and from the file when it does
not (edited after the Function was defined); the module looks as an
import made it; what the caller does not compile (a package's module, a
file too large, one with a syntax error) is imported as before.
"""

from __future__ import annotations

import os

import pytest

from pylambda import Function
from pylambda._runtime.handler_code import MAX_SOURCE, compiled_for

APP = """
import sys

VALUE = {value!r}

def handler(event, context):
    module = sys.modules[__name__]
    return {{"value": VALUE, "loader": type(module.__loader__).__name__, "file": module.__file__,
             "spec_origin": module.__spec__.origin}}
"""


def _write(path, value: str) -> None:
    path.write_text(APP.format(value=value))


def test_the_handler_module_runs_the_callers_code(invoker, tmp_path):
    _write(tmp_path / "app.py", "one")
    fn = Function("precompiled", "app.handler", code=str(tmp_path))
    invoker.register(fn)
    out = invoker.invoke(fn, {}).payload
    assert out["value"] == "one"
    assert out["loader"] == "_Loader"  # handler_code's: the environment did not compile it
    assert out["file"] == out["spec_origin"] == os.path.join(str(tmp_path), "app.py")


@pytest.mark.parametrize("same_size", [True, False])
def test_a_module_edited_after_the_definition_is_imported_from_the_file(invoker, tmp_path, same_size):
    _write(tmp_path / "app.py", "one")
    fn = Function("edited", "app.handler", code=str(tmp_path))
    invoker.register(fn)
    assert invoker.invoke(fn, {}).payload["value"] == "one"
    _write(tmp_path / "app.py", "two" if same_size else "two, longer")
    invoker.reset(fn)  # the next invocation is a cold start
    assert invoker.invoke(fn, {}).payload["value"] == ("two" if same_size else "two, longer")


@pytest.mark.parametrize(
    ("layout", "handler"),
    [
        ("package", "pkg.handler"),  # pkg/__init__.py: not a module file of the code root
        ("large", "app.handler"),
        ("syntax", "app.handler"),
        ("missing", "nothere.handler"),
        ("no module", "handler"),
    ],
)
def test_what_the_caller_leaves_to_the_import_system(tmp_path, layout, handler):
    if layout == "package":
        (tmp_path / "pkg").mkdir()
        (tmp_path / "pkg" / "__init__.py").write_text("def handler(e, c):\n    return 1\n")
    elif layout == "large":
        (tmp_path / "app.py").write_text("X = 1\n" * (MAX_SOURCE // 6 + 1) + "def handler(e, c):\n    return X\n")
    elif layout == "syntax":
        (tmp_path / "app.py").write_text("def handler(e, c)\n    return 1\n")
    assert compiled_for(str(tmp_path), handler) is None


def test_a_module_in_a_subdirectory_is_compiled(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    name, path, source, code, _magic = compiled_for(str(tmp_path), "src/app.handler")
    assert (name, path) == ("src.app", str(tmp_path / "src" / "app.py"))
    assert source == (tmp_path / "src" / "app.py").read_bytes()
    assert code
