"""The platform's log lines, exactly as Lambda writes them in Text format.

Each function returns one CloudWatch event's text, ending in ``\\n``.  Fields
are joined with TAB; durations have two decimals; a successful REPORT line
ends with ``\\t\\n`` (reference §2.2).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

__all__ = [
    "end_line",
    "init_report_line",
    "init_start_line",
    "render",
    "report_line",
    "runtime_version",
    "start_line",
    "stream_name",
    "timeout_line",
]


def runtime_version(runtime: str) -> str:
    """A runtime version string in Lambda's shape, e.g. ``python:3.11.v7``."""
    minor = runtime.removeprefix("python")
    return f"python:{minor}.v{sys.version_info.micro}"


def init_start_line(runtime: str, region: str) -> str:
    """``INIT_START Runtime Version: …\\tRuntime Version ARN: …``."""
    version = runtime_version(runtime)
    digest = hashlib.sha256(version.encode()).hexdigest()
    return f"INIT_START Runtime Version: {version}\tRuntime Version ARN: arn:aws:lambda:{region}::runtime:{digest}\n"


def start_line(request_id: str, version: str) -> str:
    """``START RequestId: <id> Version: <executed version>``."""
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    """``END RequestId: <id>``."""
    return f"END RequestId: {request_id}\n"


def report_line(
    request_id: str,
    duration_ms: float,
    billed_ms: int,
    memory_mb: int,
    max_used_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """The REPORT line; ``status`` is ``"timeout"`` or ``"error"`` (with ``error_type``)."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_used_mb} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    if status == "timeout":
        line += "Status: timeout"
    elif status == "error":
        line += f"Status: error\tError Type: {error_type}"
    return line + "\n"


def init_report_line(init_ms: float, phase: str, status: str | None, error_type: str | None) -> str:
    """``INIT_REPORT Init Duration: … ms\\tPhase: init|invoke[\\tStatus: …]``."""
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}"
    if status == "timeout":
        line += "\tStatus: timeout"
    elif status == "error":
        line += f"\tStatus: error\tError Type: {error_type}"
    return line + "\n"


def timeout_line(request_id: str, elapsed_s: float, now: float | None = None) -> str:
    """The ``<ISO time> <id> Task timed out after N.NN seconds`` line.

    Lambda wrote this line until at least 2024; whether it still does is
    unverified (reference §2.2).  pylambda keeps it because it tells a reader
    of the log what happened.
    """
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    return f"{stamp} {request_id} Task timed out after {elapsed_s:.2f} seconds\n"


def stream_name(version: str, created: float | None = None, function_name: str | None = None) -> str:
    """``YYYY/MM/DD/[<version>]<32 hex>`` (custom log groups add the function name)."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if created is None else created))
    prefix = function_name or ""
    return f"{day}/{prefix}[{version}]{os.urandom(16).hex()}"


def render(
    before: str,
    request_id: str,
    version: str,
    inside: str,
    duration_ms: float,
    billed_ms: int,
    memory_mb: int,
    max_used_mb: int,
    init_ms: float | None,
    status: str | None,
    error_type: str | None,
) -> str:
    """One invocation's whole log text, from the parts an InvocationResult keeps."""
    return (
        before
        + start_line(request_id, version)
        + inside
        + end_line(request_id)
        + report_line(request_id, duration_ms, billed_ms, memory_mb, max_used_mb, init_ms, status, error_type)
    )
