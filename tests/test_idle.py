"""wait_for_idle on the real clock: nothing pending, messages waiting out a visibility timeout included."""

from __future__ import annotations

from pylambda import Queue


def test_wait_for_idle_waits_out_the_visibility_timeout(invoker, make_fn):
    """A failing batch's message comes back after its visibility timeout and is redriven before idle."""
    dlq = Queue("idle-dlq")
    q = Queue("idle-q", visibility_timeout=1, dead_letter_queue=dlq, max_receive_count=2)
    fn = make_fn("faults.raises", timeout=1)  # Lambda refuses a visibility timeout shorter than this
    invoker.create_event_source_mapping(q, fn, batch_size=1)
    q.send("m")
    assert invoker.wait_for_idle(30)
    assert dlq.bodies() == ["m"]
    assert len(q) == 0
    assert invoker.pending_work() == []
    assert len(invoker.history.where(function_name=fn.name)) == 2


def test_wait_for_idle_times_out_and_says_what_is_pending(invoker, make_fn):
    """With a long visibility timeout, wait_for_idle(timeout) returns False and pending_work names the queue."""
    q = Queue("slow-q", visibility_timeout=300)
    fn = make_fn("faults.raises")
    invoker.create_event_source_mapping(q, fn, batch_size=1)
    q.send("m")
    assert not invoker.wait_for_idle(0.5)
    (line,) = invoker.pending_work()
    assert line.startswith(f"slow-q -> {fn.name}: 1 message(s) invisible, next batch due in")
