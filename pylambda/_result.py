"""InvocationResult: what one synchronous invocation returned, as a frozen value."""

from __future__ import annotations

import base64
import html
import json
import math
import time
from functools import cached_property
from typing import Any

import attrs

from ._billing import report_durations
from ._errors import FunctionError
from ._logs import LogParts, PlatformLines

__all__ = ["InvocationResult", "blank_result", "finish_result", "result_template"]

# A rendered log text up to this long is kept on the result; a longer one is
# rendered again on each access instead of doubling what spilling saved.
_KEEP_RENDERED_CHARS = 16384


# Not slotted: the warm path builds results from a per-target template with
# one dict update (see ``blank_result``), about a sixth of the cost of the
# frozen __init__ with its 18 keyword arguments.
@attrs.frozen(kw_only=True, slots=False)
class InvocationResult:
    """The response of ``Invoker.invoke`` (Lambda's Invoke API response, plus the REPORT).

    A function error (exception, timeout, crash, out of memory, init failure)
    is a result too: ``function_error == "Unhandled"`` and ``payload`` is the
    error document.  Call ``raise_for_error()`` to turn it into an exception.
    """

    status_code: int
    """200 (RequestResponse), 202 (Event) or 204 (DryRun)."""
    raw_payload: bytes = attrs.field(repr=False)
    """The response body exactly as Lambda would send it."""
    payload_is_bytes: bool = attrs.field(default=False, repr=False)
    """True when the handler returned ``bytes`` (passed through, not JSON)."""
    function_error: str | None = None
    """``None`` or ``"Unhandled"``."""
    error_type: str | None = None
    """The ``errorType`` of a function error (``"Sandbox.Timedout"``, ``"KeyError"`` …)."""
    executed_version: str | None = None
    """The version that ran (``"$LATEST"``, ``"3"``), also for alias invocations."""
    request_id: str = ""
    """The invocation's request id (``context.aws_request_id``)."""
    function_name: str = ""
    """The function invoked."""
    log_parts: tuple = attrs.field(default=(), repr=False, eq=False)
    """The pieces ``logs`` is rendered from (a ``pylambda._logs.LogParts``)."""
    tail: bool = attrs.field(default=False, repr=False)
    """True when invoked with ``log_type="Tail"``."""
    duration_ms: float = 0.0
    """The REPORT ``Duration``."""
    billed_duration_ms: int = 0
    """The REPORT ``Billed Duration`` (``ceil(duration + init)``)."""
    init_duration_ms: float | None = None
    """The REPORT ``Init Duration``: set on a cold start, ``None`` when warm."""
    restore_duration_ms: float | None = None
    """The REPORT ``Restore Duration``: set on the first invocation of an environment restored by SnapStart."""
    billed_restore_duration_ms: int | None = None
    """The REPORT ``Billed Restore Duration`` (the after-restore hooks; part of ``billed_duration_ms``)."""
    memory_size_mb: int = 0
    """Configured memory."""
    max_memory_used_mb: int = 0
    """Peak RSS of the environment so far, in MB."""
    cold_start: bool = False
    """True when this invocation started a new environment."""
    environment_id: str | None = attrs.field(default=None, repr=False)
    """Identifies the environment that ran the invocation."""
    log_stream_name: str | None = attrs.field(default=None, repr=False)
    """The environment's log stream."""

    @property
    def logs(self) -> str:
        """This invocation's log text: INIT_START on a cold start, START … END, REPORT.

        Rendered on first access: most callers never read it, and formatting
        three platform lines is a measurable share of a warm invocation.
        Kept once rendered unless it is long (handler output is kept on disk,
        see ``pylambda._logspill``, and read back on each access).
        """
        text = self.__dict__.get("_logs")
        if text is None:
            text = self.log_parts.render() if self.log_parts else ""
            if len(text) <= _KEEP_RENDERED_CHARS:
                self.__dict__["_logs"] = text
        return text

    @cached_property
    def log_result(self) -> str | None:
        """Base64 of the last 4 KB of ``logs`` when invoked with ``log_type="Tail"``."""
        if not self.tail:
            return None
        return base64.b64encode(self.logs.encode()[-4096:]).decode()

    @cached_property
    def payload(self) -> Any:
        """The decoded JSON response (or ``bytes`` if the handler returned bytes)."""
        if self.payload_is_bytes:
            return self.raw_payload
        if not self.raw_payload:
            return None
        return json.loads(self.raw_payload)

    def raise_for_error(self) -> InvocationResult:
        """Raise ``FunctionError`` if the invocation failed; return self otherwise."""
        if self.function_error is None:
            return self
        doc = self.payload if isinstance(self.payload, dict) else {}
        raise FunctionError(
            doc.get("errorType") or self.error_type or "Unknown",
            doc.get("errorMessage", ""),
            doc.get("stackTrace") or doc.get("trace"),
            self.request_id,
        )

    def _repr_html_(self) -> str:
        from ._render import html_table

        fields = ("request_id", "executed_version", "function_error", "error_type", "duration_ms",
                  "billed_duration_ms", "init_duration_ms", "max_memory_used_mb", "cold_start")  # fmt: skip
        table = html_table(("field", "value"), [(f, getattr(self, f)) for f in fields])
        payload = html.escape(self.raw_payload[:2000].decode("utf-8", "replace"))
        return f"{table}<pre>{payload}</pre><pre>{html.escape(self.logs)}</pre>"

    @property
    def ok(self) -> bool:
        """True when there was no function error."""
        return self.function_error is None


