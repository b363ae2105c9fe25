"""The Ray backend on a local two-node cluster: semantics, code shipping, spreading, a node lost mid-run.

The crash table and the lifecycle run against it in test_environment_contract.py;
this module checks what is particular to a cluster.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pylambda import Function, InvalidParameterValueError, Invoker

ray = pytest.importorskip("ray", reason="Ray is not installed (the ray extra)")
from pylambda.ray import RayBackend  # noqa: E402

HANDLERS = Path(__file__).parent / "handlers"

HOLD = '''
import os, time

def handler(event, context):
    """Mark that it runs, then wait for the test's release file."""
    open(os.path.join(event["dir"], context.aws_request_id), "w").close()
    while not os.path.exists(os.path.join(event["dir"], "release")):
        time.sleep(0.005)
    return event["n"]
'''

WHERE = """
import os

def handler(event, context):
    return {"file": __file__, "root": os.environ["LAMBDA_TASK_ROOT"], "n": event}
"""


SANDBOXED = """
import errno, os

def handler(event, context):
    try:
        open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py"), "a").close()
        write = "ok"
    except OSError as e:
        write = errno.errorcode[e.errno]
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return {"pids": pids, "pid": os.getpid(), "write": write, "tmpdir": os.environ["TMPDIR"]}
"""


@pytest.fixture
def shared_dir():
    """A directory both the test and its handlers see: not under /tmp, which a sandboxed environment has its own of."""
    path = Path(tempfile.mkdtemp(prefix="pylambda-ray-test-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ray_invoker(ray_cluster):
    """An Invoker whose environments run on the ``ray_cluster`` nodes."""
    backend = RayBackend(address=ray_cluster.address)
    inv = Invoker(backend=backend)
    yield inv, backend
    inv.close()


def _wait_for(predicate, timeout: float = 120.0) -> None:
    """Wait (bounded) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_context_environment_logs_history_and_bills(ray_invoker):
    """A remote environment sees Lambda's context and variables; logs, history and bills land in the caller."""
    inv, _backend = ray_invoker
    fn = Function("ray-inspect", "inspect_env.handler", code=str(HANDLERS), memory_size=256, timeout=30)
    r = inv.invoke(fn, {})
    assert r.status_code == 200
    env, ctx = r.payload["environ"], r.payload["context"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ray-inspect"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["LAMBDA_TASK_ROOT"] != str(HANDLERS)  # the node's copy of the shipped package
    assert r.payload["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert ctx["function_name"] == "ray-inspect"
    assert ctx["log_stream_name"] == r.log_stream_name
    assert 0 < ctx["remaining"] <= 30_000
    again = inv.invoke(fn, {})
    assert again.environment_id == r.environment_id
    assert again.payload["pid"] == r.payload["pid"]  # warm: the same process
    messages = [e.message for e in inv.logs(fn).stream(r.log_stream_name).events()]
    assert sum(m.startswith("REPORT RequestId") for m in messages) == 2
    assert len(inv.history) == 2
    assert inv.bill().rows


def test_code_travels_once_per_package(ray_invoker, tmp_path):
    """Directory, zip and callable code run from the node's copies; a package is fetched once per node."""
    inv, backend = ray_invoker
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(WHERE)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", WHERE)
    factor = 7
    fns = [
        Function("ray-dir", "app.handler", code=str(src)),
        Function("ray-zip", "app.handler", code=buf.getvalue()),
        Function("ray-callable", lambda event, context: event * factor),
    ]
    for fn in fns[:2]:
        r = inv.invoke(fn, 1)
        assert r.status_code == 200, r.payload
        assert not r.payload["file"].startswith(str(tmp_path))
        assert r.payload["file"].startswith(r.payload["root"])
    assert inv.invoke(fns[2], 6).payload == 42
    assert inv.reset(fns[0]) == 1
    assert inv.invoke(fns[0], 2).payload["n"] == 2  # cold again: the node's cached copy
    assert sum(h["fetched"] for h in backend.host_stats()) <= 2 * len(backend.stats()["nodes"])


def test_map_spreads_over_nodes_in_order(ray_invoker, tmp_path, shared_dir):
    """``map`` keeps event order and its environments go to both nodes."""
    inv, backend = ray_invoker
    src = tmp_path / "hold"
    src.mkdir()
    (src / "app.py").write_text(HOLD)
    fn = Function("ray-map", "app.handler", code=str(src), timeout=120)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(inv.map, fn, [{"dir": str(shared_dir), "n": n} for n in range(6)], concurrency=2)
        _wait_for(lambda: len(list(shared_dir.glob("*-*-*"))) >= 2)  # two run at once
        nodes = backend.stats()["nodes"]
        (shared_dir / "release").touch()
        results = future.result(timeout=120)
    assert [r.payload for r in results] == list(range(6))
    assert sorted(nodes.values()) == [1, 1]  # one environment on each node


def test_a_lost_node_fails_its_invocations_and_the_rest_go_on(ray_cluster, ray_add_node, tmp_path, shared_dir):
    """Killing a node mid-run: its invocation is a runtime exit, the others finish, new ones use what remains."""
    node = ray_add_node()
    src = tmp_path / "hold"
    src.mkdir()
    (src / "app.py").write_text(HOLD)
    fn = Function("ray-lost", "app.handler", code=str(src), timeout=120)
    backend = RayBackend(address=ray_cluster.address)
    with Invoker(backend=backend) as inv, ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(inv.invoke, fn, {"dir": str(shared_dir), "n": n}) for n in range(3)]
        _wait_for(lambda: len(list(shared_dir.glob("*-*-*"))) >= 3)
        assert sorted(backend.stats()["nodes"].values()) == [1, 1, 1]  # one on each of the three nodes
        ray_cluster.remove_node(node, allow_graceful=False)
        _wait_for(lambda: any(f.done() for f in futures))
        (shared_dir / "release").touch()
        results = [f.result(timeout=120) for f in futures]
        failed = [r for r in results if r.function_error]
        assert len(failed) == 1, [r.payload for r in results]
        assert failed[0].error_type == "Runtime.ExitError"
        assert json.loads(failed[0].raw_payload)["errorMessage"].endswith("Runtime exited with error: signal: killed")
        assert [r.payload for r in results if not r.function_error] == [
            n for n, r in enumerate(results) if not r.function_error
        ]
        after = [pool.submit(inv.invoke, fn, {"dir": str(shared_dir), "n": n}) for n in range(3)]
        assert [f.result(timeout=120).payload for f in after] == [0, 1, 2]
        assert backend.stats()["lost_nodes"] == 1
        assert node.node_id not in backend.stats()["nodes"]


def test_node_environments_are_sandboxed(ray_invoker, sandbox, tmp_path):
    """On a node, a handler sees only its own processes (pid 2 under its init), cannot write its code, has its /tmp."""
    if sandbox.get("namespaces") is not None:
        pytest.skip(f"not enforced on this machine: {sandbox['namespaces']}")
    inv, backend = ray_invoker
    src = tmp_path / "sandboxed"
    src.mkdir()
    (src / "app.py").write_text(SANDBOXED)
    r = inv.invoke(Function("ray-sandboxed", "app.handler", code=str(src), timeout=30), {})
    assert r.payload == {"pids": [1, 2], "pid": 2, "write": "EROFS", "tmpdir": "/tmp"}
    assert backend.sandbox_report()["namespaces"] is None


def test_close_returns_once_its_hosts_processes_have_ended(ray_cluster, tmp_path):
    """``close()`` waits for the hosts it killed on this machine: none outlives it (Ray ends them later)."""
    import psutil

    inv = Invoker(backend=RayBackend(address=ray_cluster.address))
    src = tmp_path / "code"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    return 1\n")
    try:
        assert inv.invoke(Function("ray-close", "app.handler", code=str(src), timeout=30), {}).payload == 1
        hosts = [p for p in psutil.Process().children(recursive=True) if p.name().startswith("ray::NodeHost")]
        assert hosts
    finally:
        inv.close()
    assert [p.pid for p in hosts if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_bad_address_is_a_typed_error():
    """An address that is not None or a string is refused at construction."""
    with pytest.raises(InvalidParameterValueError, match="address"):
        RayBackend(address=6379)
