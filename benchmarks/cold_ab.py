"""Cold start with and without the sandbox, alternating, in one run.

Run:  python benchmarks/cold_ab.py [-n 30] [--rounds 3]

Each round runs ``n`` cold starts of a trivial module handler (``invoke`` to
result, a ``reset()`` after each, as ``run.py``'s cold bench does) in a fresh
interpreter with ``PYLAMBDA_SANDBOX=0``, then in one with the sandbox on, and
prints both medians: on a shared machine only figures taken side by side
compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_CHILD = r"""
import statistics, sys, tempfile, time
from pathlib import Path
from pylambda import Function, Invoker
n = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    Path(tmp, "trivial.py").write_text("def handler(event, context):\n    return 1\n")
    with Invoker() as invoker:
        invoker.invoke(Function("warmup", lambda e, c: None))
        totals = []
        for i in range(n):
            fn = Function(f"cold-{i}", "trivial.handler", code=tmp)
            t = time.perf_counter_ns()
            r = invoker.invoke(fn, {})
            totals.append((time.perf_counter_ns() - t) / 1e6)
            assert r.cold_start and r.function_error is None, r.payload
            invoker.reset(fn)
print(f"{statistics.median(totals):.2f}")
"""


def main() -> None:
    """Alternate the two and print a table of p50s (ms)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| round | sandbox off, p50 | sandbox on, p50 |")
    print("| --- | --- | --- |")
    for i in range(args.rounds):
        row = []
        for off in (True, False):
            env = dict(os.environ, PYLAMBDA_SANDBOX="0") if off else dict(os.environ)
            out = subprocess.run(
                [sys.executable, "-W", "ignore", "-c", _CHILD, str(args.n)], env=env, capture_output=True, text=True
            )
            row.append(out.stdout.strip() or out.stderr.strip()[-200:])
        print(f"| {i + 1} | {row[0]} ms | {row[1]} ms |")


if __name__ == "__main__":
    main()
