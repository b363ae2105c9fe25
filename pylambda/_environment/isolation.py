"""What each environment's sandbox holds, and what this machine cannot enforce (parent side).

The zygote finds out, once, what the kernel allows (``_runtime/sandbox.py``
does the work) and reports it as ``{part: None or why not}``.  Here that
report becomes the sandbox description sent with every fork request, and a
single ``RuntimeWarning`` per process naming what is not enforced, so a test
suite that relies on isolation learns it once, not on every cold start.

Parts and what they stand for (docs/guide.md, "Sandbox"):

* ``namespaces``: PID, mount and user namespaces per environment: a handler
  cannot see, read or signal the caller, the zygote or other environments;
  ``/tmp`` is private, sized and at that path; the code is read-only.
* ``nproc``: at most 1,024 processes and threads per environment.
* ``network``: ``Function(network="none")`` (opt-in).
* ``cpu``: ``Invoker(cpu_scaling=True)`` (opt-in).
"""

from __future__ import annotations

import os
import sys

from .._errors import InvalidParameterValueError
from .runtimes import _warn_once  # once per process and key, shared with the runtimes' warnings

__all__ = ["MB_PER_VCPU", "check_cpu_scaling", "sandbox_for", "shown", "views_for", "warn_unenforced"]

# At 1,769 MB a function has one vCPU (reference §7.2).
MB_PER_VCPU = 1769

_DEFAULT_PARTS = {
    "namespaces": "per-environment PID, mount and user namespaces (handlers can read other processes' "
    "/proc/<pid>/environ and memory and signal them; /tmp is a private TMPDIR of unlimited size, "
    "not /tmp itself; code is writable)",
    "nproc": "the limit of 1,024 processes and threads",
}


def warn_unenforced(report: dict, *, network: bool = False, cpu_scaling: bool = False) -> None:
    """Warn (once per process and part) about the parts of the sandbox this machine does not enforce.

    The default parts are named together in one warning; the opt-in ones
    (``network``, ``cpu_scaling``) only when asked for.
    """
    if report.get("disabled"):
        return  # the user's choice, not a surprise
    missing = [
        f"{text}: {report.get(part)}"
        for part, text in _DEFAULT_PARTS.items()
        if report.get(part) is not None and not (part == "nproc" and report.get("namespaces"))
    ]
    if missing:
        _warn_once(
            "sandbox:default",
            "pylambda sandbox: not enforced on this machine: " + "; ".join(missing) + " (see docs/guide.md#sandbox)",
        )
    if network and report.get("network") is not None:
        _warn_once(
            "sandbox:network",
            f"pylambda sandbox: network='none' is not enforced on this machine: {report['network']}",
        )
    if cpu_scaling and report.get("cpu") is not None:
        message = f"pylambda sandbox: cpu_scaling=True is not enforced on this machine: {report['cpu']}"
        _warn_once("sandbox:cpu", message)


def check_cpu_scaling(value: object) -> bool:
    """Validate ``Invoker(cpu_scaling=)``: True or False, nothing else."""
    if not isinstance(value, bool):
        raise InvalidParameterValueError(f"cpu_scaling must be True or False, got {value!r}")
    return value


def views_for(spec: dict, read_only_code: bool, hide: list[str]) -> list:
    """The directories an environment of ``spec`` must still see, as ``[path, read_only]``.

    The code root, read-only for a deployment package (a directory or a
    zip, as ``/var/task``); and, where ``/tmp`` or a hidden directory would
    cover them, the directories its runtime reads: ``sys.path`` entries and
    the coverage data directory.
    """
    cov = spec.get("coverage") or {}
    dirs = [
        *_interpreter_dirs(),
        *spec["sys_path"],
        *(os.path.dirname(cov[k]) for k in ("data_file", "config_file") if cov.get(k)),
    ]
    return [[spec["task_root"], read_only_code], *_covered(dirs, hide)]


def _interpreter_dirs() -> list[str]:
    """The running interpreter's installation (a venv's root, the Python it was made from).

    A handler that starts ``sys.executable`` (a subprocess, a ``provided``
    bootstrap that ``exec``s it) needs the executable, the venv's
    ``pyvenv.cfg`` and the standard library where they are, even when they
    live under ``/tmp`` (a CI job's venv), which the environment's own
    ``/tmp`` would otherwise cover.
    """
    return sorted({os.path.abspath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)})


def shown(files: list[str], hide: list[str]) -> list:
    """Views (``[path, read_only]``) of the directories of ``files`` that ``/tmp`` or ``hide`` would cover.

    For a Runtime API runtime: its executable and script (node and
    pylambda's Node bootstrap) must stay where its command names them.
    """
    return _covered([os.path.dirname(os.path.abspath(f)) for f in files], hide)


def _covered(dirs: list[str], hide: list[str]) -> list:
    covered = ["/tmp", *hide]
    return [
        [path, False]
        for path in dirs
        if any(path.startswith(c.rstrip("/") + "/") for c in covered) and os.path.isdir(path)
    ]


def sandbox_for(
    report: dict,
    *,
    tmpdir: str,
    tmp_mb: int,
    views: list,
    hide: list[str],
    network: str | None,
    memory_mb: int,
    cpu_scaling: bool,
) -> dict | None:
    """The sandbox description for one environment's fork request, or None where there is none."""
    if report.get("namespaces") is not None:
        return None
    conf: dict = {"tmp": tmpdir, "tmp_mb": tmp_mb, "hide": hide, "views": views}
    if network == "none" and report.get("network") is None:
        conf["network"] = False
    if cpu_scaling and report.get("cpu") is None:
        conf["cpus"] = memory_mb / MB_PER_VCPU
    return conf