_new = object.__new__
_new_tuple = tuple.__new__  # a LogParts without its Python-level __new__ (a frame per invocation)


def result_template(**constant: Any) -> dict[str, Any]:
    """Every field's default, overridden by ``constant``: the fields a target's warm results share."""
    fields = {f.name: f.default for f in attrs.fields(InvocationResult) if f.default is not attrs.NOTHING}
    unknown = set(constant) - {f.name for f in attrs.fields(InvocationResult)}
    if unknown:
        raise TypeError(f"not InvocationResult fields: {sorted(unknown)}")
    fields.update(constant)
    return fields


def blank_result(template: dict[str, Any]) -> tuple[InvocationResult, dict[str, Any]]:
    """A result holding ``template``'s fields, and its field dict for the caller to finish.

    The warm path fills in the per-invocation fields while the handler runs
    and after the reply, without the frozen ``__init__``; a test checks the
    outcome equals the same result built by ``__init__``.  ``template``
    must come from ``result_template``.
    """
    result = _new(InvocationResult)
    state = result.__dict__
    state.update(template)
    return result, state


def finish_result(
    state: dict[str, Any],
    lines: PlatformLines,
    trace: str,
    *,
    inside: str,
    duration_ms: float,
    used_mb: int,
    error_type: str | None,
    status: str | None = None,
    before: str = "",
    init_ms: float | None = None,
    restore: tuple[float, int] | None = None,
) -> float:
    """Fill in what the REPORT says (durations, bill, memory, error, log parts); return when it ended.

    The one result builder: the warm route and the general path both start
    from ``blank_result`` (the target's constant fields, then the request
    id, environment and payload) and finish here.  ``status`` is the REPORT
    status (None, ``"timeout"``, ``"error"``); ``before`` and ``inside`` are
    the log text before START and between START and END (spilled already).
    """
    shown_ms, shown_init_ms, billed = report_durations(duration_ms, init_ms)
    if restore is not None:  # the after-restore hooks are billed, as init is
        billed = max(1, math.ceil(round(shown_ms + restore[1], 2)))
        state["restore_duration_ms"] = round(restore[0], 2)
        state["billed_restore_duration_ms"] = restore[1]
    if error_type is not None:
        state["error_type"] = error_type
        state["function_error"] = "Unhandled"
    if init_ms is not None:
        state["init_duration_ms"] = shown_init_ms
    ended = time.time()
    state["log_parts"] = _new_tuple(LogParts, (lines, before, state["request_id"], inside, duration_ms, billed, used_mb,
                                               init_ms, status, error_type, ended, trace, restore))  # fmt: skip
    state["duration_ms"] = shown_ms
    state["billed_duration_ms"] = billed
    state["max_memory_used_mb"] = used_mb
    return ended
