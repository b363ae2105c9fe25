"""The public surface: exactly the names the design promises, cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pylambda

PUBLIC = {
    "Alias",
    "AsyncOutcome",
    "EventInvokeConfig",
    "ManualClock",
    "MapResult",
    "Bill",
    "Bucket",
    "EventSourceMapping",
    "BillRow",
    "FunctionMetrics",
    "History",
    "HttpEndpoint",
    "LambdaEndpoint",
    "InvocationRecord",
    "LogEvent",
    "LogGroup",
    "LogStream",
    "ThrottleRecord",
    "Function",
    "FunctionConfig",
    "FunctionError",
    "InvalidParameterValueError",
    "InvalidRequestContentError",
    "InvocationResult",
    "Invoker",
    "InvokerClosedError",
    "LambdaContext",
    "PylambdaError",
    "Queue",
    "RequestTooLargeError",
    "Schedule",
    "Stream",
    "Table",
    "ResourceNotFoundError",
    "TooManyRequestsError",
    "Version",
}


def test_all_is_the_public_surface():
    """__all__ lists exactly the public names, and each resolves."""
    assert set(pylambda.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(pylambda, name).__name__ == name


def test_exception_tree():
    """Every error derives from PylambdaError, with the documented builtin bases."""
    for name in PUBLIC:
        obj = getattr(pylambda, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, pylambda.PylambdaError)
    assert issubclass(pylambda.InvalidParameterValueError, ValueError)
    assert issubclass(pylambda.ResourceNotFoundError, LookupError)


def test_import_has_no_side_effects_and_is_light():
    """Importing pylambda starts nothing and loads neither attrs nor cloudpickle."""
    code = (
        "import sys, threading, pylambda; "
        "print(threading.active_count(), 'attr' in sys.modules, 'cloudpickle' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["1", "False", "False"]


def test_api_reference_is_up_to_date():
    """docs/api.md matches the docstrings (regenerate with python docs/make_api.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "docs" / "make_api.py"), "--check"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_every_public_name_is_documented():
    """Every public class and exception has a docstring."""
    for name in pylambda.__all__:
        assert (getattr(pylambda, name).__doc__ or "").strip(), name
