"""An S3-like bucket whose object changes notify functions, as S3 event notifications do.

Objects live in memory, or in a local directory (``Bucket("b", directory=...)``).
``invoker.create_event_source_mapping(bucket, fn, events=[...], prefix=..., suffix=...)``
subscribes a function: each matching ``put`` (``ObjectCreated:Put``) or
``delete`` (``ObjectRemoved:Delete``) invokes it asynchronously, as S3 does,
with the S3 notification event; retries and destinations are then the
asynchronous path's.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import InvalidParameterValueError
from . import Clocked, data_bytes

__all__ = ["Bucket", "matches_notification"]

_EVENT_TYPES = ("s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete")


class Bucket(Clocked):
    """A bucket of objects (bytes by key) that emits notifications (its clock dates the events)."""

    def __init__(self, name: str, *, directory: str | os.PathLike | None = None, clock=None,
                 region: str = "us-east-1", account_id: str = "123456789012") -> None:  # fmt: skip
        if not 3 <= len(name) <= 63 or not all(c.islower() or c.isdigit() or c in ".-" for c in name):
            raise InvalidParameterValueError(f"bucket name must be 3-63 lower-case letters, digits, '.', '-': {name!r}")
        self.name = name
        self.directory = Path(directory).resolve() if directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._init_clock(clock)
        self.region = region
        self.account_id = account_id
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, str, int, str], None]] = []

    @property
    def arn(self) -> str:
        """``arn:aws:s3:::<name>``."""
        return f"arn:aws:s3:::{self.name}"

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        path = (self.directory / key).resolve()
        if self.directory not in path.parents:
            raise InvalidParameterValueError(f"key {key!r} leaves the bucket directory")
        return path

    def put(self, key: str, data: bytes | str) -> str:
        """Store an object; notify ``ObjectCreated:Put``; return its ETag."""
        body = data_bytes(data, "an object's data")
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        with self._lock:
            if self.directory is not None:
                path = self._path(key)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            else:
                self._objects[key] = body
        self._notify("ObjectCreated:Put", key, len(body), etag)
        return etag

    def get(self, key: str) -> bytes:
        """The object's bytes (KeyError if absent)."""
        with self._lock:
            if self.directory is not None:
                path = self._path(key)
                if not path.is_file():
                    raise KeyError(key)
                return path.read_bytes()
            return self._objects[key]

    def delete(self, key: str) -> None:
        """Remove an object (absent is fine, as in S3); notify ``ObjectRemoved:Delete``."""
        with self._lock:
            if self.directory is not None:
                path = self._path(key)
                if path.is_file():
                    path.unlink()
            else:
                self._objects.pop(key, None)
        self._notify("ObjectRemoved:Delete", key, 0, "")

    def keys(self) -> list[str]:
        """Every key, sorted."""
        with self._lock:
            if self.directory is not None:
                return sorted(
                    p.relative_to(self.directory).as_posix() for p in self.directory.rglob("*") if p.is_file()
                )
            return sorted(self._objects)

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def subscribe(self, listener: Callable[[str, str, int, str], None]) -> None:
        """Call ``listener(event_name, key, size, etag)`` on every change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str, str, int, str], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, event_name: str, key: str, size: int, etag: str) -> None:
        for listener in list(self._listeners):
            listener(event_name, key, size, etag)

    def __repr__(self) -> str:
        return f"<Bucket {self.name} objects={len(self.keys())}>"


def matches_notification(event_types: tuple[str, ...], prefix: str, suffix: str, event_name: str, key: str) -> bool:
    """Whether an S3 notification configuration selects this change."""
    full = f"s3:{event_name}"
    kind = full.rsplit(":", 1)[0] + ":*"
    return (full in event_types or kind in event_types) and key.startswith(prefix) and key.endswith(suffix)


def check_event_types(event_types: Any) -> tuple[str, ...]:
    """Validate ``events=`` of a bucket notification."""
    types = tuple(event_types)
    bad = [t for t in types if t not in _EVENT_TYPES]
    if not types or bad:
        raise InvalidParameterValueError(f"events must be some of {', '.join(_EVENT_TYPES)}; got {bad or types}")
    return types
