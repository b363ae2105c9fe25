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

The essential caller is a model, not an API: it reaches into private modules,
assumes a no-op handler (one small reply, no log output), and skips every
check.  Its ratio to the floor is the lowest a Python caller and a Python
environment speaking this protocol can reach on this interpreter and
machine; when that is already near 2 x, the rest of the gap is not in
pylambda's bookkeeping.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import EVENT, EVENT_BYTES, PipeEcho, interleaved, machine, noop

from pylambda import Function, Invoker
from pylambda._environment.process import _RESULT_HEAD_END
from pylambda._execution import pack_head
from pylambda._ids import new_id_parts, trace_root
from pylambda._request import event_body
from pylambda._result import blank_result
from pylambda._runtime.protocol import FLAG_SPIN, HEADER, INVOKE, RESULT_FRAME


def essential_caller(invoker: Invoker, fn: Function):
    """A function ``event -> InvocationResult`` doing only the essential steps, on an environment of its own."""
    invoker.invoke(fn, EVENT)  # cold start, and the route
    route = invoker._routes[fn]
    env = invoker._pool.checkout(route.key)  # kept out of the pool: this model owns it
    req_w, resp_r, poll = env._req_w, env._resp_r, env._poll
    arn, arn_len, template, timeout_s = route.arn, route.arn_len, route.template, route.timeout_s
    frame_head, unpack_reply = HEADER.pack, RESULT_FRAME.unpack_from
    write, read, now, clock = os.write, os.read, time.time, time.perf_counter
    spin_s = invoker._spin_s
    records: list[tuple] = []

    def invoke(event):
        started = now()
        body = event_body(event)
        request_id, rest = new_id_parts()
        trace = trace_root(started) + rest
        head = (
            pack_head(int((started + timeout_s) * 1000), FLAG_SPIN, 36, arn_len, len(trace), 0, 0)
            + f"{request_id}{arn}{trace}".encode()
        )
        write(req_w, frame_head(len(head) + len(body), INVOKE) + head + body)
        result, state = blank_result(template)
        state["request_id"] = request_id
        if not poll(0):  # spin as invoke() does, then sleep: an endless spin could starve the environment
            until = clock() + spin_s
            while not poll(0):
                if clock() > until:
                    poll(1000)
                    break
        chunk = read(resp_r, 65536)
        size, _kind, _status, n_type, duration_ms, _rss = unpack_reply(chunk)
        state["raw_payload"] = chunk[_RESULT_HEAD_END + n_type : HEADER.size + size]
        state["duration_ms"] = duration_ms
        records.append((started, now(), result))
        if len(records) > 10_000:
            records.clear()
        return result

    return invoke


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
        first = essential(EVENT)
        if first.raw_payload != b"null" or first.duration_ms <= 0:  # the model must really invoke
            raise SystemExit(f"the essential caller got {first.raw_payload!r} in {first.duration_ms} ms")
        fn = Function("noop", noop)
        invoker.invoke(fn, EVENT)
        ratios = []
        rounds, batches, batch = (1, 2, 100) if args.quick else (args.rounds, 10, 1000)
        # Settle first: each Invoker's zygote imports more modules after its
        # first fork, and that import would share the CPUs with the first batches.
        interleaved({"essential": lambda: essential(EVENT), "invoke": lambda: invoker.invoke(fn, EVENT)}, 1, 3000)
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
