"""The docs install pylambda from a checkout: the name on PyPI belongs to another project."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROM_INDEX = re.compile(r"pip install\s+(-U\s+|--upgrade\s+)?['\"]?pylambda\b")


def test_no_doc_installs_pylambda_from_the_index():
    """No README, doc, example or message says `pip install pylambda` (the PyPI name is not ours)."""
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "pylambda").rglob("*.py")]
    offenders = [str(f.relative_to(ROOT)) for f in files if FROM_INDEX.search(f.read_text(encoding="utf-8"))]
    assert offenders == []
    assert "unrelated project" in (ROOT / "README.md").read_text(encoding="utf-8")
