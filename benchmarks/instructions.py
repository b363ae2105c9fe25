"""Instructions per warm invocation, caller and environment apart, counted by valgrind.

Run:  python benchmarks/instructions.py [--small N] [--large N]

Wall-clock figures on a shared VM move by up to 2x between runs minutes
apart; instruction counts do not (two runs agree within 0.2%).  This counts
the user-space instructions (callgrind's ``Ir``) that each process executes
for ``large - small`` warm no-op invocations, so that start-up and shutdown
cancel out, and divides (each count the least of three runs).  The kernel's share (syscalls, pipe wakeups) is not
counted: this measures the Python on both sides, which is what a change to
the warm path changes.  Spinning is turned off (``spin_us=0``) so that
waiting costs no instructions.

Needs valgrind on PATH; nothing else to install.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

EVENT = {"id": 12345, "name": "benchmark", "items": [1, 2, 3], "flag": True, "note": "x" * 40}


def noop(event, context):
    """The no-op handler."""
    return None


def drive(n: int, pids_path: str) -> None:
    """Warm up, then ``n`` warm invocations (under valgrind); its zygote and environment pids to a file."""
    import gc

    from pylambda import Function, Invoker

    # The sandbox acts on the cold path only (namespaces are set up once per
    # environment; the warm path's code is the same with or without it), and
    # under valgrind its init would be one more process to tell apart and its
    # private /tmp would hide valgrind's output file: off here.
    os.environ["PYLAMBDA_SANDBOX"] = "0"
    invoker = Invoker(spin_us=0)
    fn = Function("instructions", noop)
    invoker.invoke(fn, EVENT)
    invoker.invoke(fn, EVENT)
    with open(pids_path, "w", encoding="utf-8") as f:  # pid order cannot tell them apart once pids wrap
        f.write(f"{invoker.zygote_pid} {invoker.environments()[0].pid}")
    gc.disable()  # a collection landing in one run but not the other would not cancel out
    for _ in range(n):
        invoker.invoke(fn, EVENT)
    invoker.close(timeout=60)  # under valgrind the zygote takes seconds to exit; killed, it would write no counts


def count(n: int, workdir: str) -> dict[str, int]:
    """Instructions of each process (caller, zygote, environment) for a run of ``n`` invocations."""
    out = os.path.join(workdir, f"cg.{n}.%p")
    pids_path = os.path.join(workdir, f"pids.{n}")
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}",
         sys.executable, os.path.abspath(__file__), "--drive", str(n), "--pids", pids_path],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(pids_path, encoding="utf-8") as f:
        zygote_pid, environment_pid = map(int, f.read().split())
    runs = []
    for path in glob.glob(os.path.join(workdir, f"cg.{n}.*")):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        pid = int(path.rsplit(".", 1)[1])
        cmd = re.search(r"^cmd: (.*)$", text, re.M).group(1)
        total = int(re.search(r"^summary: (\d+)", text, re.M).group(1))
        runs.append((pid, cmd, total))
    caller = [r for r in runs if "--drive" in r[1]]
    # The zygote and the environment it forked share a command line: told
    # apart by the pids the driver wrote (not by pid order, which a busy
    # machine's wrapping pids can reverse).
    zygote = [r for r in runs if r[0] == zygote_pid]
    environment = [r for r in runs if r[0] == environment_pid]
    if len(caller) != 1 or len(zygote) != 1 or len(environment) != 1:
        raise SystemExit(f"expected a caller, a zygote and one environment; found {[r[1][:60] for r in runs]}")
    return {"caller": caller[0][2], "zygote": zygote[0][2], "environment": environment[0][2]}


def measure(small: int = 200, large: int = 1200, repeats: int = 3) -> dict[str, float]:
    """Instructions per warm invocation of the caller and the environment (valgrind must be on PATH).

    Each count is the least of ``repeats`` runs: now and then the zygote
    executes ~20 million extra instructions once while starting (a forked
    environment's count includes what its zygote ran before the fork), which
    the difference would otherwise spread over the invocations.
    """
    totals = {}
    for n in (small, large):
        runs = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as workdir:
                runs.append(count(n, workdir))
        totals[n] = {role: min(run[role] for run in runs) for role in runs[0]}
    return {role: (totals[large][role] - totals[small][role]) / (large - small) for role in ("caller", "environment")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive is not None:
        drive(args.drive, args.pids)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH: install it (e.g. apt install valgrind) to count instructions")
    per_invocation = measure(args.small, args.large)
    print(f"instructions per warm invocation ({args.large - args.small} invocations, no-op handler, ~100-byte event)")
    for role, n in per_invocation.items():
        print(f"  {role:12s} {n:>9,.0f}")


if __name__ == "__main__":
    main()
