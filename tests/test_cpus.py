"""CPU quota detection (containers): cgroup v1 and v2 files, as a table."""

from __future__ import annotations

import pytest

from pylambda._environment.cpus import cgroup_cpu_quota, usable_cpus

V2 = "0::/user.slice/app\n"
V1 = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"/proc/self/cgroup": V2, "/sys/fs/cgroup/user.slice/app/cpu.max": "100000 100000\n"}, 1.0),
        ({"/proc/self/cgroup": V2, "/sys/fs/cgroup/user.slice/app/cpu.max": "150000 100000\n"}, 1.5),
        ({"/proc/self/cgroup": V2, "/sys/fs/cgroup/user.slice/app/cpu.max": "max 100000\n"}, None),
        ({"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "50000 100000\n"}, 0.5),  # a container's view
        ({"/proc/self/cgroup": V1, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
          "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"/proc/self/cgroup": V1, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"/proc/self/cgroup": V1}, None),  # no files: unknown
        ({}, None),  # not Linux
    ],
)  # fmt: skip
def test_cgroup_cpu_quota(files, expected):
    assert cgroup_cpu_quota(files.get) == expected


def test_usable_cpus_is_at_least_one_and_at_most_the_affinity():
    import os

    n = usable_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)
