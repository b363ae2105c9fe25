"""The Invoker's event-source API: mappings from queues, streams, schedules and buckets, and function URLs.

``EventSources`` is a mixin of ``Invoker``.  The sources themselves load on
first use (``_sources``): they are half of the package's import time.
"""

from __future__ import annotations

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
