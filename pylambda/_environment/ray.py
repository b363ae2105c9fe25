"""The Ray backend: execution environments on the nodes of a Ray cluster, placed by Ray.

::

    Invoker ─▶ pool ─▶ RayBackend.start ─▶ pick a node (fewest live environments per CPU)
                                              │ its NodeHost actor (made on first use, pinned to the node)
                                              ▼
              RayEnvironment ──actor calls──▶ NodeHost ─▶ zygote ─▶ environment processes (rayhost)

Everything above the contract (admission and concurrency limits, history,
logs, metrics, bills, async invocation, event sources, ``map``) stays in the
caller, so it is cluster-wide by construction; each node runs pylambda's
own process backend, so timeouts, memory limits and crashes are enforced
there exactly as locally.  An environment costs one actor call per
invocation (``send`` submits it, ``receive`` waits for it).

Code travels with the function: the code root and any other directory on
its path that is not the caller's interpreter's (layers, isolated
dependencies) are zipped, put in Ray's object store once per content hash,
and extracted once per node (``rayhost.CodeCache``); a callable travels in
the INIT message as its cloudpickle.

A node that dies takes its environments with it: a call to its host fails
with Ray's actor error, which the environment reports as a runtime exit
(``Runtime.ExitError``, "signal: killed", as a crashed environment's); the
node is never picked again, and new environments go to the nodes that
remain.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .._code import _zip_directory
from .._errors import InvalidParameterValueError, PylambdaError
from .backend import Backend, Environment, Outcome, Request
from .ending import wait_exits
from .rayhost import NodeHost, identity, outcome_from

__all__ = ["RayBackend", "RayEnvironment"]

# How long Ray may take, beyond the function's own limit, to carry a call and
# its answer.  Longer tolerates a loaded cluster (a host actor still being
# created, a busy GCS); shorter reports a hung host sooner (as a timeout).
INVOKE_MARGIN_S = 30.0
# A first start on a node also waits for its host actor to be created.
INIT_MARGIN_S = 120.0
# How often the list of alive nodes is read again (a new node is used after at most this).
NODES_REFRESH_S = 2.0
# Actor calls a host runs at once (threads): one per environment waiting on it.
HOST_CONCURRENCY = 1024
# How many nodes a start tries when hosts die under it before giving up.
START_ATTEMPTS = 3


_RAY = None


def _ray():
    """The ``ray`` module (imported on first use: pylambda does not need it otherwise)."""
    global _RAY
    if _RAY is None:
        try:
            import ray
        except ImportError as e:  # pragma: no cover - the ray extra is not installed
            raise PylambdaError("the Ray backend needs Ray: pip install -e '.[ray]' in pylambda's checkout") from e
        _RAY = ray
    return _RAY


class _Host:
    """The caller's handle on one node's host actor."""

    __slots__ = ("actor", "dead", "envs", "node_id")

    def __init__(self, node_id: str, actor) -> None:
        self.node_id = node_id
        self.actor = actor
        self.envs: set[str] = set()  # live environments started there
        self.dead = False


class RayEnvironment(Environment):
    """A handle on one environment that runs in a node's host (see ``rayhost``)."""

    __slots__ = ("_backend", "_end", "_host", "_memory_mb", "_name", "_pending", "_spec", "_status")

    def __init__(self, backend: RayBackend, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> None:
        self._books(key, env_id, init_spec, memory_mb, None)
        self._backend = backend
        self._host: _Host | None = None
        self._name = name
        self._spec = init_spec
        self._memory_mb = memory_mb
        self._pending = None
        self._end = None
        self._status = None

    def wait_init(self, timeout_s: float) -> Outcome:
        """Start it on a node and wait for its init; a node lost before init ran is replaced by another."""
        ray = _ray()
        backend = self._backend
        trees = backend.trees(self._spec)
        for _attempt in range(START_ATTEMPTS):
            host = self._host = backend.pick(self.id)
            ref = host.actor.start.remote(self.id, self._name, self._spec, trees, self._memory_mb, timeout_s)
            try:
                fields = ray.get(ref, timeout=timeout_s + INIT_MARGIN_S)
            except ray.exceptions.GetTimeoutError:
                self.kill()
                self._dead()
                return Outcome("timeout")
            except ray.exceptions.RayActorError:
                backend.host_died(host)
                continue
            return self._settle(fields, "ready")
        self._dead()
        return Outcome("exit")

    def send(self, request: Request) -> bool:
        """Submit the invocation to its host (an actor call); False when its node is known lost (nothing ran)."""
        if self._host.dead:
            self._dead()
            return False
        self.state = "BUSY"
        self.invocations += 1
        remaining_s = request.deadline_ms / 1000 - time.time()
        fields = (request.request_id, request.invoked_arn, request.trace, request.client_context, request.body,
                  request.deadline_ms, request.concurrency, request.concurrent)  # fmt: skip
        self._pending = self._host.actor.invoke.remote(self.id, fields, remaining_s)
        return True

    def receive(self, deadline: float) -> Outcome:
        """The host's outcome; a lost node is a runtime exit, a host silent past the margin a timeout."""
        ray = _ray()
        ref, self._pending = self._pending, None
        try:
            fields = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()) + INVOKE_MARGIN_S)
        except ray.exceptions.GetTimeoutError:
            self.kill()
            self._dead()
            return Outcome("timeout", rss_kib=self.max_rss_kib)
        except ray.exceptions.RayActorError:
            self._backend.host_died(self._host)
            self._dead()
            return Outcome("exit", rss_kib=self.max_rss_kib)
        return self._settle(fields, "result")

    def _settle(self, fields, ok: str) -> Outcome:
        """The host's outcome: idle again when it is ``ok``, else the environment ended on its node."""
        out = outcome_from(fields)
        if out.rss_kib > self.max_rss_kib:
            self.max_rss_kib = out.rss_kib
        if out.kind == ok:
            self.state = "IDLE"
        else:
            self._status = out.exit_status
            self._dead()
        return out

    def kill(self) -> None:
        """SIGKILL it on its node (the call is not waited for: a busy ``receive`` sees the exit)."""
        host = self._host
        if self.state != "DEAD" and host is not None and not host.dead:
            host.actor.kill.remote(self.id)

    def stop(self) -> None:
        """Ask its host to end it (EOF, then SIGKILL after a grace); ``reap`` waits for that."""
        host = self._host
        if self.state != "DEAD" and self._end is None and host is not None and not host.dead:
            self._end = host.actor.end.remote(self.id, 1.0)

    def reap(self, timeout: float = 5.0) -> int | None:
        """Wait (bounded) until its host has ended it; its wait status when known."""
        if self.state == "DEAD":
            return self._status
        if self._end is None:
            self.kill()
            self.stop()
        if self._end is not None:
            ray = _ray()
            try:
                self._status = ray.get(self._end, timeout=max(0.001, timeout))
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayError):
                pass
        self._dead()
        return self._status

    def _dead(self) -> None:
        self.state = "DEAD"
        self._backend.forget(self._host, self.id)


