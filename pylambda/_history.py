"""What the Invoker remembers of every invocation: the source of logs, metrics and bills.

The warm path only appends a tuple to a bounded deque; records, log events,
metric statistics and bills are derived from it when asked for, so observing
costs nothing until someone looks.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._result import InvocationResult

__all__ = ["History", "InvocationRecord", "Recorder", "ThrottleRecord", "qualifier_of"]

# How many invocations (and throttles) are remembered.  Larger keeps longer
# histories for metrics, logs and bills; each entry holds its result (~1 KB),
# and while the window fills every entry is one more object the garbage
# collector rescans: at 100,000 that cost ~20 us per warm invocation here.
DEFAULT_HISTORY_SIZE = 10_000


@attrs.frozen(kw_only=True)
class InvocationRecord:
    """One invocation, as ``invoker.history`` shows it."""

    request_id: str
    """The request id."""
    function_name: str
    """The function invoked."""
    executed_version: str
    """The version that ran."""
    qualifier: str | None
    """The qualifier as invoked (alias name, version, ``$LATEST``) or None."""
    cold_start: bool
    """True when the invocation started a new environment."""
    duration_ms: float
    """The REPORT Duration."""
    billed_duration_ms: int
    """The REPORT Billed Duration."""
    init_duration_ms: float | None
    """The REPORT Init Duration (cold starts only)."""
    memory_size_mb: int
    """Configured memory."""
    max_memory_used_mb: int
    """The REPORT Max Memory Used."""
    error_type: str | None
    """The function error's type, or None."""
    environment_id: str | None
    """The environment that ran it."""
    log_stream_name: str | None
    """That environment's log stream."""
    architecture: str
    """``x86_64`` or ``arm64``."""
    ephemeral_storage_mb: int
    """Configured /tmp size."""
    timestamp: float
    """Start time (epoch seconds)."""
    end_timestamp: float
    """End time (epoch seconds)."""
    concurrent_executions: int
    """Invocations of this function in flight (this one included) when it started: its ConcurrentExecutions."""
    trace_header: str
    """The invocation's ``_X_AMZN_TRACE_ID`` (``Root=1-…;Parent=…;Sampled=…``)."""
    segments: dict | None
    """With ``tracing="Active"``: the X-Ray segment's parts in ms (init, invocation, overhead)."""
    result: InvocationResult = attrs.field(eq=False, repr=False)
    """The full result, logs included."""

    @property
    def cost_usd(self) -> float:
        """What this one invocation costs (duration, request, /tmp above 512 MB)."""
        from ._billing import invocation_cost

        return invocation_cost(
            self.memory_size_mb, self.billed_duration_ms, self.architecture, self.ephemeral_storage_mb
        )


@attrs.frozen(kw_only=True)
class ThrottleRecord:
    """An invocation refused with TooManyRequestsError."""

    function_name: str
    """The function."""
    qualifier: str | None
    """The qualifier as invoked."""
    reason: str
    """Lambda's throttle reason."""
    timestamp: float
    """When (epoch seconds)."""


class Recorder:
    """The raw, bounded store the Invoker appends to (thread-safe: deque appends are atomic)."""

    def __init__(self, size: int = DEFAULT_HISTORY_SIZE) -> None:
        self.invocations: collections.deque = collections.deque(maxlen=size)
        self.throttles: collections.deque = collections.deque(maxlen=size)
        # (function name, stream, epoch seconds, text): platform lines written
        # outside any invocation, e.g. a provisioned environment's init.
        self.platform_logs: collections.deque = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        # record((start, end, invoked ARN, concurrency, result, version, trace)):
        # remember one invocation.  The deque's own append, so that the warm
        # path pays no Python call for it.
        self.record = self.invocations.append

    def platform_log(self, function_name: str, stream: str, when: float, text: str) -> None:
        """Remember platform lines written outside an invocation."""
        self.platform_logs.append((function_name, stream, when, text))

    def throttled(self, function_name: str, qualifier: str | None, reason: str, when: float) -> None:
        """Remember a throttle."""
        self.throttles.append(
            ThrottleRecord(function_name=function_name, qualifier=qualifier, reason=reason, timestamp=when)
        )

    def records(self) -> list[InvocationRecord]:
        """Every remembered invocation as a record, oldest first."""
        return [_to_record(raw) for raw in list(self.invocations)]


