"""The general path of an invocation: cold starts with Lambda's init semantics, the exchange, the result.

``Execution`` is a mixin of ``Invoker``.  Every invocation that the warm
route (``Invoker._invoke_routed``) does not finish comes here: no idle
environment (a cold start: an init phase bounded by 10 s, then, if that
failed, an init inside the invocation bounded by its timeout, as Lambda
retries), an environment found dead, a timeout, a crash, a memory kill, an
edit of a ``$LATEST`` code directory.  The outcome of the exchange becomes
Lambda's result and error payloads here; the environment goes back to the
pool or is discarded (keeping its /tmp, as Lambda's reset does).
"""

from __future__ import annotations

import json
import math
import os
import time

from ._billing import max_memory_used_mb, report_durations
from ._config import validate_endpoint_url
from ._environment.backend import STATUS_BYTES, STATUS_ERROR, Environment, Outcome, Request, describe_exit
from ._environment.isolation import check_cpu_scaling, sandbox_for, views_for, warn_unenforced
from ._environment.spec import build_init_spec
from ._errors import InvokerClosedError
from ._function import Function
from ._logs import PlatformLines, log_text, stream_name, timeout_line
from ._result import InvocationResult
from ._version import LATEST, Version

__all__ = ["INIT_PHASE_TIMEOUT_S", "WATCH_INTERVAL_S", "Execution"]

# Lambda's init phase limit (reference §7.1).
INIT_PHASE_TIMEOUT_S = 10.0


# How often a $LATEST code directory is checked for edits.  Shorter notices
# edits sooner; each check walks the tree.
WATCH_INTERVAL_S = 0.2


def _tree_fingerprint(root: str) -> int:
    """A hash of every file's path, mtime and size under ``root`` (bytecode caches aside)."""
    entries = []
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            stack.append(entry.path)
                    else:
                        st = entry.stat()
                        entries.append((entry.path, st.st_mtime_ns, st.st_size))
        except OSError:
            continue
    return hash(frozenset(entries))


def _platform_error(error_type: str, message: str) -> bytes:
    """A platform-generated error body (errorType first, compact, as Lambda's Go code writes it)."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


class _Phase:
    """Accumulates one invocation's log text and timings (internal)."""

    __slots__ = ("before", "cold", "env_id", "init_ms", "inside", "restore", "start", "stream", "suppressed_init_ms")

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


