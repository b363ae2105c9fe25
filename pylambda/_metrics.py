"""CloudWatch-style metrics of a function, computed from the Invoker's history.

Metric names are Lambda's (``Invocations``, ``Errors``, ``Throttles``,
``Duration``, ``ConcurrentExecutions``) plus two pylambda adds for tests
(``ColdStarts``, ``InitDuration``).  Statistics are CloudWatch's names
(``Sum``, ``Average``, ``Minimum``, ``Maximum``, ``SampleCount``) and
percentiles ``p0``..``p100`` by the nearest-rank method.
"""

from __future__ import annotations

import math
import re

from ._errors import InvalidParameterValueError

__all__ = ["FunctionMetrics"]

_DEFAULT_STAT = {
    "Invocations": "Sum",
    "Errors": "Sum",
    "Throttles": "Sum",
    "ColdStarts": "Sum",
    "Duration": "Average",
    "InitDuration": "Average",
    "ConcurrentExecutions": "Maximum",
}
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")


class FunctionMetrics:
    """The metrics of one function, or of one version/alias of it (``qualifier``)."""

    def __init__(self, function_name: str, qualifier: str | None, records: list, throttles: list) -> None:
        self.function_name = function_name
        self.qualifier = qualifier

        def wanted(r) -> bool:
            if r.function_name != function_name:
                return False
            if qualifier is None:
                return True
            return r.qualifier == qualifier or getattr(r, "executed_version", None) == qualifier

        self._records = [r for r in records if wanted(r)]
        self._throttles = [t for t in throttles if t.function_name == function_name and
                           (qualifier is None or t.qualifier == qualifier)]  # fmt: skip

    def samples(self, metric: str, start: float | None = None, end: float | None = None) -> list[float]:
        """The data points of ``metric`` within [start, end) epoch seconds."""

        def inside(t: float) -> bool:
            return (start is None or t >= start) and (end is None or t < end)

        recs = [r for r in self._records if inside(r.timestamp)]
        if metric == "Invocations":
            return [1.0 for _ in recs]
        if metric == "Errors":
            return [1.0 if r.error_type is not None else 0.0 for r in recs]
        if metric == "Throttles":
            return [1.0 for t in self._throttles if inside(t.timestamp)]
        if metric == "ColdStarts":
            return [1.0 if r.cold_start else 0.0 for r in recs]
        if metric == "Duration":
            return [r.duration_ms for r in recs]
        if metric == "InitDuration":
            return [r.init_duration_ms for r in recs if r.init_duration_ms is not None]
        if metric == "ConcurrentExecutions":
            return [float(r.concurrent_executions) for r in recs]
        raise InvalidParameterValueError(f"unknown metric {metric!r}; known: {', '.join(_DEFAULT_STAT)}")

    def get(self, metric: str, stat: str | None = None, start: float | None = None, end: float | None = None):
        """One statistic of ``metric``; None when there are no data points (as CloudWatch)."""
        values = self.samples(metric, start, end)
        stat = stat or _DEFAULT_STAT.get(metric, "Average")
        if stat == "SampleCount":
            return float(len(values))
        if stat == "Sum":
            return float(sum(values))
        if not values:
            return None
        if stat == "Average":
            return sum(values) / len(values)
        if stat == "Minimum":
            return min(values)
        if stat == "Maximum":
            return max(values)
        m = _PERCENTILE.fullmatch(stat)
        if m and float(m.group(1)) <= 100:
            ordered = sorted(values)
            rank = max(1, math.ceil(float(m.group(1)) / 100 * len(ordered)))
            return ordered[rank - 1]
        raise InvalidParameterValueError(
            f"unknown statistic {stat!r}; use Sum, Average, Minimum, Maximum, SampleCount or pNN"
        )

    def summary(self) -> dict[str, float | None]:
        """Every metric with its default statistic, plus Duration p50/p90/p99."""
        out: dict[str, float | None] = {m: self.get(m) for m in _DEFAULT_STAT}
        for p in ("p50", "p90", "p99"):
            out[f"Duration {p}"] = self.get("Duration", p)
        return out

    def __repr__(self) -> str:
        name = self.function_name + (f":{self.qualifier}" if self.qualifier else "")
        s = self.summary()
        return (
            f"<FunctionMetrics {name} invocations={s['Invocations']:.0f} errors={s['Errors']:.0f} "
            f"throttles={s['Throttles']:.0f} cold={s['ColdStarts']:.0f}>"
        )

    def _repr_html_(self) -> str:
        from ._render import html_table

        return html_table(("metric", "value"), [(k, v) for k, v in self.summary().items()])
