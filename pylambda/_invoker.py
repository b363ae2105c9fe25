"""The Invoker: the Lambda service on your machine (the front door).

::

    invoke(function or name, event) ─▶ engine.routes ─valid─▶ Engine.invoke_routed (the warm path, flat)
    invoke(target, event) ─▶ Registry.resolve ─▶ version (alias routing) ─▶ body (JSON, limits)
         │                                      └─ Event/DryRun ─▶ AsyncQueue.accept
         ▼
    Engine.run ─▶ Admission (reserved / account concurrency) ─▶ Engine._execute
         ▼            pool.checkout ─idle─▶ exchange;  none ─▶ Launcher.cold_start
    InvocationResult (blank_result + finish_result) ─▶ Recorder (history, logs, metrics, bills)

``Invoker`` holds collaborators, each given what it needs in its
constructor, and its public methods delegate to them (docs/architecture.md):
``Registry`` (functions, ``resolve``), ``Admission`` (concurrency counts),
``Launcher`` (``_execution``: starting environments), ``Engine`` (the warm
route, the general path, results), ``AsyncQueue`` and ``EventConfigs``
(asynchronous invocation), ``Provisioned`` and ``Triggers``.  What happens
when an invocation runs, an environment dies or ``$LATEST`` changes: see
``_engine``.  On ``close()``, queued async events are discarded (with
outcomes), idle environments get EOF, busy ones SIGKILL.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._admission import Admission
from ._async import DEFAULT_ASYNC_WORKERS, AsyncOutcome, AsyncQueue, EventConfigs, EventInvokeConfig
from ._billing import Bill, make_bill
from ._cleanup import remove_later
from ._clock import Clock, RealClock
from ._config import check_invoker_options, validate_endpoint_url
from ._engine import ROUTABLE, Engine
from ._environment.backend import Backend, Environment
from ._environment.isolation import check_cpu_scaling
from ._environment.pool import EnvironmentPool
from ._environment.runtimes import Backends
from ._environment.snapshot import snapshot_charges
from ._errors import InvalidParameterValueError, InvokerClosedError
from ._execution import Launcher
from ._function import Function
from ._history import DEFAULT_HISTORY_SIZE, History, Recorder, ThrottleRecord
from ._lock import Lock
from ._logs import LogGroup, echo_function
from ._map import MapResult, run_map
from ._metrics import FunctionMetrics
from ._provisioned import Provisioned
from ._registry import Registry
from ._request import client_context_bytes, event_body, payload_body
from ._result import InvocationResult
from ._triggers import Triggers, pending_work, wait_for_idle
from ._version import Version

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._endpoint import LambdaEndpoint
    from ._sources.trigger import Trigger
    from ._sources.url import HttpEndpoint

__all__ = ["Invoker"]

# Idle environments are ended after this many seconds.  Lambda keeps them
# 5-15 minutes (unpublished); shorter frees memory sooner, longer keeps more
# invocations warm.
DEFAULT_IDLE_TTL_S = 300.0
# Default spin before blocking, in microseconds (see Invoker(spin_us=...)).
DEFAULT_SPIN_US = 100


class Invoker:
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
        check_invoker_options(
            concurrency_limit=concurrency_limit, idle_ttl=idle_ttl, spin_us=spin_us, history_size=history_size,
            max_invocations_per_environment=max_invocations_per_environment, async_workers=async_workers, mode=mode,
        )  # fmt: skip
        self._aws_endpoint_url = None if aws_endpoint_url is None else validate_endpoint_url(aws_endpoint_url)
        cpu_scaling = check_cpu_scaling(cpu_scaling)
        echo = echo_function(echo_logs)
        inherit = inherit_env if isinstance(inherit_env, bool) else tuple(inherit_env)
        self._spin_s = spin_us / 1e6
        self._mode = mode
        self._recorder = recorder = Recorder(history_size)
        self._clock = clock if clock is not None else RealClock()
        self._lock = lock = Lock()  # not threading.Lock: see _lock.py
        self._registry = Registry(lock, self.register)
        functions = self._registry.by_name
        self._admission = Admission(lock, functions, concurrency_limit)
        self._backends = Backends(mode, self._spin_s, backend)
        self._workdir = workdir = tempfile.mkdtemp(prefix="pylambda-")  # the first resource: all checks are done
        self._pool = pool = EnvironmentPool(self._backends.for_runtime, workdir, idle_ttl, lock)
        self._launcher = launcher = Launcher(
            pool=pool, backends=self._backends, recorder=recorder, workdir=workdir, inherit=inherit,
            environ_for=self._endpoint_environ, cpu_scaling=cpu_scaling, inline=mode == "inline",
        )  # fmt: skip
        resolve = self._registry.resolve
        self._engine = engine = Engine(
            launcher=launcher, pool=pool, admission=self._admission, recorder=recorder, lock=lock, workdir=workdir,
            resolve=resolve, is_open=self._is_open, stateless=stateless,
            max_invocations=max_invocations_per_environment, watch_code=watch_code, echo=echo,
        )  # fmt: skip
        self._provisioned = Provisioned(resolve=resolve, launcher=launcher, pool=pool, admission=self._admission,
                                        functions=functions, lock=lock, is_open=self._is_open)  # fmt: skip
        engine.on_lost = self._provisioned.replace_if_provisioned
        self._event_configs = EventConfigs(resolve)
        self._async = AsyncQueue(attempt=engine.attempt, invoke=self.invoke, configs=self._event_configs,
                                 clock=self._clock, workers=async_workers)  # fmt: skip
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
            engine = self._engine
            route = engine.routes.get(target) if type(target) in ROUTABLE else None
            if route is not None and route.version is route.fn._latest:
                body = event_body(event) if payload is None else payload_body(payload, event)
                return engine.invoke_routed(route, body)
        self._check_open()
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValueError(
                f"invocation_type must be RequestResponse, Event or DryRun, got {invocation_type!r}"
            )
        engine = self._engine
        version, invoked_arn, fn = self._registry.resolve(target)
        version = engine.watch.current(fn, version)
        body = event_body(event) if payload is None else payload_body(payload, event)
        if log_type not in (None, "None", "Tail"):
            raise InvalidParameterValueError(f"log_type must be 'None' or 'Tail', got {log_type!r}")
        if invocation_type != "RequestResponse":
            return self._async.accept(target, fn, invoked_arn, body, invocation_type == "DryRun")
        cc = client_context_bytes(client_context)
        engine.remember_route(target, version, invoked_arn, fn)
        return engine.run(fn, version, invoked_arn, body, trace_header=trace_header, client_context=cc,
                          tail=log_type == "Tail")  # fmt: skip

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

    # -- functions -------------------------------------------------------------------
    def register(self, *functions: Function) -> Invoker:
        """Make functions resolvable by name, ``name:qualifier`` and ARN."""
        self._check_open()
        for fn in functions:
            self._registry.add(fn)
        for fn in functions:  # a zygote (say) starts now, overlapping the caller's work
            self._launcher.prepare(fn)
        return self

    def unregister(self, function: Function | str) -> Function:
        """Forget a function (the Lambda API's DeleteFunction): its name stops resolving.

        Its idle environments end, its event source mappings, provisioned
        concurrency and asynchronous-invocation configs go with it; an
        invocation already running finishes.  Returns the removed Function.
        """
        fn = self._registry.remove(function.name if isinstance(function, Function) else function)
        self._event_configs.forget(fn.name)
        for mapping in [m for m in self._triggers.all() if m.function_name == fn.name]:
            mapping.delete()
        self._provisioned.forget(fn.name)
        self._engine.forget(fn)
        return fn

    @property
    def functions(self) -> dict[str, Function]:
        """Registered functions by name."""
        return self._registry.snapshot()

    def resolve(self, target: Any) -> tuple[Version, str, Function]:
        """(version to run, ARN as invoked, function) for any accepted target."""
        return self._registry.resolve(target)

    def _check_open(self) -> None:
        if self._state != "OPEN":
            raise InvokerClosedError("Cannot use an Invoker once it has been closed.")

    def _is_open(self) -> bool:
        return self._state == "OPEN"

    # -- asynchronous invocation -----------------------------------------------------
    def put_function_event_invoke_config(
        self,
        target: Any,
        *,
        maximum_retry_attempts: int = 2,
        maximum_event_age_in_seconds: int = 21600,
        on_success: Any = None,
        on_failure: Any = None,
    ) -> EventInvokeConfig:
        """Configure asynchronous invocation of a function, version or alias (replaces any config).

        Destinations are another function (Function, Version, Alias, name or
        ARN: invoked asynchronously with Lambda's invocation record) or any
        callable taking the record.  A function cannot be its own destination.
        """
        return self._event_configs.put(
            target, maximum_retry_attempts=maximum_retry_attempts,
            maximum_event_age_in_seconds=maximum_event_age_in_seconds, on_success=on_success, on_failure=on_failure,
        )  # fmt: skip

    def get_function_event_invoke_config(self, target: Any) -> EventInvokeConfig:
        """The asynchronous-invocation config of a function, version or alias."""
        return self._event_configs.get(target)

    def delete_function_event_invoke_config(self, target: Any) -> None:
        """Remove the config: defaults apply again (2 retries, 6 hours, no destinations)."""
        self._event_configs.delete(target)

    def event_invoke_config_for(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        """The config that applies to an event invoked with ``qualifier`` (then the function's)."""
        return self._event_configs.for_event(function_name, qualifier)

    @property
    def async_outcomes(self) -> list[AsyncOutcome]:
        """How every finished asynchronous event ended, in order."""
        return self._async.finished()

    @property
    def clock(self) -> Clock:
        """The clock schedules follow."""
        return self._clock

    # -- provisioned concurrency -----------------------------------------------------
    def put_provisioned_concurrency_config(self, target: Any, provisioned_concurrency: int) -> dict:
        """Keep ``provisioned_concurrency`` environments of a version (or alias) initialised.

        They init ahead of time with ``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``,
        serve invocations before any on-demand environment (without an Init
        Duration: their init is already paid), are never reaped for idleness,
        and are replaced when one fails.  Returns the config in Lambda's shape.
        """
        self._check_open()
        return self._provisioned.put(target, provisioned_concurrency)

    def get_provisioned_concurrency_config(self, target: Any) -> dict:
        """The provisioned-concurrency config of a version or alias, as Lambda reports it."""
        return self._provisioned.get(target)

    def delete_provisioned_concurrency_config(self, target: Any) -> None:
        """Remove the config; its idle environments are ended."""
        self._provisioned.delete(target)

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
        """Connect a source to a function, with the source's own semantics; return the trigger.

        What comes back depends on the source (every one has ``uuid``,
        ``arn``, ``state``, ``invocations``, ``enable()``, ``disable()``,
        ``delete()`` and ``describe()``; see ``docs/sources.md``):

        - ``Queue`` → ``EventSourceMapping``, an SQS mapping (``batch_size``,
          ``maximum_batching_window``, ``function_response_types``,
          ``filter_criteria``; Lambda's ranges and batch semantics);
        - ``Stream`` or ``Table`` → ``StreamMapping``, in order per shard
          (``starting_position``, ``bisect_batch_on_function_error``,
          ``maximum_retry_attempts``, ``maximum_record_age``,
          ``destination_config={"OnFailure": {"Destination": queue}}``);
        - ``Schedule`` → ``ScheduleTrigger``, an EventBridge rule target,
          invoked asynchronously at each firing time;
        - ``Bucket`` → ``BucketNotification``, an S3 notification
          (``events``, ``prefix``, ``suffix``), invoked asynchronously on
          each matching change;
        - an ARN string (``"arn:aws:sqs:..."``, ``"arn:aws:kinesis:...:stream/s"``,
          a DynamoDB table's ``LatestStreamArn``) → ``SqsPoller`` or
          ``RemoteStreamMapping``: the real queue or stream at the Invoker's
          ``aws_endpoint_url``, polled with boto3, with the options and
          semantics above (on-failure destinations may also be SQS or SNS
          ARNs); see docs/aws-services.md.

        The source follows this Invoker's clock from then on (a source
        created with a different ``clock=`` is refused).

        Raises:
            InvalidParameterValueError: a parameter Lambda would refuse, a
                source nothing serves, or a source on another clock.
            ResourceNotFoundError: the function is not registered.
        """
        self._check_open()
        return self._triggers.create(
            source, target, batch_size=batch_size, maximum_batching_window=maximum_batching_window,
            function_response_types=tuple(function_response_types or ()), filter_criteria=filter_criteria,
            enabled=enabled, events=tuple(events), prefix=prefix, suffix=suffix,
            starting_position=starting_position, starting_position_timestamp=starting_position_timestamp,
            bisect_batch_on_function_error=bisect_batch_on_function_error,
            maximum_retry_attempts=maximum_retry_attempts, maximum_record_age=maximum_record_age,
            parallelization_factor=parallelization_factor, destination_config=destination_config,
        )  # fmt: skip

    def create_function_url(self, target: Any, *, port: int = 0) -> HttpEndpoint:
        """Serve ``target`` over HTTP on 127.0.0.1 (a function URL); close it, or the Invoker, to stop."""
        self._check_open()
        self.resolve(target)
        from ._sources.url import HttpEndpoint

        endpoint = HttpEndpoint(self, target, "127.0.0.1", port)
        self._endpoints.append(endpoint)
        return endpoint

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> LambdaEndpoint:
        """Serve this Invoker's Lambda REST API (boto3, the AWS CLI) on ``host:port``; ``port=0`` picks one.

        Returns the endpoint (``.url``, ``.close()``, a context manager); it
        closes with the Invoker.  See docs/lambda-api.md for the operations.
        """
        self._check_open()
        from ._endpoint import LambdaEndpoint

        endpoint = LambdaEndpoint(self, host, port)
        self._endpoints.append(endpoint)
        return endpoint

    @property
    def event_source_mappings(self) -> list[Trigger]:
        """The mappings that exist."""
        return self._triggers.all()

    def wait_for_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending (True), or ``timeout`` seconds pass (False).

        Pending: asynchronous events queued, running or waiting for a retry,
        and mappings with work, including messages waiting out a visibility
        timeout (or a delay, or a batching window) before they come back:
        on the real clock this waits for them, as a test expects when it
        checks the dead-letter queue after a failing batch.  A schedule's
        next firing never ends, so it does not count.  ``pending_work()``
        says what is left after a timeout.

        With ``Invoker(clock=ManualClock())`` the clock jumps to each scheduled
        retry, visibility timeout or batch window when nothing else is
        running, so delays cost no real time.
        """
        return wait_for_idle(self._async, self._triggers, timeout)

    def pending_work(self) -> list[str]:
        """What ``wait_for_idle`` would still wait for, one line each (empty when idle)."""
        return pending_work(self._async, self._triggers)

    @property
    def aws_endpoint_url(self) -> str | None:
        """The AWS services endpoint environments are given (``AWS_ENDPOINT_URL``), or None."""
        return self._aws_endpoint_url

    def _endpoint_environ(self, version: Version | None = None) -> dict[str, str]:
        """``AWS_ENDPOINT_URL``, and for an environment of ``version`` this Invoker's Lambda API and its role's keys."""
        from ._endpoint.environ import endpoint_environ

        return endpoint_environ(self, version)

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
        fn = self._registry.by_name.get(name)
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
            self._launcher.close()
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
        functions, environments = len(self._registry.by_name), len(self._pool.live())
        return f"<Invoker state={self._state} functions={functions} environments={environments}>"
