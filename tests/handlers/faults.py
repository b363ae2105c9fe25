"""Handlers that fail in every way the failure table covers (test fixtures)."""

import ctypes
import os
import signal
import sys
import time

STATE = {"n": 0}


def ok(event, context):
    return {"ok": True, "event": event}


def raises(event, context):
    raise ValueError("boom")


def sleeps(event, context):
    print("going to sleep", flush=True)
    time.sleep(60)


def exits(event, context):
    os._exit(3)


def sysexit0(event, context):
    sys.exit(0)


def sysexit2(event, context):
    sys.exit(2)


def sigkill(event, context):
    os.kill(os.getpid(), signal.SIGKILL)


def segv(event, context):
    ctypes.string_at(0)


def hog(event, context):
    """Allocate 300 MB in one go (faster than any sampling)."""
    x = bytearray(300 * 1024 * 1024)
    for i in range(0, len(x), 4096):
        x[i] = 1
    return len(x)


def hog_slow(event, context):
    """Grow forever, slowly: must be killed while it runs."""
    chunks = []
    while True:
        chunk = bytearray(8 * 1024 * 1024)
        for i in range(0, len(chunk), 4096):
            chunk[i] = 1
        chunks.append(chunk)
        time.sleep(0.005)


def nonjson(event, context):
    return {1, 2}


def big(event, context):
    return "x" * 7_000_000


def rawbytes(event, context):
    return b"\x00\x01raw"


def counter(event, context):
    STATE["n"] += 1
    return STATE["n"]


def tmpfile(event, context):
    path = os.path.join(os.environ["TMPDIR"], "marker")
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    with open(path, "w") as f:
        f.write(event.get("value", "x"))
    return old


def crash_after_tmp(event, context):
    with open(os.path.join(os.environ["TMPDIR"], "marker"), "w") as f:
        f.write("kept")
    os._exit(1)


def echo(event, context):
    return event


def noop(event, context):
    return None


def _call_number() -> int:
    """How many times this function's environments have been called (counted in /tmp, which survives resets)."""
    path = os.path.join(os.environ["TMPDIR"], "calls")
    n = 1
    if os.path.exists(path):
        with open(path) as f:
            n = int(f.read()) + 1
    with open(path, "w") as f:
        f.write(str(n))
    return n


def fails_until(event, context):
    """Fails until its `succeed_on`-th call, then returns the call number."""
    n = _call_number()
    if n < event["succeed_on"]:
        raise RuntimeError(f"attempt {n}")
    return n


def kinesis_fails_twice(event, context):
    """Fails its first two calls, then returns the decoded Kinesis data."""
    import base64

    n = _call_number()
    if n < 3:
        raise RuntimeError(f"attempt {n}")
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
