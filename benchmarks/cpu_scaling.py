"""CPU in proportion to memory: one CPU-bound handler at 128 MB and at 1,769 MB.

Run:  python benchmarks/cpu_scaling.py [--work-ms 200] [--rounds 3]

On Lambda a function gets CPU time in proportion to its memory: 1,769 MB is
one vCPU, so 128 MB gets 128 / 1,769 = 7.2 % of one and a CPU-bound handler
takes 13.8 times as long.  ``Invoker(cpu_scaling=True)`` reproduces this with
a cgroup CPU quota per environment where the kernel lets pylambda set one
(docs/guide.md#sandbox).  This runs the same handler (a busy loop sized to
take about ``--work-ms`` of CPU) at both sizes, with and without
``cpu_scaling``, and prints the median Duration of each and the ratio.

The 1,769 MB figure assumes a free CPU: on a machine whose cores are busy
with other work, the full-CPU run is slowed by the contention too and the
ratio comes out lower than 13.8.  The CPU share (CPU time over Duration)
says which: the quota gives 128 MB a share of 0.072 whatever the load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pylambda import Function, Invoker

LAMBDA_RATIO = 1769 / 128


def spin(event, context):
    """Burn ``event["loops"]`` iterations of pure-Python CPU work; return the CPU seconds used."""
    import time

    start = time.process_time()
    x = 0
    for i in range(event["loops"]):
        x += i * i % 7
    return time.process_time() - start


def _loops_for(work_ms: float) -> int:
    """How many iterations of ``spin`` take about ``work_ms`` of CPU here (measured in this process)."""
    n = 200_000
    took = 0.0
    while took < 0.05:
        n *= 2
        took = spin({"loops": n}, None)
    return int(n * work_ms / 1000 / took)


def measure(cpu_scaling: bool, loops: int, rounds: int) -> dict[int, tuple[float, float]]:
    """Median Duration (ms) and CPU time used (ms) of ``spin`` at 128 and 1,769 MB."""
    out = {}
    with Invoker(cpu_scaling=cpu_scaling) as invoker:
        for memory in (128, 1769):
            fn = Function(f"cpu-{memory}", spin, memory_size=memory, timeout=900)
            invoker.invoke(fn, {"loops": 1000})  # cold start out of the way
            durations, cpu = [], []
            for _ in range(rounds):
                r = invoker.invoke(fn, {"loops": loops})
                r.raise_for_error()
                durations.append(r.duration_ms)
                cpu.append(r.payload * 1000)
            out[memory] = (statistics.median(durations), statistics.median(cpu))
    return out


def main() -> None:
    """Measure and print the table (and JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-ms", type=float, default=200.0, help="CPU time of one invocation at full speed")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    loops = _loops_for(args.work_ms)
    t0 = time.perf_counter()
    results = {}
    for scaling in (False, True):
        m = measure(scaling, loops, args.rounds)
        results[f"cpu_scaling={scaling}"] = {
            "128 MB (ms)": round(m[128][0], 1),
            "1769 MB (ms)": round(m[1769][0], 1),
            "ratio": round(m[128][0] / m[1769][0], 2),
            # CPU time over Duration: the share of one CPU the handler had.
            "128 MB CPU share": round(m[128][1] / m[128][0], 3),
            "1769 MB CPU share": round(m[1769][1] / m[1769][0], 3),
        }
    print("| Invoker | 128 MB | 1,769 MB | 128 MB / 1,769 MB | CPU share at 128 / 1,769 MB |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in results.items():
        print(
            f"| `{name}` | {row['128 MB (ms)']} ms | {row['1769 MB (ms)']} ms | {row['ratio']} "
            f"| {row['128 MB CPU share']} / {row['1769 MB CPU share']} |"
        )
    print(f"\nLambda: {LAMBDA_RATIO:.2f}; {loops} loops per invocation; {time.perf_counter() - t0:.1f} s in all")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
