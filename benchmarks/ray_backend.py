"""The Ray backend against bare Ray and against the local process backend, in one run.

Run: ``python benchmarks/ray_backend.py [--calls 200] [--rounds 5] [--work 0.25]``.

On a local two-node cluster (``ray.cluster_utils.Cluster``, one CPU each):

- *warm invoke*: ``Invoker.invoke`` of a no-op handler through ``RayBackend``
  against a bare Ray actor call carrying the same bytes (a threaded actor,
  as the node host is, and a plain one), interleaved in rounds; the target
  (design.md) is <= 1.5 x the bare call;
- *cold start*: an invocation on a new environment (a fork from the node's
  warm zygote, plus the INIT exchange), against creating a bare Ray actor
  and calling it once: the design choice (a host per node versus an actor
  per environment) rests on these two numbers;
- *CPU-bound map*: ``invoker.map`` of a handler that burns ``--work``
  seconds of CPU, one environment at a time (one node's worth) against two
  at a time spread over the two one-CPU nodes; the target is >= 1.8 x.  A
  Ray node's ``num_cpus`` is a scheduling label, not a CPU limit, and this
  machine has two cores shared with other work, so the same map on the local
  process backend (1 vs 2 at a time) is printed as what the machine allows;
- *what one machine pays for Ray*: the same warm and cold figures on the
  local process backend, and starting a local Ray (``RayBackend(address=None)``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ray
from ray.cluster_utils import Cluster

from pylambda import Function, Invoker
from pylambda.ray import RayBackend

BODY = b'{"k": "' + b"v" * 90 + b'"}'


def noop(event, context):
    """Do nothing."""
    return None


def burn(event, context):
    """Spin the CPU for ``event`` seconds of process time."""
    until = time.process_time() + event
    n = 0
    while time.process_time() < until:
        n += 1
    return n


class Echo:
    """A bare actor: the floor of one Ray call."""

    def f(self, data):
        return data


def _p50_ms(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def warm(invoker: Invoker, calls: int, rounds: int, actors: dict) -> dict:
    """p50 (ms) of warm invokes and of bare actor calls, medians over interleaved rounds."""
    fn = Function("bench-noop", noop)
    invoker.invoke(fn, {"k": "v"})
    out: dict[str, list[float]] = {"invoke": [], **{name: [] for name in actors}}
    for _ in range(rounds):
        out["invoke"].append(_p50_ms(lambda: invoker.invoke(fn, payload=BODY), calls))
        for name, actor in actors.items():
            out[name].append(_p50_ms(lambda a=actor: ray.get(a.f.remote(BODY)), calls))
    return {k: statistics.median(v) for k, v in out.items()}


def cold(invoker: Invoker, times: int) -> float:
    """p50 (ms) of an invocation on a new environment (after reset; the node's host already up)."""
    fn = Function("bench-cold", noop)
    invoker.invoke(fn, {})
    samples = []
    for _ in range(times):
        invoker.reset(fn)
        t = time.perf_counter()
        r = invoker.invoke(fn, {})
        samples.append(time.perf_counter() - t)
        assert r.cold_start
    return statistics.median(samples) * 1000


def actor_per_environment(times: int) -> float:
    """p50 (ms) of creating a bare actor and calling it once (what an actor per environment costs)."""
    cls = ray.remote(Echo).options(num_cpus=0)
    samples = []
    for _ in range(times):
        t = time.perf_counter()
        actor = cls.remote()
        ray.get(actor.f.remote(BODY))
        samples.append(time.perf_counter() - t)
        ray.kill(actor)
    return statistics.median(samples) * 1000


def cpu_map(invoker: Invoker, work: float, events: int, concurrency: int) -> float:
    """Wall seconds of a CPU-bound map, ``concurrency`` environments at a time (warmed first)."""
    fn = Function(f"bench-burn-{concurrency}", burn)
    invoker.map(fn, [0.0] * concurrency, concurrency=concurrency)
    t = time.perf_counter()
    results = invoker.map(fn, [work] * events, concurrency=concurrency)
    assert all(r.status_code == 200 for r in results)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=float, default=0.25)
    parser.add_argument("--events", type=int, default=8)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}, ray {ray.__version__}")

    t = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    print(f"two-node cluster up and connected: {time.perf_counter() - t:.1f} s")
    try:
        head = ray.get_runtime_context().get_node_id()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        pin = NodeAffinitySchedulingStrategy(head, soft=False)
        echo = ray.remote(Echo)
        actors = {
            "actor (threaded)": echo.options(num_cpus=0, max_concurrency=1024, scheduling_strategy=pin).remote(),
            "actor (plain)": echo.options(num_cpus=0, scheduling_strategy=pin).remote(),
        }
        for actor in actors.values():
            ray.get(actor.f.remote(BODY))
        with Invoker(backend=RayBackend(address=cluster.address)) as inv:
            w = warm(inv, args.calls, args.rounds, actors)
            ratio = w["invoke"] / w["actor (threaded)"]
            print(f"warm invoke p50: Ray backend {w['invoke']:.3f} ms; bare actor call {w['actor (threaded)']:.3f} ms "
                  f"(threaded), {w['actor (plain)']:.3f} ms (plain); ratio {ratio:.2f} x (target <= 1.5)")  # fmt: skip
            c = cold(inv, 10)
            a = actor_per_environment(10)
            print(f"cold start p50: Ray backend (fork on the node's host) {c:.1f} ms; "
                  f"an actor per environment (create + first call) {a:.1f} ms")  # fmt: skip
            one = cpu_map(inv, args.work, args.events, 1)
            two = cpu_map(inv, args.work, args.events, 2)
            print(f"CPU-bound map ({args.events} x {args.work} s): one at a time {one:.2f} s, two nodes {two:.2f} s: "
                  f"{one / two:.2f} x (target >= 1.8)")  # fmt: skip
        for actor in actors.values():
            ray.kill(actor)
    finally:
        ray.shutdown()
        cluster.shutdown()

    with Invoker() as local:
        w_local = warm_local(local, args.calls, args.rounds)
        c_local = cold(local, 10)
        one = cpu_map(local, args.work, args.events, 1)
        two = cpu_map(local, args.work, args.events, 2)
        print(f"local process backend: warm p50 {w_local:.3f} ms, cold p50 {c_local:.1f} ms;",
              f"CPU-bound map 1 vs 2 at a time {one:.2f} s / {two:.2f} s = {one / two:.2f} x",
              "(the machine's ceiling)")  # fmt: skip

    t = time.perf_counter()
    with Invoker(backend=RayBackend()) as inv:
        inv.invoke(Function("bench-first", noop), {})
        print(f"RayBackend(address=None): local Ray started and first invocation answered in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    print(f"(closed, Ray shut down: {time.perf_counter() - t:.1f} s in all)")


def warm_local(invoker: Invoker, calls: int, rounds: int) -> float:
    """p50 (ms) of warm invokes on the local process backend."""
    fn = Function("bench-noop", noop)
    invoker.invoke(fn, {})
    return statistics.median(_p50_ms(lambda: invoker.invoke(fn, payload=BODY), calls) for _ in range(rounds))


if __name__ == "__main__":
    main()
