"""The Invoker: the Lambda service on your machine (the engine module).

::

    invoke(function or name, event) ─▶ route valid? ─yes─▶ _invoke_routed (the warm path, flat;
         │                                                  falls back to _execute for anything unusual)
    invoke(target, event) ─▶ resolve ─▶ version (alias routing) ─▶ body (JSON, limits)
         │                                                  └─ Event/DryRun ─▶ AsyncInvocation (_async)
         ▼
    _run: acquire concurrency (reserved / account)  ─▶ TooManyRequestsError, recorded
         ▼
    _execute: pool.checkout(version key) ──idle──▶ env.invoke(INVOKE frame, deadline)
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
  idle environments get EOF, busy ones SIGKILL, the zygote exits.

Provisioned concurrency (``_provisioned``) and the asynchronous API
(``_async``) are mixins of ``Invoker``; the environment's init message is
built by ``_environment.spec``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._alias import Alias, not_found
from ._async import DEFAULT_ASYNC_WORKERS, AsyncInvocation, AsyncQueue, EventInvokeConfig
from ._billing import Bill, make_bill, max_memory_used_mb, report_durations
from ._clock import Clock, RealClock
from ._environment import held
from ._environment.cpus import usable_cpus
from ._environment.pool import EnvironmentPool
from ._environment.process import Environment, Outcome, describe_exit
from ._environment.spec import build_init_spec
from ._environment.zygote import Zygote
from ._errors import (
    InvalidParameterValueError,
    InvalidRequestContentError,
    InvokerClosedError,
    RequestTooLargeError,
    TooManyRequestsError,
)
from ._function import Function
from ._history import DEFAULT_HISTORY_SIZE, History, Recorder, ThrottleRecord, qualifier_of
from ._ids import new_id_parts, new_ids, trace_root
from ._lock import Lock
from ._logs import (
    LogGroup,
    PlatformLines,
    log_text,
    stream_name,
    timeout_line,
)
from ._map import MapResult, run_map
from ._metrics import FunctionMetrics
from ._provisioned import ProvisionedConcurrency
from ._result import InvocationResult, blank_result, result_template
from ._runtime.marshal import encoder
from ._runtime.protocol import FLAG_SPIN, INIT_DONE, INVOKE_HEAD, STATUS_BYTES, STATUS_ERROR
from ._sources import data_bytes
from ._version import LATEST, Version, function_arn

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._sources.mapping import Trigger
    from ._sources.url import HttpEndpoint

__all__ = ["Invoker"]

# Lambda's limits (reference §3.6, §7.1).
MAX_REQUEST_BYTES = 6_291_456
MAX_CLIENT_CONTEXT_BYTES = 3_583
INIT_PHASE_TIMEOUT_S = 10.0
# Idle environments are ended after this many seconds.  Lambda keeps them
# 5-15 minutes (unpublished); shorter frees memory sooner, longer keeps more
# invocations warm.
DEFAULT_IDLE_TTL_S = 300.0
_encode_event = encoder(allow_nan=False)
_pack_head = INVOKE_HEAD.pack
# Default spin before blocking, in microseconds (see Invoker(spin_us=...)).
DEFAULT_SPIN_US = 100
# After two invocations overlapped, no spinning for this long.  Longer keeps a
# bursty concurrent workload from spinning; shorter returns to low latency
# sooner when a caller goes back to sequential calls.
SPIN_QUIET_S = 0.05


def _check_size(body: bytes) -> None:
    if len(body) > MAX_REQUEST_BYTES:
        raise RequestTooLargeError(
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
        )


def _event_body(event: Any) -> bytes:
    """The request body for an ``event`` (a JSON-serialisable value), within Lambda's size limit."""
    if event is None:
        return b"{}"
    try:
        body = _encode_event(event).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidRequestContentError(f"Could not serialize the event to JSON: {e}") from e
    _check_size(body)
    return body


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


def _echo_function(echo: bool | Any):
    """Where echoed logs go: None, stderr, a Logger or a callable."""
    if echo is False or echo is None:
        return None
    if echo is True:
        return sys.stderr.write
    if hasattr(echo, "info") and hasattr(echo, "isEnabledFor"):
        return lambda text: echo.info("%s", text.rstrip("\n"))
    if callable(echo):
        return echo
    raise InvalidParameterValueError(f"echo_logs must be a bool, a logging.Logger or a callable, got {echo!r}")


