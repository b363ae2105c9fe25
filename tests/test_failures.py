"""Every way an invocation can fail: the payload, the log, and what happens next."""

from __future__ import annotations

import json
import re

import pytest

from pylambda import Function

# (handler, config, errorType, message pattern, REPORT status suffix or None, environment kept?)
FAILURES = [
    ("faults.raises", {}, "ValueError", r"^boom$", None, True),
    (
        "bad_import.handler",
        {},
        "Runtime.ImportModuleError",
        r"^Unable to import module 'bad_import': No module named 'does_not_exist_module'$",
        "Status: error\tError Type: Runtime.ImportModuleError",
        False,
    ),
    (
        "bad_syntax.handler",
        {},
        "Runtime.UserCodeSyntaxError",
        r"^Syntax error in module 'bad_syntax': ",
        "Status: error\tError Type: Runtime.UserCodeSyntaxError",
        False,
    ),
    (
        "faults.missing",
        {},
        "Runtime.HandlerNotFound",
        r"^Handler 'missing' missing on module 'faults'$",
        "Status: error\tError Type: Runtime.HandlerNotFound",
        False,
    ),
    (
        "nodot",
        {},
        "Runtime.MalformedHandlerName",
        r"^Bad handler 'nodot': ",
        "Status: error\tError Type: Runtime.MalformedHandlerName",
        False,
    ),
    (
        "sys.handler",
        {},
        "Runtime.BuiltInModuleConflict",
        r"^Cannot use built-in module sys as a handler module$",
        "Status: error\tError Type: Runtime.BuiltInModuleConflict",
        False,
    ),
    ("raise_init.handler", {}, "RuntimeError", r"^startup fails$", "Status: error\tError Type: RuntimeError", False),
    (
        "exit_init.handler",
        {},
        "Runtime.ExitError",
        r"^RequestId: \S+ Error: Runtime exited with error: exit status 4$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.nonjson",
        {},
        "Runtime.MarshalError",
        r"^Unable to marshal response: Object of type set is not JSON serializable$",
        None,
        True,
    ),
    (
        "faults.sleeps",
        {"timeout": 1},
        "Sandbox.Timedout",
        r"^RequestId: \S+ Error: Task timed out after 1\.00 seconds$",
        "Status: timeout",
        False,
    ),
    (
        "faults.exits",
        {},
        "Runtime.ExitError",
        r"^RequestId: \S+ Error: Runtime exited with error: exit status 3$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.sysexit0",
        {},
        "Runtime.ExitError",
        r"^RequestId: \S+ Error: Runtime exited without providing a reason$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.sysexit2",
        {},
        "Runtime.ExitError",
        r"exit status 2$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.sigkill",
        {},
        "Runtime.ExitError",
        r"^RequestId: \S+ Error: Runtime exited with error: signal: killed$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.segv",
        {},
        "Runtime.ExitError",
        r"signal: segmentation fault$",
        "Status: error\tError Type: Runtime.ExitError",
        False,
    ),
    (
        "faults.hog",
        {},
        "Runtime.OutOfMemory",
        r"^RequestId: \S+ Error: Runtime exited with error: signal: killed$",
        "Status: error\tError Type: Runtime.OutOfMemory",
        False,
    ),
    (
        "faults.hog_slow",
        {"timeout": 30},
        "Runtime.OutOfMemory",
        r"signal: killed$",
        "Status: error\tError Type: Runtime.OutOfMemory",
        False,
    ),
    (
        "faults.big",
        {},
        "Function.ResponseSizeTooLarge",
        r"^Response payload size exceeded maximum allowed payload size \(6291556 bytes\)\.$",
        None,
        True,
    ),
]


