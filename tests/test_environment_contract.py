"""The environment contract, checked against every backend from one list.

Each backend entry says how to make an Invoker that uses it and which
handler plays each row of the crash table (or why it cannot).  A new
backend is checked by adding one entry to ``BACKENDS``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pylambda import Function, Invoker

HANDLERS = Path(__file__).parent / "handlers"
PY = str(HANDLERS)

# The crash table: case -> (error type, the start of the error message or None, environment kept).
CASES = {
    "raise": (None, None, True),  # the runtime's own error type (per backend)
    "import error": ("Runtime.ImportModuleError", None, False),
    "syntax error": ("Runtime.UserCodeSyntaxError", None, False),
    "exit": ("Runtime.ExitError", r"Runtime exited with error: exit status \d+$", False),
    "SIGKILL": ("Runtime.ExitError", r"signal: killed$", False),
    "segfault": ("Runtime.ExitError", r"signal: segmentation fault$", False),
    "OOM": ("Runtime.OutOfMemory", r"signal: killed$", False),
    "timeout": ("Sandbox.Timedout", r"Task timed out after 1\.00 seconds$", False),
    "oversize": ("Function.ResponseSizeTooLarge", r"^Response payload size exceeded", True),
    "non-JSON": ("Runtime.MarshalError", None, True),
}

_INLINE_CANNOT = "inline runs handlers in the caller's process: this would end or starve the test run"

# backend -> invoker factory, and per case (handler, code dir, raise's error type) or a skip reason.
BACKENDS = {
    "process": {
        "invoker": lambda: Invoker(),
        "code": PY,
        "lifecycle": "contract.counts",
        "isolated": True,
        "cases": {
            "raise": ("faults.raises", "ValueError"),
            "import error": ("bad_import.handler", None),
            "syntax error": ("bad_syntax.handler", None),
            "exit": ("faults.exits", None),
            "SIGKILL": ("faults.sigkill", None),
            "segfault": ("faults.segv", None),
            "OOM": ("faults.hog", None),
            "timeout": ("faults.sleeps", None),
            "oversize": ("faults.big", None),
            "non-JSON": ("faults.nonjson", None),
        },
    },
    "inline": {
        "invoker": lambda: Invoker(mode="inline"),
        "code": PY,
        "lifecycle": "contract.counts",
        "isolated": False,  # the caller's imported modules are shared (docs/inline.md)
        "cases": {
            "raise": ("faults.raises", "ValueError"),
            "import error": ("bad_import.handler", None),
            "syntax error": ("bad_syntax.handler", None),
            "exit": ("faults.sysexit2", None),
            "SIGKILL": _INLINE_CANNOT,
            "segfault": _INLINE_CANNOT,
            "OOM": "inline environments have no memory limit (docs/inline.md)",
            "timeout": ("contract.late", None),
            "oversize": ("faults.big", None),
            "non-JSON": ("faults.nonjson", None),
        },
    },
}

NODE = str(HANDLERS / "node")
if shutil.which("node"):
    BACKENDS["nodejs20.x"] = {
        "invoker": lambda: Invoker(),
        "code": NODE,
        "runtime": "nodejs20.x",
        "lifecycle": "index.counts",
        "isolated": True,
        "cases": {
            "raise": ("index.raises", "ValidationError"),
            "import error": ("bad_import.handler", None),
            "syntax error": ("bad_syntax.handler", None),
            "exit": ("index.exits", None),
            "SIGKILL": ("index.sigkill", None),
            "segfault": ("index.segv", None),
            "OOM": ("index.hog", None),
            "timeout": ("index.sleeps", None),
            "oversize": ("index.big", None),
            "non-JSON": ("index.nonjson", None),
        },
    }

try:
    import ray  # noqa: F401

    from pylambda.ray import RayBackend

    _RAY_SKIP = None
except ImportError:
    _RAY_SKIP = "Ray is not installed (the ray extra)"

# Environments on the nodes of the ``ray_cluster`` fixture (each node runs the process backend).
BACKENDS["ray"] = {
    "invoker": lambda cluster: Invoker(backend=RayBackend(address=cluster.address)),
    "needs": "ray_cluster",
    "skip": _RAY_SKIP,
    "code": PY,
    "lifecycle": "contract.counts",
    "isolated": True,
    "cases": BACKENDS["process"]["cases"],
}

_COUNTER = iter(range(10**6))


def _function(entry: dict, handler: str, **config) -> Function:
    if "runtime" in entry:
        config["runtime"] = entry["runtime"]
    return Function(f"contract-{next(_COUNTER)}", handler, code=entry["code"], **config)


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    """(name, entry, an open Invoker on that backend) for each backend of the list."""
    entry = BACKENDS[request.param]
    if entry.get("skip"):
        pytest.skip(f"{request.param}: {entry['skip']}")
    needs = [request.getfixturevalue(entry["needs"])] if "needs" in entry else []
    invoker = entry["invoker"](*needs)
    yield request.param, entry, invoker
    invoker.close()


@pytest.mark.parametrize("case", list(CASES))
def test_crash_table(backend, case):
    """Each failure is a result with Lambda's payload and REPORT; the environment is kept or reset."""
    name, entry, invoker = backend
    how = entry["cases"][case]
    if isinstance(how, str):
        pytest.skip(f"{name}: {how}")
    handler, raise_type = how
    error_type, message, kept = CASES[case]
    error_type = error_type or raise_type
    fn = _function(entry, handler, timeout=1)
    r = invoker.invoke(fn, {"k": "v"})
    assert r.function_error == "Unhandled"
    assert r.error_type == error_type
    doc = json.loads(r.raw_payload)
    assert doc["errorType"] == error_type
    if message:
        assert re.search(message, doc["errorMessage"]), doc["errorMessage"]
    report = r.logs.splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {r.request_id}\t")
    again = invoker.invoke(fn, {"k": "v"})  # the next invocation gets the same answer
    assert again.error_type == error_type
    if kept:
        assert again.environment_id == r.environment_id
        assert not again.cold_start
    else:
        assert again.environment_id != r.environment_id
        assert r.environment_id not in {e.id for e in invoker.environments()}


def test_lifecycle_init_once_warm_reuse_reset(backend):
    """Init runs once per environment, warm invocations reuse it, reset() makes the next one cold."""
    _name, entry, invoker = backend
    fn = _function(entry, entry["lifecycle"])
    first = invoker.invoke(fn, {})
    assert first.cold_start
    assert first.init_duration_ms is not None
    assert first.payload == {"inits": 1, "calls": 1}
    second = invoker.invoke(fn, {})
    assert not second.cold_start
    assert second.init_duration_ms is None
    assert second.environment_id == first.environment_id
    assert second.payload["calls"] == 2
    assert second.payload["inits"] == first.payload["inits"]  # no second init
    assert "INIT_START" in first.logs
    assert "INIT_START" not in second.logs
    assert invoker.reset(fn) == 1
    third = invoker.invoke(fn, {})
    assert third.cold_start
    assert third.environment_id != first.environment_id
    if entry["isolated"]:  # a new environment starts from fresh globals
        assert third.payload == {"inits": 1, "calls": 1}
