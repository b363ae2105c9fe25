"""Schedules, bucket notifications and function URLs, end to end."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.request

import pytest

from pylambda import Bucket, Function, HttpEndpoint, InvalidParameterValueError, Invoker, ManualClock, Schedule
from pylambda._sources.schedule import parse_schedule


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", "2026-11-26T10:02", "2026-11-26T10:05"),
        ("rate(1 hour)", "2026-11-26T10:02", "2026-11-26T11:00"),
        ("rate(1 day)", "2026-11-26T10:02", "2026-11-27T00:00"),
        ("cron(0 12 * * ? *)", "2026-11-26T12:00", "2026-11-27T12:00"),
        ("cron(15 10 ? * 6L 2026)", "2026-11-01T00:00", "2026-11-27T10:15"),  # last Friday
        ("cron(0 8 ? * 3#2 *)", "2026-11-01T00:00", "2026-11-10T08:00"),  # second Tuesday
        ("cron(0 0 L * ? *)", "2026-02-01T00:00", "2026-02-28T00:00"),  # last day of month
        ("cron(0 9 15W * ? *)", "2026-11-01T00:00", "2026-11-16T09:00"),  # the 15th is a Sunday
        ("cron(0/20 8-9 ? * MON-FRI *)", "2026-11-27T09:41", "2026-11-30T08:00"),  # weekend skipped
        ("cron(0 0 1 JAN ? 2027)", "2026-06-01T00:00", "2027-01-01T00:00"),
    ],
)
def test_schedule_expressions(expression, after, expected):
    """rate() and cron() give EventBridge's next firing times (UTC)."""
    assert _iso(parse_schedule(expression)(_ts(after))) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(0 12 * *)",
        "cron(61 0 * * ? *)",
        "cron(0 0 ? * 9 *)",
        "every 5 minutes",
    ],
)
def test_invalid_schedule_expressions(expression):
    """Expressions EventBridge refuses raise InvalidParameterValueError."""
    with pytest.raises(InvalidParameterValueError, match="ScheduleExpression is not valid"):
        parse_schedule(expression)


def test_schedule_fires_n_times_under_a_virtual_clock():
    """Advancing a ManualClock an hour fires a 10-minute schedule 6 times, with scheduled events."""
    clock = ManualClock(start=_ts("2026-11-26T10:00"))
    schedule = Schedule("rate(10 minutes)", name="tick", clock=clock)
    with Invoker(clock=clock) as inv:
        fn = Function("ticker", lambda event, context: event["time"])
        inv.create_event_source_mapping(schedule, fn)
        clock.advance(3600)
        assert inv.wait_for_idle(30)
        times = sorted(h.result.payload for h in inv.history)
    assert times == [f"2026-11-26T10:{m}:00Z" for m in ("10", "20", "30", "40", "50")] + ["2026-11-26T11:00:00Z"]


def test_scheduled_event_shape():
    """The function receives EventBridge's Scheduled Event for its rule."""
    clock = ManualClock(start=_ts("2026-11-26T10:00"))
    with Invoker(clock=clock) as inv:
        inv.create_event_source_mapping(
            Schedule("rate(1 minute)", name="r", clock=clock), Function("shape", lambda e, c: e)
        )
        clock.advance(60)
        assert inv.wait_for_idle(30)
        event = inv.history[0].result.payload
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/r"]


def thumbnail(event, context):
    """Handler: records which object changed."""
    record = event["Records"][0]
    return {"name": record["eventName"], "key": record["s3"]["object"]["key"]}


