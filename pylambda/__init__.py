"""pylambda: AWS Lambda as a Python library.

Define a ``Function``, publish ``Version``s, point ``Alias``es at them and call
an ``Invoker``; handlers run in real worker processes that behave like Lambda
execution environments.

This module is the curated public namespace.  It imports nothing heavy at
import time: names are loaded on first access (PEP 562), because every
execution environment imports the ``pylambda`` package too (for its
``_runtime``) and must stay small and quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Alias": "._alias",
    "AsyncOutcome": "._async",
    "EventInvokeConfig": "._async",
    "ManualClock": "._clock",
    "MapResult": "._map",
    "Bill": "._billing",
    "Bucket": "._sources.bucket",
    "EventSourceMapping": "._sources.queue_mapping",
    "BillRow": "._billing",
    "FunctionMetrics": "._metrics",
    "History": "._history",
    "HttpEndpoint": "._sources.url",
    "LambdaEndpoint": "._endpoint",
    "InvocationRecord": "._history",
    "LogEvent": "._logs",
    "LogGroup": "._logs",
    "LogStream": "._logs",
    "ThrottleRecord": "._history",
    "Function": "._function",
    "FunctionConfig": "._config",
    "FunctionError": "._errors",
    "InvalidParameterValueError": "._errors",
    "InvalidRequestContentError": "._errors",
    "InvocationResult": "._result",
    "Invoker": "._invoker",
    "InvokerClosedError": "._errors",
    "LambdaContext": "._runtime.context",
    "PylambdaError": "._errors",
    "Queue": "._sources.queue",
    "RequestTooLargeError": "._errors",
    "Stream": "._sources.stream",
    "Table": "._sources.stream",
    "Schedule": "._sources.schedule",
    "ResourceNotFoundError": "._errors",
    "TooManyRequestsError": "._errors",
    "Version": "._version",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._alias import Alias as Alias
    from ._async import AsyncOutcome as AsyncOutcome
    from ._async import EventInvokeConfig as EventInvokeConfig
    from ._billing import Bill as Bill
    from ._billing import BillRow as BillRow
    from ._clock import ManualClock as ManualClock
    from ._config import FunctionConfig as FunctionConfig
    from ._endpoint import LambdaEndpoint as LambdaEndpoint
    from ._errors import FunctionError as FunctionError
    from ._errors import InvalidParameterValueError as InvalidParameterValueError
    from ._errors import InvalidRequestContentError as InvalidRequestContentError
    from ._errors import InvokerClosedError as InvokerClosedError
    from ._errors import PylambdaError as PylambdaError
    from ._errors import RequestTooLargeError as RequestTooLargeError
    from ._errors import ResourceNotFoundError as ResourceNotFoundError
    from ._errors import TooManyRequestsError as TooManyRequestsError
    from ._function import Function as Function
    from ._history import History as History
    from ._history import InvocationRecord as InvocationRecord
    from ._history import ThrottleRecord as ThrottleRecord
    from ._invoker import Invoker as Invoker
    from ._logs import LogEvent as LogEvent
    from ._logs import LogGroup as LogGroup
    from ._logs import LogStream as LogStream
    from ._map import MapResult as MapResult
    from ._metrics import FunctionMetrics as FunctionMetrics
    from ._result import InvocationResult as InvocationResult
    from ._runtime.context import LambdaContext as LambdaContext
    from ._sources.bucket import Bucket as Bucket
    from ._sources.queue import Queue as Queue
    from ._sources.queue_mapping import EventSourceMapping as EventSourceMapping
    from ._sources.schedule import Schedule as Schedule
    from ._sources.stream import Stream as Stream
    from ._sources.stream import Table as Table
    from ._sources.url import HttpEndpoint as HttpEndpoint
    from ._version import Version as Version


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pylambda' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    if getattr(value, "__module__", "").startswith("pylambda."):
        try:
            value.__module__ = "pylambda"
        except (AttributeError, TypeError):
            pass
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
