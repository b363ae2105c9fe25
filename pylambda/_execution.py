"""Execution environments: how the Invoker starts and inits them, with Lambda's init semantics.

``Launcher`` is a collaborator of ``Invoker``, used by the engine
(``_engine.Engine``) and by provisioned concurrency.  It owns what a
version's environments share (the pool key, the init spec, the
platform-line formatter) and every start: the spec and the sandbox of a new
environment, the cold start (an init phase bounded by 10 s; if that failed,
or the version's last init failed, an init inside the invocation bounded by
its timeout, as Lambda retries), SnapStart's restore lines, a provisioned
environment's init, and Lambda's payload for an init or invocation that
failed (``_failure``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._environment.backend import Environment, Outcome, Request, describe_exit
from ._environment.isolation import check_cpu_scaling, sandbox_for, views_for, warn_unenforced
from ._environment.pool import EnvironmentPool
from ._environment.runtimes import Backends
from ._environment.spec import build_init_spec
from ._function import Function
from ._history import Recorder
from ._logs import PlatformLines, log_text, stream_name
from ._version import LATEST, Version

if TYPE_CHECKING:
    from ._engine import Route

__all__ = ["INIT_PHASE_TIMEOUT_S", "Launcher", "Phase"]

# Lambda's init phase limit (reference §7.1).
INIT_PHASE_TIMEOUT_S = 10.0


def _platform_error(error_type: str, message: str) -> bytes:
    """A platform-generated error body (errorType first, compact, as Lambda's Go code writes it)."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


class Phase:
    """Accumulates one invocation's log text and timings (internal).

    When the invoke-phase init fails too, ``failure`` holds what the result
    reports instead of an invocation: (REPORT status, error type, payload,
    init ms, peak RSS in KiB), with ``env_id`` and ``stream`` of the
    environment that failed.
    """

    __slots__ = ("before", "cold", "env_id", "failure", "init_ms", "inside", "restore", "start", "stream",
                 "suppressed_init_ms")  # fmt: skip

    def __init__(self) -> None:
        self.before: list[str] = []  # INIT_START, init output, INIT_REPORT (phase init)
        self.inside: list[str] = []  # between START and END
        self.init_ms: float | None = None  # the REPORT's Init Duration (init phase only)
        self.restore: tuple[float, int] | None = None  # SnapStart: (Restore Duration, Billed Restore Duration)
        self.suppressed_init_ms = 0.0  # an invoke-phase init, counted in Duration
        self.start: float | None = None  # when an invoke-phase init began (monotonic)
        self.cold = False
        self.env_id: str | None = None  # of an environment that failed its init
        self.stream: str | None = None
        self.failure: tuple[str, str, bytes, float, int] | None = None


class Launcher:
    """Starts a version's environments for one Invoker (internal).

    Args:
        pool, backends, recorder: the Invoker's.
        workdir: the Invoker's private directory (environments' /tmp dirs),
            hidden from sandboxed environments.
        inherit: ``Invoker(inherit_env=)``.
        environ_for: the variables pointing an environment of a version (or,
            with None, any code) at the Invoker's endpoints.
        cpu_scaling: ``Invoker(cpu_scaling=)`` (validated here).
        inline: ``Invoker(mode="inline")``: registered code directories become
            importable in the caller (``_environment/imports.py``).
    """

    def __init__(
        self,
        *,
        pool: EnvironmentPool,
        backends: Backends,
        recorder: Recorder,
        workdir: str,
        inherit: bool | tuple[str, ...],
        environ_for: Callable[[Version | None], dict[str, str]],
        cpu_scaling: object,
        inline: bool,
    ) -> None:
        self._pool = pool
        self._backends = backends
        self._recorder = recorder
        self._workdir = workdir
        self._inherit = inherit
        self._environ_for = environ_for
        self._cpu_scaling = check_cpu_scaling(cpu_scaling)
        self._caller_imports = None
        if inline:
            from ._environment.imports import CallerImports

            self._caller_imports = CallerImports()
        self._init_specs: dict[tuple, dict] = {}
        self._platform_lines: dict[tuple, PlatformLines] = {}
        self._latest_revision: dict[str, int] = {}

    # -- what a version's environments share -----------------------------------------
    def prepare(self, fn: Function) -> None:
        """A function was registered: its backend gets ready (a zygote, say); inline, its code becomes importable."""
        self._backends.prepare(fn.config.runtime)
        if self._caller_imports is None:
            return
        code = fn.latest.code
        if code.kind != "directory":
            return

        def environ() -> dict[str, str]:
            return build_init_spec(fn.latest, fn, self._workdir, self._inherit, self._environ_for(None))["environ"]

        module = fn.latest.handler.rpartition(".")[0].replace("/", ".").split(".")[0]
        self._caller_imports.add(code.path, environ, module)

    def close(self) -> None:
        """The Invoker closed: inline mode's importer leaves ``sys.meta_path``."""
        if self._caller_imports is not None:
            self._caller_imports.close()

    def key(self, version: Version) -> tuple:
        """The pool key of ``version``; a new ``$LATEST`` revision retires the old one's environments and caches."""
        key = (version.function_name, version.version, version.revision)
        if version.version == LATEST and self._latest_revision.get(version.function_name) != version.revision:
            self._latest_revision[version.function_name] = version.revision
            self._pool.retire_older(version.function_name, LATEST, version.revision)
            for cache in (self._init_specs, self._platform_lines):  # an old revision's spec is never used again
                for old in [k for k in list(cache) if k[:2] == key[:2] and k[2] < version.revision]:
                    cache.pop(old, None)
        return key

    def _init_spec(self, key: tuple, version: Version, fn: Function) -> dict:
        spec = self._init_specs.get(key)
        if spec is not None:
            return spec
        spec = build_init_spec(version, fn, self._workdir, self._inherit, self._environ_for(version))
        self._init_specs[key] = spec
        return spec

    def lines(self, key: tuple, version: Version, fn: Function) -> PlatformLines:
        """The platform-line formatter of ``version`` (cached per key)."""
        lines = self._platform_lines.get(key)
        if lines is None:
            cfg = version.config
            lines = PlatformLines(
                json_format=cfg.log_format == "JSON",
                system_level=cfg.system_log_level,
                function_name=fn.name,
                version=version.version,
                arn=fn.arn,
                runtime=cfg.runtime,
                region=version.region,
                memory_mb=cfg.memory_size,
                tracing=cfg.tracing == "Active",
            )
            self._platform_lines[key] = lines
        return lines

    def _start_env(
        self,
        key: tuple,
        version: Version,
        fn: Function,
        timeout_s: float,
        init_type: str = "on-demand",
        ahead: tuple[Request, float] | None = None,
    ) -> tuple[Environment, Outcome]:
        base = self._init_spec(key, version, fn)
        env_id = self._pool.new_env_id()
        stream = stream_name(version.version, function_name=fn.name if version.config.log_group else None)
        environ = dict(base["environ"])
        environ["AWS_LAMBDA_LOG_STREAM_NAME"] = stream
        if init_type == "on-demand" and version.config.snap_start and version.version != LATEST:
            init_type = "snap-start"  # SnapStart applies to published versions
        environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
        tmpdir = self._pool.tmpdir_for(key, env_id)
        sandbox = self._sandbox_for(version, base, tmpdir)
        # /tmp itself when the sandbox mounts a private one there; otherwise a
        # private directory (what handlers written for pylambda < 0.x read).
        environ["TMPDIR"] = "/tmp" if sandbox is not None else tmpdir
        spec = dict(base, environ=environ, tmpdir=tmpdir, sandbox=sandbox)
        if ahead is not None and (
            init_type != "on-demand" or not self._backends.for_runtime(version.config.runtime).sends_ahead
        ):
            ahead = None
        if ahead is not None:  # between INIT's logs and the invocation's (``send_ahead``)
            spec["log_mark"] = b"\0pylambda-init-end-" + secrets.token_hex(8).encode() + b"\n"
        name = f"λ{version.function_name}"[:15]
        env = self._pool.start(key, env_id, name, spec, version.config.memory_size)
        if ahead is not None:
            env.send_ahead(*ahead)
        return env, env.wait_init(timeout_s)

    def _sandbox_for(self, version: Version, base: dict, tmpdir: str) -> dict | None:
        """The sandbox of a new environment of ``version`` (None: its backend has none, or no namespaces)."""
        cfg = version.config
        report = self._backends.for_runtime(cfg.runtime).sandbox_report()
        if report is None:
            return None
        warn_unenforced(report, network=cfg.network == "none", cpu_scaling=self._cpu_scaling)
        return sandbox_for(
            report,
            tmpdir=tmpdir,
            tmp_mb=cfg.ephemeral_storage,
            views=self._views(base, version),
            hide=self._hidden(),
            network=cfg.network,
            memory_mb=cfg.memory_size,
            cpu_scaling=self._cpu_scaling,
        )

    def _views(self, base: dict, version: Version) -> list:
        views = base.get("views")
        if views is None:  # once per version: the spec is cached
            views = base["views"] = views_for(base, version.code.kind in ("directory", "zip"), self._hidden())
        return views

    def _hidden(self) -> list[str]:
        """What an environment must not see: the directory of every Invoker's work directory.

        Not only this Invoker's: an environment's mounts are a copy of the
        zygote's, which hold the /tmp tmpfs of every environment alive then,
        on its Invoker's directory.  Under /tmp (the usual ``TMPDIR``) the
        environment's own /tmp covers them all; elsewhere, the parent of the
        work directories (``tempfile.gettempdir()``) is hidden whole.
        """
        root = os.path.dirname(self._workdir)
        return [self._workdir] if root == "/tmp" or root.startswith("/tmp/") else [root]

    @staticmethod
    def failure(outcome: Outcome, request_id: str, timeout_s: float) -> tuple[str, str, bytes, str]:
        """(REPORT status, error type, payload, platform message) for an init or invocation that failed.

        The message is empty when the runtime reported the error itself
        (an init error: its own error document is the payload).
        """
        if outcome.kind in ("result", "init_error"):
            return "error", outcome.error_type, outcome.payload, ""
        if outcome.kind == "timeout":
            message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            return "timeout", "Sandbox.Timedout", _platform_error("Sandbox.Timedout", message), message
        error_type = "Runtime.OutOfMemory" if outcome.kind == "oom" else "Runtime.ExitError"
        message = f"RequestId: {request_id} Error: {describe_exit(outcome.exit_status)}"
        return "error", error_type, _platform_error(error_type, message), message

    def cold_start(
        self, route: Route, request_id: str, phase: Phase, request: Request | None = None
    ) -> Environment | None:
        """Start and init a new environment, with Lambda's init semantics.

        A normal cold start inits in the *init phase* (bounded by 10 s; its time
        is the REPORT's Init Duration).  If that fails, or if the last init of
        this version failed, init is retried inside the invocation (*invoke
        phase*, bounded by the function timeout, counted in its Duration).
        Returns the ready environment, or None when the invoke-phase init
        failed too (``phase.failure``).  ``request``: the invocation the
        environment is for, sent with its INIT where its backend can
        (``ProcessEnvironment.send_ahead``); the caller then invokes it with
        that same request.
        """
        key, version, fn, lines = route.key, route.version, route.fn, route.lines
        cfg = version.config
        phase.cold = True
        if not self._pool.init_failed(key):
            began = time.monotonic()
            ahead = (request, float(cfg.timeout)) if request is not None else None
            env, out = self._start_env(key, version, fn, INIT_PHASE_TIMEOUT_S, ahead=ahead)
            if env.init_type == "snap-start" and out.kind == "ready":
                return self._restored(env, out, route, phase, began)
            phase.before.append(lines.init_start(env.stream_name))
            phase.before.append(log_text(out.logs))
            if out.kind == "ready":
                phase.init_ms = out.duration_ms
                return env
            status, etype, _, _ = self.failure(out, request_id, INIT_PHASE_TIMEOUT_S)
            init_ms = INIT_PHASE_TIMEOUT_S * 1000 if status == "timeout" else out.duration_ms
            phase.before.append(lines.init_report(init_ms, "init", status, etype))
            self._pool.discard(env, keep_tmp=True)
            self._pool.set_init_failed(key, True)
        timeout_s = float(cfg.timeout)
        phase.start = time.monotonic()
        env, out = self._start_env(key, version, fn, timeout_s)
        phase.inside.append(log_text(out.logs))
        if out.kind != "ready":
            status, etype, payload, _ = self.failure(out, request_id, timeout_s)
            if status == "timeout":
                init_ms = timeout_s * 1000
            else:
                init_ms = out.duration_ms or (time.monotonic() - phase.start) * 1000
            phase.inside.append(lines.init_report(init_ms, "invoke", status, etype))
            phase.env_id, phase.stream = env.id, env.stream_name
            self._pool.discard(env, keep_tmp=True)
            phase.failure = (status, etype, payload, init_ms, max(out.rss_kib, env.max_rss_kib))
            return None
        phase.suppressed_init_ms = out.duration_ms
        phase.inside.append(lines.init_report(out.duration_ms, "invoke", None, None))
        self._pool.set_init_failed(key, False)
        return env

    def _restored(self, env: Environment, out: Outcome, route: Route, phase: Phase, began: float) -> Environment:
        """A SnapStart environment is ready: RESTORE lines (after the snapshot's own init log, once)."""
        lines = route.lines
        backend = self._backends.for_runtime(route.version.config.runtime)
        template = backend.template_of(route.key) if hasattr(backend, "template_of") else None
        if template is not None and not template.init_reported:  # the snapshot's init: logged once, as at publish
            template.init_reported = True
            phase.before.append(lines.init_start(template.stream_name, "snap-start"))
            phase.before.append(log_text(template.init_logs))
            phase.before.append(lines.init_report(template.init_ms, "init", None, None, "snap-start"))
        restore_ms = (time.monotonic() - max(began, template.ready_at if template is not None else began)) * 1000
        phase.before.append(lines.restore_start())
        phase.before.append(log_text(out.logs))
        phase.before.append(lines.restore_report(restore_ms))
        phase.restore = (restore_ms, math.ceil(out.duration_ms))
        return env

    def start_provisioned(self, key: tuple, version: Version, fn: Function, timeout: float) -> str | None:
        """Start and init one provisioned environment, log its init, pool it; return why it failed, or None."""
        env, out = self._start_env(key, version, fn, timeout, "provisioned-concurrency")
        lines = self.lines(key, version, fn)
        ok = out.kind == "ready"
        status, etype = (None, None) if ok else self.failure(out, "", timeout)[:2]
        text = (
            lines.init_start(env.stream_name, "provisioned-concurrency")
            + log_text(out.logs)
            + lines.init_report(out.duration_ms, "init", status, etype, "provisioned-concurrency")
        )
        self._recorder.platform_log(fn.name, env.stream_name, time.time(), text)
        if ok:
            self._pool.checkin(env)
            return None
        self._pool.discard(env, keep_tmp=False)
        return f"{etype} during init"
