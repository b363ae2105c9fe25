"""Event sources (queues, streams, tables, schedules, buckets, function URLs) and their mappings."""

from __future__ import annotations

from typing import Any

from .._errors import InvalidParameterValueError


def data_bytes(data: Any, what: str) -> bytes:
    """``data`` (bytes-like or str, UTF-8) as bytes, or an error naming ``what`` was given instead.

    For the sources' records and objects, and for ``invoke(payload=...)``.

    ``bytes(data)`` alone would turn an int into that many NUL bytes and a
    dict into a TypeError from deep inside.
    """
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidParameterValueError(f"{what} must be bytes or str, got {type(data).__name__}")
