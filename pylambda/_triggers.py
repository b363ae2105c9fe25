"""The Invoker's event-source API and its one collaborator for triggers.

``EventSources`` is the part of ``Invoker`` users call
(``create_event_source_mapping``, ``event_source_mappings``,
``create_function_url``).  ``Triggers`` owns the mappings: it creates them
through the registry of source kinds (``_sources/kinds.py``), makes each
attached source follow the Invoker's clock, keeps them by UUID, waits on
them for ``wait_for_idle`` and stops them on ``close()``.  Triggers reach
the Invoker only through ``invoke`` and ``resolve`` and leave through
``Triggers.forget``; nothing else touches the mapping table.

The sources themselves load on first use (``_sources``): they are half of
the package's import time.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ._errors import InvalidParameterValueError

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._clock import Clock
    from ._endpoint import LambdaEndpoint
    from ._invoker import Invoker
    from ._sources.trigger import Trigger
    from ._sources.url import HttpEndpoint

__all__ = ["EventSources", "Triggers"]

# How often wait_for_idle looks at the triggers again (real seconds).  Shorter
# notices sooner; longer spares the CPU while a handler runs.
_POLL_S = 0.005


def _same_clock(a: Clock, b: Clock) -> bool:
    """Whether two clocks tell the same time: the same object, or both real."""
    return a is b or (not a.manual and not b.manual)


class Triggers:
    """The mappings of one Invoker: create (via the registry), list, find, forget, wait, close."""

    def __init__(self, invoker: Invoker, clock: Clock) -> None:
        self.invoker = invoker
        self.clock = clock
        self._lock = threading.Lock()
        self._by_uuid: dict[str, Trigger] = {}

    def create(self, source: Any, target: Any, **options: Any) -> Trigger:
        """Validate, attach ``source`` to the Invoker's clock, build and start the trigger its kind names."""
        from ._sources.kinds import trigger_class_for
        from ._sources.trigger import MappingOptions

        _version, _arn, fn = self.invoker.resolve(target)
        cls = trigger_class_for(source)
        opts = MappingOptions(**options)
        adopted = self.attach_clock(source)
        try:
            trigger = cls.create(self, source, target, fn.name, opts)
        except BaseException:
            if adopted:  # a refused mapping leaves the source as it was
                source.detach_clock(self.clock)
            raise
        with self._lock:
            self._by_uuid[trigger.uuid] = trigger
        trigger.start()
        return trigger

    def attach_clock(self, source: Any) -> bool:
        """Make ``source`` follow the Invoker's clock, or refuse a source following another one.

        Returns whether the source adopted the clock just now (it had none bound).
        """
        attach = getattr(source, "attach_clock", None)
        if attach is None:  # e.g. an ARN: the source lives elsewhere
            return False
        current = getattr(source, "bound_clock", None)
        if current is not None and not _same_clock(current, self.clock):
            raise InvalidParameterValueError(
                f"{source!r} follows {current!r} but the Invoker follows {self.clock!r}: a source attached to an "
                f"Invoker must use the Invoker's clock (leave the source's clock= out and it adopts the Invoker's)"
            )
        attach(self.clock)
        return current is None

    def find(self, source: Any, function_name: str) -> Trigger | None:
        """The live trigger connecting ``source`` to ``function_name``, if any."""
        with self._lock:
            for trigger in self._by_uuid.values():
                if trigger.source is source and trigger.function_name == function_name:
                    return trigger
        return None

    def forget(self, trigger: Trigger) -> None:
        """Drop a deleted trigger (``Trigger.delete`` calls this)."""
        with self._lock:
            self._by_uuid.pop(trigger.uuid, None)

    def all(self) -> list[Trigger]:
        """Every live trigger, in creation order."""
        with self._lock:
            return list(self._by_uuid.values())

    def idle(self) -> bool:
        """No trigger has work (see ``waiting``)."""
        return not any(self.waiting(t) for t in self.all())

    def waiting(self, trigger: Trigger) -> bool:
        """Whether ``trigger`` still has work, now or later (a schedule's next firing aside).

        On a manual clock "later" never holds anyone up: ``wait_for_idle``
        jumps the clock instead.  On the real clock the records a trigger
        still owes (``pending()``: messages waiting out a visibility
        timeout, a blocked shard's records) are waited for.
        """
        if not trigger.idle():
            return True
        return not self.clock.manual and trigger.fast_forward and trigger.pending() > 0

    def wait_for_idle(self, deadline: float | None) -> bool:
        """Wait until no trigger has work (True), or ``deadline`` (``time.monotonic``) passes (False).

        With a manual clock, once nothing runs the clock jumps to the next
        due time of a trigger that may be fast-forwarded (a visibility
        timeout, a batch window, a retry backoff), so waiting costs no real
        time.  With the real clock the wait lasts until no trigger owes
        anything (see ``waiting``).
        """
        clock = self.clock
        while True:
            triggers = self.all()
            if not any(self.waiting(t) for t in triggers):
                dues = [t.next_due() for t in triggers if t.fast_forward] if clock.manual else []
                dues = [d for d in dues if d is not None]
                if not dues:
                    return True
                clock.set(min(dues))  # type: ignore[attr-defined]
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)

    def pending_work(self) -> list[str]:
        """What ``wait_for_idle`` would still wait for, one line per trigger."""
        lines = []
        now = self.clock.now()
        for t in self.all():
            if not self.waiting(t):
                continue
            due = t.next_due()
            what = f"{getattr(t.source, 'name', t.source_arn)} -> {t.function_name}"
            if due is None or due <= now:
                lines.append(f"{what}: a batch is being processed or is due now")
            else:
                in_flight = getattr(t.source, "in_flight", None)
                held = f"{in_flight} message(s) invisible, " if in_flight else ""
                lines.append(f"{what}: {held}next batch due in {due - now:.1f} s")
        return lines

    def close(self) -> None:
        """Delete every trigger (each stop is bounded)."""
        for trigger in self.all():
            trigger.delete()


class EventSources:
    """``create_event_source_mapping``, ``create_function_url``, ``serve`` and ``event_source_mappings``."""

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
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._async.wait_for_idle(left):
                return False
            if not self._triggers.wait_for_idle(deadline):
                return False
            if self._async.pending() == 0 and self._triggers.idle():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def pending_work(self) -> list[str]:
        """What ``wait_for_idle`` would still wait for, one line each (empty when idle)."""
        lines = []
        queued = self._async.pending()
        if queued:
            lines.append(f"{queued} asynchronous event(s) queued, running or waiting for a retry")
        return lines + self._triggers.pending_work()
