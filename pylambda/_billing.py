"""Lambda's billing arithmetic (rules since 2025-08-01, reference §8)."""

from __future__ import annotations

import math

import attrs

__all__ = [
    "Bill",
    "BillRow",
    "gb_seconds",
    "invocation_cost",
    "make_bill",
    "max_memory_used_mb",
    "report_durations",
    "snap_start_cost",
    "storage_gb_seconds",
]


def report_durations(duration_ms: float, init_ms: float | None = None) -> tuple[float, float | None, int]:
    """(Duration, Init Duration, Billed Duration) in ms, as the REPORT line shows them.

    The bill is ``ceil(Duration + Init Duration)`` of the two-decimal values
    the REPORT shows, which keeps it consistent with that line
    (3000.00 + 402.04 -> 3403); the sum is rounded again to remove binary
    floating-point noise before the ceiling.  A warm invocation (no init)
    rounds once: ``round(x, 2)`` formats and parses a decimal string, the
    dearest step of a warm invocation's bookkeeping.
    """
    duration = round(duration_ms, 2)
    if init_ms is None:
        return duration, None, max(1, math.ceil(duration))
    init = round(init_ms, 2)
    return duration, init, max(1, math.ceil(round(duration + init, 2)))


def max_memory_used_mb(rss_kib: int) -> int:
    """Peak RSS in whole MB (MiB), as the REPORT line shows it."""
    return rss_kib // 1024


# -- bills ----------------------------------------------------------------------------------

# us-east-1, first pricing tier (reference §8).  Per GB-second of duration.
PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
# Per GB-second of ephemeral storage above the free 512 MB (unverified price).
PRICE_STORAGE_PER_GB_S = 0.0000000309
FREE_REQUESTS = 1_000_000
FREE_GB_S = 400_000.0
# SnapStart for Python and .NET (us-east-1; third-party reproductions of the
# pricing page, 2024-2026; the arm64 rates are assumed equal [unverified]):
# caching the snapshot, per GB (the memory size) per second that the version
# is active, billed for a minimum of 3 hours; and each restore of an
# environment from it, per GB restored.  The time the after-restore hooks
# take is billed as duration (REPORT ``Billed Restore Duration``).
SNAP_START_PRICES = {
    "cache_per_gb_s": 0.0000015046,
    "cache_minimum_s": 3 * 3600,
    "restore_per_gb": 0.0001397998,
}


@attrs.frozen(kw_only=True)
class BillRow:
    """The charges of one function version on one architecture."""

    function_name: str
    """The function."""
    version: str
    """The executed version."""
    architecture: str
    """``x86_64`` or ``arm64``."""
    requests: int
    """Invocations that started executing."""
    billed_ms: int
    """Sum of billed durations."""
    gb_seconds: float
    """Memory (GB) × billed seconds, summed."""
    compute_usd: float
    """Duration charge."""
    request_usd: float
    """Request charge."""
    storage_usd: float
    """Ephemeral storage above 512 MB."""
    restores: int = 0
    """Environments restored from a SnapStart snapshot."""
    snap_start_usd: float = 0.0
    """SnapStart: the snapshot's cache (while the version is active, at least 3 hours) and its restores."""

    @property
    def cost_usd(self) -> float:
        """All charges of the row."""
        return self.compute_usd + self.request_usd + self.storage_usd + self.snap_start_usd


@attrs.frozen(kw_only=True)
class Bill:
    """What the recorded invocations would cost on Lambda (on-demand, first tier)."""

    rows: tuple[BillRow, ...]
    """One row per function, version and architecture."""
    free_tier_usd: float = 0.0
    """The monthly free tier's deduction, when asked for."""

    @property
    def total_usd(self) -> float:
        """Sum of the rows less the free tier."""
        return max(0.0, sum(r.cost_usd for r in self.rows) - self.free_tier_usd)

    def __repr__(self) -> str:
        return f"<Bill {len(self.rows)} rows, total ${self.total_usd:.10f}>"

    def _repr_html_(self) -> str:
        from ._render import html_table

        cols = ("function_name", "version", "architecture", "requests", "gb_seconds", "cost_usd")
        rows = [[getattr(r, c) for c in cols] for r in self.rows]
        rows.append(["total", "", "", "", "", f"{self.total_usd:.10f}"])
        return html_table(cols, rows)


