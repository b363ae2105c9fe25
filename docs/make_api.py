"""Generate docs/api.md from the public names' docstrings.

python docs/make_api.py            # rewrite docs/api.md
python docs/make_api.py --check    # exit 1 if docs/api.md is stale (a test runs this)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pylambda  # noqa: E402

OUT = ROOT / "docs" / "api.md"


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/make_api.py`; do not edit by hand.",
        "",
    ]
    for name in pylambda.__all__:
        obj = getattr(pylambda, name)
        kind = "exception" if isinstance(obj, type) and issubclass(obj, BaseException) else "class"
        lines += [f"## `{name}`", "", f"*{kind}* `{name}{_signature(obj) if kind == 'class' else ''}`", ""]
        if _doc(obj):
            lines += [_doc(obj), ""]
        members = []
        namespace: dict = {}
        for base in reversed(inspect.getmro(obj)):  # pylambda base classes too, if a class has any
            if base.__module__.startswith("pylambda"):
                namespace.update(vars(base))
        for attr, value in sorted(namespace.items()):
            if attr.startswith("_"):
                continue
            target = value.fget if isinstance(value, property) else getattr(value, "func", value)
            if not (callable(target) or isinstance(value, property)) or not _doc(target):
                continue
            sig = "" if isinstance(value, property) else _signature(target)
            summary = _doc(target).split("\n\n")[0].replace("\n", " ")
            members.append(f"- `{attr}{sig}`: {summary}")
        fields = getattr(obj, "__attrs_attrs__", None)
        if fields:
            lines += ["Fields: " + ", ".join(f"`{f.name}`" for f in fields), ""]
        if members:
            lines += [*members, ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is stale: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