def _platform_error(error_type: str, message: str) -> bytes:
    """A platform-generated error body (errorType first, compact, as Lambda's Go code writes it)."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


class _Phase:
    """Accumulates one invocation's log text and timings (internal)."""

    __slots__ = ("before", "cold", "env_id", "init_ms", "inside", "start", "stream", "suppressed_init_ms")

    def __init__(self) -> None:
        self.before: list[str] = []  # INIT_START, init output, INIT_REPORT (phase init)
        self.inside: list[str] = []  # between START and END
        self.init_ms: float | None = None  # the REPORT's Init Duration (init phase only)
        self.suppressed_init_ms = 0.0  # an invoke-phase init, counted in Duration
        self.start: float | None = None  # when an invoke-phase init began (monotonic)
        self.cold = False
        self.env_id: str | None = None  # of an environment that failed its init
        self.stream: str | None = None


class _Route:
    """What the warm path needs to invoke one target's ``$LATEST``, resolved once (internal).

    Made by ``invoke`` for a Function or a name/ARN without qualifier; valid
    while the function's ``$LATEST`` is the version it was made for (an
    update or a code edit makes a new one).
    """

    __slots__ = ("arn", "arn_len", "fn", "key", "lines", "sampled", "template", "timeout_s", "version",
                 "watch")  # fmt: skip

    def __init__(self, invoker: Invoker, fn: Function, version: Version) -> None:
        cfg = version.config
        self.fn = fn
        self.version = version
        self.arn = fn.arn
        self.arn_len = len(self.arn)
        self.key = invoker._key(version)
        self.lines = invoker._lines(self.key, version, fn)
        self.timeout_s = cfg.timeout
        self.sampled = cfg.tracing == "Active"
        self.watch = invoker._watches(version)
        self.template = result_template(
            status_code=200, executed_version=version.version, function_name=fn.name, memory_size_mb=cfg.memory_size
        )


_GONE = Outcome("gone")
# CPUs this process can use.  With one, nothing spins: a spinning caller
# would hold the CPU its environment needs to answer.
_CORES = usable_cpus()
# Target types whose $LATEST invocations take the warm route (hashable, cheap to hash).
_ROUTABLE = (Function, str)


