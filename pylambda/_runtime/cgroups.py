"""The cgroups of a zygote's environments: a CPU quota per environment (child side: zygote and inits).

An environment under ``cpu_scaling`` gets CPU in proportion to its memory,
as on Lambda: its init joins a cgroup of its own below the zygote's
(``pylambda-<zygote pid>``) with the quota set (cgroup v2 ``cpu.max`` or
v1 ``cpu.cfs_quota_us``), so the runtime it forks is in it too; when the
runtime has exited, the init leaves the group and removes it.  The zygote
removes its own group when it ends; each zygote that starts removes a few
that zygotes killed before their cleanup left behind.

Only the standard library: this runs in the zygote and its children.
"""

from __future__ import annotations

import os

__all__ = ["base", "join", "leave", "remove", "sweep"]

CPU_PERIOD_US = 100_000


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def base(controller: str) -> str | None:
    """A writable directory for this zygote's environments under ``controller``, or None."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _h, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            candidates = [f"/sys/fs/cgroup/{controller}{path}", f"/sys/fs/cgroup/{controllers}{path}"]
        elif controllers == "":  # cgroup v2: the controller must be enabled below this group
            try:
                with open(f"/sys/fs/cgroup{path}/cgroup.controllers") as f:
                    if controller not in f.read().split():
                        continue
            except OSError:
                continue
            candidates = [f"/sys/fs/cgroup{path}"]
        else:
            continue
        for parent in candidates:
            base = os.path.join(parent.rstrip("/"), f"pylambda-{os.getpid()}")
            try:
                os.mkdir(base)
            except FileExistsError:  # a dead zygote's, with this pid: what its environments left goes
                remove(base, keep=True)
            except OSError:
                continue
            sweep(parent)
            if controllers == "":
                try:
                    _write(f"{base}/cgroup.subtree_control", f"+{controller}")
                except OSError:
                    os.rmdir(base)
                    continue
            return base
    return None


def sweep(parent: str, most: int = 256) -> None:
    """Remove up to ``most`` cgroups left by zygotes that were killed (their pid is gone); best effort.

    A zygote ended by SIGKILL cannot remove its ``pylambda-<pid>`` group;
    each zygote that starts clears a few of these, so they never pile up
    for long (bounded: an rmdir of a v1 cgroup can wait for the kernel).
    """
    try:
        names = [n for n in os.listdir(parent) if n.startswith("pylambda-") and n[9:].isdigit()]
    except OSError:
        return
    for name in names:
        if most <= 0:
            return
        try:
            os.kill(int(name[9:]), 0)
            continue  # alive (or a pid reused by another process: its group stays)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        remove(os.path.join(parent, name))
        most -= 1


def remove(base: str, keep: bool = False) -> None:
    """Remove the (empty) cgroups under ``base``, and ``base`` itself unless ``keep``; best effort."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        if os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                pass
    if not keep:
        try:
            os.rmdir(base)
        except OSError:
            pass


def join(cpus: float | None, cpu_base: str | None, me: int) -> list[str]:
    """Put this init (and so the runtime it forks) in a cgroup of ``cpus`` CPUs below ``cpu_base``; the groups made."""
    if not cpus or not cpu_base:
        return []
    quota = max(1000, int(CPU_PERIOD_US * cpus))
    v2 = os.path.exists(f"{cpu_base}/cgroup.subtree_control")
    knob, value = ("cpu.max", f"{quota} {CPU_PERIOD_US}") if v2 else ("cpu.cfs_quota_us", str(quota))
    # Not the pid alone: an init killed before its cleanup leaves its
    # cgroup behind, and pids are reused (an init with a leftover's pid
    # failed its setup: "could not fork an environment: Input/output error").
    path = f"{cpu_base}/{me}-{os.urandom(4).hex()}"
    os.mkdir(path)
    _write(f"{path}/{knob}", value)
    _write(f"{path}/cgroup.procs", "0")
    return [path]


def leave(joined: list[str]) -> None:
    """Move this process out of each of ``joined`` to its parent group, then remove it; best effort."""
    for path in joined:
        try:
            _write(f"{os.path.dirname(path)}/cgroup.procs", "0")
            os.rmdir(path)
        except OSError:
            pass
