"""An S3 notification configuration: a ``Bucket``'s matching changes invoke a function asynchronously.

Pushed, not polled: the bucket calls the trigger on every ``put`` and
``delete``; the trigger selects by event type, key prefix and suffix and
invokes with ``invocation_type="Event"``, as S3 does (reference §5.5).
"""

from __future__ import annotations

from typing import Any

from .. import events as _events
from .bucket import Bucket, check_event_types, matches_notification
from .trigger import MappingOptions, Trigger

__all__ = ["BucketNotification"]


class BucketNotification(Trigger):
    """An S3 notification configuration: matching object changes invoke a function (Event)."""

    kind = "s3"
    fast_forward = False

    def __init__(self, owner: Any, source: Bucket, target: Any, function_name: str, enabled: bool,
                 event_types: tuple[str, ...], prefix: str, suffix: str) -> None:  # fmt: skip
        super().__init__(owner, source, target, function_name, enabled)
        self.event_types, self.prefix, self.suffix = event_types, prefix, suffix

    @classmethod
    def create(cls, owner: Any, source: Bucket, target: Any, function_name: str,
               options: MappingOptions) -> BucketNotification:  # fmt: skip
        """S3's check of the event types; prefix and suffix are free text."""
        types = check_event_types(options.events)
        return cls(owner, source, target, function_name, options.enabled, types, options.prefix, options.suffix)

    def start(self) -> None:
        """Subscribe to the bucket's changes."""
        self.source.subscribe(self._changed)

    def stop(self, timeout: float = 2.0) -> None:
        """Unsubscribe."""
        self.source.unsubscribe(self._changed)
        super().stop(timeout)

    def _changed(self, event_name: str, key: str, size: int, etag: str) -> None:
        if self.state != "Enabled" or not matches_notification(self.event_types, self.prefix, self.suffix,
                                                               event_name, key):  # fmt: skip
            return
        event = _events.s3_event(self.source.name, key, event_name=event_name, size=size, etag=etag,
                                 event_time=self.source.clock.now(), region=self.source.region)  # fmt: skip
        self._invoker.invoke(self.target, event, invocation_type="Event")
        self.invocations += 1

    def describe(self) -> dict:
        """The notification configuration."""
        return {**super().describe(), "Events": list(self.event_types), "Prefix": self.prefix, "Suffix": self.suffix}
