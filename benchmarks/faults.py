"""Faults do not spread: collateral failures while another function crashes, and cleanup time.

Run:  python benchmarks/faults.py [--calls 10000] [--events 5000]

1. ``--calls`` invocations of a healthy function while two threads invoke,
   in a loop, a function that forks ten processes and calls ``os._exit``
   (each crash ends eleven processes at once).  Reports the healthy
   function's failures (the goal is 0), the crashes seen and whether the
   zygote was ever replaced.
2. ``--events`` asynchronous events of which 15 % crash their environment
   the same way: whether the zygote was replaced (the goal: never).
3. A caller that started a zygote, two environments and three processes
   from a handler (one in the environment's group, one in a session of its
   own, one double-forked daemon) is ended by SIGKILL, by SIGTERM and by a
   plain exit without ``close()``: how long until none of them is alive
   (the goal is under 2 s).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from test_caller_death import CALLER, _alive, _marked
from test_faults import _crash as crash
from test_faults import _maybe_crash as maybe_crash

from pylambda import Function, Invoker


def echo(event, context):
    """The healthy function."""
    return event


def collateral(calls: int) -> dict:
    """Healthy calls while another function crashes continuously from two threads."""
    with Invoker() as inv:
        healthy, crashing = Function("healthy", echo), Function("crashing", crash)
        inv.register(healthy)
        inv.register(crashing)
        inv.invoke(healthy, {})
        zygote = inv.zygote_pid
        stop = threading.Event()
        crashes = [0, 0]

        def loop(i: int) -> None:
            while not stop.is_set():
                inv.invoke(crashing)
                crashes[i] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        failures = 0
        t0 = time.perf_counter()
        for n in range(calls):
            r = inv.invoke(healthy, {"n": n})
            failures += r.function_error is not None or r.payload != {"n": n}
        elapsed = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join()
        return {
            "healthy calls": calls,
            "failures": failures,
            "crashes": sum(crashes),
            "zygote replaced": inv.zygote_pid != zygote,
            "seconds": round(elapsed, 1),
        }


def async_crashes(events: int) -> dict:
    """Asynchronous events, 15 % of which crash: zygote replacements."""
    with Invoker() as inv:
        fn = Function("maybe_crash", maybe_crash)
        inv.register(fn)
        inv.put_function_event_invoke_config(fn, maximum_retry_attempts=0)
        inv.invoke(fn, {})
        zygote = inv.zygote_pid
        import logging

        logging.getLogger("pylambda").setLevel(logging.ERROR)  # one "dropped" line per crash otherwise
        for i in range(events):
            inv.invoke(fn, {"i": i, "crash": i % 20 < 3}, invocation_type="Event")
        inv.wait_for_idle(timeout=600)
        crashed = sum(o.condition != "Success" for o in inv.async_outcomes)
        return {"events": events, "crashed": crashed, "zygote replaced": inv.zygote_pid != zygote}


def cleanup_time(how: str) -> float:
    """Seconds from the caller's end until nothing it or its handlers started is alive."""
    marker = f"pylambda-marker-{uuid.uuid4().hex}"
    script = f"/tmp/pylambda-caller-{marker}.py"
    with open(script, "w") as f:
        f.write(CALLER.format(cwd=os.getcwd(), marker=marker, how=how))
    caller = subprocess.Popen([sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in caller.stdout.readline().split()]
        while len(_marked(marker)) < 3:
            time.sleep(0.01)
        t0 = time.perf_counter()
        if how == "exit":
            caller.stdin.write("go\n")
            caller.stdin.flush()
        else:
            caller.send_signal(getattr(signal, how))
        while _marked(marker) or _alive(pids):
            if time.perf_counter() - t0 > 30:
                return float("inf")
            time.sleep(0.005)
        return time.perf_counter() - t0
    finally:
        caller.kill()
        caller.wait()
        os.unlink(script)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()
    print("collateral:", collateral(args.calls), flush=True)
    print("async:", async_crashes(args.events), flush=True)
    for how in ("SIGKILL", "SIGTERM", "exit"):
        times = sorted(cleanup_time(how) for _ in range(5))
        print(f"cleanup after {how}: median {times[2]:.3f} s, max {times[-1]:.3f} s (5 rounds)", flush=True)


if __name__ == "__main__":
    main()