class Invoker(AsyncInvocation, ProvisionedConcurrency):
    """Runs functions in execution environments; the local Lambda service.

    Args:
        concurrency_limit: the account's concurrent executions limit (Lambda's
            default quota is 1000); reserved concurrency is carved out of it.
        idle_ttl: seconds an idle environment is kept before it is ended
            (``None``: kept until ``close()``).
        inherit_env: ``False`` (default) gives environments Lambda's variables
            and the function's own only; ``True`` also passes the caller's
            environment underneath, or pass an iterable of names to pass just
            those.
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
        mode: ``"process"`` (default: environments are worker processes) or
            ``"inline"``: handlers run in the calling thread, for debuggers
            and ``mock.patch``, with the same context, environment variables,
            logs and payloads but no memory limit, no hard timeout and no
            isolation (see docs/inline.md).
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
        self._echo = _echo_function(echo_logs)
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
        self._workdir = tempfile.mkdtemp(prefix="pylambda-")  # the first resource: all checks are done
        self._zygote = Zygote()
        factory = None
        if mode == "inline":
            from ._environment.inline import InlineEnvironment

            def factory(key, env_id, name, spec, memory_mb):
                return InlineEnvironment(key, env_id, spec, memory_mb)

        self._pool = EnvironmentPool(self._zygote, self._workdir, idle_ttl, factory, self._lock)
        self._init_specs: dict[tuple, dict] = {}
        self._watch_code = bool(watch_code)
        self._watch: dict[str, tuple[float, int, int]] = {}
        self._platform_lines: dict[tuple, PlatformLines] = {}
        self._provisioned_configs: dict[tuple, int] = {}
        self._latest_revision: dict[str, int] = {}
        self._mappings: dict[str, Trigger] = {}
        self._endpoints: list[HttpEndpoint] = []
        self._state = "OPEN"  # last: a constructor that raised leaves nothing to close

    # -- registry ------------------------------------------------------------------
    def register(self, *functions: Function) -> Invoker:
        """Make functions resolvable by name, ``name:qualifier`` and ARN."""
        self._check_open()
        for fn in functions:
            if not isinstance(fn, Function):
                raise InvalidParameterValueError(f"register() takes Function objects, got {fn!r}")
            with self._lock:
                existing = self._functions.get(fn.name)
                if existing is not None and existing is not fn:
                    raise InvalidParameterValueError(f"a different function named {fn.name!r} is already registered")
                self._functions[fn.name] = fn
        if self._mode == "process":
            self._zygote.start()
        return self

    @property
    def functions(self) -> dict[str, Function]:
        """Registered functions by name."""
        with self._lock:
            return dict(self._functions)

    def _check_open(self) -> None:
        if self._state != "OPEN":
            raise InvokerClosedError("Cannot use an Invoker once it has been closed.")

    def _lookup(self, name: str, region: str | None, account: str | None, qualifier: str | None) -> Function:
        fn = self._functions.get(name)
        if fn is None or (region and region != fn.region) or (account and account != fn.account_id):
            raise not_found(region or "us-east-1", account or "123456789012", name, qualifier or LATEST)
        return fn

    def resolve(self, target: Any) -> tuple[Version, str, Function]:
        """(version to run, ARN as invoked, function) for any accepted target."""
        if isinstance(target, Function):
            if self._functions.get(target.name) is not target:
                self.register(target)
            return target.latest, target.arn, target
        if isinstance(target, Alias):
            fn = target.function
            if self._functions.get(fn.name) is not fn:
                self.register(fn)
            return target.pick(), target.arn, fn
        if isinstance(target, Version):
            fn = target.function
            if fn is None:
                raise InvalidParameterValueError(f"{target!r} is not attached to a Function")
            if self._functions.get(fn.name) is not fn:
                self.register(fn)
            return fn.get_version(target), target.arn, fn
        if not isinstance(target, str):
            raise InvalidParameterValueError(
                f"target must be a Function, Version, Alias, name or ARN, got {type(target).__name__}"
            )
        region = account = None
        parts = target.split(":")
        if target.startswith("arn:"):
            if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
                raise InvalidParameterValueError(f"not a Lambda function ARN: {target!r}")
            region, account, name = parts[3], parts[4], parts[6]
            qualifier = parts[7] if len(parts) == 8 else None
        elif len(parts) >= 3 and parts[1] == "function":
            account, name = parts[0], parts[2]
            qualifier = parts[3] if len(parts) == 4 else None
        elif len(parts) <= 2:
            name = parts[0]
            qualifier = parts[1] if len(parts) == 2 else None
        else:
            raise InvalidParameterValueError(f"cannot parse function name {target!r}")
        fn = self._lookup(name, region, account, qualifier)
        if qualifier is None:
            return fn.latest, fn.arn, fn
        arn = function_arn(fn.region, fn.account_id, fn.name, qualifier)
        if qualifier == LATEST or qualifier.isdigit():
            return fn.get_version(qualifier), arn, fn
        return fn.get_alias(qualifier).pick(), arn, fn

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
        if (
            payload is None
            and log_type is None
            and client_context is None
            and trace_header is None
            and invocation_type == "RequestResponse"
            and self._state == "OPEN"
        ):
            route = self._route_of(target)
            if route is not None:
                return self._invoke_routed(route, b"{}" if event is None else _event_body(event))
        self._check_open()
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValueError(
                f"invocation_type must be RequestResponse, Event or DryRun, got {invocation_type!r}"
            )
        version, invoked_arn, fn = self.resolve(target)
        version = self._reload_if_changed(fn, version)
        if payload is not None:
            if event is not None:
                raise InvalidParameterValueError("pass event or payload, not both")
            body = data_bytes(payload, "payload")
            if not body.strip():
                body = b"{}"
            elif len(body) <= MAX_REQUEST_BYTES:
                try:
                    json.loads(body)
                except ValueError as e:
                    raise InvalidRequestContentError(
                        f"Could not parse request body into json: Could not parse payload into json: {e}"
                    ) from None
            _check_size(body)
        else:
            body = _event_body(event)
        if log_type not in (None, "None", "Tail"):
            raise InvalidParameterValueError(f"log_type must be 'None' or 'Tail', got {log_type!r}")
        if invocation_type != "RequestResponse":
            return self._invoke_async(target, fn, invoked_arn, body, invocation_type == "DryRun")
        cc = self._client_context_bytes(client_context)
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
            spin_s, flags, hold = self._spin(concurrency, started)
            if env is None:
                result = self._execute(fn, version, route.arn, request_id, trace, b"", body, False, spin_s, flags, hold)
            else:
                timeout_s = route.timeout_s
                start = time.monotonic()
                head = (
                    _pack_head(int((started + timeout_s) * 1000), flags, 36, route.arn_len,
                               len(trace), 0, 0)
                    + f"{request_id}{route.arn}{trace}".encode()
                )  # fmt: skip
                if env.send(head, body, hold):
                    # While the handler runs: the result's known fields, the next ids.
                    result, state = blank_result(route.template)
                    state["request_id"] = request_id
                    state["environment_id"] = env.id
                    state["log_stream_name"] = env.stream_name
                    if not self._spare_ids:
                        self._spare_ids.append(new_id_parts())
                    keep = self._keeps(env, fn)
                    out = env.receive(start + timeout_s, spin_s, hold)
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
                    state["log_parts"] = (route.lines, "", request_id, log_text(logs) if logs else "", duration_ms,
                                          billed, used_mb, None, None, error_type, ended, trace)  # fmt: skip
                    state["duration_ms"] = shown_ms
                    state["billed_duration_ms"] = billed
                    state["max_memory_used_mb"] = used_mb
                    return self._recorded(started, route.arn, -concurrency, result, version, trace, ended)
                elif out.kind == "gone":  # killed while idle: nothing ran
                    self._pool.discard(env, keep_tmp=True)
                    self._replace_if_provisioned(env, route.key, version, fn)
                    result = self._execute(
                        fn, version, route.arn, request_id, trace, b"", body, False, spin_s, flags, hold
                    )
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
            spin_s, flags, hold = self._spin(concurrency, started)
            result = self._execute(fn, version, invoked_arn, request_id, trace, cc, body, tail, spin_s, flags, hold)
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

    @staticmethod
    def _client_context_bytes(client_context: dict | str | None) -> bytes:
        if client_context is None:
            return b""
        if isinstance(client_context, str):  # base64 JSON, as boto3 sends it
            try:
                raw = base64.b64decode(client_context, validate=True)
                value = json.loads(raw)
            except ValueError as e:
                raise InvalidRequestContentError(
                    f"Client context must be a valid Base64-encoded JSON object: {e}"
                ) from None
            if not isinstance(value, dict):
                raise InvalidRequestContentError(
                    f"Client context must be a valid Base64-encoded JSON object, got a JSON {type(value).__name__}"
                )
            encoded_len = len(client_context)
        else:
            if not isinstance(client_context, dict):  # the context's fields are read from an object
                raise InvalidRequestContentError(
                    f"Client context must be a JSON object (a dict), got {type(client_context).__name__}"
                )
            try:
                raw = json.dumps(client_context).encode()
            except (TypeError, ValueError) as e:
                raise InvalidRequestContentError(f"Client context is not JSON: {e}") from None
            encoded_len = len(base64.b64encode(raw))
        if encoded_len > MAX_CLIENT_CONTEXT_BYTES:
            raise InvalidRequestContentError(
                f"Client context must be at most {MAX_CLIENT_CONTEXT_BYTES} bytes once base64-encoded"
            )
        return raw

    # -- concurrency -----------------------------------------------------------------
    def _acquire(self, fn: Function) -> int:
        """Count the invocation in, or raise TooManyRequestsError; return how many are in flight."""
        with self._lock:
            return self._count_in(fn)

    def _spin(self, concurrency: int, now: float) -> tuple[float, int, bool]:
        """(how long the caller spins, the INVOKE flags, whether its pipe I/O holds the GIL).

        The caller spins only when sequential: alone now and not concurrent
        lately (between two concurrent calls a thread is briefly alone, and
        spinning then holds the GIL the other call needs).  The environment
        spins for the next request while invocations do not outnumber the
        cores: its spin yields its CPU to anything runnable there, so it
        costs only idle time, and it spares the wakeup of a halted CPU,
        which is most of a warm invocation on a VM.  While concurrent, the
        caller writes and reads its environment's pipes without releasing
        the GIL (see ``_environment.held``).
        """
        concurrent = concurrency > 1 or now < self._concurrent_until
        hold = concurrent and held.bind()
        if not self._spin_s or _CORES < 2:
            return 0.0, 0, hold
        flags = FLAG_SPIN if concurrency <= _CORES else 0
        return (0.0 if concurrent else self._spin_s), flags, hold

    def _count_in(self, fn: Function) -> int:
        """``_acquire`` for a caller that holds the lock."""
        name = fn._name  # the attributes behind the properties: two calls fewer per invocation
        reserved = fn._reserved
        inflight = self._inflight.get(name, 0)
        if reserved is not None:
            if inflight >= reserved:
                raise TooManyRequestsError("ReservedFunctionConcurrentInvocationLimitExceeded")
        else:
            if self._carved_epoch != Function.reserved_epoch:  # some reservation changed
                self._recarve()
            if self._unreserved_inflight >= self._unreserved_limit:
                raise TooManyRequestsError("ConcurrentInvocationLimitExceeded")
            self._unreserved_inflight += 1
        self._inflight[name] = inflight + 1
        total = self._total_inflight = self._total_inflight + 1
        if total > 1:
            self._concurrent_until = time.time() + SPIN_QUIET_S
        return total

    def _recarve(self) -> int:
        """The account limit less every reservation, recomputed now (lock held); cached for ``_count_in``."""
        self._carved_epoch = Function.reserved_epoch
        carved = sum(f.reserved_concurrency or 0 for f in self._functions.values())
        self._unreserved_limit = self._concurrency_limit - carved
        return self._unreserved_limit

    def _release(self, fn: Function) -> None:
        with self._lock:
            self._count_out(fn)

    def _count_out(self, fn: Function) -> None:
        """``_release`` for a caller that holds the lock."""
        self._inflight[fn._name] -= 1
        self._total_inflight -= 1
        if fn._reserved is None:
            self._unreserved_inflight -= 1

    # -- environments ----------------------------------------------------------------
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
        spec = build_init_spec(version, fn, self._workdir, self._inherit)
        self._init_specs[key] = spec
        return spec

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
        environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
        environ["TMPDIR"] = self._pool.tmpdir_for(key, env_id)
        spec = dict(base, environ=environ)
        name = f"λ{version.function_name}"[:15]
        env = self._pool.start(key, env_id, name, spec, version.config.memory_size)
        return env, env.wait_init(timeout_s)

    @staticmethod
    def _failure(outcome: Outcome, request_id: str, timeout_s: float) -> tuple[str, str, bytes, str]:
        """(REPORT status, error type, payload, platform message) for an init or invocation that failed.

        The message is empty when the runtime reported the error itself
        (``INIT_FAILED``: its own error document is the payload).
        """
        if outcome.kind == "result":
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
            env, out = self._start_env(key, version, fn, INIT_PHASE_TIMEOUT_S)
            phase.before.append(lines.init_start(env.stream_name))
            phase.before.append(log_text(out.logs))
            if out.kind == "result" and out.frame == INIT_DONE:
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
        if out.kind != "result" or out.frame != INIT_DONE:
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

    def _execute(
        self,
        fn: Function,
        version: Version,
        arn: str,
        request_id: str,
        trace: str,
        cc: bytes,
        body: bytes,
        tail: bool,
        spin_s: float,
        flags: int,
        hold: bool,
    ) -> InvocationResult:
        cfg = version.config
        timeout_s = cfg.timeout
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
            trace_bytes = trace.encode()  # a caller's trace header may hold non-ASCII: count bytes
            head = (
                _pack_head(
                    int((time.time() + timeout_s) * 1000 - suppressed_ms),
                    flags,
                    36,
                    len(arn),
                    len(trace_bytes),
                    len(cc),
                    0,
                )
                + f"{request_id}{arn}".encode()
                + trace_bytes
                + cc
            )
            out = env.invoke(head, body, start + timeout_s, spin_s, hold)
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
        self._pool.discard(env, keep_tmp=True)
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

    @staticmethod
    def _result(
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
        used_mb = max_memory_used_mb(rss_kib or (env.max_rss_kib if env is not None else 0))
        if phase is None:
            before = ""
            inside = log_text(logs) if logs else ""
        else:
            before = "".join(phase.before)
            inside = "".join(phase.inside) + (log_text(logs) if logs else "")
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
                time.time(), trace,
            ),
            tail=tail,
            duration_ms=shown_ms,
            billed_duration_ms=billed,
            init_duration_ms=shown_init_ms,
            memory_size_mb=memory,
            max_memory_used_mb=used_mb,
            cold_start=phase is not None and phase.cold,
            environment_id=env.id if env is not None else phase.env_id if phase is not None else None,
            log_stream_name=env.stream_name if env is not None else phase.stream if phase is not None else None,
        )  # fmt: skip

    # -- event sources ---------------------------------------------------------------
    def create_event_source_mapping(
        self,
        source: Any,
        target: Any,
        *,
        batch_size: int | None = None,
        maximum_batching_window: float = 0,
        function_response_types: list[str] | tuple[str, ...] = (),
        filter_criteria: dict | None = None,
        enabled: bool = True,
        events: tuple[str, ...] | list[str] = ("s3:ObjectCreated:*",),
        prefix: str = "",
        suffix: str = "",
        starting_position: str | None = None,
        starting_position_timestamp: float | None = None,
        bisect_batch_on_function_error: bool = False,
        maximum_retry_attempts: int = -1,
        maximum_record_age: int = -1,
        parallelization_factor: int = 1,
        destination_config: dict | None = None,
    ) -> Trigger:
        """Connect a source to a function, with the source's own semantics.

        - ``Queue``: an SQS event source mapping (``batch_size``,
          ``maximum_batching_window``, ``function_response_types``,
          ``filter_criteria``; Lambda's ranges and batch semantics);
        - ``Stream`` or ``Table``: a stream mapping, in order per shard
          (``starting_position``, ``bisect_batch_on_function_error``,
          ``maximum_retry_attempts``, ``maximum_record_age``,
          ``destination_config={"OnFailure": {"Destination": queue}}``);
        - ``Schedule``: an EventBridge rule target, invoked asynchronously at
          each firing time;
        - ``Bucket``: an S3 notification (``events``, ``prefix``, ``suffix``),
          invoked asynchronously on each matching change.
        """
        self._check_open()
        from ._sources.mapping import create_mapping

        return create_mapping(
            self, source, target, batch_size=batch_size, maximum_batching_window=maximum_batching_window,
            function_response_types=function_response_types, filter_criteria=filter_criteria, enabled=enabled,
            events=tuple(events), prefix=prefix, suffix=suffix,
            stream_options={
                "starting_position": starting_position,
                "starting_position_timestamp": starting_position_timestamp,
                "bisect_batch_on_function_error": bisect_batch_on_function_error,
                "maximum_retry_attempts": maximum_retry_attempts,
                "maximum_record_age": maximum_record_age,
                "parallelization_factor": parallelization_factor,
                "destination_config": destination_config,
            },
        )  # fmt: skip

    def create_function_url(self, target: Any, *, port: int = 0) -> HttpEndpoint:
        """Serve ``target`` over HTTP on 127.0.0.1 (a function URL); close it, or the Invoker, to stop."""
        self._check_open()
        self.resolve(target)
        from ._sources.url import HttpEndpoint

        endpoint = HttpEndpoint(self, target, "127.0.0.1", port)
        self._endpoints.append(endpoint)
        return endpoint

    @property
    def event_source_mappings(self) -> list[Trigger]:
        """The mappings that exist."""
        return list(self._mappings.values())

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
        """What the remembered invocations would cost (see ``pylambda._billing``)."""
        return make_bill(self._recorder.records(), free_tier)

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
        """Pid of the zygote process, when running."""
        return self._zygote.pid

    def close(self, timeout: float = 1.0, drain_timeout: float = 0.0) -> None:
        """End every process this Invoker started; idempotent and bounded in time.

        Asynchronous events still queued are waited for up to
        ``drain_timeout`` seconds, then discarded: each gets an
        ``AsyncOutcome`` with ``condition="Discarded"`` (never a hang).
        """
        if self._state == "CLOSED":
            return
        for endpoint in self._endpoints:
            endpoint.close()
        for mapping in list(self._mappings.values()):
            mapping.delete()
        self._async.close(drain_timeout)
        with self._lock:
            if self._state == "CLOSED":
                return
            self._state = "CLOSED"
        try:
            self._pool.close(timeout)
            self._async.join(timeout)
        finally:
            self._zygote.close(timeout)
            shutil.rmtree(self._workdir, ignore_errors=True)

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
