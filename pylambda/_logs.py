"""The platform's log lines, exactly as Lambda writes them in Text format.

Each function returns one CloudWatch event's text, ending in ``\\n``.  Fields
are joined with TAB; durations have two decimals; a successful REPORT line
ends with ``\\t\\n`` (reference §2.2).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any, NamedTuple

from ._clock import iso_ms
from ._errors import InvalidParameterValueError
from ._logspill import text_of

__all__ = [
    "LogEvent",
    "LogGroup",
    "LogParts",
    "LogStream",
    "PlatformLines",
    "echo_function",
    "end_line",
    "init_report_line",
    "init_start_line",
    "log_text",
    "report_line",
    "restore_report_line",
    "restore_start_line",
    "runtime_version",
    "start_line",
    "stream_name",
    "timeout_line",
    "xray_line",
]


def runtime_version(runtime: str) -> str:
    """A runtime version string in Lambda's shape, e.g. ``python:3.11.v7``, ``nodejs:20.v1``, ``provided:al2023.v1``."""
    if runtime.startswith("nodejs"):
        return f"nodejs:{runtime.removeprefix('nodejs').removesuffix('.x')}.v1"
    if runtime.startswith("provided"):
        return f"provided:{runtime.removeprefix('provided.') if '.' in runtime else 'al'}.v1"
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
    restore: tuple[float, int] | None = None,
) -> str:
    """The REPORT line; ``status`` is ``"timeout"`` or ``"error"`` (with ``error_type``).

    ``restore`` is (Restore Duration, Billed Restore Duration) for the first
    invocation of an environment restored from a SnapStart snapshot, which
    shows those instead of ``Init Duration``.
    """
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_used_mb} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    if restore is not None:
        line += f"Restore Duration: {restore[0]:.2f} ms\tBilled Restore Duration: {restore[1]} ms\t"
    if status == "timeout":
        line += "Status: timeout"
    elif status == "error":
        line += f"Status: error\tError Type: {error_type}"
    return line + "\n"


def restore_start_line(runtime: str, region: str) -> str:
    """``RESTORE_START Runtime Version: …`` (an environment resumed from a SnapStart snapshot)."""
    return "RESTORE_START" + init_start_line(runtime, region)[len("INIT_START") :]


def restore_report_line(restore_ms: float) -> str:
    """``RESTORE_REPORT Restore Duration: … ms``."""
    return f"RESTORE_REPORT Restore Duration: {restore_ms:.2f} ms\n"


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
    stamp = iso_ms(time.time() if now is None else now)
    return f"{stamp} {request_id} Task timed out after {elapsed_s:.2f} seconds\n"


