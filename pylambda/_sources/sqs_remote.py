"""An SQS event source mapping on a real queue (reference §5.1), polled with boto3.

What Lambda's poller does, at the Invoker's endpoint:

- ``ReceiveMessage`` with long polling (``SQS_WAIT_TIME_S``) and the queue's
  own visibility timeout; with ``maximum_batching_window`` it keeps receiving
  until ``batch_size`` messages or the window is over.  When the window plus
  the function's timeout exceeds the queue's visibility timeout, messages are
  received with ``window + timeout + 30`` s instead, as Lambda does;
- messages that do not match ``filter_criteria`` are deleted unseen;
- one synchronous invocation per batch; success deletes the batch
  (``DeleteMessageBatch``); a function error or a throttle deletes nothing:
  the messages come back after the visibility timeout and the *queue's*
  redrive policy moves them to its dead-letter queue;
- with ``ReportBatchItemFailures`` only the listed messages come back (a
  malformed response fails the whole batch, as with the in-memory ``Queue``);
- a batch received after the mapping was disabled or deleted is released at
  once (``ChangeMessageVisibilityBatch`` to 0), not held for its timeout.

``pending()`` (for ``wait_for_idle``) asks the queue: its visible, in-flight
and delayed messages, so on the real clock ``wait_for_idle`` also waits for
failed messages waiting out their visibility timeout, as it does for an
in-memory ``Queue``.  A message this poller has received is in flight, so
nothing is missed between a receive and its invocation.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from .._clock import RealClock
from .._errors import InvalidParameterValueError, InvokerClosedError, TooManyRequestsError
from .filters import compile_filter_criteria
from .queue_mapping import check_queue_options
from .remote import SQS_WAIT_TIME_S, SourceArn, check_remote_source, make_client, service_error, unreachable
from .trigger import MappingOptions, Trigger, failed_item_ids

__all__ = ["SqsPoller", "lambda_message_attributes"]

# After an error from the endpoint (down, restarting), wait this long before
# polling again: a dead endpoint costs one request per second, not a spin.
ERROR_BACKOFF_S = 1.0
# wait_for_idle asks pending() every few milliseconds; each answer is a
# GetQueueAttributes, which moto serves in time proportional to the queue's
# depth.  A positive count is reused this long (or ten times what asking took,
# if more), so waiting does not slow the service the poller is draining by more
# than a tenth; a zero is always asked afresh.
PENDING_REUSE_S = 0.1
_REAL = RealClock()
_FIRST_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")


def lambda_message_attributes(attributes: dict) -> dict:
    """boto3's ``MessageAttributes`` in the shape Lambda's SQS records carry (camelCase, binary as base64)."""
    out = {}
    for name, a in attributes.items():
        value: dict[str, Any] = {"stringValue": a.get("StringValue")}
        if "BinaryValue" in a:
            value["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode()
        value["stringListValues"] = list(a.get("StringListValues", []))
        value["binaryListValues"] = [base64.b64encode(b).decode() for b in a.get("BinaryListValues", [])]
        value["dataType"] = a.get("DataType", "String")
        out[name] = value
    return out


class SqsPoller(Trigger):
    """A queue at the Invoker's endpoint feeding a function; ``state`` is ``Enabled``, ``Disabled`` or ``Deleted``.

    ``source`` is the queue's ARN; ``last_error`` the endpoint's last error
    while polling (None once a poll succeeds).
    """

    kind = "sqs"

    def __init__(self, owner: Any, source: SourceArn, target: Any, function_name: str, *, client: Any,
                 queue_url: str, batch_size: int, window: float, report_failures: bool, keep,
                 receive_visibility: int | None, enabled: bool) -> None:  # fmt: skip
        super().__init__(owner, source.arn, target, function_name, enabled)
        self.batch_size = batch_size
        self.maximum_batching_window = window
        self.report_batch_item_failures = report_failures
        self.queue_url = queue_url
        self.last_error: str | None = None
        self._arn = source
        self._client = client
        self._keep = keep
        self._receive_visibility = receive_visibility
        self._cond = threading.Condition()
        self._pending_count, self._pending_until = 0, 0.0
        self._thread = threading.Thread(target=self._loop, name=f"pylambda-esm-{self.uuid[:8]}", daemon=True)

    @classmethod
    def create(cls, owner: Any, source: str, target: Any, function_name: str, options: MappingOptions) -> SqsPoller:
        """Check the options as Lambda does and the queue (it must exist at the endpoint); build the poller."""
        arn, endpoint = check_remote_source(owner, source, function_name)
        size, window, report = check_queue_options(arn.name.endswith(".fifo"), options)
        keep = compile_filter_criteria(options.filter_criteria, "body")
        client = make_client(endpoint, "sqs", arn.region, read_timeout=SQS_WAIT_TIME_S + 10)
        try:
            url, visibility = _queue(client, arn, endpoint)
            version, _arn, _fn = owner.invoker.resolve(target)
            # Lambda's rule: a batch window plus the function's timeout longer than the
            # queue's visibility timeout would let messages return mid-batch.
            timeout = version.config.timeout
            receive_visibility = int(window + timeout + 30) if window + timeout > visibility else None
            return cls(
                owner, arn, target, function_name, client=client, queue_url=url, batch_size=size, window=window,
                report_failures=report, keep=keep, receive_visibility=receive_visibility, enabled=options.enabled,
            )  # fmt: skip
        except BaseException:
            client.close()
            raise

    @property
    def clock(self) -> RealClock:
        """The service's time is real time (a ManualClock does not reach the endpoint)."""
        return _REAL

    @property
    def arn(self) -> str:
        """``arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>``."""
        return f"arn:aws:lambda:{self._arn.region}:{self._arn.account_id}:event-source-mapping:{self.uuid}"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the polling thread."""
        self._thread.start()

    def enable(self) -> None:
        """Start polling again."""
        super().enable()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop for good: a batch being processed finishes first (bounded); a receive in progress is abandoned.

        The thread ends when its current ``ReceiveMessage`` returns (at most
        ``SQS_WAIT_TIME_S``), releasing anything it received.
        """
        self.state = "Deleted"
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout if self._busy else 0.05)

    # -- what waiting asks ----------------------------------------------------------------
    def idle(self) -> bool:
        """No batch being processed (what the queue still holds is ``pending()``)."""
        return not self._busy

    def pending(self) -> int:
        """The queue's messages: visible, in flight (ours included) and delayed; 0 when not Enabled."""
        if self.state != "Enabled":
            return 0
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]  # fmt: skip
        now = time.monotonic()
        if now < self._pending_until:  # a recent positive count: waiting longer is all it can cost
            return self._pending_count
        try:
            attributes = self._client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        except Exception:  # the endpoint is gone: nothing more will happen here
            return 0
        count = sum(int(attributes["Attributes"].get(n, 0)) for n in names)
        if count:  # a zero is never reused: messages sent since would be missed
            took = time.monotonic() - now
            self._pending_count, self._pending_until = count, now + max(PENDING_REUSE_S, 10 * took)
        return count

    def describe(self) -> dict:
        """``GetEventSourceMapping``'s view of an SQS mapping."""
        return {
            **super().describe(),
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": int(self.maximum_batching_window),
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_batch_item_failures else [],
        }

    # -- polling ----------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while self.state != "Deleted":
                if self.state != "Enabled":
                    with self._cond:
                        self._cond.wait(0.2)
                    continue
                try:
                    messages = self._collect()
                except Exception as e:  # the endpoint is down or refused: back off, never spin
                    self.last_error = f"{type(e).__name__}: {e}"
                    with self._cond:
                        self._cond.wait(ERROR_BACKOFF_S)
                    continue
                self.last_error = None
                if not messages:
                    continue
                if self.state != "Enabled":
                    self._release(messages)
                    continue
                self._busy = True
                try:
                    self._process(messages)
                except InvokerClosedError:
                    self._release(messages)
                    return
                except Exception as e:  # the endpoint failed mid-batch: the messages come back by themselves
                    self.last_error = f"{type(e).__name__}: {e}"
                finally:
                    self._busy = False
        finally:
            self._client.close()

    def _receive(self, count: int, wait: int) -> list[dict]:
        options: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max(1, min(10, count)),
            "WaitTimeSeconds": wait,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self._receive_visibility is not None:
            options["VisibilityTimeout"] = self._receive_visibility
        return self._client.receive_message(**options).get("Messages", [])

    def _collect(self) -> list[dict]:
        """One batch: a long poll, then (with a batching window) more receives until full or the window ends."""
        messages = self._receive(self.batch_size, SQS_WAIT_TIME_S)
        if not messages or not self.maximum_batching_window:
            return messages
        ends = time.monotonic() + self.maximum_batching_window
        while len(messages) < self.batch_size and self.state == "Enabled":
            left = ends - time.monotonic()
            if left <= 0:
                break
            messages += self._receive(self.batch_size - len(messages), min(SQS_WAIT_TIME_S, max(0, int(left))))
            if left < 1:  # WaitTimeSeconds is whole seconds: the last fraction is one short poll
                break
        return messages

    def _process(self, messages: list[dict]) -> None:
        records = {m["MessageId"]: (m, self._record(m)) for m in messages}
        if self._keep is not None:
            dropped = [m for m, rec in records.values() if not self._keep(rec)]
            self._delete(dropped)
            for m in dropped:
                records.pop(m["MessageId"], None)
        if not records:
            return
        event = {"Records": [rec for _m, rec in records.values()]}
        try:
            result = self._invoker.invoke(self.target, event)
        except TooManyRequestsError:
            return  # the batch comes back after the visibility timeout
        self.invocations += 1
        if result.function_error is not None:
            return
        failed = failed_item_ids(result.raw_payload, set(records)) if self.report_batch_item_failures else set()
        if failed is None:  # a malformed partial response fails the whole batch
            return
        self._delete([m for mid, (m, _rec) in records.items() if mid not in failed])

    def _delete(self, messages: list[dict]) -> None:
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
            self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def _release(self, messages: list[dict]) -> None:
        """Make received messages visible again now (the mapping stopped before invoking with them)."""
        try:
            for i in range(0, len(messages), 10):
                entries = [
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages[i : i + 10])
                ]
                self._client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception:
            pass  # the endpoint is gone: the messages come back after their visibility timeout anyway

    def _record(self, m: dict) -> dict:
        """The Lambda SQS record for a received message (reference §5.1's field order)."""
        raw = m.get("Attributes", {})
        attributes = {k: raw[k] for k in _FIRST_ATTRIBUTES if k in raw}
        attributes.update({k: v for k, v in raw.items() if k not in attributes})
        message_attributes = lambda_message_attributes(m.get("MessageAttributes", {}))
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m.get("Body", ""),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfMessageAttributes": m.get("MD5OfMessageAttributes") if message_attributes else None,
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source,
            "awsRegion": self._arn.region,
        }


def _queue(client: Any, arn: SourceArn, endpoint: str) -> tuple[str, int]:
    """The queue's URL and visibility timeout; an error naming the queue if it does not exist."""
    try:
        url = client.get_queue_url(QueueName=arn.name, QueueOwnerAWSAccountId=arn.account_id)["QueueUrl"]
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    except Exception as e:
        code = service_error(e)
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            raise InvalidParameterValueError(
                f"event source {arn.arn}: no such queue at {endpoint} "
                f"(SQS Error Code: AWS.SimpleQueueService.NonExistentQueue)"
            ) from None
        raise unreachable(arn.arn, endpoint, e) from None
    return url, int(attributes["VisibilityTimeout"])