@pytest.mark.parametrize("storage", ["memory", "directory"])
def test_bucket_notifications(tmp_path, storage):
    """put/delete notify matching functions asynchronously with S3 events; prefix/suffix filter."""
    bucket = Bucket("uploads", directory=tmp_path / "b" if storage == "directory" else None)
    with Invoker() as inv:
        fn = Function("thumbs", thumbnail)
        inv.create_event_source_mapping(bucket, fn, events=["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                                        prefix="images/", suffix=".png")  # fmt: skip
        bucket.put("images/cat.png", b"png!")
        bucket.put("images/notes.txt", "skip me")
        bucket.put("docs/dog.png", b"skip me too")
        bucket.delete("images/cat.png")
        assert inv.wait_for_idle(30)
        seen = sorted((h.result.payload["name"], h.result.payload["key"]) for h in inv.history)
    assert seen == [("ObjectCreated:Put", "images/cat.png"), ("ObjectRemoved:Delete", "images/cat.png")]
    assert bucket.keys() == ["docs/dog.png", "images/notes.txt"]


def test_bucket_validation():
    """Bad bucket names and notification event types are refused."""
    with pytest.raises(InvalidParameterValueError):
        Bucket("Bad_Name")
    with Invoker() as inv, pytest.raises(InvalidParameterValueError, match="events must be"):
        inv.create_event_source_mapping(Bucket("ok-bucket"), Function("n", lambda e, c: 1), events=["s3:Everything"])


def web(event, context):
    """A function URL handler exercising the response mapping."""
    path = event["rawPath"]
    if path == "/plain":
        return {"hello": event["queryStringParameters"]["name"]}
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}  # fmt: skip
    return {
        "statusCode": 201,
        "headers": {"X-Echo": event["headers"].get("x-token", ""), "Content-Type": "text/plain"},
        "cookies": ["session=abc; Path=/"],
        "body": f"{event['requestContext']['http']['method']} {path} {event.get('body', '')} {event.get('cookies')}",
    }


def test_function_url_round_trip():
    """A real HTTP client sees the function's status, headers, cookies and body."""
    with Invoker() as inv:
        endpoint = inv.create_function_url(Function("web", web))
        assert isinstance(endpoint, HttpEndpoint)
        assert endpoint.url.startswith("http://127.0.0.1:")
        req = urllib.request.Request(endpoint.url + "orders", data=b"payload", method="POST",
                                     headers={"X-Token": "t1", "Cookie": "a=1; b=2"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 201
            assert resp.headers["x-echo"] == "t1"
            assert resp.headers["set-cookie"] == "session=abc; Path=/"
            assert resp.headers["x-amzn-RequestId"] == inv.history[-1].request_id
            assert resp.read() == b"POST /orders payload ['a=1', 'b=2']"
        with urllib.request.urlopen(endpoint.url + "plain?name=Ada", timeout=30) as resp:
            assert resp.headers["content-type"] == "application/json"
            assert json.loads(resp.read()) == {"hello": "Ada"}
        with urllib.request.urlopen(endpoint.url + "binary", timeout=30) as resp:
            assert resp.read() == b"\x89PNG"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(endpoint.url + "boom", timeout=30)
        assert info.value.code == 502
        info.value.close()


def unmappable(event, context):
    kind = event["rawPath"]
    if kind == "/status":
        return {"statusCode": "not a number", "body": "x"}
    if kind == "/base64":
        return {"statusCode": 200, "body": "%%%", "isBase64Encoded": True}
    return {"ok": True}


@pytest.mark.parametrize(
    ("path", "body_size", "status"),
    [
        ("/status", 0, 502),  # a statusCode Lambda cannot read
        ("/base64", 0, 502),  # says base64, is not
        ("/big", 6_291_456 + 1, 413),  # over the synchronous limit once wrapped in the event
        ("/fine", 0, 200),
    ],
)
def test_function_url_answers_every_request(path, body_size, status):
    """Requests that cannot be served still get an HTTP answer (they used to drop the connection)."""
    body = b"x" * body_size or None
    with Invoker() as inv:
        endpoint = inv.create_function_url(Function("unmappable", unmappable))
        req = urllib.request.Request(endpoint.url.rstrip("/") + path, data=body, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                got, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            got, text = e.code, e.read()
            e.close()
        assert got == status
        assert json.loads(text)
