"""Issue #19's list of event-source divergences from AWS, one test (or table) each."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest

from pylambda import (
    Bucket,
    Function,
    InvalidParameterValueError,
    Invoker,
    ManualClock,
    Queue,
    Schedule,
    Stream,
    Table,
    events,
)
from pylambda._sources.filters import compile_filter_criteria


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def _hhmm(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M")


def fail_first_body(event, context):
    """Handler: fails a batch holding the body 'a0' on its first receive only."""
    for r in event["Records"]:
        if r["body"] == "a0" and r["attributes"]["ApproximateReceiveCount"] == "1":
            raise RuntimeError("a0 fails once")
    return [r["body"] for r in event["Records"]]


# -- 1. a failed batch on a FIFO queue ----------------------------------------------------------


def test_fifo_failure_waits_for_the_group_instead_of_spinning(vinvoker, clock):
    """After a FIFO batch fails, its group's later messages wait out the visibility timeout: idle, in order."""
    q = Queue("held.fifo", fifo=True, visibility_timeout=30, clock=clock)
    for body in ("a0", "a1", "b0"):
        q.send(body, group_id=body[0], deduplication_id=body)
    mapping = vinvoker.create_event_source_mapping(q, Function("held", fail_first_body), batch_size=1)
    start = clock.now()
    assert vinvoker.wait_for_idle(10)  # it never returned: the held-back a1 looked due now
    delivered = [b for h in vinvoker.history if h.error_type is None for b in h.result.payload]
    assert [b for b in delivered if b[0] == "a"] == ["a0", "a1"]
    assert "b0" in delivered
    assert clock.now() - start == pytest.approx(30)  # a0 came back after its visibility timeout
    assert mapping.due_at() is None
    assert len(q) == 0


def test_a_busy_fifo_group_is_due_when_its_message_comes_back(clock):
    """Queue.next_receivable_at: a visible message of a busy group is due when the group frees, not now."""
    q = Queue("due.fifo", fifo=True, visibility_timeout=30, clock=clock)
    q.send("a0", group_id="a", deduplication_id="0")
    q.send("a1", group_id="a", deduplication_id="1")
    assert [m.body for m in q.receive(1)] == ["a0"]
    assert q.receivable() == []
    assert q.next_receivable_at() == clock.now() + 30
    clock.advance(30)
    assert [m.body for m in q.receivable()] == ["a0", "a1"]


# -- 2 and 3. schedules ---------------------------------------------------------------------------


def test_a_rate_starts_when_the_rule_is_created():
    """rate(1 hour) created at 08:20 fires at 09:20, 10:20 (not at 09:00, lined up with the epoch)."""
    clock = ManualClock(start=_ts("2026-11-26T08:20"))
    with Invoker(clock=clock) as inv:
        schedule = Schedule("rate(1 hour)", clock=clock)
        clock.advance(5 * 60)  # the rule exists before its target: it still counts from 08:20
        trigger = inv.create_event_source_mapping(schedule, Function("hourly", lambda e, c: None))
        clock.advance(2 * 3600)
        assert [_hhmm(t) for t in trigger.fired] == ["09:20", "10:20"]
        assert trigger.fired[0] == _ts("2026-11-26T09:20")


def test_a_disabled_schedule_does_not_catch_up():
    """Disabled from 10:05 to 10:35: no firing meanwhile, none caught up, then every 10 minutes again."""
    clock = ManualClock(start=_ts("2026-11-26T10:00"))
    with Invoker(clock=clock) as inv:
        schedule = Schedule("rate(10 minutes)", clock=clock)
        trigger = inv.create_event_source_mapping(schedule, Function("t", lambda e, c: None))
        clock.advance(5 * 60)
        trigger.disable()
        clock.advance(30 * 60)
        trigger.enable()
        clock.advance(25 * 60)
        assert [_hhmm(t) for t in trigger.fired] == ["10:40", "10:50", "11:00"]


