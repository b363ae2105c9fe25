"""How close to the pipe floor can a Python caller get?  A model of the essential warm invocation.

Run:  python benchmarks/essential.py [--rounds N] [--quick]

design.md asks for a warm p50 within 2 x a raw ``os.pipe`` round trip.  This
measures, interleaved in one run, three things on the same event:

- the raw pipe round trip (the floor, as ``run.py`` measures it);
- an *essential* caller: only the steps no local Lambda can skip, driving a
  real, warm pylambda environment (encode the event, draw the request id and
  trace header, frame and ``write`` the INVOKE, wait for the reply (spinning
  first, as ``invoke()`` does), ``read`` and parse the RESULT, build the
  result object, remember it);
- ``Invoker.invoke``, which also counts the invocation in and out against
  concurrency limits, takes and returns the environment under a lock,
  watches its deadline, memory and log pipe, and fills in the billing fields.

The essential caller (``run.essential_caller``; ``run.py`` measures it in
its warm phase too) is a model, not an API: it reaches into private modules,
assumes a no-op handler (one small reply, no log output), and skips every
check.  Its ratio to the floor is the lowest a Python caller and a Python
environment speaking this protocol can reach on this interpreter and
machine; when that is already near 2 x, the rest of the gap is not in
pylambda's bookkeeping.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import EVENT, EVENT_BYTES, PipeEcho, essential_caller, interleaved, machine, noop, settle

from pylambda import Function, Invoker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="independent measurements (default 3)")
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    args = parser.parse_args()
    print(f"{machine()}\n")
    print("| run | raw pipe p50 (µs) | essential p50 (µs) | invoke() p50 (µs) | essential / pipe | invoke / pipe |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    pipe = PipeEcho()
    model_invoker, invoker = Invoker(), Invoker()
    try:
        essential = essential_caller(model_invoker, Function("essential", noop))
        fn = Function("noop", noop)
        invoker.invoke(fn, EVENT)
        ratios = []
        rounds, batches, batch = (1, 2, 100) if args.quick else (args.rounds, 10, 1000)
        settle(lambda: essential(EVENT), lambda: invoker.invoke(fn, EVENT))
        for i in range(rounds):
            out = interleaved(
                {
                    "pipe": lambda: pipe.round_trip(EVENT_BYTES),
                    "essential": lambda: essential(EVENT),
                    "invoke": lambda: invoker.invoke(fn, EVENT),
                },
                batches,
                batch,
            )
            floor, model, real = (out[k]["p50"] for k in ("pipe", "essential", "invoke"))
            ratios.append((model / floor, real / floor))
            print(f"| {i + 1} | {floor:.1f} | {model:.1f} | {real:.1f} | {model / floor:.2f} | {real / floor:.2f} |")
        print(
            f"\nmedian: essential {statistics.median(r[0] for r in ratios):.2f} x, "
            f"invoke() {statistics.median(r[1] for r in ratios):.2f} x the pipe floor"
        )
    finally:
        invoker.close()
        model_invoker.close()  # ends the checked-out environment too
        pipe.close()


if __name__ == "__main__":
    main()
