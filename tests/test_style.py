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


def test_invoker_holds_collaborators_not_mixins():
    """Invoker is one class over collaborators (issue #19): no base classes, each part an object of its own."""
    from pylambda import Invoker

    assert Invoker.__mro__ == (Invoker, object)
    with Invoker() as invoker:
        names = ("registry", "admission", "launcher", "engine", "async", "event_configs", "provisioned", "triggers")
        parts = {name: type(getattr(invoker, f"_{name}")).__name__ for name in names}
    assert parts == {"registry": "Registry", "admission": "Admission", "launcher": "Launcher", "engine": "Engine",
                     "async": "AsyncQueue", "event_configs": "EventConfigs", "provisioned": "Provisioned",
                     "triggers": "Triggers"}  # fmt: skip