# -- 4. visibility timeout against function timeout ----------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "function_timeout", "error"),
    [
        (30, 60, "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"),
        (0, 1, "Queue visibility timeout: 0 seconds is less than Function timeout: 1 seconds"),
        (60, 60, None),
        (900, 900, None),
    ],
)
def test_visibility_timeout_must_cover_the_function_timeout(vinvoker, visibility, function_timeout, error):
    """Lambda refuses an SQS mapping whose queue hides a message for less than the function may run."""
    q = Queue("vt", visibility_timeout=visibility)
    fn = Function("vt", lambda e, c: None, timeout=function_timeout)
    if error is None:
        assert vinvoker.create_event_source_mapping(q, fn).state == "Enabled"
    else:
        with pytest.raises(InvalidParameterValueError, match=error):
            vinvoker.create_event_source_mapping(q, fn)


def test_a_batch_window_lengthens_the_visibility_timeout(vinvoker, clock):
    """Window + function timeout over the queue's visibility timeout: Lambda receives with window + timeout + 30 s."""

    def fails(event, context):
        raise RuntimeError("again")

    q = Queue("windowed", visibility_timeout=30)
    mapping = vinvoker.create_event_source_mapping(
        q, Function("windowed", fails, timeout=30), maximum_batching_window=5, batch_size=20
    )
    assert mapping.receive_visibility_timeout == 65
    q.send("m")
    clock.advance(5)  # the window closes: one batch, which fails
    assert mapping.invocations == 1
    (message,) = q._messages
    assert message.visible_at == clock.now() + 65


# -- 5. rough edges: the source's clock ------------------------------------------------------------

SOURCES = {
    "queue": (lambda clock: Queue("c-q", clock=clock), {}),
    "stream": (lambda clock: Stream("c-s", clock=clock), {"starting_position": "TRIM_HORIZON"}),
    "table": (lambda clock: Table("c-t", clock=clock), {"starting_position": "TRIM_HORIZON"}),
    "schedule": (lambda clock: Schedule("rate(1 hour)", clock=clock), {}),
    "bucket": (lambda clock: Bucket("c-bucket", clock=clock), {}),
}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_an_attached_source_adopts_the_invokers_clock(vinvoker, clock, kind):
    """A source made without clock= follows the Invoker's clock once attached (it silently used real time)."""
    make, options = SOURCES[kind]
    source = make(None)
    assert not source.clock.manual
    vinvoker.create_event_source_mapping(source, Function("c", lambda e, c: None), **options)
    assert source.clock is clock


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_source_on_another_clock_is_refused(vinvoker, kind):
    """A source created with a different clock= cannot be attached: the error names both clocks."""
    make, options = SOURCES[kind]
    with pytest.raises(InvalidParameterValueError, match="must use the Invoker's clock"):
        vinvoker.create_event_source_mapping(make(ManualClock(start=0)), Function("c", lambda e, c: None), **options)
    assert vinvoker.event_source_mappings == []


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_the_same_clock_or_two_real_clocks_are_fine(kind):
    """The Invoker's own clock, or real time on both sides, attaches."""
    make, options = SOURCES[kind]
    from pylambda._clock import RealClock

    with Invoker() as inv:
        inv.create_event_source_mapping(make(RealClock()), Function("c", lambda e, c: None), **options)


def test_a_dead_letter_queue_follows_its_queue(vinvoker, clock):
    """A free dead-letter queue adopts the clock with the queue it serves; a refused mapping frees both."""
    dlq = Queue("dlq")
    q = Queue("served", dead_letter_queue=dlq, max_receive_count=2)
    vinvoker.create_event_source_mapping(q, Function("served", lambda e, c: None))
    assert dlq.clock is clock
    dlq2 = Queue("dlq2")
    q2 = Queue("served2", visibility_timeout=1, dead_letter_queue=dlq2, max_receive_count=2)
    with pytest.raises(InvalidParameterValueError, match="Queue visibility timeout"):
        vinvoker.create_event_source_mapping(q2, Function("served2", lambda e, c: None, timeout=5))
    assert dlq2.bound_clock is None


