"""Asynchronous invocation: Lambda's event queue, retries, event age and destinations.

::

    invoke(..., invocation_type="Event") ──▶ 202 ──▶ schedule (heap by due time, on the clock)
                                                        │ worker threads take what is due
                                                        ▼
                               attempt = a synchronous invocation, same request id every time
                 success ─▶ on_success      function error ─▶ retry after 60 s, then 120 s
                 throttled ─▶ back in the queue, 1 s doubling to 5 min (not an attempt)
                 too old / retries exhausted / zero reserved concurrency
                            ─▶ on_failure destination and/or the function's dead-letter target
                               (neither: dropped, with a logged reason)

Every accepted event ends in exactly one ``AsyncOutcome`` (``invoker.async_outcomes``),
also when environments crash, time out or run out of memory, and when the
Invoker is closed with events still queued (``condition="Discarded"``).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from ._alias import Alias
from ._clock import Clock, iso_ms
from ._errors import (
    InvalidParameterValueError,
    InvokerClosedError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from ._function import Function
from ._history import qualifier_of
from ._ids import new_ids
from ._result import InvocationResult
from ._version import LATEST, Version
from ._workers import Growth

__all__ = ["AsyncOutcome", "AsyncQueue", "EventConfigs", "EventInvokeConfig"]

log = logging.getLogger("pylambda")

# Lambda's spacing of retries after a function error (reference §4.2).
RETRY_DELAYS_S = (60.0, 120.0)
THROTTLE_BACKOFF_FIRST_S = 1.0
THROTTLE_BACKOFF_MAX_S = 300.0
# Lambda's asynchronous payload limit (reference §3.6).
MAX_ASYNC_REQUEST_BYTES = 1_048_576
# How many attempts run at once.  More drains a burst sooner and needs as many
# environments; fewer keeps the machine free for the caller.
DEFAULT_ASYNC_WORKERS = 16


def _check_int_range(field: str, low: int, high: int):
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidParameterValueError(f"{field} must be an integer from {low} to {high}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class EventInvokeConfig:
    """``PutFunctionEventInvokeConfig``: retries, event age and destinations."""

    maximum_retry_attempts: int = attrs.field(default=2, validator=_check_int_range("maximum_retry_attempts", 0, 2))
    """Retries after a function error, 0..2."""
    maximum_event_age_in_seconds: int = attrs.field(
        default=21600, validator=_check_int_range("maximum_event_age_in_seconds", 60, 21600)
    )
    """How long an event may wait, 60..21600 seconds."""
    on_success: Any = None
    """Where success records go: a function (Function, Version, Alias, name, ARN) or a callable."""
    on_failure: Any = None
    """Where failure records go: a function or a callable."""


@attrs.frozen(kw_only=True)
class AsyncOutcome:
    """How one accepted asynchronous event ended."""

    request_id: str
    """The event's request id (the same for every attempt)."""
    function_name: str
    """The function."""
    condition: str
    """``Success``, ``RetriesExhausted``, ``EventAgeExceeded``, ``ZeroReservedConcurrency`` or ``Discarded``."""
    attempts: int
    """Attempts made (Lambda's ``approximateInvokeCount``)."""
    delivered_to: tuple[str, ...]
    """``on_success``, ``on_failure``, ``dead_letter``; empty when dropped."""
    timestamp: float
    """When the outcome was decided (clock time)."""
    _record: Any = attrs.field(alias="record", repr=False, eq=False)

    @property
    def record(self) -> dict:
        """The invocation record (as sent to destinations).

        Built when first read unless a destination needed it: parsing the
        event and the response back into JSON values was a third of the
        cost of processing an asynchronous event.
        """
        record = self._record
        if callable(record):
            record = record()
            object.__setattr__(self, "_record", record)
        return record


class _Event:
    __slots__ = ("arn", "attempts", "backoff", "body", "fn", "last", "qualifier", "received", "request_id", "target")

    def __init__(self, fn, target, arn, qualifier, request_id, body, received) -> None:
        self.fn = fn
        self.target = target
        self.arn = arn
        self.qualifier = qualifier
        self.request_id = request_id
        self.body = body
        self.received = received
        self.attempts = 0
        self.backoff = 0.0
        self.last: InvocationResult | None = None


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


