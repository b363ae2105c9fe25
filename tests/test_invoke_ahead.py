"""A cold start's INVOKE goes with its INIT (``ProcessEnvironment.send_ahead``).

The environment starts the invocation as soon as its INIT is done, as
Lambda's runtime asks for the next event.  What must not change: the
timeout runs from the invocation's start, not from INIT's; INIT's logs and
the invocation's stay apart (the runtime's mark between them never shows);
a failed INIT drops the invocation sent with it, which then runs as Lambda
retries it (the init again, in the invoke phase), once.
"""

from __future__ import annotations

import pytest

from pylambda import Function, Invoker

SLOW_INIT = """
import time
print("at init " + "i" * {size})
time.sleep(0.4)

def handler(event, context):
    print("in handler " + "h" * {size})
    return {{"remaining": context.get_remaining_time_in_millis()}}
"""

FAILING_INIT = """
print("init runs")
raise RuntimeError("init failed")

def handler(event, context):
    return "never"
"""


@pytest.mark.parametrize("size", [0, 200_000], ids=["short-logs", "logs-over-a-pipe"])
def test_the_timeout_runs_from_the_invocation_and_the_logs_stay_apart(tmp_path, size):
    (tmp_path / "slow.py").write_text(SLOW_INIT.format(size=size))
    with Invoker() as invoker:
        fn = Function("slow-init", "slow.handler", code=str(tmp_path), timeout=1)
        result = invoker.invoke(fn, {}, log_type="Tail")
        assert result.cold_start
        assert result.init_duration_ms >= 400
        assert result.payload["remaining"] > 900  # INIT's 0.4 s is not the invocation's
        init_part, start, rest = result.logs.partition("START RequestId:")
        assert start
        assert init_part.count("at init ") == 1
        assert "in handler" not in init_part
        assert rest.count("in handler ") == 1
        assert "at init" not in rest
        assert "pylambda-init-end" not in result.logs
        assert "\0" not in result.logs
        assert invoker.invoke(fn, {}).payload["remaining"] > 900  # warm, as before


def test_a_failed_init_drops_the_invocation_sent_with_it(tmp_path):
    (tmp_path / "broken.py").write_text(FAILING_INIT)
    with Invoker() as invoker:
        fn = Function("broken-init", "broken.handler", code=str(tmp_path))
        result = invoker.invoke(fn, {}, log_type="Tail")
        assert result.function_error == "Unhandled"
        assert result.payload["errorType"] == "RuntimeError"
        assert result.logs.count("init runs") == 2  # the init phase, then the retry in the invoke phase
        assert len(invoker.history) == 1


SILENCED_AT_INIT = """
import os, time
print("before the redirect", flush=True)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the mark goes there too

def handler(event, context):
    time.sleep(30)
"""


def test_a_stdout_redirected_at_init_does_not_delay_the_timeout(tmp_path):
    """The mark written after INIT_DONE never reaches the log: it is awaited briefly, and the timeout still fires."""
    import time

    (tmp_path / "silenced.py").write_text(SILENCED_AT_INIT)
    with Invoker() as invoker:
        fn = Function("silenced-init", "silenced.handler", code=str(tmp_path), timeout=1)
        began = time.monotonic()
        result = invoker.invoke(fn, {}, log_type="Tail")
        waited = time.monotonic() - began
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert "before the redirect" in result.logs.partition("START RequestId:")[0]
    assert waited < 5  # not the init phase's 10 s before the invocation's 1 s


MARK = b"\0pylambda-init-end-0123456789abcdef\n"


@pytest.mark.parametrize(
    ("writes", "then", "init_logs", "invoke_logs"),
    [
        ([b"init\n", MARK + b"invoke\n"], None, b"init\n", b"invoke\n"),
        ([b"init\n" + MARK[:9], MARK[9:] + b"invoke\n", b"later\n"], None, b"init\n", b"invoke\n"),
        ([b"", MARK], None, b"", b""),
        ([b"init only\n"], "exit", b"init only\n", b""),
        ([b"init\n", b"invoke\n"], "reply", b"init\ninvoke\n", b""),
        ([b"init\n"], None, b"init\n", b""),
    ],
    ids=["behind-init-done", "split-across-reads", "no-logs", "ended-first", "replied-first", "never-written"],
)
def test_init_logs_end_at_the_mark_written_after_init_done(writes, then, init_logs, invoke_logs):
    """``_split_at_mark``: INIT's logs are read up to the mark, waiting for it, but not past the end or the reply.

    What follows the mark in the bytes read is the invocation's; what comes later is ``receive``'s to
    read.  A mark that never comes (stdout redirected at init) is awaited ``MARK_WAIT_S`` at most.
    """
    import os
    import threading
    import time

    from pylambda._environment import process
    from pylambda._environment.process import ProcessEnvironment

    log_r, log_w = os.pipe()
    status_r, status_w = os.pipe()
    resp_r, resp_w = os.pipe()
    env = ProcessEnvironment.__new__(ProcessEnvironment)
    env._log_r, env._status_r, env._resp_r, env._rest = log_r, status_r, resp_r, b""

    def runtime() -> None:  # the rest arrives after INIT_DONE was read, a write at a time
        for chunk in writes[1:]:
            time.sleep(0.02)
            os.write(log_w, chunk)
        if then:
            os.write(status_w if then == "exit" else resp_w, b"\0\0\0\0")

    writer = threading.Thread(target=runtime)
    try:
        if writes[0]:
            os.write(log_w, writes[0])
        writer.start()
        first = os.read(log_r, 1 << 16) if writes[0] else b""
        began = time.monotonic()
        assert env._split_at_mark(first, MARK) == (init_logs, invoke_logs, MARK in b"".join(writes))
        assert time.monotonic() - began < process.MARK_WAIT_S + 0.15
    finally:
        writer.join()
        for fd in (log_r, log_w, status_r, status_w, resp_r, resp_w):
            os.close(fd)


def test_a_mark_read_after_its_wait_is_taken_out_of_the_invocations_logs():
    """Come after ``MARK_WAIT_S`` (a long preemption), the mark is read with the invocation (``_resume``)."""
    import os

    from pylambda._environment.process import ProcessEnvironment
    from pylambda._runtime.protocol import RESULT, RESULT_FRAME, RESULT_HEAD

    log_r, log_w = os.pipe()
    env = ProcessEnvironment.__new__(ProcessEnvironment)
    env._log_r, env._resp_r, env._carry, env._mark = log_r, -1, b"", MARK
    env.max_rss_kib, env.memory_limit_kib = 0, 1 << 20
    out = b'"ok"'
    env._rest = RESULT_FRAME.pack(RESULT_HEAD.size + len(out), RESULT, 0, 0, 1.0, 1000) + out
    try:
        os.write(log_w, b"late init line\n" + MARK + b"in handler\n")
        outcome = env._resume(0.0)
    finally:
        os.close(log_r)
        os.close(log_w)
    assert (outcome.kind, outcome.payload) == ("result", out)
    assert outcome.logs == b"late init line\nin handler\n"
    assert env._mark is None  # once