class Execution:
    """The Invoker's general path (a mixin over its pool, zygote and caches)."""

    def _reload_if_changed(self, fn: Function, version: Version) -> Version:
        """Notice edits under a ``$LATEST`` code directory and serve the new code.

        At most every ``WATCH_INTERVAL_S`` per function, the tree's
        (path, mtime, size) fingerprint is compared with the last one; a
        change makes a new ``$LATEST`` revision, whose environments start cold
        with the new code.  Published versions are snapshots and never change.
        """
        if not self._watches(version):
            return version
        now = time.monotonic()
        state = self._watch.get(fn.name)
        if state is not None and state[2] == version.revision and now < state[0]:
            return version
        fingerprint = _tree_fingerprint(version.code.path)
        if state is not None and state[2] == version.revision and fingerprint != state[1]:
            version = fn.reload_code()
        self._watch[fn.name] = (now + WATCH_INTERVAL_S, fingerprint, version.revision)
        return version

    def _watches(self, version: Version) -> bool:
        """Whether edits to ``version``'s code are served (a ``$LATEST`` code directory, watching on)."""
        return self._watch_code and version.code.kind == "directory" and version.version == LATEST

    def _key(self, version: Version) -> tuple:
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
        spec = build_init_spec(version, fn, self._workdir, self._inherit, self._endpoint_environ(version))
        self._init_specs[key] = spec
        return spec

    def _set_aws_endpoint_url(self, url: str | None) -> None:
        self._aws_endpoint_url = None if url is None else validate_endpoint_url(url)

    @property
    def aws_endpoint_url(self) -> str | None:
        """The AWS services endpoint environments are given (``AWS_ENDPOINT_URL``), or None."""
        return self._aws_endpoint_url

    def _endpoint_environ(self, version: Version | None = None) -> dict[str, str]:
        """Variables pointing handlers' SDK clients at the Invoker's endpoints.

        ``AWS_ENDPOINT_URL`` (``aws_endpoint_url``); for an environment of
        ``version``, also ``AWS_ENDPOINT_URL_LAMBDA`` (this Invoker's Lambda
        API, so functions invoke functions) and the credentials of the
        version's role (see ``_endpoint/environ.py``).
        """
        url = self._aws_endpoint_url
        out = {"AWS_ENDPOINT_URL": url} if url else {}
        if version is not None:
            from ._endpoint.environ import lambda_environ

            out.update(lambda_environ(self, version))
        return out

    def _lines(self, key: tuple, version: Version, fn: Function) -> PlatformLines:
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
        self, key: tuple, version: Version, fn: Function, timeout_s: float, init_type: str = "on-demand"
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
        # SnapStart's restored environments are forks of their template, not
        # yet sandboxed one by one (a pid namespace and a /tmp each): none.
        sandbox = None if init_type == "snap-start" else self._sandbox_for(version, base, tmpdir)
        # /tmp itself when the sandbox mounts a private one there; otherwise a
        # private directory (what handlers written for pylambda < 0.x read).
        environ["TMPDIR"] = "/tmp" if sandbox is not None else tmpdir
        spec = dict(base, environ=environ, tmpdir=tmpdir, sandbox=sandbox)
        name = f"λ{version.function_name}"[:15]
        env = self._pool.start(key, env_id, name, spec, version.config.memory_size)
        return env, env.wait_init(timeout_s)

    def _set_cpu_scaling(self, value: object) -> None:
        """``Invoker(cpu_scaling=)``: environments get memory / 1,769 MB of a CPU (validated)."""
        self._cpu_scaling = check_cpu_scaling(value)

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
            hide=[self._workdir],
            network=cfg.network,
            memory_mb=cfg.memory_size,
            cpu_scaling=self._cpu_scaling,
        )

    def _views(self, base: dict, version: Version) -> list:
        views = base.get("views")
        if views is None:  # once per version: the spec is cached
            views = base["views"] = views_for(base, version.code.kind in ("directory", "zip"), [self._workdir])
        return views

    @staticmethod
    def _failure(outcome: Outcome, request_id: str, timeout_s: float) -> tuple[str, str, bytes, str]:
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

    def _cold_start(
        self, key: tuple, version: Version, fn: Function, request_id: str, phase: _Phase, lines: PlatformLines
    ) -> Environment | tuple[str, str, bytes, float, int]:
        """Start and init a new environment, with Lambda's init semantics.

        A normal cold start inits in the *init phase* (bounded by 10 s; its time
        is the REPORT's Init Duration).  If that fails, or if the last init of
        this version failed, init is retried inside the invocation (*invoke
        phase*, bounded by the function timeout, counted in its Duration).
        Returns the ready environment, or (REPORT status, error type, payload,
        init ms, peak RSS in KiB) when the invoke-phase init failed too.
        """
        cfg = version.config
        phase.cold = True
        if not self._pool.init_failed(key):
            began = time.monotonic()
            env, out = self._start_env(key, version, fn, INIT_PHASE_TIMEOUT_S)
            if env.init_type == "snap-start" and out.kind == "ready":
                return self._restored(env, out, key, version, phase, lines, began)
            phase.before.append(lines.init_start(env.stream_name))
            phase.before.append(log_text(out.logs))
            if out.kind == "ready":
                phase.init_ms = out.duration_ms
                return env
            status, etype, _, _ = self._failure(out, request_id, INIT_PHASE_TIMEOUT_S)
            init_ms = INIT_PHASE_TIMEOUT_S * 1000 if status == "timeout" else out.duration_ms
            phase.before.append(lines.init_report(init_ms, "init", status, etype))
            self._pool.discard(env, keep_tmp=True)
            self._pool.set_init_failed(key, True)
        timeout_s = float(cfg.timeout)
        phase.start = time.monotonic()
        env, out = self._start_env(key, version, fn, timeout_s)
        phase.inside.append(log_text(out.logs))
        if out.kind != "ready":
            status, etype, payload, _ = self._failure(out, request_id, timeout_s)
            if status == "timeout":
                init_ms = timeout_s * 1000
            else:
                init_ms = out.duration_ms or (time.monotonic() - phase.start) * 1000
            phase.inside.append(lines.init_report(init_ms, "invoke", status, etype))
            phase.env_id, phase.stream = env.id, env.stream_name
            self._pool.discard(env, keep_tmp=True)
            return status, etype, payload, init_ms, max(out.rss_kib, env.max_rss_kib)
        phase.suppressed_init_ms = out.duration_ms
        phase.inside.append(lines.init_report(out.duration_ms, "invoke", None, None))
        self._pool.set_init_failed(key, False)
        return env

    def _restored(self, env, out, key, version, phase: _Phase, lines: PlatformLines, began: float) -> Environment:
        """A SnapStart environment is ready: RESTORE lines (after the snapshot's own init log, once)."""
        backend = self._backends.for_runtime(version.config.runtime)
        template = backend.template_of(key) if hasattr(backend, "template_of") else None
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

    def _execute(self, fn: Function, version: Version, request: Request, tail: bool) -> InvocationResult:
        """Run ``request`` on an idle environment of ``version``, or a new one (cold start)."""
        timeout_s = version.config.timeout
        request_id, trace = request.request_id, request.trace
        key = self._key(version)
        lines = self._lines(key, version, fn)
        env = self._pool.checkout(key)
        phase = None
        while True:
            if env is None:
                phase = _Phase()
                started = self._cold_start(key, version, fn, request_id, phase, lines)
                if isinstance(started, tuple):  # the invoke-phase init failed too
                    status, etype, payload, init_ms, rss_kib = started
                    return self._result(
                        fn, version, lines, trace, request_id, phase, None, payload, etype, status, init_ms, tail,
                        rss_kib=rss_kib,
                    )  # fmt: skip
                env = started
            start = time.monotonic() if phase is None or phase.start is None else phase.start
            suppressed_ms = phase.suppressed_init_ms if phase is not None else 0.0
            request.deadline_ms = int((time.time() + timeout_s) * 1000 - suppressed_ms)
            out = env.invoke(request, start + timeout_s)
            if out.kind != "gone":
                break
            self._pool.discard(env, keep_tmp=True)  # died while idle: nothing ran, use another
            self._replace_if_provisioned(env, key, version, fn)
            env = self._pool.checkout(key)
        return self._conclude(out, env, phase, start, key, fn, version, lines, request_id, trace, tail)

    def _keeps(self, env: Environment, fn: Function) -> bool:
        """Whether an environment that answered goes back to the pool (not stateless, not worn out)."""
        return not (self._stateless or fn.stateless) and (
            self._max_invocations is None or env.invocations < self._max_invocations
        )

    def _conclude(
        self,
        out: Outcome,
        env: Environment,
        phase: _Phase | None,
        start: float,
        key: tuple,
        fn: Function,
        version: Version,
        lines: PlatformLines,
        request_id: str,
        trace: str,
        tail: bool,
    ) -> InvocationResult:
        """Turn an exchange's outcome into the result; return or retire the environment."""
        if out.kind == "result":
            if self._keeps(env, fn):
                self._pool.checkin(env)
            else:
                self._pool.discard(env, keep_tmp=False)
            if out.status == STATUS_ERROR:
                error_type, status = out.error_type, None
            else:
                error_type = status = None
            return self._result(
                fn, version, lines, trace, request_id, phase, env, out.payload, error_type, status,
                out.duration_ms + (phase.suppressed_init_ms if phase is not None else 0.0),
                tail, out.logs, out.status == STATUS_BYTES,
            )  # fmt: skip
        # A reset keeps /tmp for the next environment, unless every invocation gets a fresh one.
        self._pool.discard(env, keep_tmp=not (self._stateless or fn.stateless))
        self._replace_if_provisioned(env, key, version, fn)
        if self._state != "OPEN":
            raise InvokerClosedError("the Invoker was closed while the invocation ran")
        if phase is None:
            phase = _Phase()
        elapsed_ms = (time.monotonic() - start) * 1000
        phase.inside.append(log_text(out.logs))
        status, etype, payload, message = self._failure(out, request_id, version.config.timeout)
        if out.kind == "timeout":
            phase.inside.append(timeout_line(request_id, elapsed_ms / 1000))
            duration_ms, rss = version.config.timeout * 1000.0, out.rss_kib
        else:
            phase.inside.append(f"{message}\n{etype}\n")
            duration_ms, rss = elapsed_ms, version.config.memory_size * 1024 if out.kind == "oom" else out.rss_kib
        return self._result(
            fn, version, lines, trace, request_id, phase, env, payload, etype, status, duration_ms, tail, rss_kib=rss
        )

    def _result(
        self,
        fn: Function,
        version: Version,
        lines: PlatformLines,
        trace: str,
        request_id: str,
        phase: _Phase | None,
        env: Environment | None,
        payload: bytes,
        error_type: str | None,
        status: str | None,
        duration_ms: float,
        tail: bool,
        logs: bytes = b"",
        is_bytes: bool = False,
        rss_kib: int = 0,
    ) -> InvocationResult:
        """Build the result; ``status`` is the REPORT status (None, "timeout", "error")."""
        memory = version.config.memory_size
        init_ms = phase.init_ms if phase is not None else None
        shown_ms, shown_init_ms, billed = report_durations(duration_ms, init_ms)
        restore = phase.restore if phase is not None else None
        if restore is not None:  # the after-restore hooks are billed, as init is
            billed = max(1, math.ceil(round(shown_ms + restore[1], 2)))
        used_mb = max_memory_used_mb(rss_kib or (env.max_rss_kib if env is not None else 0))
        if phase is None:
            before = ""
            inside = self._spill.keep(log_text(logs)) if logs else ""
        else:
            before = self._spill.keep("".join(phase.before))
            inside = self._spill.keep("".join(phase.inside) + (log_text(logs) if logs else ""))
        return InvocationResult(
            status_code=200,
            raw_payload=payload,
            payload_is_bytes=is_bytes,
            function_error="Unhandled" if error_type is not None else None,
            error_type=error_type,
            executed_version=version.version,
            request_id=request_id,
            function_name=fn.name,
            log_parts=(
                lines, before, request_id, inside, duration_ms, billed, used_mb, init_ms, status, error_type,
                time.time(), trace, restore,
            ),
            tail=tail,
            duration_ms=shown_ms,
            billed_duration_ms=billed,
            init_duration_ms=shown_init_ms,
            restore_duration_ms=round(restore[0], 2) if restore is not None else None,
            billed_restore_duration_ms=restore[1] if restore is not None else None,
            memory_size_mb=memory,
            max_memory_used_mb=used_mb,
            cold_start=phase is not None and phase.cold,
            environment_id=env.id if env is not None else phase.env_id if phase is not None else None,
            log_stream_name=env.stream_name if env is not None else phase.stream if phase is not None else None,
        )  # fmt: skip
