"""SnapStart: a published version inits once into a template; its environments are restored from it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pylambda import Function, Invoker
from pylambda._billing import SNAP_START_PRICES

SNAP = str(Path(__file__).parent / "handlers" / "snap")
# The caller's interpreter runs them (a runtime naming another interpreter
# would need one installed); below python3.12 that warns once, as tested last.
pytestmark = pytest.mark.filterwarnings("ignore:Lambda offers SnapStart:UserWarning")


def _snap_fn(name: str, **kwargs) -> Function:
    kwargs.setdefault("code", SNAP)
    return Function(name, kwargs.pop("handler", "snapped.handler"), snap_start=True, **kwargs)


def _concurrently(invoker: Invoker, target, n: int, event: dict | None = None) -> list:
    barrier = threading.Barrier(n)
    results: list = []

    def call():
        barrier.wait()
        results.append(invoker.invoke(target, {**(event or {}), "sleep": 0.3}))

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_published_version_restores_environments_from_one_init(invoker):
    """Init (and the before-snapshot hook) runs once; each environment is restored, running the after-restore hook."""
    fn = _snap_fn("snapped")
    v1 = fn.publish_version()
    first = invoker.invoke(v1, {})
    results = [first, *_concurrently(invoker, v1, 2)]
    payloads = [r.payload for r in results]
    assert all(p["init_type"] == "snap-start" for p in payloads)
    assert len({p["seed"] for p in payloads}) == 1  # state captured at the snapshot
    assert len({p["init_pid"] for p in payloads}) == 1  # one init ...
    # ... many environments, each restored once
    assert len({p["restore_id"] for p in payloads}) == len({r.environment_id for r in results}) >= 2
    for p in payloads:
        assert p["hooks"] == [["before", p["init_pid"]], ["after", p["pid"]]]
        assert p["stream_var"] is None  # SnapStart functions get no log stream variables
    cold = [r for r in results if r.cold_start]
    assert cold
    assert not any(r.payload["seen"] for r in cold)  # each its own /tmp
    assert all(r.init_duration_ms is None and r.restore_duration_ms is not None for r in cold)
    for r in cold:
        assert r.billed_duration_ms == max(1, -(-round(r.duration_ms + r.billed_restore_duration_ms, 2) // 1))
        assert f"\tRestore Duration: {r.restore_duration_ms:.2f} ms\t" in r.logs
        assert f"\tBilled Restore Duration: {r.billed_restore_duration_ms} ms\t" in r.logs
        assert "Init Duration" not in r.logs.split("\nREPORT RequestId", 1)[1]
        assert "RESTORE_START Runtime Version:" in r.logs
        assert "RESTORE_REPORT Restore Duration:" in r.logs
        assert "after-restore hook" in r.logs
    init_logs = [r.logs for r in results if "INIT_START" in r.logs]
    assert len(init_logs) == 1
    assert "before-snapshot hook" in init_logs[0]
    warm = invoker.invoke(v1, {})
    assert not warm.cold_start
    assert warm.restore_duration_ms is None


def test_latest_inits_on_demand(invoker):
    """SnapStart applies to published versions: $LATEST inits as usual."""
    r = invoker.invoke(_snap_fn("snapped-latest"), {})
    assert r.payload["init_type"] == "on-demand"
    assert r.payload["hooks"] == []
    assert r.init_duration_ms is not None
    assert r.restore_duration_ms is None


def test_hooks_work_without_the_package(invoker):
    """With dependencies="isolated" the snapshot-restore-py package is out of reach; the runtime's stand-in serves."""
    v1 = _snap_fn("snapped-isolated", dependencies="isolated").publish_version()
    p = invoker.invoke(v1, {}).payload
    assert [h[0] for h in p["hooks"]] == ["before", "after"]


def test_a_failing_snapshot_init_is_the_invocations_init_error(invoker, make_fn):
    """A version whose init fails cannot be snapshotted: the invocation reports the init error."""
    fn = make_fn("raise_init.handler", snap_start=True)
    r = invoker.invoke(fn.publish_version(), {})
    assert r.function_error == "Unhandled"
    assert r.error_type == "RuntimeError"  # as the same init error without SnapStart
    assert "startup fails" in r.logs


def test_snap_start_on_an_older_runtime_warns_once(monkeypatch):
    """Lambda offers SnapStart from python3.12: pylambda accepts it on older runtimes, warning once per runtime."""
    from pylambda import _config

    monkeypatch.setattr(_config, "_warned_snap_start", set())
    with pytest.warns(UserWarning, match="from python3.12"):
        Function("old-snap", lambda e, c: 1, snap_start=True, runtime="python3.10")
    Function("old-snap-2", lambda e, c: 1, snap_start=True, runtime="python3.10")  # no second warning


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_snap_start_must_be_a_bool(value):
    """snap_start takes True or False only."""
    from pylambda import InvalidParameterValueError

    with pytest.raises(InvalidParameterValueError, match="snap_start must be True or False"):
        Function("bad-snap", lambda e, c: 1, snap_start=value)


