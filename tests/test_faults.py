"""Faults do not spread: one function's crashes, a stopped zygote or environment, a racing close()."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from pylambda import Invoker, InvokerClosedError, PylambdaError

# Calls of the healthy function while another crashes (benchmarks/faults.py makes 10,000).
HEALTHY_CALLS = 300
CRASHING_THREADS = 2


def _crash(event, context):
    """Crash leaving processes behind: their ends and the environment's reach the zygote at once."""
    import os
    import time

    for _ in range(event.get("children", 10)):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    os._exit(1)


def _maybe_crash(event, context):
    if event.get("crash"):
        _crash(event, context)
    return event


def test_a_crashing_function_does_not_touch_another_functions_environments(invoker, make_fn):
    """A function that crashes continuously from other threads causes no failure of a healthy one."""
    healthy = make_fn("faults.echo")
    crashing = make_fn(_crash)
    invoker.register(healthy)
    invoker.register(crashing)
    assert invoker.invoke(healthy, {"n": -1}).function_error is None
    zygote = invoker.zygote_pid
    stop = threading.Event()
    crashes = [0] * CRASHING_THREADS

    def crash_loop(i: int) -> None:
        while not stop.is_set():
            r = invoker.invoke(crashing)
            assert r.error_type == "Runtime.ExitError"
            crashes[i] += 1

    threads = [threading.Thread(target=crash_loop, args=(i,)) for i in range(CRASHING_THREADS)]
    for t in threads:
        t.start()
    try:
        failures = []
        for n in range(HEALTHY_CALLS):
            r = invoker.invoke(healthy, {"n": n})
            if r.function_error is not None or r.payload != {"n": n}:
                failures.append(r.payload)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert sum(crashes) > 0
    assert invoker.zygote_pid == zygote


def test_async_events_with_crashes_do_not_crash_the_zygote(invoker, make_fn):
    """Asynchronous events of which some crash their environment leave the zygote alive."""
    fn = make_fn(_maybe_crash)
    invoker.register(fn)
    invoker.put_function_event_invoke_config(fn, maximum_retry_attempts=0)
    invoker.invoke(fn, {})
    zygote = invoker.zygote_pid
    for i in range(300):
        invoker.invoke(fn, {"i": i, "crash": i % 7 == 0}, invocation_type="Event")
    invoker.wait_for_idle(timeout=120)
    assert invoker.zygote_pid == zygote
    assert psutil.Process(zygote).is_running()
    assert invoker.invoke(fn, {"after": True}).payload == {"after": True}


