"""The Invoker's execution engine: the warm route, the general path, outcomes to results.

``Engine`` is a collaborator of ``Invoker``; it runs invocations over the
pool, the admission counts and the launcher (``_execution.Launcher``, which
starts environments), and keeps what invocations share: the routes, the
result templates and the spare ids.

::

    invoke_routed(route, body)   the warm route, flat: count in + checkout in one critical
         │                       section, send, prepare the result while the handler runs,
         │                       receive, check in + count out; anything unusual goes to _execute
    run(fn, version, arn, body)  the general path: count in, _execute, count out
         ▼
    _execute: pool.checkout(key) ──idle──▶ env.invoke(Request, deadline)
         │              └─none─▶ launcher.cold_start (init phase, then invoke-phase init)
         ▼
    _conclude: result ─▶ checkin (or retire: stateless, max invocations)
               timeout / exit / oom ─▶ discard (keeps /tmp), Lambda's error payload
         ▼
    blank_result + finish_result (one result builder for both paths) ─▶ _recorded (history, echo)

What happens when:

- a caller invokes: the invocation is counted in (or throttled), an
  environment is taken from the pool (warmest first) or started and
  initialised, the INVOKE frame is sent, and the outcome becomes a result
  and a history record.  The first invocation of a Function (or plain
  name) leaves a *route*: the resolved ``$LATEST`` and everything its
  invocations share, so the next ones skip straight to the exchange while
  that version stays current;
- an environment dies or times out: it is discarded, its /tmp is kept for
  the next environment of the same version, and the result carries
  Lambda's error; a lost provisioned environment is handed to ``on_lost``
  (the Invoker's provisioned concurrency replaces it);
- ``$LATEST`` changes (an update, or an edit of its code directory): a new
  revision gets new environments; the old ones are retired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._admission import Admission
from ._billing import max_memory_used_mb
from ._environment.backend import STATUS_BYTES, STATUS_ERROR, Environment, Outcome, Request
from ._environment.pool import EnvironmentPool
from ._errors import InvokerClosedError, TooManyRequestsError
from ._execution import Launcher, Phase
from ._function import Function
from ._history import Recorder, qualifier_of
from ._ids import new_id_parts, new_ids, trace_root
from ._lock import Lock
from ._logs import log_text, timeout_line
from ._logspill import LogSpill
from ._result import InvocationResult, blank_result, finish_result, result_template
from ._version import LATEST, Version
from ._watch import CodeWatch

__all__ = ["ROUTABLE", "Engine", "Route"]

# Target types whose $LATEST invocations take the warm route (hashable, cheap to hash).
ROUTABLE = (Function, str)


class Route:
    """What invocations of one target (a version as invoked by one ARN) share, resolved once (internal).

    The warm route keeps one per Function or name without qualifier, valid
    while the function's ``$LATEST`` is the version it was made for (an
    update or a code edit makes a new one); the general path makes one per
    invocation from the same caches.
    """

    __slots__ = ("arn", "fn", "key", "lines", "sampled", "template", "timeout_s", "version", "watch")

    def __init__(self, engine: Engine, fn: Function, version: Version, arn: str) -> None:
        cfg = version.config
        self.fn = fn
        self.version = version
        self.arn = arn
        launcher = engine.launcher
        self.key = launcher.key(version)
        self.lines = launcher.lines(self.key, version, fn)
        self.timeout_s = cfg.timeout
        self.sampled = cfg.tracing == "Active"
        self.watch = engine.watch.watches(version)
        self.template = engine.template(self.key, version, fn)


_GONE = Outcome("gone")


class Engine:
    """Runs invocations for one Invoker (internal).

    Args:
        launcher: starts environments (cold starts), knows pool keys and log-line formatters.
        pool, admission, recorder, lock: the Invoker's, shared.
        workdir: where handler output past a few KB is spilled.
        resolve: a target to (version, ARN as invoked, function), for asynchronous attempts.
        is_open: whether the Invoker is still open.
        stateless, max_invocations, watch_code: the Invoker's options.
        echo: where finished invocations' logs are echoed, or None.
    """

    def __init__(
        self,
        *,
        launcher: Launcher,
        pool: EnvironmentPool,
        admission: Admission,
        recorder: Recorder,
        lock: Lock,
        workdir: str,
        resolve: Callable[[Any], tuple[Version, str, Function]],
        is_open: Callable[[], bool],
        stateless: bool,
        max_invocations: int | None,
        watch_code: bool,
        echo: Callable[[str], Any] | None,
    ) -> None:
        self.launcher = launcher
        self._pool = pool
        self._admission = admission
        self._recorder = recorder
        self._lock = lock
        self._resolve = resolve
        self._is_open = is_open
        self._stateless = bool(stateless)
        self._max_invocations = max_invocations
        self.watch = CodeWatch(watch_code)
        self._echo = echo
        self._spill = LogSpill(workdir)  # handler output past a few KB is kept on disk
        # A provisioned environment was lost: (env, key, version, fn) -> replace it (``Provisioned``).
        self.on_lost: Callable[[Environment, tuple, Version, Function], None] = lambda *_: None
        self.routes: dict[Any, Route] = {}  # the warm route of a Function or name (its $LATEST)
        # new_id_parts() drawn while a handler ran, for the next invocation
        self._spare_ids: list[tuple[str, str]] = []
        self._templates: dict[tuple, dict[str, Any]] = {}

    def forget(self, fn: Function) -> None:
        """``fn`` was unregistered: its routes go, and its idle environments end."""
        for target in [t for t, route in self.routes.items() if route.fn is fn]:
            del self.routes[target]
        self._pool.retire(fn.name)

    def template(self, key: tuple, version: Version, fn: Function) -> dict[str, Any]:
        """The result fields every invocation of ``version`` shares (cached per key; see ``blank_result``)."""
        template = self._templates.get(key)
        if template is None:
            for old in [k for k in self._templates if k[:2] == key[:2] and k[2] < key[2]]:
                del self._templates[old]  # an older $LATEST revision's: never used again
            template = self._templates[key] = result_template(
                status_code=200, executed_version=version.version, function_name=fn.name,
                memory_size_mb=version.config.memory_size,
            )  # fmt: skip
        return template

    # -- the warm route --------------------------------------------------------------
    def route_of(self, target: Any) -> Route | None:
        """The warm route of ``target``, if it has a valid one."""
        route = self.routes.get(target) if type(target) in ROUTABLE else None
        if route is not None and route.version is route.fn._latest:
            return route
        return None

    def remember_route(self, target: Any, version: Version, invoked_arn: str, fn: Function) -> None:
        """Make the warm route of ``target`` after the general path resolved it (unqualified ``$LATEST`` only)."""
        if type(target) in ROUTABLE and version.version == LATEST and invoked_arn == fn.arn:
            self.routes[target] = Route(self, fn, version, invoked_arn)

    def invoke_routed(self, route: Route, body: bytes, request_id: str | None = None) -> InvocationResult:
        """The warm path of ``invoke(function_or_name, event)``: one flat function.

        Everything a target's invocations share (version, ARN, pool key,
        log-line formatter, the result's constant fields) was resolved when
        the route was made.  What is left is ordered so that the caller's
        bookkeeping overlaps the handler: the request is sent first, then the
        result is prepared and the next request's ids drawn, and only then
        does the caller wait.  Anything unusual (no idle environment, a
        failure, a retired environment) goes through the general ``_execute``.
        ``request_id`` is given for an asynchronous attempt (the event's).
        """
        fn = route.fn
        version = route.version
        started = time.time()
        try:
            spare_id, rest = self._spare_ids.pop()
        except IndexError:
            spare_id, rest = new_id_parts()
        trace = trace_root(started) + rest
        if request_id is None:
            request_id = spare_id
        if route.watch:
            current = self.watch.current(fn, version)
            if current is not version:  # an edit: a new revision, cold (and a new route next time)
                return self.run(fn, current, route.arn, body, request_id=request_id)
        if route.sampled:
            trace = trace.replace("Sampled=0", "Sampled=1")
        lock = self._lock
        admission = self._admission
        if not lock.try_acquire():
            lock.acquire_contended()
        try:
            concurrency = admission.count_in(fn)
            env = self._pool.checkout_locked(route.key)
        except TooManyRequestsError as e:
            self._recorder.throttled(fn.name, None, e.reason, started)
            raise
        finally:
            lock.release()
        try:
            total = admission.total  # account-wide (a snapshot): how the environment waits
            request = Request(request_id, route.arn, trace, b"", body, int((started + route.timeout_s) * 1000),
                              total, total > 1 or started < admission.concurrent_until)  # fmt: skip
            if env is None:
                result = self._execute(route, request, False)
            else:
                timeout_s = route.timeout_s
                start = time.monotonic()
                if env.send(request):
                    # While the handler runs: the result's known fields, the next ids.
                    result, state = blank_result(route.template)
                    state["request_id"] = request_id
                    state["environment_id"] = env.id
                    state["log_stream_name"] = env.stream_name
                    if not self._spare_ids:
                        self._spare_ids.append(new_id_parts())
                    keep = self._keeps(env, fn)
                    out = env.receive(start + timeout_s)
                else:
                    keep, out = False, _GONE
                if out.kind == "result" and keep:
                    if not lock.try_acquire():
                        lock.acquire_contended()
                    try:
                        kept = self._pool.checkin_locked(env)
                        admission.count_out(fn)
                        concurrency = -concurrency  # counted out already
                    finally:
                        lock.release()
                    if not kept:
                        env.shut_down()
                    logs = out.logs
                    state["raw_payload"] = out.payload
                    if out.status == STATUS_ERROR:
                        error_type = out.error_type
                    else:
                        error_type = None
                        state["payload_is_bytes"] = out.status == STATUS_BYTES
                    ended = finish_result(
                        state, route.lines, trace, inside=self._spill.keep(log_text(logs)) if logs else "",
                        duration_ms=out.duration_ms, used_mb=max_memory_used_mb(env.max_rss_kib), error_type=error_type,
                    )  # fmt: skip
                    return self._recorded(started, route.arn, -concurrency, result, version, trace, ended)
                elif out.kind == "gone":  # killed while idle: nothing ran
                    self._pool.discard(env, keep_tmp=True)
                    self.on_lost(env, route.key, version, fn)
                    result = self._execute(route, request, False)
                else:
                    result = self._conclude(route, request, out, env, None, start)
        finally:
            if concurrency > 0:
                admission.release(fn)
        return self._recorded(started, route.arn, abs(concurrency), result, version, trace)

    # -- the general path ------------------------------------------------------------
    def run(
        self,
        fn: Function,
        version: Version,
        invoked_arn: str,
        body: bytes,
        *,
        request_id: str | None = None,
        trace_header: str | None = None,
        client_context: bytes = b"",
        tail: bool = False,
    ) -> InvocationResult:
        """Count the invocation in, run it, record it: the path of every execution."""
        if request_id is None:
            request_id, trace = new_ids()
        else:
            trace = new_ids()[1]
        if trace_header:
            trace = trace_header
        elif version.config.tracing == "Active":  # Active tracing samples every request
            trace = trace.replace("Sampled=0", "Sampled=1")
        route = Route(self, fn, version, invoked_arn)
        admission = self._admission
        started = time.time()
        try:
            concurrency = admission.acquire(fn)
        except TooManyRequestsError as e:
            self._recorder.throttled(fn.name, qualifier_of(invoked_arn), e.reason, started)
            raise
        try:
            total = admission.total  # account-wide (a snapshot): how the environment waits
            concurrent = total > 1 or started < admission.concurrent_until
            request = Request(request_id, invoked_arn, trace, client_context, body, 0, total, concurrent)
            result = self._execute(route, request, tail)
        finally:
            admission.release(fn)
        return self._recorded(started, invoked_arn, concurrency, result, version, trace)

    def attempt(self, target: Any, request_id: str, body: bytes) -> InvocationResult:
        """One attempt of an asynchronous event (same request id every time; no client context)."""
        if not self._is_open():
            raise InvokerClosedError("Cannot use an Invoker once it has been closed.")
        route = self.route_of(target)
        if route is not None:
            return self.invoke_routed(route, body, request_id)
        version, arn, fn = self._resolve(target)
        version = self.watch.current(fn, version)
        self.remember_route(target, version, arn, fn)
        return self.run(fn, version, arn, body, request_id=request_id)

    def _recorded(
        self,
        started: float,
        arn: str,
        concurrency: int,
        result: InvocationResult,
        version: Version,
        trace: str,
        ended: float | None = None,
    ) -> InvocationResult:
        """Remember a finished invocation (history, logs, metrics, bills) and echo its log if asked; return it."""
        self._recorder.record((started, ended or time.time(), arn, concurrency, result, version, trace))
        if self._echo is not None:
            self._echo(result.logs)
        return result

    def _execute(self, route: Route, request: Request, tail: bool) -> InvocationResult:
        """Run ``request`` on an idle environment of the route's version, or a new one (cold start)."""
        fn, version, key = route.fn, route.version, route.key
        timeout_s = version.config.timeout
        env = self._pool.checkout(key)
        phase = None
        while True:
            if env is None:
                phase = Phase()
                env = self.launcher.cold_start(route, request.request_id, phase, request)
                if env is None:  # the invoke-phase init failed too
                    status, etype, payload, init_ms, rss_kib = phase.failure
                    return self._result(route, request, tail, phase, None, payload=payload, error_type=etype,
                                        status=status, duration_ms=init_ms, rss_kib=rss_kib)  # fmt: skip
            start = time.monotonic() if phase is None or phase.start is None else phase.start
            suppressed_ms = phase.suppressed_init_ms if phase is not None else 0.0
            request.deadline_ms = int((time.time() + timeout_s) * 1000 - suppressed_ms)
            out = env.invoke(request, start + timeout_s)
            if out.kind != "gone":
                break
            self._pool.discard(env, keep_tmp=True)  # died while idle: nothing ran, use another
            self.on_lost(env, key, version, fn)
            env = self._pool.checkout(key)
        return self._conclude(route, request, out, env, phase, start, tail)

    def _keeps(self, env: Environment, fn: Function) -> bool:
        """Whether an environment that answered goes back to the pool (not stateless, not worn out)."""
        return not (self._stateless or fn.stateless) and (
            self._max_invocations is None or env.invocations < self._max_invocations
        )

    def _conclude(
        self,
        route: Route,
        request: Request,
        out: Outcome,
        env: Environment,
        phase: Phase | None,
        start: float,
        tail: bool = False,
    ) -> InvocationResult:
        """Turn an exchange's outcome into the result; return or retire the environment."""
        fn, version = route.fn, route.version
        if out.kind == "result":
            if self._keeps(env, fn):
                self._pool.checkin(env)
            else:
                self._pool.discard(env, keep_tmp=False)
            return self._result(
                route, request, tail, phase, env, payload=out.payload,
                error_type=out.error_type if out.status == STATUS_ERROR else None, status=None,
                duration_ms=out.duration_ms + (phase.suppressed_init_ms if phase is not None else 0.0),
                logs=out.logs, is_bytes=out.status == STATUS_BYTES,
            )  # fmt: skip
        # A reset keeps /tmp for the next environment, unless every invocation gets a fresh one.
        self._pool.discard(env, keep_tmp=not (self._stateless or fn.stateless))
        self.on_lost(env, route.key, version, fn)
        if not self._is_open():
            raise InvokerClosedError("the Invoker was closed while the invocation ran")
        if phase is None:
            phase = Phase()
        request_id = request.request_id
        elapsed_ms = (time.monotonic() - start) * 1000
        phase.inside.append(log_text(out.logs))
        status, etype, payload, message = self.launcher.failure(out, request_id, version.config.timeout)
        if out.kind == "timeout":
            phase.inside.append(timeout_line(request_id, elapsed_ms / 1000))
            duration_ms, rss = version.config.timeout * 1000.0, out.rss_kib
        else:
            phase.inside.append(f"{message}\n{etype}\n")
            duration_ms, rss = elapsed_ms, version.config.memory_size * 1024 if out.kind == "oom" else out.rss_kib
        return self._result(route, request, tail, phase, env, payload=payload, error_type=etype, status=status,
                            duration_ms=duration_ms, rss_kib=rss)  # fmt: skip

    def _result(
        self,
        route: Route,
        request: Request,
        tail: bool,
        phase: Phase | None,
        env: Environment | None,
        *,
        payload: bytes,
        error_type: str | None,
        status: str | None,
        duration_ms: float,
        logs: bytes = b"",
        is_bytes: bool = False,
        rss_kib: int = 0,
    ) -> InvocationResult:
        """The general path's result, through the warm route's builder (``blank_result``, ``finish_result``)."""
        result, state = blank_result(route.template)
        state["request_id"] = request.request_id
        state["raw_payload"] = payload
        state["payload_is_bytes"] = is_bytes
        state["tail"] = tail
        if phase is None:
            before = ""
            inside = self._spill.keep(log_text(logs)) if logs else ""
        else:
            state["cold_start"] = phase.cold
            before = self._spill.keep("".join(phase.before))
            inside = self._spill.keep("".join(phase.inside) + (log_text(logs) if logs else ""))
        if env is not None:
            state["environment_id"] = env.id
            state["log_stream_name"] = env.stream_name
        elif phase is not None:
            state["environment_id"] = phase.env_id
            state["log_stream_name"] = phase.stream
        finish_result(
            state, route.lines, request.trace, inside=inside, before=before, status=status, error_type=error_type,
            duration_ms=duration_ms, used_mb=max_memory_used_mb(rss_kib or (env.max_rss_kib if env is not None else 0)),
            init_ms=phase.init_ms if phase is not None else None, restore=phase.restore if phase is not None else None,
        )  # fmt: skip
        return result