def stream_name(version: str, created: float | None = None, function_name: str | None = None) -> str:
    """``YYYY/MM/DD/[<version>]<32 hex>`` (custom log groups add the function name)."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if created is None else created))
    prefix = function_name or ""
    return f"{day}/{prefix}[{version}]{os.urandom(16).hex()}"


def log_text(data: bytes) -> str:
    """Captured output as log text: decoded, ending in a newline when not empty."""
    text = data.decode("utf-8", "replace")
    return text if not text or text.endswith("\n") else text + "\n"


_SYSTEM_LEVELS = {"DEBUG": 0, "INFO": 1, "WARN": 2}


class PlatformLines:
    """The platform's lines for one version, in its log format (Text or JSON).

    In JSON format each line is a Telemetry-API record
    (``{"time", "type": "platform.*", "record"}``), filtered by the
    system log level: ``DEBUG`` adds ``platform.runtimeDone``; ``INFO`` (the
    default) keeps initStart, start, report and initReport; ``WARN`` keeps only
    reports of failures.  ``END`` has no JSON form.
    """

    def __init__(self, *, json_format: bool, system_level: str | None, function_name: str, version: str,
                 arn: str, runtime: str, region: str, memory_mb: int, tracing: bool) -> None:  # fmt: skip
        self.json = json_format
        self.level = _SYSTEM_LEVELS[system_level or "INFO"]
        self.function_name = function_name
        self.version = version
        self.arn = arn
        self.runtime = runtime
        self.region = region
        self.memory_mb = memory_mb
        self.tracing = tracing

    def _record(self, kind: str, record: dict, level: int, when: float | None = None) -> str:
        if level < self.level:
            return ""
        line = {"time": iso_ms(time.time() if when is None else when), "type": kind, "record": record}
        return json.dumps(line, separators=(",", ":")) + "\n"

    def init_start(self, stream: str, init_type: str = "on-demand", phase: str = "init") -> str:
        """``INIT_START`` or ``platform.initStart``."""
        if not self.json:
            return init_start_line(self.runtime, self.region)
        version = runtime_version(self.runtime)
        return self._record(
            "platform.initStart",
            {
                "initializationType": init_type,
                "phase": phase,
                "runtimeVersion": version,
                "runtimeVersionArn": f"arn:aws:lambda:{self.region}::runtime:"
                + hashlib.sha256(version.encode()).hexdigest(),
                "functionName": self.function_name,
                "functionVersion": self.version,
                "instanceId": stream,
                "instanceMaxMemory": self.memory_mb * 1024 * 1024,
            },
            1,
        )

    def restore_start(self) -> str:
        """``RESTORE_START`` or ``platform.restoreStart``."""
        if not self.json:
            return restore_start_line(self.runtime, self.region)
        version = runtime_version(self.runtime)
        return self._record("platform.restoreStart", {"runtimeVersion": version, "functionName": self.function_name,
                                                      "functionVersion": self.version}, 1)  # fmt: skip

    def restore_report(self, restore_ms: float) -> str:
        """``RESTORE_REPORT`` or ``platform.restoreReport``."""
        if not self.json:
            return restore_report_line(restore_ms)
        return self._record("platform.restoreReport", {"status": "success",
                                                       "metrics": {"durationMs": round(restore_ms, 3)}}, 1)  # fmt: skip

    def init_report(self, init_ms: float, phase: str, status: str | None, error_type: str | None,
                    init_type: str = "on-demand") -> str:  # fmt: skip
        """``INIT_REPORT`` or ``platform.initReport``."""
        if not self.json:
            return init_report_line(init_ms, phase, status, error_type)
        record = {"initializationType": init_type, "phase": phase, "status": status or "success",
                  "metrics": {"durationMs": round(init_ms, 3)}}  # fmt: skip
        if error_type:
            record["errorType"] = error_type
        return self._record("platform.initReport", record, 1 if status is None else 2)

    def invocation(self, parts: LogParts, inside: str) -> str:
        """START, what ran inside (``parts.inside``, read back), END and REPORT (and XRAY), or their JSON records."""
        request_id, duration_ms, end, trace = parts.request_id, parts.duration_ms, parts.end, parts.trace
        billed_ms, max_used_mb, restore = parts.billed_ms, parts.max_used_mb, parts.restore
        init_ms, status, error_type = parts.init_ms, parts.status, parts.error_type
        start = end - duration_ms / 1000
        if not self.json:
            text = (
                start_line(request_id, self.version)
                + inside
                + end_line(request_id)
                + report_line(
                    request_id,
                    duration_ms,
                    billed_ms,
                    self.memory_mb,
                    max_used_mb,
                    init_ms,
                    status,
                    error_type,
                    restore,
                )
            )
            if self.tracing:
                text += xray_line(trace)
            return text
        metrics = {"durationMs": round(duration_ms, 3), "billedDurationMs": billed_ms,
                   "memorySizeMB": self.memory_mb, "maxMemoryUsedMB": max_used_mb}  # fmt: skip
        if init_ms is not None:
            metrics["initDurationMs"] = round(init_ms, 3)
        if restore is not None:
            metrics["restoreDurationMs"] = round(restore[0], 3)
            metrics["billedRestoreDurationMs"] = restore[1]
        report: dict = {"requestId": request_id, "metrics": metrics, "status": status or "success"}
        if error_type and status:
            report["errorType"] = error_type
        if self.tracing:
            report["tracing"] = {"type": "X-Amzn-Trace-Id", "value": trace}
        done = {"requestId": request_id, "status": status or ("error" if error_type else "success"),
                "metrics": {"durationMs": round(duration_ms, 3)}}  # fmt: skip
        return (
            self._record(
                "platform.start", {"requestId": request_id, "functionArn": self.arn, "version": self.version}, 1, start
            )
            + inside
            + self._record("platform.runtimeDone", done, 0, end)
            + self._record("platform.report", report, 1 if status is None else 2, end)
        )


def xray_line(trace: str) -> str:
    """``XRAY TraceId: …\tSegmentId: …\tSampled: true`` (tracing Active)."""
    root = trace.split(";", 1)[0].removeprefix("Root=")
    sampled = "true" if "Sampled=1" in trace else "false"
    return f"XRAY TraceId: {root}\tSegmentId: {os.urandom(8).hex()}\tSampled: {sampled}\n"


class LogParts(NamedTuple):
    """What one invocation's log text is rendered from, kept on its result (``InvocationResult.logs``).

    A tuple (built on the warm path for every invocation: a tuple is the
    cheapest record to make) whose fields have names; ``before`` and
    ``inside`` may be spilled to disk (``_logspill``) and are read back on
    rendering.
    """

    lines: PlatformLines
    """The function's platform-line formatter."""
    before: str
    """Text before START: INIT_START, the init's output, INIT_REPORT (a cold start's init phase)."""
    request_id: str
    inside: str
    """The handler's output between START and END (an invoke-phase init's lines too)."""
    duration_ms: float
    billed_ms: int
    max_used_mb: int
    init_ms: float | None
    status: str | None
    """The REPORT status: None, ``"timeout"`` or ``"error"``."""
    error_type: str | None
    end: float
    """When the invocation ended (epoch seconds)."""
    trace: str
    restore: tuple[float, int] | None = None
    """SnapStart: (Restore Duration, Billed Restore Duration)."""

    def render(self) -> str:
        """The whole log text (spilled parts read back)."""
        return text_of(self.before) + self.lines.invocation(self, text_of(self.inside))


