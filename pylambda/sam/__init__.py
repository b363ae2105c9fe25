"""SAM projects as they are: ``pylambda.sam.load("template.yaml")`` and ``pylambda local ...``.

::

    import pylambda.sam
    from pylambda import Invoker

    app = pylambda.sam.load("template.yaml", parameter_overrides={"Stage": "test"})
    with Invoker() as invoker:
        app.attach(invoker)                       # registers the functions, wires SQS/S3/... events
        invoker.invoke(app.functions["HelloWorldFunction"], {})
        with app.start_api(invoker, port=3000) as api:   # the Api/HttpApi events on 127.0.0.1
            ...

See docs/sam.md for what is supported and how each property maps.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["SamApp", "TemplateError", "load"]
_EXPORTS = {"SamApp": "._resources", "TemplateError": "._template", "load": "._resources"}

if TYPE_CHECKING:  # pragma: no cover
    from ._resources import SamApp as SamApp
    from ._resources import load as load
    from ._template import TemplateError as TemplateError


def __getattr__(name: str) -> Any:
    # Loaded on first use, so the ``pylambda`` command line can list ``local`` without importing the loader.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pylambda.sam' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    if isinstance(value, type):
        value.__module__ = "pylambda.sam"
    globals()[name] = value
    return value
