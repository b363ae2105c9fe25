"""The code stays ruff-clean (ruff comes with the test extra)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')")
def test_ruff_check_is_clean():
    """`ruff check .` reports nothing."""
    out = subprocess.run(["ruff", "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_modules_stay_within_the_designs_size():
    """design.md: a module is one concept of at most 600 lines (the pool may be larger if it opens with a diagram)."""
    too_long = []
    for path in sorted((ROOT / "pylambda").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        exempt = path.name == "pool.py" and text.startswith('"""') and "::\n" in text.split('"""')[1]
        if lines > 600 and not exempt:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, too_long