def test_what_was_sent_before_attaching_keeps_its_age(vinvoker, clock):
    """Messages and records from before the adoption move with the clock: nothing waits years to be visible."""
    q, stream = Queue("early"), Stream("early")
    q.send("m")
    stream.put("r", partition_key="k")
    start = clock.now()
    vinvoker.create_event_source_mapping(q, Function("early-q", lambda e, c: None))
    vinvoker.create_event_source_mapping(
        stream, Function("early-s", lambda e, c: None), starting_position="TRIM_HORIZON"
    )
    assert vinvoker.wait_for_idle(10)
    assert len(q) == 0
    assert clock.now() == start  # nothing had to be waited for
    (record,) = stream.records(stream.shard_ids[0])
    assert abs(record.arrival - start) < 60


def test_a_refused_mapping_leaves_the_source_free(vinvoker):
    """A mapping Lambda refuses does not bind its source to the Invoker's clock (or move its times)."""
    q = Queue("free", visibility_timeout=1)
    q.send("m")
    (sent,) = [m.sent for m in q._messages]
    with pytest.raises(InvalidParameterValueError, match="Queue visibility timeout"):
        vinvoker.create_event_source_mapping(q, Function("slow", lambda e, c: None, timeout=5))
    assert q.bound_clock is None
    assert not q.clock.manual
    assert [m.sent for m in q._messages] == [pytest.approx(sent)]


# -- 5. rough edges: FIFO deduplication ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_based", "dedup", "error"),
    [
        (False, None, "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                      "provided explicitly"),
        (False, "d1", None),
        (True, None, None),
        (True, "d1", None),
    ],
)  # fmt: skip
def test_fifo_sends_need_a_deduplication_id(content_based, dedup, error):
    """Without content-based deduplication a FIFO queue refuses a send without a deduplication id, as SQS does."""
    q = Queue("d", fifo=True, content_based_deduplication=content_based)
    if error is None:
        assert q.send("x", group_id="g", deduplication_id=dedup)
        assert q.send("x", group_id="g", deduplication_id=dedup)  # a duplicate: accepted, not delivered twice
        assert len(q) == 1
    else:
        with pytest.raises(InvalidParameterValueError, match=error):
            q.send("x", group_id="g", deduplication_id=dedup)


def test_content_based_deduplication_is_for_fifo_queues():
    """A standard queue has no content_based_deduplication."""
    with pytest.raises(InvalidParameterValueError, match="only for FIFO queues"):
        Queue("std", content_based_deduplication=True)


def test_a_fifo_queue_as_a_destination_gets_one_message_per_record(vinvoker):
    """A FIFO queue used as a dead-letter target does not drop identical records as duplicates."""
    dead = Queue("dead", fifo=True)
    dead({"x": 1})
    dead({"x": 1})
    assert dead.bodies() == ['{"x": 1}', '{"x": 1}']


# -- 5. rough edges: the function URL's ids -----------------------------------------------------------


def echo_context(event, context):
    """Handler: returns the request context."""
    return event["requestContext"]


def test_function_url_event_names_a_lambda_url():
    """apiId/domainPrefix are a stable 32-character url-id and domainName is <url-id>.lambda-url.<region>.on.aws."""
    with Invoker() as inv:
        fn = Function("url-ids", echo_context, region="eu-west-1")
        endpoint = inv.create_function_url(fn)
        with urllib.request.urlopen(endpoint.url + "x", timeout=30) as response:
            ctx = json.loads(response.read())
        second = inv.create_function_url(fn)
    url_id = ctx["apiId"]
    assert url_id != "127"
    assert len(url_id) == 32
    assert url_id.isalnum()
    assert url_id == url_id.lower()
    assert ctx["domainPrefix"] == url_id
    assert ctx["domainName"] == f"{url_id}.lambda-url.eu-west-1.on.aws"
    assert endpoint.function_url == f"https://{url_id}.lambda-url.eu-west-1.on.aws/"
    assert second.url_id == url_id  # stable: derived from the function's ARN


# -- 5. rough edges: filter operators ---------------------------------------------------------------

