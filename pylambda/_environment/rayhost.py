"""The node host: one Ray actor per node that runs pylambda's own process backend there.

Ray is placement and transport only.  On each node the host owns a
``ProcessBackend`` (a zygote and the environments it forks), exactly the
machinery of the local pool; the caller's ``RayEnvironment`` is a handle that
names an environment on some host::

    caller (RayBackend)                       node N (a Ray worker process)
    ─────────────────────                     ───────────────────────────────────────
    RayEnvironment.wait_init ──actor call──▶  NodeHost.start: code from the object
                                              store (cached per CodeSha256) ─▶
                                              ProcessBackend.start ─▶ wait_init
    RayEnvironment.send      ──actor call──▶  NodeHost.invoke ─▶ ProcessEnvironment
    RayEnvironment.receive   ◀─ ObjectRef ──   .invoke (timeouts, memory, crashes
                                              are the process backend's, on N)

Why a host per node and not an actor per environment: an environment is then
a fork from a warm zygote (~ms) instead of a Ray actor (8-300 ms to create),
and a node's environments share the zygote's imports; the numbers are in
docs/benchmarks.md.

Paths in the caller's INIT message mean nothing on another machine: the
host rewrites the code root and every shipped directory to its own copy
(``CodeCache``), gives each environment a ``/tmp`` of its own on this node,
and replaces the caller's interpreter paths that do not exist here by its
own ``sys.path``.  This module is imported on the nodes: it needs pylambda
(and Ray) installed there, not the caller's files.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile

from .backend import Outcome, Request
from .ending import read_proc
from .isolation import sandbox_for, views_for
from .process_backend import ProcessBackend
from .zygote import proc_stat

__all__ = ["CodeCache", "NodeHost", "identity", "outcome_fields", "outcome_from"]


def identity(pid: int | None = None) -> tuple[str, int, int]:
    """(machine and PID namespace, pid, start time) of process ``pid`` (this one by default); ("", pid, 0) if unknown.

    What the caller needs to wait for a host's process on its own machine
    (``RayBackend.close``): the first part equal to its own, the pid and its
    start time name the same process, not a later one given the pid again.
    """
    pid = os.getpid() if pid is None else pid
    stat = proc_stat(pid)
    try:
        boot = read_proc("/proc/sys/kernel/random/boot_id").decode().strip()
        started = int(stat[19]) if stat else 0  # field 22 of /proc/<pid>/stat: the start time
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}", pid, started
    except (OSError, ValueError, IndexError):
        return "", pid, 0


def outcome_fields(out: Outcome) -> tuple:
    """An outcome as a plain tuple (what crosses Ray: no pylambda class needed to unpickle)."""
    return (out.kind, out.status, out.error_type, out.payload, out.duration_ms, out.rss_kib, out.logs,
            out.exit_status)  # fmt: skip


def outcome_from(fields: tuple) -> Outcome:
    """The outcome ``outcome_fields`` flattened."""
    return Outcome(*fields)


class CodeCache:
    """Directories the caller shipped, extracted once per content hash on this node."""

    def __init__(self, root: str) -> None:
        self._root = root
        self._lock = threading.Lock()
        self.fetched = 0  # packages taken from the object store (the rest were cached)

    def path(self, sha: str, ref) -> str:
        """The local copy of the zip behind ``ref`` (fetched from the object store on first use)."""
        target = os.path.join(self._root, sha)
        if os.path.isdir(target):
            return target
        with self._lock:
            if os.path.isdir(target):
                return target
            import ray

            data = ray.get(ref)
            tmp = f"{target}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                zf.extractall(tmp)
                for info in zf.infolist():  # keep executable bits (a zipped bootstrap, scripts)
                    mode = info.external_attr >> 16
                    if mode:
                        os.chmod(os.path.join(tmp, info.filename), mode & 0o7777)
            os.rename(tmp, target)
            self.fetched += 1
        return target


class NodeHost:
    """The per-node host (wrapped by ``ray.remote`` in ``RayBackend``; threaded: one call per environment at once)."""

    def __init__(self, spin_s: float = 0.0) -> None:
        self._root = tempfile.mkdtemp(prefix="pylambda-ray-host-")
        self._code = CodeCache(os.path.join(self._root, "code"))
        os.makedirs(os.path.join(self._root, "code"), exist_ok=True)
        self._backend = ProcessBackend(spin_s)
        self._backend.prepare()  # the zygote's imports overlap the first start's transfer
        self._envs: dict = {}
        self._lock = threading.Lock()
        self._own_path = [p for p in sys.path if p]

    def node(self) -> tuple[str, int]:
        """(this node's Ray id, the host's pid): where environments started here run."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    # -- environments ---------------------------------------------------------------
    def start(self, env_id: str, name: str, spec: dict, trees: dict, memory_mb: int, timeout_s: float) -> tuple:
        """Start an environment from the caller's INIT message and wait for its init: an outcome."""
        spec = self._localize(spec, trees, memory_mb)
        env = self._backend.start(None, env_id, name, spec, memory_mb)
        with self._lock:
            self._envs[env_id] = env
        out = env.wait_init(timeout_s)
        if out.kind != "ready":
            self._drop(env_id)
            env.kill()
            env.reap(1.0)
        return outcome_fields(out)

    def invoke(self, env_id: str, fields: tuple, remaining_s: float) -> tuple:
        """Run one request on environment ``env_id`` within ``remaining_s`` (this node's clock)."""
        env = self._envs.get(env_id)
        if env is None or env.state == "DEAD":
            self._drop(env_id)
            return outcome_fields(Outcome("gone"))
        out = env.invoke(Request(*fields), time.monotonic() + remaining_s)
        if out.kind != "result":
            self._drop(env_id)
        return outcome_fields(out)

    def kill(self, env_id: str) -> None:
        """SIGKILL an environment (a caller-side timeout, an Invoker closing under a busy one)."""
        env = self._envs.get(env_id)
        if env is not None:
            env.kill()

    def end(self, env_id: str, grace: float) -> int | None:
        """End an idle environment (EOF, then SIGKILL after ``grace``); its wait status."""
        env = self._drop(env_id)
        if env is None:
            return None
        if env.state != "DEAD":
            env.stop()
        return env.reap(grace)

    def close(self, timeout: float) -> tuple[str, int, int]:
        """End every environment and the zygote, and remove this host's files; this process's ``identity()``."""
        with self._lock:
            envs, self._envs = list(self._envs.values()), {}
        for env in envs:
            env.kill()
        for env in envs:
            env.reap(timeout)
        self._backend.close(timeout)
        shutil.rmtree(self._root, ignore_errors=True)
        return identity()

    def sandbox_report(self) -> dict | None:
        """What this node's sandbox enforces (its zygote's report; ``isolation``)."""
        return self._backend.sandbox_report()

    def stats(self) -> dict:
        """Environments alive here, packages fetched, the zygote's pid."""
        return {"environments": len(self._envs), "fetched": self._code.fetched, **self._backend.stats()}

    def _drop(self, env_id: str):
        with self._lock:
            return self._envs.pop(env_id, None)

    # -- the caller's paths, made local ---------------------------------------------
    def _localize(self, spec: dict, trees: dict, memory_mb: int) -> dict:
        """The INIT message with this node's paths: shipped code, a local /tmp, its interpreter, its sandbox."""
        mapped = {path: self._code.path(sha, ref) for path, (sha, ref) in trees.items()}
        task_root = mapped.get(spec["task_root"], spec["task_root"])
        sys_path: list[str] = []
        own_added = False
        for p in spec["sys_path"]:
            if p in mapped:
                sys_path.append(mapped[p])
            elif os.path.isdir(p):
                sys_path.append(p)
            elif not own_added:  # the caller's interpreter lives elsewhere: this node's own
                sys_path.extend(q for q in self._own_path if q not in sys_path)
                own_added = True
        caller_tmp = spec.get("tmpdir") or ""
        tmpdir = os.path.join(self._root, "tmp", hashlib.sha1(caller_tmp.encode()).hexdigest()[:16])
        os.makedirs(tmpdir, exist_ok=True)
        coverage = spec.get("coverage")
        if coverage and not os.path.isdir(os.path.dirname(coverage["data_file"])):
            coverage = None  # measured on the caller's machine only
        handler_file = spec.get("handler_file")
        if handler_file and handler_file in mapped:
            handler_file = mapped[handler_file]
        local = dict(spec, task_root=task_root, sys_path=sys_path, tmpdir=tmpdir, coverage=coverage,
                     handler_file=handler_file)  # fmt: skip
        sandbox = self._sandbox(local, spec.get("sandbox"), tmpdir, memory_mb)
        # /tmp itself when the sandbox mounts a private one there, as on the caller's machine.
        environ = dict(spec["environ"], LAMBDA_TASK_ROOT=task_root, PWD=task_root, TMPDIR="/tmp" if sandbox else tmpdir)
        return dict(local, environ=environ, sandbox=sandbox)

    def _sandbox(self, spec: dict, asked: dict | None, tmpdir: str, memory_mb: int) -> dict | None:
        """The caller's sandbox description (its paths) for this node: its paths, what its kernel allows.

        The caller asked for what the node hosts reported (``RayBackend.sandbox_report``);
        this node gives what its own zygote enforces of it.
        """
        report = self._backend.sandbox_report() if asked is not None else None
        if report is None:
            return None
        read_only = asked["views"][0][1] if asked.get("views") else True  # the code root's
        hide = [self._root]  # other environments' /tmp, the code cache
        return sandbox_for(
            report,
            tmpdir=tmpdir,
            tmp_mb=asked["tmp_mb"],
            views=views_for(spec, read_only, hide),
            hide=hide,
            network="none" if asked.get("network") is False else None,
            memory_mb=memory_mb,
            cpu_scaling="cpus" in asked,
        )
