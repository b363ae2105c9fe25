"""Lambda's billing arithmetic (rules since 2025-08-01, reference §8)."""

from __future__ import annotations

import math

__all__ = ["billed_duration_ms", "max_memory_used_mb"]


def billed_duration_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """``ceil(Duration + Init Duration)`` in ms, from the two-decimal values the REPORT shows.

    Rounding each value to two decimals first keeps the bill consistent with
    the REPORT line (3000.00 + 402.04 -> 3403), and the final ``round`` removes
    binary floating-point noise before the ceiling.
    """
    total = round(duration_ms, 2) + (round(init_ms, 2) if init_ms is not None else 0.0)
    return max(1, math.ceil(round(total, 2)))


def max_memory_used_mb(rss_kib: int) -> int:
    """Peak RSS in whole MB (MiB), as the REPORT line shows it."""
    return rss_kib // 1024
