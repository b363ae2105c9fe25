"""The queue-worker example: SQS batches with partial failures, redrive to the DLQ, on a manual clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pylambda.sam
from pylambda import Invoker, ManualClock, events

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


def test_partial_batch_failure_response(lambda_invoker):
    """A batch with one bad order reports just that message as failed."""
    app = pylambda.sam.load(TEMPLATE).attach(lambda_invoker)
    good = events.sqs_message({"id": 1, "quantity": 2})
    bad = events.sqs_message({"id": 2, "quantity": 0})
    result = lambda_invoker.invoke(app.functions["WorkerFunction"], events.sqs_event(good, bad))
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert "orders: " in result.logs


@pytest.fixture
def clocked():
    """An Invoker and the app on one ManualClock, so visibility timeouts pass instantly."""
    clock = ManualClock()
    with Invoker(clock=clock) as invoker:
        yield pylambda.sam.load(TEMPLATE, clock=clock).attach(invoker), invoker


def test_poison_message_ends_in_the_dlq(clocked):
    """Good orders are consumed; the poison one is retried MaxReceives times, then redriven to orders-dlq."""
    app, invoker = clocked
    queue, dlq = app.resources["OrdersQueue"], app.resources["OrdersDLQ"]
    for order in ({"id": 1, "quantity": 1}, {"id": 2, "quantity": 0}, {"id": 3, "quantity": 4}):
        queue.send(json.dumps(order))
    assert invoker.wait_for_idle(60)
    (poison,) = dlq.receive(10)
    assert json.loads(poison.body)["id"] == 2
    assert len(queue) == 0