@pytest.mark.parametrize(
    ("handler", "config", "error_type", "message", "status", "kept"),
    FAILURES,
    ids=[f[0] for f in FAILURES],
)
def test_failure_table(invoker, make_fn, handler, config, error_type, message, status, kept):
    """Each failure is a result with Lambda's payload and REPORT, and the next call works."""
    fn = make_fn(handler, **config)
    r = invoker.invoke(fn, {"k": "v"})
    assert r.status_code == 200
    assert r.function_error == "Unhandled"
    assert r.error_type == error_type
    doc = json.loads(r.raw_payload)
    assert doc["errorType"] == error_type
    assert re.search(message, doc["errorMessage"]), doc["errorMessage"]
    report = r.logs.splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {r.request_id}\t")
    if status is None:
        assert "Status:" not in report
    else:
        assert report.endswith(status)
    assert r.logs.count(f"END RequestId: {r.request_id}") == 1
    # The environment was kept (warm next time) or reset (a fresh init next time).
    again = invoker.invoke(fn, {"k": "v"})
    assert again.error_type == error_type
    if kept:
        assert again.environment_id == r.environment_id
        assert not again.cold_start
    else:
        assert again.environment_id != r.environment_id
    # Nothing that failed is left running.
    live = {e.id for e in invoker.environments()}
    if not kept:
        assert r.environment_id not in live


def test_runtime_error_payload_shape(invoker, make_fn):
    """A handler exception has RIC's keys, in order, with the runtime's frames trimmed."""
    r = invoker.invoke(make_fn("faults.raises"))
    doc = json.loads(r.raw_payload)
    assert list(doc) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert doc["requestId"] == r.request_id
    assert len(doc["stackTrace"]) == 1
    assert "faults.py" in doc["stackTrace"][0]
    assert "pylambda" not in "".join(doc["stackTrace"])
    error_line = next(line for line in r.logs.split("\n") if line.startswith("[ERROR]"))
    assert error_line.startswith("[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u00a0\u00a0File")


def test_platform_errors_put_error_type_first(invoker, make_fn):
    """Timeouts and crashes use the platform's compact {"errorType","errorMessage"}."""
    r = invoker.invoke(make_fn("faults.exits"))
    assert r.raw_payload.startswith(b'{"errorType":"Runtime.ExitError","errorMessage":"RequestId: ')


def test_timeout_report_and_log(invoker, make_fn):
    """A timeout bills the whole timeout, logs the timeout line, keeps earlier output."""
    r = invoker.invoke(make_fn("faults.sleeps", timeout=1))
    assert r.duration_ms == 1000.0
    assert "going to sleep" in r.logs
    assert re.search(rf"Z {r.request_id} Task timed out after 1\.\d\d seconds\n", r.logs)
    assert "\tDuration: 1000.00 ms\t" in r.logs


def test_init_failure_logs_both_phases(invoker, make_fn):
    """A failed init reports Phase: init, is retried in the invoke phase, and so on after."""
    fn = make_fn("raise_init.handler")
    r = invoker.invoke(fn)
    lines = r.logs.splitlines()
    assert lines[0].startswith("INIT_START")
    phases = [line for line in lines if line.startswith("INIT_REPORT")]
    assert phases[0].endswith("Phase: init\tStatus: error\tError Type: RuntimeError")
    assert phases[1].endswith("Phase: invoke\tStatus: error\tError Type: RuntimeError")
    assert lines.index(phases[0]) < lines.index(f"START RequestId: {r.request_id} Version: $LATEST")
    assert json.loads(r.raw_payload)["requestId"] == ""
    assert "LAMBDA_WARNING: Unhandled exception." in r.logs
    # the environment's peak memory, as on any REPORT (it read 0 MB)
    assert r.max_memory_used_mb > 0
    assert f"Max Memory Used: {r.max_memory_used_mb} MB\tStatus: error" in r.logs
    later = invoker.invoke(fn)
    assert "Phase: init" not in later.logs
    assert "Phase: invoke\tStatus: error" in later.logs


def test_init_recovers_after_a_failed_first_init(invoker, make_fn):
    """If init succeeds when retried in the invoke phase, the invocation runs."""
    r = invoker.invoke(make_fn("flaky_init.handler"))
    assert r.function_error is None
    assert r.payload == "recovered"
    assert "Phase: init\tStatus: error" in r.logs
    assert "Phase: invoke\n" in r.logs


def test_init_timeout_is_ten_seconds_then_function_timeout(invoker, make_fn, monkeypatch):
    """An init that hangs is cut at the init limit, then retried with the function timeout."""
    import pylambda._execution as invoker_module

    monkeypatch.setattr(invoker_module, "INIT_PHASE_TIMEOUT_S", 0.5)
    r = invoker.invoke(make_fn("slow_init.handler", timeout=1))
    assert "Phase: init\tStatus: timeout" in r.logs
    assert r.error_type == "Sandbox.Timedout"
    assert r.logs.rstrip().endswith("Status: timeout")