def gb_seconds(memory_mb: int, billed_ms: int) -> float:
    """Memory (GB) × billed seconds."""
    return memory_mb / 1024 * billed_ms / 1000


def storage_gb_seconds(storage_mb: int, billed_ms: int) -> float:
    """Ephemeral storage above the free 512 MB (GB) × billed seconds."""
    return max(0, storage_mb - 512) / 1024 * billed_ms / 1000


def invocation_cost(memory_mb: int, billed_ms: int, architecture: str, storage_mb: int = 512) -> float:
    """The cost of one invocation, without free tier."""
    return (
        gb_seconds(memory_mb, billed_ms) * PRICE_PER_GB_S[architecture]
        + PRICE_PER_REQUEST
        + storage_gb_seconds(storage_mb, billed_ms) * PRICE_STORAGE_PER_GB_S
    )


def snap_start_cost(memory_mb: int, restores: int, cached_s: float) -> float:
    """SnapStart's own charges: ``restores`` restores and a snapshot cached for ``cached_s`` seconds (0: none)."""
    gb = memory_mb / 1024
    cache = gb * max(cached_s, SNAP_START_PRICES["cache_minimum_s"]) * SNAP_START_PRICES["cache_per_gb_s"]
    return restores * gb * SNAP_START_PRICES["restore_per_gb"] + (cache if cached_s > 0 else 0.0)


def make_bill(records: list, free_tier: bool = False, snapshots: tuple = ()) -> Bill:
    """Price the records: GB-s × the architecture's price + requests + extra /tmp (+ SnapStart).

    ``snapshots``: (function, version, architecture, memory MB, seconds
    cached) of each SnapStart snapshot the Invoker holds; their versions'
    rows carry the cache charge and one restore charge per restored
    environment (a record with a Restore Duration).

    With ``free_tier``, the permanent monthly free tier (1 M requests and
    400,000 GB-s, x86 and arm combined) is deducted, GB-seconds at the x86
    price first (how AWS splits it across architectures is unverified).
    """
    groups: dict[tuple, list] = {}
    for r in records:
        groups.setdefault((r.function_name, r.executed_version, r.architecture), []).append(r)
    cached = {(name, version, arch): (memory, seconds) for name, version, arch, memory, seconds in snapshots}
    for key in cached:
        groups.setdefault(key, [])
    rows = []
    for (name, version, arch), recs in groups.items():
        restores = sum(1 for r in recs if getattr(r.result, "restore_duration_ms", None) is not None)
        memory, seconds = cached.get((name, version, arch), (recs[0].memory_size_mb if recs else 128, 0.0))
        gb_s = sum(gb_seconds(r.memory_size_mb, r.billed_duration_ms) for r in recs)
        storage_gb_s = sum(storage_gb_seconds(r.ephemeral_storage_mb, r.billed_duration_ms) for r in recs)
        rows.append(
            BillRow(
                function_name=name,
                version=version,
                architecture=arch,
                requests=len(recs),
                billed_ms=sum(r.billed_duration_ms for r in recs),
                gb_seconds=gb_s,
                compute_usd=gb_s * PRICE_PER_GB_S[arch],
                request_usd=len(recs) * PRICE_PER_REQUEST,
                storage_usd=storage_gb_s * PRICE_STORAGE_PER_GB_S,
                restores=restores,
                snap_start_usd=snap_start_cost(memory, restores, seconds) if restores or seconds else 0.0,
            )
        )
    discount = 0.0
    if free_tier:
        discount += min(sum(r.requests for r in rows), FREE_REQUESTS) * PRICE_PER_REQUEST
        free = FREE_GB_S
        for arch in ("x86_64", "arm64"):
            used = sum(r.gb_seconds for r in rows if r.architecture == arch)
            take = min(used, free)
            discount += take * PRICE_PER_GB_S[arch]
            free -= take
    return Bill(rows=tuple(rows), free_tier_usd=discount)