def test_the_bill_has_cache_and_restore_charges(invoker):
    """A snapshot is billed for caching (at least 3 hours) and each restore, at the rates of one table."""
    v1 = _snap_fn("snapped-billed", memory_size=1024).publish_version()
    invoker.invoke(v1, {})
    (row,) = [r for r in invoker.bill().rows if r.function_name == "snapped-billed"]
    assert row.restores == 1
    cache = 1.0 * SNAP_START_PRICES["cache_minimum_s"] * SNAP_START_PRICES["cache_per_gb_s"]
    assert row.snap_start_usd == pytest.approx(cache + 1.0 * SNAP_START_PRICES["restore_per_gb"], rel=1e-6)
    assert row.cost_usd == pytest.approx(row.compute_usd + row.request_usd + row.snap_start_usd)


# -- restored environments are sandboxed (docs/guide.md#sandbox) -----------------------------

_PROBE = """
import errno, os, resource, socket, time

with open("/tmp/at-init", "w") as f:  # part of the snapshot, as Lambda's holds the disk
    f.write("init")


def _errno(call):
    try:
        call()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


def handler(event, context):
    time.sleep(event.get("sleep", 0))  # concurrent calls overlap: each needs its own environment
    seen = sorted(os.listdir("/tmp"))
    with open("/tmp/mine", "w") as f:
        f.write(context.aws_request_id)
    st = os.statvfs("/tmp")
    out = {
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "pid": os.getpid(),
        "tmp": seen,
        "tmp_mb": st.f_blocks * st.f_frsize // 2**20,
        "write_code": _errno(lambda: open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "x.py"), "w")),
        "signal": {str(p): _errno(lambda p=p: os.kill(p, 0)) for p in event["pids"]},
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }
    if "port" in event:
        out["connect"] = _errno(lambda: socket.create_connection(("127.0.0.1", event["port"]), timeout=5).close())
        out["interfaces"] = sorted(name for _i, name in socket.if_nameindex())
    return out
"""


def _probe_version(tmp_path, **config):
    (tmp_path / "probe.py").write_text(_PROBE)
    return Function(f"snap-probe-{len(config)}", "probe.handler", code=str(tmp_path), snap_start=True, **config)


def test_restored_environments_are_sandboxed(invoker, sandbox, tmp_path):
    """A restored environment is pid 2 in its namespace, reaches no other process, has read-only code, its own /tmp."""
    if sandbox.get("namespaces") is not None:
        pytest.skip(f"not enforced on this machine: {sandbox['namespaces']}")
    v1 = _probe_version(tmp_path, ephemeral_storage=600).publish_version()
    first = invoker.invoke(v1, {"pids": []})
    assert first.function_error is None, first.logs
    (env,) = invoker.environments()
    template = invoker._backends.default.template_of(env.key)
    others = [os.getpid(), invoker.zygote_pid, template.pid, env.pid]
    results = _concurrently(invoker, v1, 2, {"pids": others})
    for r in [first, *results]:
        p = r.payload
        assert p["pids"] == [1, 2]
        assert p["pid"] == 2
        assert set(p["signal"].values()) <= {"ESRCH"}
        assert p["write_code"] == "EROFS"
        assert p["tmp_mb"] == 600
        assert p["nofile"] == [1024, 1024]
        assert "at-init" in p["tmp"]
        assert "mine" not in p["tmp"] or not r.cold_start  # a restored /tmp is the snapshot's, not a sibling's


def test_restored_environments_keep_network_none(invoker, sandbox, tmp_path):
    """network="none" holds after a restore: loopback only, the host's 127.0.0.1 out of reach."""
    import socket

    if sandbox.get("network") is not None:
        pytest.skip(f"not enforced on this machine: {sandbox['network']}")
    v1 = _probe_version(tmp_path, network="none").publish_version()
    server = socket.create_server(("127.0.0.1", 0))
    try:
        p = invoker.invoke(v1, {"pids": [], "port": server.getsockname()[1]}).payload
    finally:
        server.close()
    assert p["connect"] == "ECONNREFUSED"
    assert p["interfaces"] == ["lo"]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def test_an_environment_prepared_ahead_is_restored_when_taken(invoker):
    """The template forks the next environment ahead; taking it runs the after-restore hooks then, with a new state."""
    import time

    from pylambda._environment.zygote import parent_of

    v1 = _snap_fn("snapped-ahead").publish_version()
    first = invoker.invoke(v1, {})
    (env,) = invoker.environments()
    template = invoker._backends.default.template_of(env.key)
    ended = {env.pid, parent_of(env.pid)}  # the first environment (and its sandbox's init)
    invoker.reset(v1)
    deadline = time.monotonic() + 30  # a bound for a loaded machine, not a timing check
    while not set(_children(template.pid)) - ended and time.monotonic() < deadline:
        time.sleep(0.01)
    prepared = set(_children(template.pid)) - ended
    assert prepared  # forked ahead: its sandbox's init, or without a sandbox the runtime itself
    second = invoker.invoke(v1, {})
    (taken,) = invoker.environments()
    assert taken.pid in prepared or parent_of(taken.pid) in prepared
    assert second.cold_start
    assert second.restore_duration_ms is not None
    assert "after-restore hook" in second.logs  # the hooks ran when it was taken, not when it was forked
    assert second.payload["restore_id"] != first.payload["restore_id"]
    assert not second.payload["seen"]