class AsyncQueue:
    """The Invoker's event queue and the worker threads that attempt its events.

    Workers take due events from the heap themselves (no dispatcher between
    the queue and them): each handoff between threads is a wakeup, which
    costs more than a warm invocation.  A new worker starts only when an
    event is queued and every worker is busy, up to ``workers``, so a fast
    handler is served by one or two threads and a slow one gets many.
    """

    def __init__(
        self,
        *,
        attempt: Callable[[Any, str, bytes], InvocationResult],
        invoke: Callable[..., InvocationResult],
        configs: EventConfigs,
        clock: Clock,
        workers: int = DEFAULT_ASYNC_WORKERS,
    ) -> None:
        # One attempt of an event: (target, request id, body) -> result (``Execution.attempt``).
        self._attempt_one = attempt
        # Destinations that are functions are invoked asynchronously (``Invoker.invoke``).
        self._invoke = invoke
        self._configs = configs
        self._clock = clock
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # workers wait on it (the clock notifies it too)
        self._changed = threading.Condition(lock)  # wait_for_idle, settle and join wait on it
        clock.subscribe(self._cond)
        clock.register(self)
        self._heap: list[tuple[float, int, _Event]] = []
        self._seq = itertools.count()
        self._running = 0
        self._waiting = 0  # workers waiting for work
        self._growth = Growth(base=2, limit=workers)  # two workers, more for slow handlers
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.outcomes: list[AsyncOutcome] = []

    # -- accepting -------------------------------------------------------------------
    def submit(self, fn: Function, target: Any, arn: str, qualifier: str | None, request_id: str, body: bytes) -> None:
        """Queue an accepted event for its first attempt, now."""
        event = _Event(fn, target, arn, qualifier, request_id, body, self._clock.now())
        with self._cond:
            if self._closed:
                raise InvokerClosedError("Cannot use an Invoker once it has been closed.")
            self._push(self._clock.now(), event)

    def accept(self, target: Any, fn: Function, arn: str, body: bytes, dry_run: bool) -> InvocationResult:
        """``invoke(..., invocation_type="Event" or "DryRun")``: check the size, queue (not a dry run), 202/204."""
        if len(body) > MAX_ASYNC_REQUEST_BYTES:
            raise RequestTooLargeError(
                f"{len(body)} byte payload is too large for the Event invocation type "
                f"(limit {MAX_ASYNC_REQUEST_BYTES} bytes)"
            )
        request_id, _trace = new_ids()
        if not dry_run:
            self.submit(fn, target, arn, qualifier_of(arn), request_id, body)
        return InvocationResult(
            status_code=204 if dry_run else 202, raw_payload=b"", request_id=request_id, function_name=fn.name
        )

    def finished(self) -> list[AsyncOutcome]:
        """How every finished event ended, in order (a copy)."""
        with self._cond:
            return list(self.outcomes)

    def _push(self, due: float, event: _Event) -> None:
        """Schedule ``event`` (lock held): wake a waiting worker, or start one if all are busy."""
        heapq.heappush(self._heap, (due, next(self._seq), event))
        if self._waiting:
            self._cond.notify()
        else:
            self._grow()
        self._changed.notify_all()

    def _grow(self) -> None:
        """Start another worker (lock held) if every worker is busy and more would help (``_workers.Growth``)."""
        n = len(self._threads)
        if self._closed or not self._growth.wants_more(n):
            return
        thread = threading.Thread(target=self._work, name=f"pylambda-async-{n}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- working ---------------------------------------------------------------------
    def _work(self) -> None:
        """A worker: attempt due events until the queue is closed."""
        clock = self._clock
        with self._cond:
            while not self._closed:
                heap = self._heap
                if heap and heap[0][0] <= clock.now():
                    _due, _seq, event = heapq.heappop(heap)
                    self._running += 1
                    self._cond.release()
                    try:
                        self._attempt(event)
                    finally:
                        self._cond.acquire()
                        self._running -= 1
                        self._changed.notify_all()
                    if heap and not self._waiting and heap[0][0] <= clock.now():
                        self._grow()  # a backlog: maybe more hands
                    continue
                self._waiting += 1
                try:
                    clock.wait(self._cond, heap[0][0] if heap else None)
                finally:
                    self._waiting -= 1

    def _attempt(self, event: _Event) -> None:
        try:
            self._attempt_once(event)
        except Exception as e:
            self._finish(event, "Discarded" if self._closed else "RetriesExhausted", note=repr(e))

    def _attempt_once(self, event: _Event) -> None:
        fn = event.fn
        config = self._configs.for_event(fn.name, event.qualifier)
        now = self._clock.now()
        if fn.reserved_concurrency == 0:
            self._finish(event, "ZeroReservedConcurrency")
            return
        if now - event.received > config.maximum_event_age_in_seconds:
            self._finish(event, "EventAgeExceeded")
            return
        try:
            result = self._attempt_one(event.target, event.request_id, event.body)
        except TooManyRequestsError:
            # Throttled: back to the queue, backoff 1 s doubling to 5 min; not an attempt.
            event.backoff = min(THROTTLE_BACKOFF_MAX_S, event.backoff * 2 or THROTTLE_BACKOFF_FIRST_S)
            with self._cond:
                self._push(now + event.backoff, event)
            return
        except InvokerClosedError:
            self._finish(event, "Discarded")
            return
        event.attempts += 1
        event.last = result
        self._growth.note(result.duration_ms)
        if result.function_error is None:
            self._finish(event, "Success")
        elif event.attempts <= config.maximum_retry_attempts:
            delay = RETRY_DELAYS_S[min(event.attempts, len(RETRY_DELAYS_S)) - 1]
            with self._cond:
                self._push(self._clock.now() + delay, event)
        else:
            self._finish(event, "RetriesExhausted")

    # -- outcomes ------------------------------------------------------------------
    @staticmethod
    def _record(event: _Event, condition: str, when: float) -> dict:
        last = event.last
        executed = last.executed_version if last is not None else "$LATEST"
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": iso_ms(when),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": f"{event.fn.arn}:{executed}",
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": _json_or_text(event.body),
        }
        if last is not None:
            response: dict[str, Any] = {"statusCode": 200, "executedVersion": executed}
            if last.function_error:
                response["functionError"] = last.function_error
            record["responseContext"] = response
            record["responsePayload"] = _json_or_text(last.raw_payload)
        return record

    def _finish(self, event: _Event, condition: str, note: str | None = None) -> None:
        when = self._clock.now()
        record: Any = functools.partial(self._record, event, condition, when)
        delivered: list[str] = []
        if condition != "Discarded":
            config = self._configs.for_event(event.fn.name, event.qualifier)
            which = "on_success" if condition == "Success" else "on_failure"
            destination = getattr(config, which)
            if destination is not None:
                record = record()
                if self._deliver(destination, record, event):
                    delivered.append(which)
            if condition != "Success":
                dlq = event.fn.dead_letter_target
                if dlq is not None and self._dead_letter(dlq, event):
                    delivered.append("dead_letter")
                if not delivered:
                    log.warning(
                        "async event %s of %s dropped: %s after %d attempt(s), no destination%s",
                        event.request_id, event.fn.name, condition, event.attempts,
                        f" ({note})" if note else "",
                    )  # fmt: skip
        outcome = AsyncOutcome(
            request_id=event.request_id,
            function_name=event.fn.name,
            condition=condition,
            attempts=event.attempts,
            delivered_to=tuple(delivered),
            record=record,
            timestamp=when,
        )
        with self._cond:
            self.outcomes.append(outcome)
            self._changed.notify_all()

    def _deliver(self, destination: Any, record: dict, event: _Event) -> bool:
        try:
            if isinstance(destination, (Function, Version, Alias, str)):
                self._invoke(destination, record, invocation_type="Event")
            else:
                destination(record)
            return True
        except Exception as e:
            log.warning("destination of async event %s failed: %r", event.request_id, e)
            return False

    def _dead_letter(self, target: Any, event: _Event) -> bool:
        last = event.last
        message = ""
        if last is not None and last.function_error:
            doc = _json_or_text(last.raw_payload)
            message = doc.get("errorMessage", "") if isinstance(doc, dict) else str(doc)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": message[:1024]},
        }
        try:
            target(_json_or_text(event.body), attributes)
            return True
        except Exception as e:
            log.warning("dead-letter target of async event %s failed: %r", event.request_id, e)
            return False

    # -- waiting and closing ---------------------------------------------------------
    def wait_for_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; True if idle, False on timeout.

        With a ManualClock, time jumps to the next scheduled attempt whenever
        nothing is running, so retries minutes apart complete at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if self._clock.manual and not self._running and self._heap and self._heap[0][0] > self._clock.now():
                    due = self._heap[0][0]
                    self._cond.release()
                    try:
                        self._clock.set(due)  # type: ignore[attr-defined]
                    finally:
                        self._cond.acquire()
                    continue
                self._changed.wait(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
        return True

    def next_due(self) -> float | None:
        """The earliest scheduled attempt (clock time), or None."""
        with self._cond:
            return self._heap[0][0] if self._heap else None

    def settle(self, now: float, timeout: float) -> None:
        """Wait (bounded, real time) until nothing due at ``now`` is queued or running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._running or (self._heap and self._heap[0][0] <= now)) and not self._closed:
                if not self._threads or time.monotonic() >= deadline:
                    return
                self._changed.wait(0.05)

    def pending(self) -> int:
        """Events queued or being attempted."""
        with self._cond:
            return len(self._heap) + self._running

    def close(self, drain_timeout: float = 0.0) -> list[AsyncOutcome]:
        """Stop: wait up to ``drain_timeout`` for the queue, discard the rest; return the discarded."""
        if drain_timeout > 0:
            self.wait_for_idle(drain_timeout)
        with self._cond:
            self._closed = True
            left = [e for _d, _s, e in self._heap]
            self._heap.clear()
            self._cond.notify_all()
            self._changed.notify_all()
        for event in left:
            self._finish(event, "Discarded")
        return [o for o in self.outcomes if o.condition == "Discarded"]

    def join(self, timeout: float) -> None:
        """Wait (bounded) for attempts still running after close, and for the workers to end."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._changed.wait(0.05)
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))


