"""Errors as the AWS Python runtime reports them: payloads, log lines, handler lookup.

Everything here reproduces RIC (``awslambdaric/bootstrap.py``): the error dict
``{"errorMessage", "errorType", "requestId", "stackTrace"}``, the removal of the
runtime's own frames from the stack trace, the ``Runtime.*`` faults raised while
resolving the handler string, and the text-format ``[ERROR]`` log line (lines
joined with ``\\r`` and leading spaces turned into NO-BREAK SPACE so one error is
one CloudWatch event).
"""

from __future__ import annotations

import importlib
import sys
import traceback

__all__ = [
    "Fault",
    "error_log_line",
    "error_payload",
    "resolve_handler",
    "trimmed_stack",
]

_RUNTIME_DIR = __file__.rsplit("/", 1)[0]


class Fault(Exception):
    """A runtime-detected failure with a Lambda error type (``Runtime.*``)."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def trimmed_stack(tb) -> list[str]:
    """Format ``tb`` without the leading frames that belong to this runtime."""
    frames = traceback.extract_tb(tb)
    start = 0
    while start < len(frames) and frames[start].filename.startswith(_RUNTIME_DIR):
        start += 1
    return traceback.format_list(frames[start:])


def error_payload(exc: BaseException, request_id: str) -> tuple[str, dict]:
    """The error type and the dict the runtime posts for ``exc``."""
    if isinstance(exc, Fault):
        return exc.error_type, {
            "errorMessage": exc.message,
            "errorType": exc.error_type,
            "requestId": request_id,
            "stackTrace": exc.stack,
        }
    error_type = type(exc).__name__
    return error_type, {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trimmed_stack(exc.__traceback__),
    }


def error_log_line(error_type: str, payload: dict, json_format: bool = False) -> str:
    """The log event RIC writes for an uncaught error, in Text or JSON format."""
    if json_format:
        import json
        import time

        return (
            json.dumps(
                {
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "log_level": "ERROR",
                    "errorMessage": payload["errorMessage"],
                    "errorType": error_type,
                    "requestId": payload.get("requestId", ""),
                    "stackTrace": payload.get("stackTrace") or [],
                }
            )
            + "\n"
        )
    lines = [f"[ERROR] {error_type}: {payload['errorMessage']}"]
    stack = payload.get("stackTrace") or []
    if stack:
        lines.append("Traceback (most recent call last):")
        for entry in stack:
            for line in entry.rstrip("\n").split("\n"):
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    return "\r".join(lines) + "\n"


def resolve_handler(handler: str):
    """Import the module of ``"module.function"`` and return the function.

    Raises:
        Fault: with RIC's error type and message for each way this can fail.
        Exception: whatever the module raised at import time, unchanged.
    """
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from None
    modname = modname.replace("/", ".")
    if modname in sys.builtin_module_names:
        raise Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        stack = [f'  File "{e.filename}" Line {e.lineno}\n    {(e.text or "").strip()}\n']
        raise Fault(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{modname}': {e}",
            stack,
        ) from None
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'") from None
