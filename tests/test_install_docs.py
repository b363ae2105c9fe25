"""Installing pylambda: from a checkout (the name on PyPI is another project's), with only the dependencies it uses."""

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


def test_every_core_dependency_is_imported():
    """Each core dependency in pyproject.toml is imported by pylambda (none is carried unused)."""
    tomllib = __import__("pytest").importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].replace("-", "_") for d in deps]
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "pylambda").rglob("*.py"))
    unused = [n for n in names if not re.search(rf"^\s*(import|from)\s+{n}\b", source, re.M)]
    assert unused == []
