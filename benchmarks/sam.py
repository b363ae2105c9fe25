"""SAM projects: `pylambda local invoke` per command and `start-api` requests/s, against their floors.

    python benchmarks/sam.py [--runs 15] [--seconds 5]

Figures (medians of interleaved runs, same machine, same run):

* a plain ``python -c pass`` start: the floor of any command;
* ``pylambda local invoke`` on examples/sam/orders-api (template parsed,
  environment forked, handler run, process ended) per command;
* ``start-api``: requests/s through the local REST API (payload 1.0, one
  warm environment per concurrent request) with keep-alive connections, 1
  and 4 client threads, against the same stdlib server class (threaded,
  ``TCP_NODELAY``) answering the same requests with nothing behind it (the
  HTTP floor of this server design).
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "sam" / "orders-api"


# As a user's shell has it: bytecode caches written once and then used (this sandbox sets PYTHONDONTWRITEBYTECODE).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _command_ms(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms of the command and its children): CPU time is steadier on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def commands(runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) of `python -c pass` and of `pylambda local invoke`, interleaved."""
    event = PROJECT / "events" / "get.json"
    cli = [sys.executable, "-m", "pylambda", "local", "invoke", "OrdersFunction", "-e", str(event)]
    floor, invoke = [], []
    _command_ms(cli, PROJECT)  # warm the file cache and the requirements/SDK caches
    for _ in range(runs):
        floor.append(_command_ms([sys.executable, "-c", "pass"], PROJECT))
        invoke.append(_command_ms(cli, PROJECT))

    def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)

    return {"python -c pass": medians(floor), "pylambda local invoke": medians(invoke)}


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"id": "7"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _load(url: str, threads: int, seconds: float) -> float:
    """Requests/s with ``threads`` keep-alive clients for ``seconds``."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.perf_counter() < stop:
            conn.request("GET", "/orders/7")
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            counts[i] += 1
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def api(seconds: float) -> dict[str, float]:
    """Requests/s through start-api and through a do-nothing stdlib server, 1 and 4 client threads."""
    import pylambda.sam
    from pylambda import Invoker
    from pylambda._httpserver import _Server

    out = {}
    stub = _Server(("127.0.0.1", 0), _Stub)  # the same server class (threaded, TCP_NODELAY), nothing behind it
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_url = f"http://127.0.0.1:{stub.server_address[1]}/"
    app = pylambda.sam.load(PROJECT / "template.yaml")
    with Invoker() as invoker:
        app.attach(invoker)
        with app.start_api(invoker) as server:
            for threads in (1, 4):
                _load(server.url, threads, 0.5)  # environments warm
                out[f"start-api, {threads} client(s)"] = _load(server.url, threads, seconds)
                out[f"stdlib stub, {threads} client(s)"] = _load(stub_url, threads, seconds)
    stub.shutdown()
    stub.server_close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs; {PROJECT.relative_to(ROOT)}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    times = commands(args.runs)
    for name, (wall, cpu) in times.items():
        print(f"{name:28s} {wall:8.1f} ms wall {cpu:8.1f} ms CPU (medians of {args.runs})")
    wall, cpu = (times["pylambda local invoke"][i] / times["python -c pass"][i] for i in (0, 1))
    print(f"{'local invoke / python -c pass':28s} {wall:8.1f} x wall {cpu:8.1f} x CPU")
    for name, rate in api(args.seconds).items():
        print(f"{name:28s} {rate:8.0f} requests/s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
