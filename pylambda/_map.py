"""``Invoker.map``: fan a list of events out over environments, results in order."""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from ._billing import invocation_cost
from ._errors import InvalidParameterValueError, TooManyRequestsError

if TYPE_CHECKING:
    from ._invoker import Invoker
    from ._result import InvocationResult

__all__ = ["MapResult", "run_map"]


@attrs.frozen(kw_only=True)
class MapResult(Sequence):
    """The results of ``Invoker.map`` in the order of the events, and a summary."""

    results: tuple[InvocationResult, ...]
    """One result per event, in order."""
    wall_seconds: float
    """How long the whole map took."""

    def __getitem__(self, index):  # type: ignore[override]
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    @property
    def payloads(self) -> list[Any]:
        """The decoded payloads, in order."""
        return [r.payload for r in self.results]

    @property
    def errors(self) -> list[InvocationResult]:
        """The results with a function error."""
        return [r for r in self.results if r.function_error is not None]

    cost_usd: float
    """What the invocations would cost (see ``pylambda._billing``)."""

    def summary(self) -> dict[str, Any]:
        """Count, errors, cold starts, p50/p99 duration (ms, nearest rank), cost (USD), wall time."""
        durations = sorted(r.duration_ms for r in self.results if r.status_code == 200)

        def pct(q: float) -> float | None:
            return durations[max(1, math.ceil(q * len(durations))) - 1] if durations else None

        return {
            "count": len(self.results),
            "errors": len(self.errors),
            "cold_starts": sum(r.cold_start for r in self.results),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "cost_usd": self.cost_usd,
            "wall_seconds": self.wall_seconds,
        }

    def __repr__(self) -> str:
        s = self.summary()
        p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.2f} ms"
        return (
            f"<MapResult {s['count']} results, {s['errors']} errors, {s['cold_starts']} cold, "
            f"p50 {p50}, ${s['cost_usd']:.8f}, {s['wall_seconds']:.2f} s>"
        )

    def _repr_html_(self) -> str:
        from ._render import html_table

        return html_table(("summary", "value"), list(self.summary().items()))


def _progress(total: int, enabled: bool | None):
    """A tqdm bar when asked for (or interactive and tqdm is installed), else None."""
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled:
            raise InvalidParameterValueError("progress=True needs tqdm (pip install 'pylambda[progress]')") from None
        return None
    return tqdm(total=total, unit="inv")


def run_map(
    invoker: Invoker,
    target: Any,
    events: Iterable[Any],
    concurrency: int | None,
    invocation_type: str,
    progress: bool | None,
) -> MapResult:
    import time

    items = list(events)
    if concurrency is None:
        concurrency = min(32, max(1, len(items)))
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidParameterValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    bar = _progress(len(items), progress)
    lock = threading.Lock()
    results: list[Any] = [None] * len(items)

    def one(i: int) -> None:
        delay = 0.01
        while True:
            try:
                results[i] = invoker.invoke(target, items[i], invocation_type=invocation_type)
                break
            except TooManyRequestsError:  # a client retries throttles, as the SDKs do
                time.sleep(delay)
                delay = min(1.0, delay * 2)
        if bar is not None:
            with lock:
                bar.update(1)

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="pylambda-map") as pool:
            for future in [pool.submit(one, i) for i in range(len(items))]:
                future.result()
    finally:
        if bar is not None:
            bar.close()
    config = invoker.resolve(target)[0].config
    cost = sum(
        invocation_cost(r.memory_size_mb, r.billed_duration_ms, config.architecture, config.ephemeral_storage)
        for r in results
        if r.status_code == 200
    )
    return MapResult(results=tuple(results), wall_seconds=time.perf_counter() - start, cost_usd=cost)
