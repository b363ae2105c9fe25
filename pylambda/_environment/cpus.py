"""How many CPUs this process can really use: its affinity, capped by a container's CPU quota.

Spinning is only worth it when the caller and its environment each have a
CPU.  ``os.cpu_count()`` counts the machine; ``sched_getaffinity`` the CPUs
the process may run on; neither sees a container limited to one CPU's worth
of time by a cgroup quota (``docker run --cpus=1``), where a spinning caller
burns the quota its environment needs and the whole group is throttled for
the rest of the period.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

__all__ = ["cgroup_cpu_quota", "usable_cpus"]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cgroup_cpu_quota(read: Callable[[str], str | None] = _read) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (``1.5``), or None when unlimited or unknown.

    Reads cgroup v2 ``cpu.max`` ("quota period" or "max period") or v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (quota -1: unlimited), at the
    process's own cgroup path and at the root (what a container sees).
    """
    membership = read("/proc/self/cgroup") or ""
    for line in membership.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # cgroup v2
            for base in {f"/sys/fs/cgroup{path}".rstrip("/"), "/sys/fs/cgroup"}:
                fields = (read(f"{base}/cpu.max") or "").split()
                if len(fields) == 2:
                    return None if fields[0] == "max" else int(fields[0]) / int(fields[1])
        elif "cpu" in controllers.split(","):  # cgroup v1
            for mount in (controllers, "cpu", "cpu,cpuacct"):
                for base in {f"/sys/fs/cgroup/{mount}{path}".rstrip("/"), f"/sys/fs/cgroup/{mount}"}:
                    quota, period = read(f"{base}/cpu.cfs_quota_us"), read(f"{base}/cpu.cfs_period_us")
                    if quota is not None and period is not None:
                        quota_us, period_us = int(quota), int(period)
                        return None if quota_us < 0 or period_us <= 0 else quota_us / period_us
    return None


def usable_cpus() -> int:
    """CPUs this process may run on, capped by its cgroup's CPU quota (rounded up); at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API (macOS)
        cpus = os.cpu_count() or 1
    try:
        quota = cgroup_cpu_quota()
    except ValueError:  # an unexpected file format: trust the affinity
        quota = None
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
