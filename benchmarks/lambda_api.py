"""boto3 ``invoke`` through ``Invoker.serve()`` against the same call to a do-nothing HTTP stub.

Run: ``python benchmarks/lambda_api.py [--calls 2000] [--rounds 10]``.

Both servers answer the same boto3 client code (one client each, retries off,
keep-alive connections), interleaved in rounds so that the machine's noise
falls on both alike:

- *stub (same server)*: pylambda's own HTTP server (``_endpoint/http.py``)
  answering every request with a canned Invoke response: the client's cost
  plus the transport, with no Lambda API and no invocation;
- *stub (http.server)*: the standard library's ``ThreadingHTTPServer`` doing
  the same, for reference;
- *endpoint*: ``invoker.serve()`` invoking a no-op handler in a warm
  environment (route, parse, ``Invoker.invoke``, the environment round trip,
  headers).

The target (design.md) is endpoint p50 <= 1.5 x the stub's.  Also printed:
what starting the endpoint costs (for the first environment of an Invoker,
which starts it for ``AWS_ENDPOINT_URL_LAMBDA``), and a raw pipe-free
Python-side invoke for scale.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import boto3
from botocore.config import Config

from pylambda import Function, Invoker
from pylambda._endpoint.http import HttpServer, Response

CANNED = b"null"
HEADERS = [("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000"), ("X-Amz-Executed-Version", "$LATEST"),
           ("Content-Type", "application/json")]  # fmt: skip


def noop(event, context):
    """Do nothing."""
    return None


class _StdlibStub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        for k, v in HEADERS:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(CANNED)))
        self.end_headers()
        self.wfile.write(CANNED)

    def log_message(self, *args):
        pass


def client(url: str):
    """A Lambda client on ``url``, retries off."""
    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="b",
                        aws_secret_access_key="b", config=Config(retries={"total_max_attempts": 1}))  # fmt: skip


def timed(c, n: int) -> list[float]:
    """Per-call wall times (µs) of ``n`` invokes, reading the payload as a caller does."""
    out = []
    perf = time.perf_counter
    for _ in range(n):
        t0 = perf()
        c.invoke(FunctionName="noop", Payload=b'{"k": 1}')["Payload"].read()
        out.append((perf() - t0) * 1e6)
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000, help="calls per server per round")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    same = HttpServer("127.0.0.1", 0, lambda req: Response(200, CANNED, list(HEADERS)), 1 << 20)
    stdlib = ThreadingHTTPServer(("127.0.0.1", 0), _StdlibStub)
    stdlib.daemon_threads = True
    threading.Thread(target=stdlib.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    starts = []
    with Invoker() as invoker:
        invoker.register(Function("noop", noop))
        invoker.invoke("noop")  # warm environment
        for _ in range(50):
            t0 = time.perf_counter()
            ep = invoker.serve()
            ep.close()
            starts.append((time.perf_counter() - t0) * 1e6)
        endpoint = invoker.serve()
        clients = {
            "stub (same server, canned answer)": client(f"http://127.0.0.1:{same.address[1]}"),
            "stub (http.server, canned answer)": client(f"http://127.0.0.1:{stdlib.server_address[1]}"),
            "invoker.serve() endpoint, warm no-op": client(endpoint.url),
        }
        for c in clients.values():
            timed(c, 200)  # connections, botocore caches
        samples: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(args.rounds):
            for name, c in clients.items():
                samples[name].extend(timed(c, args.calls))
        direct = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            invoker.invoke("noop", {"k": 1})
            direct.append((time.perf_counter() - t0) * 1e6)
        endpoint.close()
    same.close()
    stdlib.shutdown()
    stdlib.server_close()

    floor = statistics.median(samples["stub (same server, canned answer)"])
    print(f"boto3 {boto3.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.rounds} rounds x {args.calls} calls per server, interleaved")  # fmt: skip
    print()
    print("| server | p50 (µs) | p99 (µs) | p50 / stub p50 |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in samples.items():
        p50 = statistics.median(values)
        print(f"| {name} | {p50:.0f} | {pct(values, 0.99):.0f} | {p50 / floor:.2f} |")
    print(f"| (for scale) `invoker.invoke()` in Python, no HTTP | {statistics.median(direct):.0f} | "
          f"{pct(direct, 0.99):.0f} | |")  # fmt: skip
    print()
    print(f"Starting and closing an endpoint (`serve()` + `close()`): p50 {statistics.median(starts):.0f} µs, "
          f"max {max(starts):.0f} µs over {len(starts)}.")  # fmt: skip


if __name__ == "__main__":
    main()
