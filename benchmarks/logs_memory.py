"""The caller's memory for handler logs: RSS after 200 MB of prints, and after reading them all.

Run:  python benchmarks/logs_memory.py [--mb 200]

A handler prints 1 MB per invocation; the caller invokes it ``--mb`` times
and reports its own RSS growth (``/proc/self/status`` VmRSS) after the
invocations, after reading every result's ``logs`` once, and after building
the function's log group (``invoker.logs(fn).events()``, which holds every
event while it is used).  Kept whole in memory, the logs cost their size;
spilled to disk (``pylambda._logspill``), about nothing.
"""

from __future__ import annotations

import argparse
import gc

from pylambda import Function, Invoker


def chatty(event, context):
    """Print about 1 MB."""
    line = "y" * 99 + "\n"
    print(line * 10_485, end="")
    return None


def rss_mb() -> float:
    """This process's resident set, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with Invoker() as inv:
        fn = Function("chatty", chatty, timeout=30)
        inv.register(fn)
        inv.invoke(fn)
        gc.collect()
        base = rss_mb()
        results = [inv.invoke(fn) for _ in range(args.mb)]
        gc.collect()
        after_invoking = rss_mb() - base
        total = sum(len(r.logs) for r in results)
        gc.collect()
        after_reading = rss_mb() - base
        events = len(inv.logs(fn).events())
        gc.collect()
        after_group = rss_mb() - base
    print(f"{args.mb} invocations, {total / 1e6:.0f} MB of log text read back, {events} events in the group")
    print(f"caller RSS growth: after invoking {after_invoking:.1f} MB, after reading every result's logs "
          f"{after_reading:.1f} MB, after building the log group {after_group:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