def test_reset_keeps_tmp_for_the_same_version(invoker):
    """Lambda's reset keeps /tmp: a timeout then a fresh init finds the old file."""

    def handler(event, context):
        import os
        import time

        path = os.path.join(os.environ["TMPDIR"], "kept")
        seen = os.path.exists(path)
        open(path, "w").close()
        if event.get("hang"):
            time.sleep(30)
        return {"seen": seen, "pid": os.getpid()}

    fn = Function("reset-tmp", handler, timeout=1)
    first = invoker.invoke(fn, {})
    assert first.payload["seen"] is False
    timed_out = invoker.invoke(fn, {"hang": True})
    assert timed_out.error_type == "Sandbox.Timedout"
    after = invoker.invoke(fn, {})
    assert after.cold_start
    assert after.payload["seen"] is True
    assert after.environment_id != first.environment_id


def test_memory_report_for_out_of_memory(invoker, make_fn):
    """OOM reports Max Memory Used equal to Memory Size, as Lambda's sandbox caps it."""
    r = invoker.invoke(make_fn("faults.hog"))
    assert r.max_memory_used_mb == 128
    assert "\tMax Memory Used: 128 MB\t" in r.logs


def _start_sleeper(escape: bool) -> None:
    """Fork a process that outlives the handler (holding its pipes); return once it runs."""
    import os
    import tempfile
    import time

    pidfile = os.path.join(tempfile.gettempdir(), "sleeper")
    if os.fork() == 0:
        if escape:
            os.setsid()  # out of the environment's process group
        with open(pidfile + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(pidfile + ".tmp", pidfile)  # written once it has left the group (or not)
        time.sleep(60)
        os._exit(0)
    while not os.path.exists(pidfile):
        time.sleep(0.001)


def exits_leaving_a_process(event, context):
    import os

    _start_sleeper(event["escape"])
    os._exit(3)


def times_out_leaving_a_process(event, context):
    import time

    _start_sleeper(event["escape"])
    time.sleep(30)


def _left(zygote_pid: int) -> list[int]:
    """Processes below the zygote (its environments and what their handlers started), host pids.

    Not its spare sandbox (the process's, ready for the next cold start: ``spare_pids``).
    """
    import psutil

    from pylambda.testing import spare_pids

    spares = spare_pids()
    left = []
    for p in psutil.Process(zygote_pid).children(recursive=True):
        try:
            if p.pid in spares or spares & {a.pid for a in p.parents()}:
                continue
            if p.status() != psutil.STATUS_ZOMBIE:
                left.append(p.pid)
        except psutil.NoSuchProcess:  # ended while we looked
            pass
    return left


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(
    ("handler", "escape", "error_type", "message", "gone_with_environment"),
    [
        (exits_leaving_a_process, False, "Runtime.ExitError", "exit status 3", True),
        # a process in a session of its own still cannot hide the exit; it ends with its environment
        # (its PID namespace), or without the sandbox with the Invoker
        (exits_leaving_a_process, True, "Runtime.ExitError", "exit status 3", False),
        (times_out_leaving_a_process, False, "Sandbox.Timedout", "Task timed out after 1.00 seconds", True),
    ],
)
def test_processes_a_handler_started_neither_hide_its_end_nor_outlive_it(
    sandbox, handler, escape, error_type, message, gone_with_environment
):
    """The exit is reported at once though a child holds the pipes; the child dies with the sandbox."""
    import time

    from pylambda import Invoker

    gone_with_environment = gone_with_environment or sandbox["namespaces"] is None
    with Invoker() as inv:
        fn = Function("leaves_a_process", handler, timeout=1)
        t0 = time.monotonic()
        r = inv.invoke(fn, {"escape": escape})
        took = time.monotonic() - t0
        assert r.error_type == error_type
        assert r.payload["errorMessage"].endswith(message)
        assert took < 5  # not the 60 s the child sleeps, nor a second timeout
        deadline = time.monotonic() + 5
        left = _left(inv.zygote_pid)
        while gone_with_environment and left and time.monotonic() < deadline:
            time.sleep(0.01)
            left = _left(inv.zygote_pid)
        assert (not left) == gone_with_environment
    deadline = time.monotonic() + 5
    while not all(_gone(p) for p in left) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(_gone(p) for p in left)