class RayBackend(Backend):
    """Environments on the nodes of a Ray cluster: ``Invoker(backend=RayBackend(address=...))``.

    Args:
        address: ``None`` starts a local Ray (or uses the one this process
            is already connected to); ``"auto"`` or ``"host:port"`` joins a
            running cluster (``ray start --head``; see docs/scale-out.md).
        init_options: more keyword arguments for ``ray.init`` when this
            backend connects (e.g. ``{"num_cpus": 4}``, ``runtime_env``).

    The nodes need the same Python version and pylambda (with Ray) installed;
    they do not need the caller's files: code is shipped.  A Ray connection
    this backend opened is shut down when the Invoker closes; one that was
    open already is left alone.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, init_options: dict | None = None) -> None:
        if address is not None and not isinstance(address, str):
            raise InvalidParameterValueError(f"address must be None, 'auto' or 'host:port', got {address!r}")
        self.address = address
        self._init_options = dict(init_options or {})
        self._lock = threading.Lock()
        self._connected = False
        self._owns_ray = False
        self._actor_class = None
        self._hosts: dict[str, _Host] = {}
        self._dead_nodes: set[str] = set()
        self._nodes: list[tuple[str, float]] = []
        self._nodes_read = 0.0
        self._packages: dict[str, tuple] = {}  # path -> (signature, sha, ObjectRef)
        self._caller_path = {p for p in sys.path if p}
        self._started = 0
        self._closed = False
        self._report: dict | None = None

    # -- connection and placement ----------------------------------------------------
    def _connect(self) -> None:
        """Connect to Ray once (lock held)."""
        if self._connected:
            return
        ray = _ray()
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, **self._init_options}
            ray.init(address=self.address, **options)
            self._owns_ray = True
        self._actor_class = ray.remote(NodeHost)
        self._connected = True

    def _alive_nodes(self) -> list[tuple[str, float]]:
        """(node id, CPUs) of the alive nodes, read at most every ``NODES_REFRESH_S`` (lock held)."""
        now = time.monotonic()
        if now - self._nodes_read > NODES_REFRESH_S or not self._nodes:
            ray = _ray()
            self._nodes = [
                (n["NodeID"], float(n.get("Resources", {}).get("CPU", 0.0)) or 1.0)
                for n in ray.nodes()
                if n.get("Alive")
            ]
            self._nodes_read = now
        return [(node, cpus) for node, cpus in self._nodes if node not in self._dead_nodes]

    def pick(self, env_id: str) -> _Host:
        """The host of the node with the fewest live environments per CPU (its actor made on first use)."""
        with self._lock:
            if self._closed:
                from .._errors import InvokerClosedError

                raise InvokerClosedError("the Invoker was closed")
            self._connect()
            nodes = self._alive_nodes()
            if not nodes:
                raise PylambdaError("no alive Ray node can host an environment")
            node_id, _cpus = min(nodes, key=lambda n: len(self._hosts[n[0]].envs) / n[1] if n[0] in self._hosts else 0)
            host = self._hosts.get(node_id)
            if host is None:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
                options = {"num_cpus": 0, "max_concurrency": HOST_CONCURRENCY, "scheduling_strategy": strategy}
                actor = self._actor_class.options(**options).remote()
                host = self._hosts[node_id] = _Host(node_id, actor)
            host.envs.add(env_id)
            return host

    def sandbox_report(self) -> dict | None:
        """What the nodes' sandboxes enforce, as a node host reports it (asked once: a cluster's nodes are alike).

        Each node gives its environments what its own kernel allows (``NodeHost._sandbox``).
        """
        ray = _ray()
        for _attempt in range(START_ATTEMPTS):
            if self._report is not None:
                break
            host = self.pick("sandbox-report")
            try:
                self._report = ray.get(host.actor.sandbox_report.remote(), timeout=INVOKE_MARGIN_S)
            except ray.exceptions.RayActorError:  # its node is gone: ask another
                self.host_died(host)
            finally:
                self.forget(host, "sandbox-report")
        return self._report

    def host_died(self, host: _Host) -> None:
        """A host's actor is gone (its node died, or it was killed): never use that node again."""
        with self._lock:
            host.dead = True
            self._dead_nodes.add(host.node_id)
            if self._hosts.get(host.node_id) is host:
                del self._hosts[host.node_id]
            self._nodes_read = 0.0

    def forget(self, host: _Host | None, env_id: str) -> None:
        """An environment ended: its node counts one fewer."""
        if host is not None:
            with self._lock:
                host.envs.discard(env_id)

    # -- code ------------------------------------------------------------------------
    def trees(self, spec: dict) -> dict:
        """{caller path: (sha, ObjectRef)} for every directory the environment needs shipped."""
        paths = [] if spec.get("handler_pickle") is not None else [spec["task_root"]]
        paths += [p for p in spec["sys_path"] if p not in self._caller_path and os.path.isdir(p)]
        return {path: self._package(path) for path in paths if os.path.isdir(path)}

    def _package(self, path: str) -> tuple:
        """(sha, ObjectRef) of a directory's zip; put in the object store again only when it changed."""
        import hashlib

        signature = _tree_signature(path)
        with self._lock:
            known = self._packages.get(path)
        if known is not None and known[0] == signature:
            return known[1], known[2]
        data = _zip_directory(Path(path))
        sha = hashlib.sha256(data).hexdigest()
        ref = _ray().put(data)
        with self._lock:
            self._packages[path] = (signature, sha, ref)
        return sha, ref

    # -- the contract ----------------------------------------------------------------
    def start(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> RayEnvironment:
        """A handle whose init begins in ``wait_init`` (the node is picked there)."""
        with self._lock:
            self._started += 1
        return RayEnvironment(self, key, env_id, name, init_spec, memory_mb)

    def stats(self) -> dict:
        """Name, environments started, and live environments per node."""
        with self._lock:
            nodes = {node: len(host.envs) for node, host in self._hosts.items()}
        return {"name": self.name, "started": self._started, "nodes": nodes, "lost_nodes": len(self._dead_nodes)}

    def host_stats(self) -> list[dict]:
        """Each host's own view (environments alive there, packages fetched, its zygote's pid)."""
        ray = _ray()
        with self._lock:
            hosts = list(self._hosts.values())
        return ray.get([h.actor.stats.remote() for h in hosts], timeout=INVOKE_MARGIN_S)

    def close(self, timeout: float = 1.0) -> None:
        """End every host (their environments and zygotes), then the Ray connection if this backend opened it."""
        with self._lock:
            self._closed = True
            hosts, self._hosts = list(self._hosts.values()), {}
            self._packages.clear()
        if not self._connected:
            return
        ray = _ray()
        deadline = time.monotonic() + timeout + 5.0
        refs = [h.actor.close.remote(timeout) for h in hosts if not h.dead]
        done = ray.wait(refs, num_returns=len(refs), timeout=timeout + 5.0)[0] if refs else []
        for host in hosts:
            try:
                ray.kill(host.actor)
            except Exception:  # already gone with its node
                pass
        _wait_gone(_identities(ray, done), deadline)
        if self._owns_ray:
            ray.shutdown()


def _identities(ray, refs: list) -> list[tuple[str, int, int]]:
    """The identities the closed hosts answered with (``rayhost.identity``); none for one that failed."""
    out = []
    for ref in refs:
        try:
            out.append(tuple(ray.get(ref, timeout=0)))
        except Exception:  # its node or process went first: nothing to wait for
            pass
    return out


def _wait_gone(hosts: list[tuple[str, int, int]], deadline: float) -> None:
    """Wait until the killed hosts' processes on this machine have ended, or ``deadline`` (monotonic).

    Why: ``ray.kill`` returns at once and Ray ends the actor's worker
    later, through its GCS and the node's raylet; on a loaded machine that
    took seconds (6.6 s under two busy loops on 2 vCPUs), so a host
    outlived the ``close()`` of its Invoker and a leak check after it.  A
    host on another machine (or in another PID namespace) is Ray's to end.
    """
    here = identity()[0]
    started = {pid: start for where, pid, start in hosts if where and where == here}
    wait_exits(list(started), deadline, same=lambda pid: identity(pid)[2] == started[pid])


def _tree_signature(root: str) -> tuple:
    """What changes when any file under ``root`` does (names, sizes, modification times)."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            entries.append((dirpath, name, st.st_size, st.st_mtime_ns))
    return tuple(entries)