def qualifier_of(arn: str) -> str | None:
    """The qualifier of an invoked ARN (alias, version or $LATEST), or None."""
    parts = arn.split(":")
    return parts[7] if len(parts) == 8 else None


def _to_record(raw: tuple) -> InvocationRecord:
    start, end, arn, concurrency, r, version, trace = raw
    segments = None
    if version.config.tracing == "Active":
        init = r.init_duration_ms or 0.0
        segments = {
            "init": r.init_duration_ms,
            "invocation": r.duration_ms,
            "overhead": max(0.0, round((end - start) * 1000 - r.duration_ms - init, 3)),
        }
    return InvocationRecord(
        request_id=r.request_id,
        function_name=r.function_name,
        executed_version=r.executed_version,
        qualifier=qualifier_of(arn),
        cold_start=r.cold_start,
        duration_ms=r.duration_ms,
        billed_duration_ms=r.billed_duration_ms,
        init_duration_ms=r.init_duration_ms,
        memory_size_mb=r.memory_size_mb,
        max_memory_used_mb=r.max_memory_used_mb,
        error_type=r.error_type,
        environment_id=r.environment_id,
        log_stream_name=r.log_stream_name,
        architecture=version.config.architecture,
        ephemeral_storage_mb=version.config.ephemeral_storage,
        timestamp=start,
        end_timestamp=end,
        concurrent_executions=concurrency,
        trace_header=trace,
        segments=segments,
        result=r,
    )


class History(Sequence):
    """A snapshot of ``invoker.history``: records oldest first, for assertions in tests."""

    def __init__(self, records: list[InvocationRecord]) -> None:
        self._records = records

    def __getitem__(self, index):  # type: ignore[override]
        return self._records[index]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[InvocationRecord]:
        return iter(self._records)

    def where(self, **fields: Any) -> History:
        """The records whose fields equal the given values, e.g. ``where(cold_start=True)``."""
        return History([r for r in self._records if all(getattr(r, k) == v for k, v in fields.items())])

    def plot_timeline(self, ax=None):
        """Draw the invocations over time: one row per environment, cold/warm/error colours.

        Needs matplotlib (``pip install matplotlib``); returns the Axes.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            from ._errors import PylambdaError

            raise PylambdaError("plot_timeline needs matplotlib: pip install matplotlib") from None
        if ax is None:
            _fig, ax = plt.subplots(figsize=(10, 0.4 * max(3, len({r.environment_id for r in self._records}))))
        envs = sorted({r.environment_id or "?" for r in self._records}, key=lambda e: (len(e), e))
        row = {e: i for i, e in enumerate(envs)}
        t0 = min((r.timestamp for r in self._records), default=0.0)
        colours = {"error": "tab:red", "cold": "tab:blue", "warm": "tab:green"}
        for r in self._records:
            kind = "error" if r.error_type else "cold" if r.cold_start else "warm"
            width = max(r.end_timestamp - r.timestamp, 1e-4)
            ax.barh(row[r.environment_id or "?"], width, left=r.timestamp - t0, color=colours[kind], height=0.6)
        ax.set_yticks(range(len(envs)), envs)
        ax.set_xlabel("seconds since the first invocation")
        ax.set_ylabel("environment")
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=k) for k, c in colours.items()], loc="upper right")
        return ax

    def __repr__(self) -> str:
        cold = sum(r.cold_start for r in self._records)
        errors = sum(r.error_type is not None for r in self._records)
        return f"<History {len(self._records)} invocations, {cold} cold, {errors} errors>"

    def _repr_html_(self) -> str:
        from ._render import html_table

        cols = ("request_id", "function_name", "executed_version", "cold_start", "duration_ms",
                "billed_duration_ms", "max_memory_used_mb", "error_type")  # fmt: skip
        return html_table(cols, [[getattr(r, c) for c in cols] for r in self._records[-200:]])
