"""An in-memory, thread-safe SQS-like queue.

Semantics kept from SQS: a received message is invisible for the visibility
timeout and comes back (``ApproximateReceiveCount`` + 1) unless deleted with
its receipt handle; after ``max_receive_count`` receives it moves to the
dead-letter queue (redrive); FIFO queues deliver each message group in order
and hold a group while one of its messages is in flight, and drop
duplicates by deduplication id for 5 minutes.  Time follows a clock, so
visibility timeouts pass instantly under a ``ManualClock``.

A ``Queue`` is also a destination and a dead-letter target for asynchronous
invocation: calling it sends a message (the record as JSON, or the event with
its attributes).
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from typing import Any

import attrs

from .._clock import Clock
from .._errors import InvalidParameterValueError
from . import Clocked

__all__ = ["Message", "Queue"]

_DEDUP_WINDOW_S = 300.0


@attrs.define(eq=False)
class Message:
    """One message as the queue holds it."""

    message_id: str
    body: str
    message_attributes: dict
    sent: float
    sequence: int
    group_id: str | None = None
    deduplication_id: str | None = None
    receive_count: int = 0
    first_receive: float | None = None
    visible_at: float = 0.0
    receipt_handle: str | None = None


class Queue(Clocked):
    """An SQS-like queue (standard or FIFO), usable as an event source and a destination.

    ``clock``: what visibility timeouts and delays follow; leave it out and
    the queue follows the Invoker it is attached to (real time until then).
    A FIFO queue refuses a message without ``deduplication_id`` unless
    ``content_based_deduplication=True`` (then the body's SHA-256 is the id),
    as SQS does.
    """

    def __init__(
        self,
        name: str = "queue",
        *,
        fifo: bool = False,
        visibility_timeout: float = 30.0,
        dead_letter_queue: Queue | None = None,
        max_receive_count: int | None = None,
        content_based_deduplication: bool = False,
        clock: Clock | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        if not 0 <= visibility_timeout <= 43200:
            raise InvalidParameterValueError("visibility_timeout must be 0..43200 seconds")
        if (dead_letter_queue is None) != (max_receive_count is None):
            raise InvalidParameterValueError("dead_letter_queue and max_receive_count go together")
        if max_receive_count is not None and not 1 <= max_receive_count <= 1000:
            raise InvalidParameterValueError("max_receive_count must be 1..1000")
        if content_based_deduplication and not fifo:
            raise InvalidParameterValueError("content_based_deduplication is only for FIFO queues")
        self.name = name
        self.fifo = fifo
        self.visibility_timeout = float(visibility_timeout)
        self.dead_letter_queue = dead_letter_queue
        self.max_receive_count = max_receive_count
        self.content_based_deduplication = bool(content_based_deduplication)
        self._init_clock(clock)
        self.region = region
        self.account_id = account_id
        self._lock = threading.Condition()
        self._messages: list[Message] = []
        self._seq = itertools.count(1)
        self._dedup: dict[str, float] = {}
        self._dlq_adopted = False  # the dead-letter queue adopted a clock through this queue

    @property
    def arn(self) -> str:
        """``arn:aws:sqs:<region>:<account>:<name>``."""
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{self.name}"

    # -- producing -------------------------------------------------------------------
    def send(
        self,
        body: str | Any,
        *,
        message_attributes: dict | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: float = 0.0,
    ) -> str:
        """Send a message (a non-str body is JSON-encoded); return its message id."""
        if isinstance(body, str):
            text = body
        elif isinstance(body, (bytes, bytearray, memoryview)):  # SQS bodies are text
            raise InvalidParameterValueError("a message body must be str or a JSON value, not bytes: decode it")
        else:
            try:
                text = json.dumps(body)
            except (TypeError, ValueError, RecursionError) as e:
                raise InvalidParameterValueError(f"a message body must be str or a JSON value: {e}") from None
        if self.fifo and group_id is None:
            raise InvalidParameterValueError("FIFO queues need group_id (MessageGroupId)")
        if not self.fifo and group_id is not None:
            raise InvalidParameterValueError("group_id is only for FIFO queues")
        if self.fifo and deduplication_id is None and not self.content_based_deduplication:
            raise InvalidParameterValueError(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                "provided explicitly"
            )
        now = self.clock.now()
        with self._lock:
            if self.fifo:
                dedup = deduplication_id or _content_id(text)
                if self._dedup.get(dedup, -1e18) > now:
                    return next((m.message_id for m in self._messages if m.deduplication_id == dedup), "")
                self._dedup[dedup] = now + _DEDUP_WINDOW_S
            else:
                dedup = None
            message = Message(
                message_id=str(uuid.uuid4()),
                body=text,
                message_attributes=dict(message_attributes or {}),
                sent=now,
                sequence=next(self._seq),
                group_id=group_id,
                deduplication_id=dedup,
                visible_at=now + delay_seconds,
            )
            self._messages.append(message)
            self._lock.notify_all()
            return message.message_id

    def __call__(self, body: Any, attributes: dict | None = None) -> str:
        """Destination / dead-letter target form: send ``body`` (with Lambda's attributes)."""
        group = "lambda" if self.fifo else None
        dedup = uuid.uuid4().hex if self.fifo else None  # each record is its own message
        return self.send(body, message_attributes=attributes, group_id=group, deduplication_id=dedup)

    # -- consuming -------------------------------------------------------------------
    def receive(self, max_messages: int = 1, visibility_timeout: float | None = None) -> list[Message]:
        """Up to ``max_messages`` visible messages, now invisible for the visibility timeout."""
        now = self.clock.now()
        timeout = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        taken: list[Message] = []
        redrive: list[Message] = []
        with self._lock:
            for m in self._receivable(now):
                if len(taken) >= max_messages:
                    break
                if self.max_receive_count is not None and m.receive_count >= self.max_receive_count:
                    self._messages.remove(m)
                    redrive.append(m)
                    continue
                m.receive_count += 1
                m.first_receive = m.first_receive or now
                m.visible_at = now + timeout
                m.receipt_handle = uuid.uuid4().hex
                taken.append(m)
        for m in redrive:
            assert self.dead_letter_queue is not None
            self.dead_letter_queue._accept(m)
        return taken

    def _busy_until(self, now: float) -> dict[str | None, float]:
        """FIFO: each group with a message in flight, and when its last one becomes visible again."""
        busy: dict[str | None, float] = {}
        if self.fifo:
            for m in self._messages:
                if m.visible_at > now and m.receive_count:
                    busy[m.group_id] = max(busy.get(m.group_id, now), m.visible_at)
        return busy

    def _receivable(self, now: float) -> list[Message]:
        """The messages a receive would consider now, in order (lock held).

        A FIFO group with a message in flight from an earlier receive is held
        back, so each group is processed in order, one batch at a time.
        """
        busy = self._busy_until(now)
        return [m for m in self._messages if m.visible_at <= now and m.group_id not in busy]

    def receivable(self) -> list[Message]:
        """The messages a receive would consider now (visible, and not held back in a busy FIFO group)."""
        with self._lock:
            return self._receivable(self.clock.now())

    def next_receivable_at(self) -> float | None:
        """When a receive would next find a message (clock time), or None if the queue is empty.

        A visible message of a busy FIFO group counts from when its group is
        free again, not from now: treating it as due now made a poller spin.
        """
        now = self.clock.now()
        with self._lock:
            busy = self._busy_until(now)
            times = [max(m.visible_at, busy.get(m.group_id, now), now) for m in self._messages]
        return min(times) if times else None

    def attach_clock(self, clock: Clock) -> bool:
        """Follow ``clock`` if no clock is bound yet; a free dead-letter queue follows it too."""
        adopted = super().attach_clock(clock)
        dlq = self.dead_letter_queue
        self._dlq_adopted = dlq is not None and dlq.attach_clock(clock)
        return adopted

    def detach_clock(self, clock: Clock) -> None:
        """Undo ``attach_clock(clock)``, for the dead-letter queue too if it adopted the clock then."""
        super().detach_clock(clock)
        if self._dlq_adopted and self.dead_letter_queue is not None:
            self.dead_letter_queue.detach_clock(clock)
        self._dlq_adopted = False

    def _rebase(self, delta: float) -> None:
        """Move every recorded time by ``delta`` (the queue adopted another clock)."""
        with self._lock:
            for m in self._messages:
                m.sent += delta
                m.visible_at += delta
                if m.first_receive is not None:
                    m.first_receive += delta
            self._dedup = {k: v + delta for k, v in self._dedup.items()}

    def _accept(self, m: Message) -> None:
        """Take a message redriven from a source queue (attributes and count kept)."""
        with self._lock:
            m.visible_at = self.clock.now()
            m.sequence = next(self._seq)
            self._messages.append(m)
            self._lock.notify_all()

    def delete(self, receipt_handle: str) -> bool:
        """Delete the message last received with ``receipt_handle``; False if unknown."""
        with self._lock:
            for m in self._messages:
                if m.receipt_handle == receipt_handle:
                    self._messages.remove(m)
                    return True
        return False

    def change_visibility(self, receipt_handle: str, timeout: float) -> bool:
        """Make an in-flight message visible again after ``timeout`` seconds."""
        with self._lock:
            for m in self._messages:
                if m.receipt_handle == receipt_handle:
                    m.visible_at = self.clock.now() + timeout
                    self._lock.notify_all()
                    return True
        return False

    # -- reading -------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    @property
    def visible(self) -> int:
        """``ApproximateNumberOfMessages``: messages ready to be received."""
        now = self.clock.now()
        with self._lock:
            return sum(m.visible_at <= now for m in self._messages)

    @property
    def in_flight(self) -> int:
        """``ApproximateNumberOfMessagesNotVisible``."""
        return len(self) - self.visible

    def next_visible_at(self) -> float | None:
        """When the next invisible message becomes visible (clock time), or None."""
        now = self.clock.now()
        with self._lock:
            times = [m.visible_at for m in self._messages if m.visible_at > now]
        return min(times) if times else None

    def bodies(self) -> list[str]:
        """Every message body, in order (for assertions)."""
        with self._lock:
            return [m.body for m in sorted(self._messages, key=lambda m: m.sequence)]

    def __repr__(self) -> str:
        return f"<Queue {self.name} messages={len(self)} visible={self.visible}>"


def _content_id(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
