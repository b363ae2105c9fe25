"""The Invoker's event-source API: mappings from queues, streams, schedules and buckets, and function URLs.

``EventSources`` is a mixin of ``Invoker``.  The sources themselves load on
first use (``_sources``): they are half of the package's import time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # event sources load on first use: they are half of the package's import time
    from ._sources.mapping import Trigger
    from ._sources.url import HttpEndpoint

__all__ = ["EventSources"]


class EventSources:
    """``create_event_source_mapping``, ``create_function_url`` and ``event_source_mappings``."""

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
            mappings = list(self._mappings.values())
            if mappings:  # (their module is loaded once there are any)
                from ._sources.mapping import wait_mappings_idle

                if not wait_mappings_idle(mappings, self._clock, deadline):
                    return False
            if self._async.pending() == 0 and not any(_waiting(m, self._clock) for m in mappings):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.005)  # a message waiting out its visibility timeout, on the real clock

    def pending_work(self) -> list[str]:
        """What ``wait_for_idle`` would still wait for, one line each (empty when idle)."""
        lines = []
        queued = self._async.pending()
        if queued:
            lines.append(f"{queued} asynchronous event(s) queued, running or waiting for a retry")
        for m in list(self._mappings.values()):
            if not _waiting(m, self._clock):
                continue
            due = m.next_due()
            what = f"{m.source.name} -> {m.function_name}"
            if due is None or due <= self._clock.now():
                lines.append(f"{what}: a batch is being processed or is due now")
            else:
                in_flight = getattr(m.source, "in_flight", None)
                held = f"{in_flight} message(s) invisible, " if in_flight else ""
                lines.append(f"{what}: {held}next batch due in {due - self._clock.now():.1f} s")
        return lines


def _waiting(mapping: Trigger, clock: Any) -> bool:
    """Whether ``mapping`` still has work, now or later (a schedule's next firing aside)."""
    if not mapping.idle():
        return True
    return not clock.manual and mapping.fast_forward and mapping.next_due() is not None