# -- the log store: CloudWatch Logs for one Invoker ---------------------------------------


class LogEvent:
    """One CloudWatch event: a timestamp (epoch ms) and a message (one line)."""

    __slots__ = ("message", "stream", "timestamp")

    def __init__(self, timestamp: int, message: str, stream: str) -> None:
        self.timestamp = timestamp
        self.message = message
        self.stream = stream

    def __repr__(self) -> str:
        return f"LogEvent({self.timestamp}, {self.message!r})"


class LogStream:
    """The events of one environment, in order."""

    def __init__(self, name: str, events: list[LogEvent]) -> None:
        self.name = name
        self._events = events

    def events(self, start: float | None = None, end: float | None = None) -> list[LogEvent]:
        """Events with ``start <= timestamp/1000 < end`` (epoch seconds; None = open)."""
        return _window(self._events, start, end)

    def __repr__(self) -> str:
        return f"<LogStream {self.name} events={len(self._events)}>"


class LogGroup:
    """``/aws/lambda/<function>``: one stream per environment, built from the history.

    Each line of an invocation's log is one event (the ``[ERROR]`` line keeps
    its ``\\r``-joined traceback in one event, as on Lambda).  Lines up to and
    including ``START`` carry the invocation's start time, the rest its end
    time: output inside an invocation is not timestamped line by line.
    """

    def __init__(self, name: str, records: list, extra: list | None = None) -> None:
        self.name = name
        streams: dict[str, list[LogEvent]] = {}
        for _fn, stream, when, text in extra or ():
            for line in text.split("\n"):
                if line:
                    streams.setdefault(stream, []).append(LogEvent(int(when * 1000), line, stream))
        for rec in records:
            stream = rec.log_stream_name or ""
            events = streams.setdefault(stream, [])
            start_ms, end_ms = int(rec.timestamp * 1000), int(rec.end_timestamp * 1000)
            stamp = start_ms
            for line in rec.result.logs.split("\n"):
                if not line:
                    continue
                events.append(LogEvent(stamp, line, stream))
                if line.startswith("START RequestId:"):
                    stamp = end_ms
        for events in streams.values():
            events.sort(key=lambda e: e.timestamp)
        self._streams = {n: LogStream(n, ev) for n, ev in streams.items()}

    @property
    def streams(self) -> list[LogStream]:
        """The log streams, one per environment that ran."""
        return list(self._streams.values())

    def stream(self, name: str) -> LogStream:
        """The stream called ``name``."""
        return self._streams[name]

    def events(self, start: float | None = None, end: float | None = None) -> list[LogEvent]:
        """All events of the group in time order, optionally within [start, end) epoch seconds."""
        merged = [e for s in self._streams.values() for e in s.events()]
        merged.sort(key=lambda e: e.timestamp)
        return _window(merged, start, end)

    def filter(self, pattern, start: float | None = None, end: float | None = None) -> list[LogEvent]:
        """Events whose message contains ``pattern`` (a str) or matches it (a compiled regex)."""
        if hasattr(pattern, "search"):
            match = pattern.search
        else:

            def match(message: str) -> bool:
                return pattern in message

        return [e for e in self.events(start, end) if match(e.message)]

    def __repr__(self) -> str:
        return f"<LogGroup {self.name} streams={len(self._streams)}>"

    def _repr_html_(self) -> str:
        from ._render import html_table

        rows = [(iso_ms(e.timestamp / 1000), e.stream, e.message) for e in self.events()[-500:]]
        return html_table(("time", "stream", "message"), rows)


def _window(events: list[LogEvent], start: float | None, end: float | None) -> list[LogEvent]:
    lo = None if start is None else start * 1000
    hi = None if end is None else end * 1000
    return [e for e in events if (lo is None or e.timestamp >= lo) and (hi is None or e.timestamp < hi)]


def echo_function(echo: bool | Any):
    """Where ``Invoker(echo_logs=...)`` sends each invocation's log: None, stderr, a Logger or a callable."""
    if echo is False or echo is None:
        return None
    if echo is True:
        return sys.stderr.write
    if hasattr(echo, "info") and hasattr(echo, "isEnabledFor"):
        return lambda text: echo.info("%s", text.rstrip("\n"))
    if callable(echo):
        return echo
    raise InvalidParameterValueError(f"echo_logs must be a bool, a logging.Logger or a callable, got {echo!r}")
