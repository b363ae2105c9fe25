"""The Invoker: the Lambda service on your machine (the engine module).

::

    invoke(function or name, event) ─▶ route valid? ─yes─▶ _invoke_routed (the warm path, flat;
         │                                                  falls back to _execute for anything unusual)
    invoke(target, event) ─▶ resolve ─▶ version (alias routing) ─▶ body (JSON, limits)
         │                                                  └─ Event/DryRun ─▶ AsyncInvocation (_async)
         ▼
    _run: acquire concurrency (reserved / account)  ─▶ TooManyRequestsError, recorded
         ▼
    _execute: pool.checkout(version key) ──idle──▶ env.invoke(Request, deadline)
         │              └─none─▶ _cold_start: init phase (10 s) ─fail─▶ invoke-phase init
         ▼
    outcome: result ─▶ checkin (or retire: stateless, max invocations)
             timeout / exit / oom ─▶ discard (keeps /tmp), Lambda's error payload
         ▼
    _result: InvocationResult (logs rendered lazily) ─▶ Recorder (history, logs, metrics, bills)

What happens when:

- a caller invokes: the target is resolved and validated, the invocation is
  counted in (or throttled), an environment is taken from the pool (warmest
  first) or started and initialised, the INVOKE frame is sent, and the
  outcome becomes a result and a history record.  The first invocation of a
  Function (or plain name) leaves a *route*: the resolved ``$LATEST`` and
  everything its invocations share, so the next ones skip straight to the
  exchange while that version stays current;
- an environment dies or times out: it is discarded, its /tmp is kept for the
  next environment of the same version, and the result carries Lambda's error;
- ``$LATEST`` changes (an update, or an edit of its code directory): a new
  revision gets new environments; the old ones are retired;
- the Invoker closes: queued async events are discarded (with outcomes),
  idle environments get EOF, busy ones SIGKILL (the zygote is the process's).

This module is the front door and the warm route.  The rest of ``Invoker``
is mixed in, a concept per module: counting invocations in and out and the
spin policy (``_admission``), the registry of functions and the resolution
of targets (``_registry``), the general path (``_execution``: ``_run``'s
``_execute``, cold starts, outcomes to results), the event-source API
(``_triggers``), the asynchronous API (``_async``) and provisioned
concurrency (``_provisioned``).  A request's body and client context are
checked by ``_request``; the environment's init message is built by
``_environment.spec``.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._admission import Admission
from ._async import DEFAULT_ASYNC_WORKERS, AsyncInvocation, AsyncQueue, EventInvokeConfig
from ._billing import Bill, make_bill, max_memory_used_mb, report_durations
from ._cleanup import remove_later
from ._clock import Clock, RealClock
from ._environment.backend import STATUS_BYTES, STATUS_ERROR, Backend, Environment, Outcome, Request
from ._environment.pool import EnvironmentPool
from ._environment.runtimes import Backends
from ._environment.snapshot import snapshot_charges
from ._errors import InvalidParameterValueError, TooManyRequestsError
from ._execution import Execution
from ._function import Function
from ._history import DEFAULT_HISTORY_SIZE, History, Recorder, ThrottleRecord, qualifier_of
from ._ids import new_id_parts, new_ids, trace_root
from ._lock import Lock
from ._logs import LogGroup, PlatformLines, echo_function, log_text
from ._logspill import LogSpill
from ._map import MapResult, run_map
from ._metrics import FunctionMetrics
from ._provisioned import ProvisionedConcurrency
from ._registry import Registry
from ._request import client_context_bytes, event_body, payload_body
from ._result import InvocationResult, blank_result, result_template
from ._triggers import EventSources, Triggers
from ._version import LATEST, Version

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._sources.url import HttpEndpoint

__all__ = ["Invoker"]

# Idle environments are ended after this many seconds.  Lambda keeps them
# 5-15 minutes (unpublished); shorter frees memory sooner, longer keeps more
# invocations warm.
DEFAULT_IDLE_TTL_S = 300.0
# Default spin before blocking, in microseconds (see Invoker(spin_us=...)).
DEFAULT_SPIN_US = 100


class _Route:
    """What the warm path needs to invoke one target's ``$LATEST``, resolved once (internal).

    Made by ``invoke`` for a Function or a name/ARN without qualifier; valid
    while the function's ``$LATEST`` is the version it was made for (an
    update or a code edit makes a new one).
    """

    __slots__ = ("arn", "fn", "key", "lines", "sampled", "template", "timeout_s", "version",
                 "watch")  # fmt: skip

    def __init__(self, invoker: Invoker, fn: Function, version: Version) -> None:
        cfg = version.config
        self.fn = fn
        self.version = version
        self.arn = fn.arn
        self.key = invoker._key(version)
        self.lines = invoker._lines(self.key, version, fn)
        self.timeout_s = cfg.timeout
        self.sampled = cfg.tracing == "Active"
        self.watch = invoker._watches(version)
        self.template = result_template(
            status_code=200, executed_version=version.version, function_name=fn.name, memory_size_mb=cfg.memory_size
        )


_GONE = Outcome("gone")
# Target types whose $LATEST invocations take the warm route (hashable, cheap to hash).
_ROUTABLE = (Function, str)


class Invoker(Registry, Admission, Execution, EventSources, AsyncInvocation, ProvisionedConcurrency):
    """Runs functions in execution environments; the local Lambda service.

    Args:
        concurrency_limit: the account's concurrent executions limit (Lambda's
            default quota is 1000); reserved concurrency is carved out of it.
        idle_ttl: seconds an idle environment is kept before it is ended
            (``None``: kept until ``close()``).
        inherit_env: ``False`` (default) gives environments Lambda's variables and the function's own only;
            ``True`` also passes the caller's environment underneath, or pass an iterable of names to pass just those.
        spin_us: when only one invocation is in flight, the caller polls for
            the reply this many microseconds before blocking; while
            invocations do not outnumber the cores, environments poll for
            their next request for 100 us, yielding their CPU to anything
            runnable.  A sleeping process that is woken costs 10-15 us on a
            VM, more than a short handler, so this halves sequential warm
            latency and raises concurrent throughput.  0 disables both.
        stateless: give every invocation a fresh environment (and a fresh
            /tmp), so a test proves a handler does not depend on warm state.
            Slower: every invocation is a cold start.  Also per function
            (``Function(..., stateless=True)``).
        max_invocations_per_environment: retire an environment after this
            many invocations (None: never).  Smaller bounds what a leaking
            handler can accumulate; larger keeps more invocations warm.
        history_size: how many recent invocations ``history``, ``logs``,
            ``metrics`` and ``bill`` remember (default 10,000; raise it to
            price or measure longer workloads).  Keeping results alive costs
            memory and garbage-collector time on every invocation, more as
            the window grows; 0 turns history off.
        echo_logs: also write every invocation's log as it completes: ``True``
            to the caller's stderr, a ``logging.Logger`` (at INFO), or any
            callable taking the log text.
        clock: what asynchronous retries, backoff and event age follow:
            real time by default, or ``pylambda.ManualClock()`` in tests.
        async_workers: how many asynchronous attempts may run at once
            (default 16).  Workers start as a backlog needs them: two for
            short handlers, more once recent attempts wait on handlers
            (a median Duration of 1 ms or longer).
        watch_code: serve edits to a ``$LATEST`` code directory without a
            restart (its files are checked at most every 0.2 s per function).
        mode: ``"process"`` (default: environments are worker processes) or ``"inline"``: handlers run in
            the calling thread, for debuggers and ``mock.patch``, with the same context, environment variables,
            logs and payloads but no memory limit, no hard timeout and no isolation (see docs/inline.md).
        backend: an environment backend (``pylambda._environment.backend``)
            that serves the runtimes it says it serves, e.g. a Ray backend;
            ``None`` (default): worker processes for Python runtimes (or the
            caller's thread with ``mode="inline"``).
        aws_endpoint_url: AWS services for handlers (``AWS_ENDPOINT_URL``) and ARN mappings: docs/aws-services.md.
        cpu_scaling: CPU in proportion to memory (1,769 MB = one vCPU) where the kernel allows: docs/guide.md#sandbox.
    """

    def __init__(
        self,
        *,
        concurrency_limit: int = 1000,
        idle_ttl: float | None = DEFAULT_IDLE_TTL_S,
        inherit_env: bool | Iterable[str] = False,
        spin_us: int = DEFAULT_SPIN_US,
        stateless: bool = False,
        max_invocations_per_environment: int | None = None,
        history_size: int = DEFAULT_HISTORY_SIZE,
        echo_logs: bool | Any = False,
        clock: Clock | None = None,
        async_workers: int = DEFAULT_ASYNC_WORKERS,
        watch_code: bool = True,
        mode: str = "process",
        backend: Backend | None = None,
        aws_endpoint_url: str | None = None,
        cpu_scaling: bool = False,
    ) -> None:
        if isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) or concurrency_limit < 1:
            raise InvalidParameterValueError(f"concurrency_limit must be an integer >= 1, got {concurrency_limit!r}")
        if idle_ttl is not None and not idle_ttl > 0:
            raise InvalidParameterValueError(f"idle_ttl must be > 0 seconds or None, got {idle_ttl!r}")
        if isinstance(spin_us, bool) or not isinstance(spin_us, int) or not 0 <= spin_us <= 10_000:
            raise InvalidParameterValueError(f"spin_us must be an integer from 0 to 10000, got {spin_us!r}")
        self._spin_s = spin_us / 1e6
        if max_invocations_per_environment is not None and (
            isinstance(max_invocations_per_environment, bool)
            or not isinstance(max_invocations_per_environment, int)
            or max_invocations_per_environment < 1
        ):
            raise InvalidParameterValueError(
                f"max_invocations_per_environment must be None or an integer >= 1, "
                f"got {max_invocations_per_environment!r}"
            )
        self._stateless = bool(stateless)
        self._max_invocations = max_invocations_per_environment
        if isinstance(history_size, bool) or not isinstance(history_size, int) or history_size < 0:
            raise InvalidParameterValueError(f"history_size must be an integer >= 0, got {history_size!r}")
        self._recorder = Recorder(history_size)
        self._echo = echo_function(echo_logs)
        if isinstance(async_workers, bool) or not isinstance(async_workers, int) or async_workers < 1:
            raise InvalidParameterValueError(f"async_workers must be an integer >= 1, got {async_workers!r}")
        self._clock = clock if clock is not None else RealClock()
        self._async = AsyncQueue(self, self._clock, async_workers)
        self._event_configs: dict[tuple[str, str | None], EventInvokeConfig] = {}
        self._concurrency_limit = concurrency_limit
        self._inherit = inherit_env if isinstance(inherit_env, bool) else tuple(inherit_env)
        self._lock = Lock()  # not threading.Lock: see _lock.py
        self._functions: dict[str, Function] = {}
        self._routes: dict[Any, _Route] = {}
        # new_id_parts() drawn while a handler ran, for the next invocation
        self._spare_ids: list[tuple[str, str]] = []
        self._inflight: dict[str, int] = {}
        self._unreserved_inflight = 0
        self._total_inflight = 0
        self._concurrent_until = 0.0  # no spinning before this (epoch s): concurrency was seen
        # The account limit less every reservation, as of Function.reserved_epoch.
        self._carved_epoch = -1
        self._unreserved_limit = concurrency_limit
        if mode not in ("process", "inline"):
            raise InvalidParameterValueError(f"mode must be 'process' or 'inline', got {mode!r}")
        self._mode = mode
        self._set_aws_endpoint_url(aws_endpoint_url)
        self._backends = Backends(mode, self._spin_s, backend)
        self._set_cpu_scaling(cpu_scaling)
        self._workdir = tempfile.mkdtemp(prefix="pylambda-")  # the first resource: all checks are done
        self._spill = LogSpill(self._workdir)  # handler output past a few KB is kept on disk
        self._caller_imports = None
        if mode == "inline":
            from ._environment.imports import CallerImports

            self._caller_imports = CallerImports()
        self._pool = EnvironmentPool(self._backends.for_runtime, self._workdir, idle_ttl, self._lock)
        self._init_specs: dict[tuple, dict] = {}
        self._watch_code = bool(watch_code)
        self._watch: dict[str, tuple[float, int, int]] = {}
        self._platform_lines: dict[tuple, PlatformLines] = {}
        self._provisioned_configs: dict[tuple, int] = {}
        self._latest_revision: dict[str, int] = {}
        self._triggers = Triggers(self, self._clock)  # the event source mappings
        self._endpoints: list[HttpEndpoint] = []
        self._state = "OPEN"  # last: a constructor that raised leaves nothing to close

    # -- invoking ------------------------------------------------------------------
    def invoke(
        self,
        target: Any,
        event: Any = None,
        *,
        payload: bytes | str | None = None,
        log_type: str | None = None,
        client_context: dict | str | None = None,
        trace_header: str | None = None,
        invocation_type: str = "RequestResponse",
    ) -> InvocationResult:
        """Invoke a function and return the result.

        ``event`` is any JSON-serialisable value; ``payload`` is raw JSON text
        or bytes (as boto3's ``Payload``); with neither, the event is ``{}``.
        ``invocation_type`` is Lambda's: ``RequestResponse`` (wait for the
        result; function errors are returned, not raised), ``Event`` (queue
        it and return 202 at once; see ``put_function_event_invoke_config``)
        or ``DryRun`` (validate only; 204).

        Raises:
            ResourceNotFoundError: unknown function, version or alias.
            InvalidRequestContentError: the event is not JSON.
            RequestTooLargeError: over 6,291,456 bytes (1 MB for ``Event``).
            TooManyRequestsError: throttled by reserved or account concurrency.
            InvokerClosedError: the Invoker is closed.
        """
        if (  # the warm route: raw payloads (the Lambda API's Invoke) take it too
            log_type is None
            and client_context is None
            and trace_header is None
            and invocation_type == "RequestResponse"
            and self._state == "OPEN"
        ):
            route = self._route_of(target)
            if route is not None:
                body = event_body(event) if payload is None else payload_body(payload, event)
                return self._invoke_routed(route, body)
        self._check_open()
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValueError(
                f"invocation_type must be RequestResponse, Event or DryRun, got {invocation_type!r}"
            )
        version, invoked_arn, fn = self.resolve(target)
        version = self._reload_if_changed(fn, version)
        body = event_body(event) if payload is None else payload_body(payload, event)
        if log_type not in (None, "None", "Tail"):
            raise InvalidParameterValueError(f"log_type must be 'None' or 'Tail', got {log_type!r}")
        if invocation_type != "RequestResponse":
            return self._invoke_async(target, fn, invoked_arn, body, invocation_type == "DryRun")
        cc = client_context_bytes(client_context)
        self._remember_route(target, version, invoked_arn, fn)
        request_id, trace = new_ids()
        return self._run(fn, version, invoked_arn, request_id, trace, trace_header, cc, body, log_type == "Tail")

    def _route_of(self, target: Any) -> _Route | None:
        """The warm route of ``target``, if it has a valid one."""
        route = self._routes.get(target) if type(target) in _ROUTABLE else None
        if route is not None and route.version is route.fn._latest:
            return route
        return None

    def _remember_route(self, target: Any, version: Version, invoked_arn: str, fn: Function) -> None:
        """Make the warm route of ``target`` after the general path resolved it (unqualified ``$LATEST`` only)."""
        if type(target) in _ROUTABLE and version.version == LATEST and invoked_arn == fn.arn:
            self._routes[target] = _Route(self, fn, version)

    def _invoke_routed(self, route: _Route, body: bytes, request_id: str | None = None) -> InvocationResult:
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
            current = self._reload_if_changed(fn, version)
            if current is not version:  # an edit: a new revision, cold (and a new route next time)
                return self._run(fn, current, route.arn, request_id, trace, None, b"", body, False)
        if route.sampled:
            trace = trace.replace("Sampled=0", "Sampled=1")
        lock = self._lock
        if not lock.try_acquire():
            lock.acquire_contended()
        try:
            concurrency = self._count_in(fn)
            env = self._pool.checkout_locked(route.key)
        except TooManyRequestsError as e:
            self._recorder.throttled(fn.name, None, e.reason, started)
            raise
        finally:
            lock.release()
        try:
            total = self._total_inflight  # account-wide (a snapshot): how the environment waits
            request = Request(request_id, route.arn, trace, b"", body, int((started + route.timeout_s) * 1000),
                              total, total > 1 or started < self._concurrent_until)  # fmt: skip
            if env is None:
                result = self._execute(fn, version, request, False)
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
                        self._count_out(fn)
                        concurrency = -concurrency  # counted out already
                    finally:
                        lock.release()
                    if not kept:
                        env.shut_down()
                    duration_ms = out.duration_ms
                    shown_ms, _, billed = report_durations(duration_ms)
                    used_mb = max_memory_used_mb(env.max_rss_kib)
                    logs = out.logs
                    state["raw_payload"] = out.payload
                    if out.status == STATUS_ERROR:
                        error_type = state["error_type"] = out.error_type
                        state["function_error"] = "Unhandled"
                    else:
                        error_type = None
                        state["payload_is_bytes"] = out.status == STATUS_BYTES
                    ended = time.time()
                    inside = self._spill.keep(log_text(logs)) if logs else ""
                    state["log_parts"] = (route.lines, "", request_id, inside, duration_ms,
                                          billed, used_mb, None, None, error_type, ended, trace)  # fmt: skip
                    state["duration_ms"] = shown_ms
                    state["billed_duration_ms"] = billed
                    state["max_memory_used_mb"] = used_mb
                    return self._recorded(started, route.arn, -concurrency, result, version, trace, ended)
                elif out.kind == "gone":  # killed while idle: nothing ran
                    self._pool.discard(env, keep_tmp=True)
                    self._replace_if_provisioned(env, route.key, version, fn)
                    result = self._execute(fn, version, request, False)
                else:
                    result = self._conclude(out, env, None, start, route.key, fn, version, route.lines, request_id,
                                            trace, False)  # fmt: skip
        finally:
            if concurrency > 0:
                self._release(fn)
        return self._recorded(started, route.arn, abs(concurrency), result, version, trace)

    def _run(
        self,
        fn: Function,
        version: Version,
        invoked_arn: str,
        request_id: str,
        trace: str,
        trace_header: str | None,
        cc: bytes,
        body: bytes,
        tail: bool,
    ) -> InvocationResult:
        """Count the invocation in, run it, record it: the path of every execution."""
        if trace_header:
            trace = trace_header
        elif version.config.tracing == "Active":  # Active tracing samples every request
            trace = trace.replace("Sampled=0", "Sampled=1")
        started = time.time()
        try:
            concurrency = self._acquire(fn)
        except TooManyRequestsError as e:
            self._recorder.throttled(fn.name, qualifier_of(invoked_arn), e.reason, started)
            raise
        try:
            total = self._total_inflight  # account-wide (a snapshot): how the environment waits
            concurrent = total > 1 or started < self._concurrent_until
            request = Request(request_id, invoked_arn, trace, cc, body, 0, total, concurrent)
            result = self._execute(fn, version, request, tail)
        finally:
            self._release(fn)
        return self._recorded(started, invoked_arn, concurrency, result, version, trace)

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

    def map(
        self,
        target: Any,
        events: Iterable[Any],
        *,
        concurrency: int | None = None,
        invocation_type: str = "RequestResponse",
        progress: bool | None = None,
    ) -> MapResult:
        """Invoke ``target`` once per event, ``concurrency`` at a time; results in event order.

        Without ``concurrency``, two threads start and more are added (up to
        32) while invocations take a millisecond or more; an explicit value
        runs exactly that many.  Throttled invocations are retried with
        backoff, as an SDK client would; any other error is raised (the
        first, in event order) after every event has been tried.
        ``progress`` shows a tqdm bar (default: when stderr is a terminal and
        tqdm is installed).  The returned ``MapResult`` is a
        sequence of results with ``summary()``: count, errors, cold starts,
        p50/p99 duration and cost.
        """
        self._check_open()
        return run_map(self, target, events, concurrency, invocation_type, progress)

    # -- observing -------------------------------------------------------------------
    @property
    def history(self) -> History:
        """Every remembered invocation, oldest first (a snapshot)."""
        return History(self._recorder.records())

    @property
    def throttles(self) -> list[ThrottleRecord]:
        """Every remembered throttled request, oldest first."""
        return list(self._recorder.throttles)

    def logs(self, function: Function | str) -> LogGroup:
        """The function's log group (``/aws/lambda/<name>``), one stream per environment."""
        name = function.name if isinstance(function, Function) else function
        fn = self._functions.get(name)
        group = (fn.config.log_group if fn is not None else None) or f"/aws/lambda/{name}"
        extra = [e for e in self._recorder.platform_logs if e[0] == name]
        return LogGroup(group, [r for r in self._recorder.records() if r.function_name == name], extra)

    def metrics(self, function: Function | str, qualifier: str | None = None) -> FunctionMetrics:
        """The function's metrics, or a version's or alias's with ``qualifier``."""
        name = function.name if isinstance(function, Function) else function
        records = [r for r in self._recorder.records() if r.function_name == name]
        return FunctionMetrics(name, qualifier, records, self.throttles)

    def bill(self, free_tier: bool = False) -> Bill:
        """What the remembered invocations would cost (see ``pylambda._billing``), SnapStart snapshots included."""
        return make_bill(self._recorder.records(), free_tier, snapshot_charges(self))

    # -- managing --------------------------------------------------------------------
    def reset(self, target: Any) -> int:
        """End the idle environments of ``target``'s function: the next invocation is cold."""
        _version, _arn, fn = self.resolve(target)
        return self._pool.retire(fn.name)

    def environments(self) -> list[Environment]:
        """Live environments (for inspection and leak checks)."""
        return self._pool.live()

    @property
    def mode(self) -> str:
        """``"process"`` or ``"inline"``."""
        return self._mode

    @property
    def zygote_pid(self) -> int | None:
        """Pid of the default process backend's zygote, when running."""
        return self._backends.default.stats().get("zygote_pid")

    def close(self, timeout: float = 1.0, drain_timeout: float = 0.0) -> None:
        """End every environment this Invoker started (not the process's zygote); idempotent, bounded in time.

        Asynchronous events still queued are waited for up to
        ``drain_timeout`` seconds, then discarded: each gets an
        ``AsyncOutcome`` with ``condition="Discarded"`` (never a hang).
        """
        if self._state == "CLOSED":
            return
        for endpoint in self._endpoints:
            endpoint.close()
        self._triggers.close()
        self._async.close(drain_timeout)
        with self._lock:
            if self._state == "CLOSED":
                return
            self._state = "CLOSED"
        deadline = time.monotonic() + timeout
        try:
            self._pool.close(timeout)
            self._async.join(max(0.0, deadline - time.monotonic()))
        finally:  # what is left of the budget: a stopped zygote is killed, not waited for
            for endpoint in self._endpoints:  # again: one may have started while closing (idempotent)
                endpoint.close()
            if self._caller_imports is not None:
                self._caller_imports.close()
            self._backends.close(max(0.1, deadline - time.monotonic()))
            remove_later(self._workdir)  # its environments' /tmp directories are inside

    def __enter__(self) -> Invoker:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", "CLOSED") != "CLOSED":
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1)
            try:
                self.close()
            except Exception:
                pass

    def __reduce__(self):
        raise TypeError("Invoker objects cannot be pickled")

    def __repr__(self) -> str:
        return f"<Invoker state={self._state} functions={len(self._functions)} environments={len(self._pool.live())}>"