FILTER_CASES = [
    ('{"body": {"file": [{"suffix": ".png"}]}}', '{"file": "cat.png"}', True),
    ('{"body": {"file": [{"suffix": ".png"}]}}', '{"file": "cat.jpg"}', False),
    ('{"body": {"file": [{"suffix": ".png"}]}}', '{"file": 7}', False),
    ('{"body": {"name": [{"equals-ignore-case": "alice"}]}}', '{"name": "ALICE"}', True),
    ('{"body": {"name": [{"equals-ignore-case": "alice"}]}}', '{"name": "alicia"}', False),
    ('{"body": {"file": [{"anything-but": {"suffix": ".tmp"}}]}}', '{"file": "a.txt"}', True),
    ('{"body": {"file": [{"anything-but": {"suffix": ".tmp"}}]}}', '{"file": "a.tmp"}', False),
    ('{"body": {"name": [{"anything-but": {"equals-ignore-case": "bob"}}]}}', '{"name": "BOB"}', False),
    ('{"body": {"region": [{"anything-but": {"prefix": "us-"}}]}}', '{"region": "eu-west-1"}', True),
    ('{"body": {"$or": [{"a": [1]}, {"b": [2]}]}}', '{"b": 2}', True),
    ('{"body": {"$or": [{"a": [1]}, {"b": [2]}]}}', '{"a": 2, "b": 1}', False),
    ('{"body": {"k": ["x"], "$or": [{"a": [1]}, {"b": [2]}]}}', '{"k": "x", "a": 1}', True),
    ('{"body": {"k": ["x"], "$or": [{"a": [1]}, {"b": [2]}]}}', '{"k": "y", "a": 1}', False),
]


@pytest.mark.parametrize(("pattern", "body", "kept"), FILTER_CASES)
def test_lambda_filter_operators(pattern, body, kept):
    """suffix, equals-ignore-case, anything-but of them, and $or: the operators Lambda's filtering documents."""
    keep = compile_filter_criteria({"Filters": [{"Pattern": pattern}]}, "body")
    assert keep(events.sqs_message(body)) is kept


@pytest.mark.parametrize(
    "pattern",
    [
        '{"body": {"file": [{"suffix": 5}]}}',
        '{"body": {"name": [{"equals-ignore-case": ["a"]}]}}',
        '{"body": {"path": [{"wildcard": "a/*"}]}}',  # EventBridge only
        '{"body": {"ip": [{"cidr": "10.0.0.0/8"}]}}',  # EventBridge only
        '{"body": {"n": [{"anything-but": {"numeric": [">", 1]}}]}}',
        '{"body": {"$or": [{"a": [1]}]}}',
        '{"body": {"$or": {"a": [1]}}}',
    ],
)
def test_filter_operators_lambda_refuses(pattern):
    """Operators Lambda does not support, or malformed ones, are 'Invalid filter pattern definition.'."""
    with pytest.raises(InvalidParameterValueError, match="Invalid filter pattern definition"):
        compile_filter_criteria({"Filters": [{"Pattern": pattern}]}, "body")


def test_a_suffix_filter_on_a_mapping_end_to_end(vinvoker):
    """A suffix filter deletes the other messages unseen."""
    q = Queue("files")
    for name in ("a.png", "b.txt", "c.png"):
        q.send({"file": name})
    fn = Function("pngs", lambda e, c: [json.loads(r["body"])["file"] for r in e["Records"]])
    vinvoker.create_event_source_mapping(
        q, fn, filter_criteria={"Filters": [{"Pattern": '{"body": {"file": [{"suffix": ".png"}]}}'}]}
    )
    assert vinvoker.wait_for_idle(10)
    assert sorted(n for h in vinvoker.history for n in h.result.payload) == ["a.png", "c.png"]
    assert len(q) == 0


@pytest.mark.parametrize(("content_based", "expected"), [("true", True), ("false", False), (None, False)])
def test_a_templates_fifo_queue_keeps_its_content_based_deduplication(tmp_path, content_based, expected):
    """pylambda.sam: a FIFO queue's ContentBasedDeduplication carries over (sends without an id depend on it)."""
    sam = pytest.importorskip("pylambda.sam")
    extra = f"\n      ContentBasedDeduplication: {content_based}" if content_based else ""
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Jobs:\n    Type: AWS::SQS::Queue\n"
        f"    Properties:\n      FifoQueue: true{extra}\n"
    )
    queue = sam.load(str(tmp_path / "template.yaml")).resources["Jobs"]
    assert queue.content_based_deduplication is expected
