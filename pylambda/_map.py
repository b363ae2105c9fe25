"""``Invoker.map``: fan a list of events out over environments, results in order."""

from __future__ import annotations

import itertools
import math
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._billing import invocation_cost
from ._errors import InvalidParameterValueError, TooManyRequestsError
from ._workers import Growth

if TYPE_CHECKING:
    from ._invoker import Invoker
    from ._result import InvocationResult

__all__ = ["MapResult", "run_map"]

# The most threads a map starts by default (an explicit concurrency can ask for more).
DEFAULT_MAP_CONCURRENCY = 32


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
            raise InvalidParameterValueError("progress=True needs tqdm (pip install tqdm)") from None
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
    """Invoke ``target`` per event from worker threads that take the next index themselves.

    An explicit ``concurrency`` runs exactly that many threads.  The default
    starts two and adds threads, up to 32, while invocations are slow enough
    for more to help (``_workers.Growth``): a short handler is bound by the
    caller's Python, which more threads only contend for.  A worker that hits
    an error other than a throttle keeps it for that event; the first such
    error, in event order, is raised once every event has been tried.
    """
    import time

    items = list(events)
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise InvalidParameterValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    n = len(items)
    limit = min(DEFAULT_MAP_CONCURRENCY, max(1, n)) if concurrency is None else concurrency
    growth = Growth(base=limit if concurrency is not None else min(2, limit), limit=limit)
    bar = _progress(n, progress)
    lock = threading.Lock()
    results: list[Any] = [None] * n
    errors: dict[int, BaseException] = {}
    indices = itertools.count()
    threads: list[threading.Thread] = []

    def work() -> None:
        while True:
            i = next(indices)  # atomic: each index goes to one worker
            if i >= n:
                return
            delay = 0.01
            while True:
                try:
                    result = invoker.invoke(target, items[i], invocation_type=invocation_type)
                    break
                except TooManyRequestsError:  # a client retries throttles, as the SDKs do
                    time.sleep(delay)
                    delay = min(1.0, delay * 2)
                except BaseException as e:  # kept for its event; raised in order at the end
                    errors[i] = e
                    result = None
                    break
            results[i] = result
            if result is not None:
                growth.note(result.duration_ms)
            if bar is not None or growth.wants_more(len(threads)):
                with lock:
                    if bar is not None:
                        bar.update(1)
                    if growth.wants_more(len(threads)):
                        start_worker()

    def start_worker() -> None:
        thread = threading.Thread(target=work, name=f"pylambda-map-{len(threads)}", daemon=True)
        threads.append(thread)
        thread.start()

    start = time.perf_counter()
    try:
        with lock:
            for _ in range(growth.base):
                start_worker()
        joined = 0
        while joined < len(threads):  # threads may be added while joining
            threads[joined].join()
            joined += 1
    finally:
        if bar is not None:
            bar.close()
    if errors:
        raise errors[min(errors)]
    config = invoker.resolve(target)[0].config
    cost = sum(
        invocation_cost(r.memory_size_mb, r.billed_duration_ms, config.architecture, config.ephemeral_storage)
        for r in results
        if r.status_code == 200
    )
    return MapResult(results=tuple(results), wall_seconds=time.perf_counter() - start, cost_usd=cost)