def _stopped_then_cleaned(pid: int):
    """Resume and forget a process a test stopped (it may be dead already)."""
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _bounded(call, bound_s: float = 30.0):
    """Run ``call`` in a thread; return (finished, its result or exception)."""
    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as e:  # the test inspects it
            box["value"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(bound_s)
    return not t.is_alive(), box.get("value")


def test_a_stopped_zygote_neither_hangs_a_cold_start_nor_close(make_fn):
    """With the zygote SIGSTOPped, a cold start still answers and close() returns."""
    inv = Invoker()
    fn = make_fn("faults.echo", timeout=3)
    inv.register(fn)
    inv.invoke(make_fn("faults.noop"))
    zygote = inv.zygote_pid
    os.kill(zygote, signal.SIGSTOP)
    try:
        finished, value = _bounded(lambda: inv.invoke(fn, {"cold": True}))
        assert finished, "a cold start hung on a stopped zygote"
        assert not isinstance(value, BaseException) or isinstance(value, PylambdaError), value
        if not isinstance(value, BaseException):
            assert value.payload == {"cold": True} or value.function_error == "Unhandled"
        finished, value = _bounded(inv.close)
        assert finished, "close() hung on a stopped zygote"
        assert value is None
    finally:
        _stopped_then_cleaned(zygote)
        inv.close()


def test_a_stopped_environment_times_out_and_close_returns(make_fn):
    """A SIGSTOPped environment gives a timeout result and close() still returns."""
    inv = Invoker()
    fn = make_fn("faults.echo", timeout=1)
    inv.register(fn)
    inv.invoke(fn, {})
    pid = inv.environments()[0].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        finished, value = _bounded(lambda: inv.invoke(fn, {"x": 1}))
        assert finished
        assert value.error_type == "Sandbox.Timedout"
        inv.invoke(fn, {})  # a new environment, stopped while idle: close() must not wait for it
        pid = inv.environments()[0].pid
        os.kill(pid, signal.SIGSTOP)
        finished, value = _bounded(inv.close)
        assert finished
    finally:
        _stopped_then_cleaned(pid)
        inv.close()


def test_close_racing_a_cold_start_raises_only_invoker_closed(make_fn):
    """close() while cold starts are under way: each call returns or raises InvokerClosedError."""
    errors = []
    for round_ in range(8):
        inv = Invoker()
        fn = make_fn("faults.noop")
        inv.register(fn)
        inv.invoke(make_fn("faults.noop"))
        started = threading.Event()

        def call(inv=inv, fn=fn, started=started):
            started.set()
            try:
                inv.invoke(fn)
            except InvokerClosedError:
                pass
            except BaseException as e:  # collected for the assertion
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        started.wait(5)
        time.sleep(0.0005 * round_)
        inv.close()
        for t in threads:
            t.join(30)
    assert errors == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_zygote_ignores_or_survives_stray_signals_to_its_group(invoker, make_fn, signum):
    """A Ctrl-C or a SIGTERM sent to one environment's group never reaches the zygote."""
    fn = make_fn("faults.echo")
    invoker.register(fn)
    invoker.invoke(fn, {})
    zygote = invoker.zygote_pid
    env = invoker.environments()[0]
    os.killpg(env.pid, signum)
    try:
        psutil.Process(env.pid).wait(10)
    except psutil.NoSuchProcess:
        pass  # reaped by the zygote already
    assert invoker.invoke(fn, {"after": 1}).payload == {"after": 1}
    assert invoker.zygote_pid == zygote


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"event": _nested(1_000)}, "recursion"),
        ({"payload": b"[" * 1_000 + b"1" + b"]" * 1_000}, "nesting too deep"),
        ({"payload": b"[" * 100_000}, "nesting too deep"),
        ({"event": {"x": float("nan")}}, "Out of range float"),
        ({"payload": b'{"x": NaN}'}, "Non-standard token 'NaN'"),
        ({"payload": b'{"x": Infinity}'}, "Non-standard token 'Infinity'"),
        ({"event": [float("-inf")]}, "Out of range float"),
        ({"payload": b"[-Infinity]"}, "Non-standard token '-Infinity'"),
    ],
    ids=[
        "event-deep",
        "payload-deep",
        "payload-unclosed-deep",
        "event-nan",
        "payload-nan",
        "payload-inf",
        "event-neg-inf",
        "payload-neg-inf",
    ],
)
def test_bodies_lambda_refuses_raise_invalid_request_content(invoker, make_fn, kwargs, reason):
    """Deep nesting and NaN/Infinity raise InvalidRequestContentError through event= and payload= alike."""
    from pylambda import InvalidRequestContentError

    fn = make_fn("faults.echo")
    invoker.register(fn)
    with pytest.raises(InvalidRequestContentError, match=reason):
        invoker.invoke(fn, **kwargs)
    assert invoker.invoke(fn, payload=b"[[1]]").payload == [[1]]


def test_concurrent_executions_counts_only_the_functions_own_invocations(invoker, make_fn):
    """A reserved-1 function that never overlapped itself reports ConcurrentExecutions 1, whatever else runs."""
    slow = make_fn("faults.sleeps", timeout=1)
    single = make_fn("faults.echo", reserved_concurrency=1)
    invoker.register(slow)
    invoker.register(single)
    invoker.invoke(single, {})
    t = threading.Thread(target=invoker.invoke, args=(slow,))
    t.start()
    deadline = time.monotonic() + 10
    while len(invoker.environments()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    invoker.invoke(single, {"while": "slow runs"})
    t.join(30)
    assert invoker.metrics(single).get("ConcurrentExecutions") == 1.0
    assert invoker.metrics(slow).get("ConcurrentExecutions") == 1.0


def _chatty(event, context):
    line = "y" * 99 + "\n"
    print(line * (event["kb"] * 1024 // 100), end="")
    return "done"


def test_long_handler_output_is_kept_on_disk_and_read_back(make_fn):
    """A result holds where a long log is, not the log; reading it back works, also after close()."""
    from pylambda._logspill import SPILL_BYTES, Spilled

    inv = Invoker()
    try:
        fn = make_fn(_chatty)
        inv.register(fn)
        big = inv.invoke(fn, {"kb": 1024})
        small = inv.invoke(fn, {"kb": 1})
        inside = big.log_parts[3]
        assert isinstance(inside, Spilled)
        assert inside.length >= 1024 * 1024 - 100
        assert isinstance(small.log_parts[3], str)
        assert len(small.log_parts[3]) <= SPILL_BYTES
        assert big.logs.count("y" * 99 + "\n") == 1024 * 1024 // 100
        assert "_logs" not in big.__dict__  # not kept once rendered
        assert "\nSTART RequestId:" in big.logs
        assert big.logs.rstrip("\n").split("\n")[-1].startswith("REPORT RequestId:")
        events = inv.logs(fn).events()
        assert sum(e.message == "y" * 99 for e in events) == 1024 * 1024 // 100 + 1024 // 100
    finally:
        inv.close()
    assert big.logs.count("y" * 99 + "\n") == 1024 * 1024 // 100