_DEFAULT_EVENT_CONFIG = EventInvokeConfig()


def _destination_name(destination: Any) -> str:
    if isinstance(destination, (Function, Alias)):
        return destination.name if isinstance(destination, Function) else destination.function_name
    if isinstance(destination, Version):
        return destination.function_name
    text = str(destination)
    return text.split(":")[6] if text.startswith("arn:") else text.split(":")[0]


class EventConfigs:
    """The asynchronous-invocation configs of one Invoker, per (function, qualifier) (internal).

    ``resolve`` turns a target into (version, ARN as invoked, function); a
    config set on an alias or version applies to events invoked through it,
    then the function's, then Lambda's defaults.
    """

    def __init__(self, resolve: Callable[[Any], tuple[Version, str, Function]]) -> None:
        self._resolve = resolve
        self.by_key: dict[tuple[str, str | None], EventInvokeConfig] = {}

    def put(self, target: Any, **fields: Any) -> EventInvokeConfig:
        """``Invoker.put_function_event_invoke_config``."""
        _version, _arn, fn = self._resolve(target)
        for name in ("on_success", "on_failure"):
            destination = fields[name]
            is_function = isinstance(destination, (Function, Version, Alias, str))
            if destination is not None and not is_function and not callable(destination):
                raise InvalidParameterValueError(
                    f"{name} must be a function (Function, Version, Alias, name or ARN) or a callable taking the"
                    f" record, got {type(destination).__name__}"
                )
            if is_function and _destination_name(destination) == fn.name:
                raise InvalidParameterValueError("You can't specify the function as a destination for itself.")
        config = EventInvokeConfig(**fields)
        self.by_key[(fn.name, self._qualifier(target))] = config
        return config

    def get(self, target: Any) -> EventInvokeConfig:
        """``Invoker.get_function_event_invoke_config``."""
        _version, _arn, fn = self._resolve(target)
        config = self.by_key.get((fn.name, self._qualifier(target)))
        if config is None:
            raise ResourceNotFoundError(f"The function {fn.arn} doesn't have an EventInvokeConfig")
        return config

    def delete(self, target: Any) -> None:
        """``Invoker.delete_function_event_invoke_config``."""
        _version, _arn, fn = self._resolve(target)
        if self.by_key.pop((fn.name, self._qualifier(target)), None) is None:
            raise ResourceNotFoundError(f"The function {fn.arn} doesn't have an EventInvokeConfig")

    def for_event(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        """The config that applies to an event invoked with ``qualifier`` (then the function's)."""
        configs = self.by_key
        return configs.get((function_name, qualifier)) or configs.get((function_name, None)) or _DEFAULT_EVENT_CONFIG

    def forget(self, function_name: str) -> None:
        """A function was unregistered: its configs go."""
        for key in [k for k in self.by_key if k[0] == function_name]:
            del self.by_key[key]

    def _qualifier(self, target: Any) -> str | None:
        """The alias or version a config applies to (None: the function), from the ARN ``resolve`` gives."""
        qualifier = qualifier_of(self._resolve(target)[1])
        return None if qualifier == LATEST else qualifier
