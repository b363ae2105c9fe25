"""The registry of source kinds: which trigger class serves a given source.

``create_event_source_mapping(source, fn)`` asks ``trigger_class_for(source)``:

- a source *object* is matched by type (its class or a base class):
  ``Queue`` → ``EventSourceMapping``, ``Stream``/``Table`` →
  ``StreamMapping``, ``Schedule`` → ``ScheduleTrigger``, ``Bucket`` →
  ``BucketNotification``;
- a source *string* is an ARN and is matched by its service
  (``arn:aws:<service>:...``), e.g. ``"sqs"``, ``"kinesis"``, ``"dynamodb"``:
  pollers of a real services endpoint register there.

Entries may name their trigger class as ``"module:Class"`` so that
registering costs no import (a poller of real services imports boto3; it
loads on the first mapping that needs it).  Adding a kind of source::

    from pylambda._sources.kinds import register_source_kind
    register_source_kind(MySource, "mypackage._mine:MyTrigger")   # by type
    register_source_kind("sqs", "pylambda._aws_sqs:SqsPoller")     # by ARN service

The trigger class implements the protocol of ``trigger.py``.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from .._errors import InvalidParameterValueError

__all__ = ["register_source_kind", "source_kinds", "trigger_class_for"]

_lock = threading.Lock()
# type or ARN service -> trigger class or "module:Class" (resolved on first use)
_KINDS: dict[type | str, Any] = {}


def _builtin() -> None:
    """The in-memory sources this package ships (registered on first use: importing them is not free)."""
    from .bucket import Bucket
    from .queue import Queue
    from .schedule import Schedule
    from .stream import Stream, Table

    defaults: dict[type | str, Any] = {
        Queue: "pylambda._sources.queue_mapping:EventSourceMapping",
        Stream: "pylambda._sources.stream_mapping:StreamMapping",
        Table: "pylambda._sources.stream_mapping:StreamMapping",
        Schedule: "pylambda._sources.schedule_target:ScheduleTrigger",
        Bucket: "pylambda._sources.bucket_notification:BucketNotification",
        # ARNs: the services at the Invoker's aws_endpoint_url, polled with boto3
        "sqs": "pylambda._sources.sqs_remote:SqsPoller",
        "kinesis": "pylambda._sources.streams_remote:RemoteStreamMapping",
        "dynamodb": "pylambda._sources.streams_remote:RemoteStreamMapping",
    }
    for kind, trigger in defaults.items():
        _KINDS.setdefault(kind, trigger)


def register_source_kind(kind: type | str, trigger: Any) -> None:
    """Serve sources of ``kind`` (a source type, or an ARN service name) with ``trigger``.

    ``trigger`` is a trigger class or ``"module:Class"``.  A later
    registration of the same kind replaces the earlier one.
    """
    if not isinstance(kind, (type, str)) or (isinstance(kind, str) and not kind):
        raise InvalidParameterValueError(f"a source kind is a type or an ARN service name, got {kind!r}")
    with _lock:
        _builtin()
        _KINDS[kind] = trigger


def source_kinds() -> dict[type | str, Any]:
    """Every registered kind and what serves it (a copy)."""
    with _lock:
        _builtin()
        return dict(_KINDS)


def _load(kind: type | str, entry: Any) -> type:
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        entry = getattr(importlib.import_module(module), name)
        with _lock:
            _KINDS[kind] = entry
    return entry


def trigger_class_for(source: Any) -> type:
    """The trigger class registered for ``source``.

    Raises:
        InvalidParameterValueError: nothing serves this source (the message lists what does).
    """
    with _lock:
        _builtin()
        kinds = dict(_KINDS)
    if isinstance(source, str):
        parts = source.split(":")
        if len(parts) >= 6 and parts[0] == "arn" and parts[2] in kinds:
            return _load(parts[2], kinds[parts[2]])
    else:
        for cls in type(source).__mro__:
            if cls in kinds:
                return _load(cls, kinds[cls])
    types = sorted(k.__name__ for k in kinds if isinstance(k, type))
    services = sorted(k for k in kinds if isinstance(k, str))
    supported = ", ".join(types) + (f"; ARNs of {', '.join(services)}" if services else "")
    got = repr(source) if isinstance(source, str) else type(source).__name__
    raise InvalidParameterValueError(f"event sources supported: {supported}; got {got}")
