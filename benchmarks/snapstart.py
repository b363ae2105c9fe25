"""SnapStart: cold start of a handler that imports boto3 at init, restored vs initialised, in one run.

Run:  pip install -e '.[test]' && python benchmarks/snapstart.py [--rounds 30] [--quick]

The handler imports boto3 and builds an S3 client at init (what a typical
Lambda handler does).  Each round makes one cold start of each kind, in
alternation, so the machine's drift hits both alike:

- plain: ``$LATEST`` (SnapStart applies to published versions only), a new
  environment that runs init: fork from the zygote, import boto3, build the
  client;
- SnapStart: a published version with ``snap_start=True``, a new
  environment restored from the version's template (made once, before the
  rounds, as Lambda makes it at publish time): fork from the template, run
  the after-restore hooks.

Between rounds ``invoker.reset`` ends the idle environments, so every timed
invocation is cold.  The figure is the wall time of ``invoke()``, the
caller's view of a cold start; the REPORT's Init and Restore Durations are
shown beside it.  Target (design.md): SnapStart p50 <= 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pylambda import Function, Invoker  # noqa: E402

HANDLER = """
import boto3

S3 = boto3.client("s3", region_name="us-east-1")

def handler(event, context):
    return {"client": type(S3).__name__}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="cold starts of each kind (default 30)")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    warnings.simplefilter("ignore")  # SnapStart on a runtime before python3.12 warns once
    with tempfile.TemporaryDirectory(prefix="pylambda-snapstart-") as code:
        Path(code, "app.py").write_text(HANDLER)
        plain = Function("boto3-plain", "app.handler", code=code, memory_size=512)
        snapped = Function("boto3-snap", "app.handler", code=code, memory_size=512, snap_start=True)
        version = snapped.publish_version()
        with Invoker() as invoker:
            invoker.register(plain, snapped)
            t = time.perf_counter()
            first = invoker.invoke(version, {})
            snapshot_ms = (time.perf_counter() - t) * 1000
            assert first.payload == {"client": "S3"}, first.logs
            timings: dict[str, list[float]] = {"plain": [], "snap": []}
            reported: dict[str, list[float]] = {"plain": [], "snap": []}
            for _ in range(rounds):
                for kind, target in (("plain", plain), ("snap", version)):
                    invoker.reset(target)
                    t = time.perf_counter()
                    r = invoker.invoke(target, {})
                    timings[kind].append((time.perf_counter() - t) * 1000)
                    assert r.cold_start, r.logs
                    assert r.payload == {"client": "S3"}, r.logs
                    reported[kind].append(r.init_duration_ms if kind == "plain" else r.restore_duration_ms)
    plain_p50, snap_p50 = statistics.median(timings["plain"]), statistics.median(timings["snap"])
    print(f"Cold start of a handler importing boto3 (and building a client) at init; {rounds} of each, "
          f"alternating (Python {sys.version.split()[0]})")  # fmt: skip
    print()
    print("| cold start | invoke() p50 (ms) | min (ms) | max (ms) | REPORT Init / Restore Duration p50 (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, label in (("plain", "plain ($LATEST, init runs)"), ("snap", "SnapStart (restored)")):
        ms = timings[kind]
        print(f"| {label} | {statistics.median(ms):.2f} | {min(ms):.2f} | {max(ms):.2f} | "
              f"{statistics.median(reported[kind]):.2f} |")  # fmt: skip
    print()
    print(f"The snapshot itself (once per version: the template's init): {snapshot_ms:.1f} ms, "
          f"the first invocation included.")  # fmt: skip
    print(f"target: SnapStart cold start p50 <= 10 ms: {snap_p50:.2f} ms "
          f"({plain_p50 / snap_p50:.0f} x faster than plain), {'met' if snap_p50 <= 10 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
