"""What the sandbox adds to a cold start: the zygote's time to create one environment, with and without it.

Run:  python benchmarks/sandbox.py [-n 200]

A child process plays the zygote (``setup_zygote``: its own user and mount
namespaces, the probes) and creates environments with ``sandbox.fork``, as
the real zygote does, timing each from the call until it knows the new
environment's pid (what a cold start waits for); each environment exits at
once (for a sandbox, until its init reports the environment's pid, which
the real zygote does not wait for: its answer overlaps that work).
Variants: a plain fork (no sandbox), the default sandbox (user, mount
and PID namespaces, private /tmp, read-only code, limits) and the sandbox
with ``network="none"`` (a network namespace too).  Rounds alternate between
variants so that load on the machine hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, os, sys, time
from pylambda._runtime import sandbox
n, work = int(sys.argv[1]), sys.argv[2]
report = sandbox.setup_zygote()
if report["namespaces"] is not None:
    print(json.dumps({"error": report["namespaces"]})); sys.exit(0)
code = os.path.join(work, "code"); os.makedirs(code, exist_ok=True)
variants = {
    "plain fork": None,
    "sandbox": {"tmp_mb": 512, "hide": [work], "views": [[code, True]]},
    "sandbox, network=none": {"tmp_mb": 512, "hide": [work], "views": [[code, True]], "network": False},
}
times = {k: [] for k in variants}
for i in range(n):
    for name, conf in variants.items():
        if conf is not None:
            conf = dict(conf, tmp=os.path.join(work, "tmp", f"{name[:7]}-{i}"))
            os.makedirs(conf["tmp"])
        r, w = os.pipe()
        t = time.perf_counter()
        pid, reap = sandbox.fork(conf, w)
        if pid == 0:
            os._exit(0)
        if conf is not None:
            os.read(r, 4)  # the init reports the environment's pid once it exists
        times[name].append((time.perf_counter() - t) * 1e6)
        os.close(w)
        while os.read(r, 8):  # until the environment has ended
            pass
        os.close(r)
        os.waitpid(reap, 0)
        if conf is not None:  # free its tmpfs (the Invoker removes the directory from outside)
            sandbox._libc().libc.umount2(conf["tmp"].encode(), 2)
            os.rmdir(conf["tmp"])
print(json.dumps(times))
"""


def main() -> None:
    """Run the child zygote and print p50/p90 per variant (microseconds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="environments per variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp" if os.path.isdir("/var/tmp") else None) as work:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(args.n), work], capture_output=True, text=True, check=True
        ).stdout
    times = json.loads(out.splitlines()[-1])
    if "error" in times:
        sys.exit(f"no sandbox on this machine: {times['error']}")
    base = statistics.median(times["plain fork"])
    print("| environment | p50 | p90 | p50 over a plain fork |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        values.sort()
        p50, p90 = statistics.median(values), values[int(len(values) * 0.9)]
        print(f"| {name} | {p50:.0f} us | {p90:.0f} us | {p50 - base:+.0f} us |")


if __name__ == "__main__":
    main()
