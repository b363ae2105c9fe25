"""The source seam: the registry of source kinds, the trigger protocol, and the Invoker's one collaborator."""

from __future__ import annotations

import pytest

from pylambda import Bucket, Function, InvalidParameterValueError, Queue, Schedule, Stream, Table
from pylambda._sources import kinds
from pylambda._sources.trigger import MappingOptions, Trigger


@pytest.mark.parametrize(
    ("make_source", "options", "trigger_type", "kind"),
    [
        (lambda: Queue("k-q"), {}, "EventSourceMapping", "sqs"),
        (lambda: Stream("k-s"), {"starting_position": "LATEST"}, "StreamMapping", "kinesis"),
        (lambda: Table("k-t"), {"starting_position": "LATEST"}, "StreamMapping", "dynamodb"),
        (lambda: Schedule("rate(1 hour)"), {}, "ScheduleTrigger", "schedule"),
        (lambda: Bucket("k-bucket"), {}, "BucketNotification", "s3"),
    ],
)
def test_each_source_gets_its_documented_trigger(vinvoker, make_source, options, trigger_type, kind):
    """create_event_source_mapping returns the trigger type docs/sources.md names, with the common protocol."""
    trigger = vinvoker.create_event_source_mapping(make_source(), Function("k", lambda e, c: None), **options)
    assert type(trigger).__name__ == trigger_type
    assert trigger.kind == kind
    assert vinvoker.event_source_mappings == [trigger]
    described = trigger.describe()
    assert described["UUID"] == trigger.uuid
    assert described["State"] == "Enabled"
    assert described["FunctionArn"].endswith(":function:k")
    assert trigger.idle()
    trigger.disable()
    assert trigger.describe()["State"] == "Disabled"
    trigger.delete()
    assert trigger.state == "Deleted"
    assert vinvoker.event_source_mappings == []


class Doorbell:
    """A new kind of source, for the test: pressing it rings the functions attached."""

    def __init__(self) -> None:
        self.listeners: list = []
        self.arn = "arn:aws:doorbell:us-east-1:123456789012:bell/front"

    def press(self) -> None:
        """Ring every attached trigger."""
        for listener in list(self.listeners):
            listener()


class DoorbellTrigger(Trigger):
    """A pushed trigger for ``Doorbell``: one synchronous invocation per press."""

    kind = "doorbell"

    @classmethod
    def create(cls, owner, source, target, function_name, options: MappingOptions):
        """Nothing to validate."""
        return cls(owner, source, target, function_name, options.enabled)

    def start(self) -> None:
        """Listen to the bell."""
        self.source.listeners.append(self.ring)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening."""
        self.source.listeners.remove(self.ring)
        super().stop(timeout)

    def ring(self) -> None:
        """Invoke the function."""
        if self.state == "Enabled":
            self._invoker.invoke(self.target, {"ding": "dong"})
            self.invocations += 1


def test_a_new_source_kind_is_one_registration(vinvoker, monkeypatch):
    """Registering a source type with its trigger class is all a new source needs."""
    monkeypatch.setattr(kinds, "_KINDS", dict(kinds.source_kinds()))
    kinds.register_source_kind(Doorbell, DoorbellTrigger)
    bell = Doorbell()
    fn = Function("door", lambda e, c: e["ding"])
    trigger = vinvoker.create_event_source_mapping(bell, fn)
    bell.press()
    trigger.disable()
    bell.press()
    assert trigger.invocations == 1
    assert [h.result.payload for h in vinvoker.history] == ["dong"]
    vinvoker.close()
    assert bell.listeners == []  # close() stopped it


def test_an_arn_source_kind_is_looked_up_by_service(vinvoker, monkeypatch):
    """A string source is an ARN, served by whatever registered its service (lazily, by module path)."""
    monkeypatch.setattr(kinds, "_KINDS", dict(kinds.source_kinds()))
    kinds.register_source_kind("doorbell", f"{__name__}:DoorbellTrigger")
    assert kinds.trigger_class_for("arn:aws:doorbell:us-east-1:123456789012:jobs") is DoorbellTrigger
    with pytest.raises(InvalidParameterValueError, match="ARNs of doorbell, dynamodb, kinesis, sqs; got 'arn:aws:sns"):
        kinds.trigger_class_for("arn:aws:sns:us-east-1:123456789012:topic")


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (object(), "supported: Bucket, Queue, Schedule, Stream, Table; ARNs of dynamodb, kinesis, sqs; got object"),
        ("not-an-arn", "got 'not-an-arn'"),
        ("arn:aws:doorbell:us-east-1:123456789012:bell/x", "got .arn:aws:doorbell"),
        (42, "got int"),
    ],
)
def test_unknown_sources_are_refused(vinvoker, source, match):
    """A source nothing serves raises InvalidParameterValueError listing what is supported."""
    with pytest.raises(InvalidParameterValueError, match=match):
        vinvoker.create_event_source_mapping(source, Function("nothing", lambda e, c: None))


@pytest.mark.parametrize("kind", [None, "", 3])
def test_register_refuses_what_is_not_a_kind(kind):
    """A kind is a type or a non-empty ARN service name."""
    with pytest.raises(InvalidParameterValueError, match="a source kind is a type or an ARN service name"):
        kinds.register_source_kind(kind, DoorbellTrigger)
