"""JSON encoding and decoding without per-call setup, for both sides of the wire.

``json.JSONEncoder.encode`` builds a new C encoder object on every call, about
half of the cost of encoding a small event.  ``encoder()`` builds it once.
``decoder()`` calls the C scanner directly: ``JSONDecoder.decode`` wraps it in
two whitespace regex matches, nearly half of decoding a small event.
Circular-reference markers are off (the stdlib's per-call marker dict cannot be
shared safely between calls); a self-referencing value ends in
``RecursionError`` instead, which callers treat like any encoding failure.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any

__all__ = ["decoder", "encoder"]


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def encoder(
    default: Callable[[Any], Any] | None = None, *, ensure_ascii: bool = True, allow_nan: bool = True
) -> Callable[[Any], str]:
    """A function ``obj -> JSON text`` with ``json.dumps``'s default separators."""
    default = default or _no_default
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the stdlib path
        return json.JSONEncoder(default=default, ensure_ascii=ensure_ascii, allow_nan=allow_nan).encode
    basestring = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    c_encode = make(None, default, basestring, None, ": ", ", ", False, False, allow_nan)
    join = "".join

    def encode(obj: Any) -> str:
        return join(c_encode(obj, 0))

    if not allow_nan:
        try:  # the C encoder enforces allow_nan itself; make sure, once
            encode(float("nan"))
        except ValueError:
            return encode
        return json.JSONEncoder(default=default, ensure_ascii=ensure_ascii, allow_nan=False).encode
    return encode


def decoder() -> Callable[[str], Any]:
    """A function ``JSON text -> value``, equal to ``json.loads`` on ``str`` (errors included)."""
    full = json.JSONDecoder().decode
    make = getattr(json.scanner, "c_make_scanner", None)
    if make is None:  # no C accelerator: the stdlib path
        return full
    scan = make(json.JSONDecoder())

    def decode(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except (StopIteration, ValueError):  # leading whitespace, or not JSON: the full path says why
            return full(text)
        if end != len(text):  # trailing whitespace or extra data
            return full(text)
        return value

    return decode
