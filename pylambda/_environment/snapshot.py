"""SnapStart on the parent side: a version's template process, and environments restored from it.

``Function(snap_start=True)`` is Lambda's ``SnapStart: {ApplyOn:
PublishedVersions}``: a published version is initialised once, and its
execution environments are resumed from that initialised state instead of
running init themselves.  Here the "snapshot" is a *template*: an
environment forked from the zygote that ran the init phase (and the
function's before-snapshot hooks) and then forks restored environments on
request, exactly as the zygote forks fresh ones (``_runtime/snapshot.py``).

::

    ProcessBackend.start(spec says snap-start)
        └─ template for this version? ─no─▶ SnapshotTemplate: fork from the zygote, INIT, wait (≤ 15 min)
                │                              init failed: that is the environment (its init error)
                ▼
        ProcessEnvironment(zygote=template): fork from the template, per-environment INIT,
                                             after-restore hooks, INIT_DONE (restore time)

The template talks over a socket pair instead of two pipes (the fork
requests carry descriptors), so it is a ``ProcessEnvironment`` with another
channel and a ``fork`` method.  One template per version and Invoker; it
ends with the Invoker's backend, and its restored environments die with it
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

from .._errors import PylambdaError
from .process import ProcessEnvironment
from .zygote import _next_generation, host_pid

__all__ = ["SNAPSHOT_INIT_TIMEOUT_S", "SnapshotTemplate", "snapshot_charges"]

_PID = struct.Struct("<i")
# A SnapStart init may take up to 15 minutes on Lambda (reference §7.1).
SNAPSHOT_INIT_TIMEOUT_S = 900.0


class SnapshotTemplate(ProcessEnvironment):
    """An initialised environment of one version that forks restored environments (thread-safe)."""

    __slots__ = (
        "_fork_lock",
        "_sock",
        "created_at",
        "init_logs",
        "init_ms",
        "init_outcome",
        "init_reported",
        "ready_at",
    )

    @staticmethod
    def _channel() -> tuple[int, int, int, int]:
        """One socket pair: the child's end twice (request and response), ours twice."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        child = theirs.detach()
        parent = ours.detach()
        return child, parent, os.dup(parent), os.dup(child)

    def start_template(self, timeout_s: float = SNAPSHOT_INIT_TIMEOUT_S):
        """Wait for the template's init (and before-snapshot hooks); keep the outcome."""
        self._fork_lock = threading.Lock()
        self._sock = None
        self.init_reported = False  # its init log goes into the first restored environment's log, once
        self.created_at = time.time()
        outcome = self.wait_init(timeout_s)
        self.ready_at = time.monotonic()  # restores are timed from here (the snapshot exists)
        self.init_outcome = outcome
        self.init_ms = outcome.duration_ms
        self.init_logs = outcome.logs
        if outcome.kind == "ready":
            self._sock = socket.socket(fileno=os.dup(self._req_w))
            self.state = "TEMPLATE"  # never handed out for an invocation
        return outcome

    def wait_init(self, timeout_s: float):
        """The template's init outcome (waited for once, by ``start_template``)."""
        outcome = getattr(self, "init_outcome", None)
        return outcome if outcome is not None else super().wait_init(timeout_s)

    @property
    def nests_pid_namespaces(self) -> bool:
        """Whether the pids it reports are its PID namespace's (it is sandboxed), not ours."""
        return self.sandboxed

    def fork(self, fds: list[int], name: str, timeout: float = 10.0, sandbox: dict | None = None) -> tuple[int, int]:
        """Fork a restored environment that owns ``fds``; return (pid, status pipe read end).

        The zygote's signature and request: ``sandbox`` describes the
        environment's sandbox as for a fork from the zygote; the template
        builds it nested in its own (``_runtime.sandbox.fork_restored``).
        """
        msg = b"F" + name.encode()[:15].replace(b"\0", b"")
        if sandbox is not None:
            msg += b"\0" + json.dumps(sandbox).encode()
        _next_generation()  # the leak checks' walks below the zygote see a new process
        with self._fork_lock:
            if self._sock is None:
                raise PylambdaError("the SnapStart template is not running")
            try:
                socket.send_fds(self._sock, [msg], fds)
                reply, rfds, _flags, _addr = socket.recv_fds(self._sock, 16, 1)
            except OSError:
                reply, rfds = b"", []
            pid = _PID.unpack(reply)[0] if len(reply) == _PID.size else 0
            if pid > 0 and len(rfds) == 1:
                if not self.sandboxed:
                    return pid, rfds[0]
                ours = host_pid(self.pid, pid)  # the init's pid in the template's namespace, made ours
                if ours is not None:
                    return ours, rfds[0]
            for fd in rfds:
                os.close(fd)
        if pid < 0:
            raise PylambdaError(f"the SnapStart template could not restore an environment: {os.strerror(-pid)}")
        raise PylambdaError("the SnapStart template could not fork an environment")

    def alive(self) -> bool:
        """Whether it can still fork (not reaped, not killed)."""
        return self._sock is not None and self.state == "TEMPLATE"

    def end(self, timeout: float = 1.0) -> None:
        """Stop the template: EOF, and its restored environments die with it."""
        with self._fork_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.state = "IDLE"  # so that kill and reap treat it as a process again
        self.kill()
        self.reap(timeout)


def snapshot_charges(invoker) -> tuple:
    """(function, version, architecture, memory MB, seconds cached) of each snapshot ``invoker`` holds, for its bill."""
    now = time.time()
    return tuple(
        (v.function_name, v.version, v.config.architecture, v.config.memory_size, now - t.created_at)
        for backend in invoker._backends.all()
        for t in getattr(backend, "snapshots", list)()
        for v in [invoker.resolve(f"{t.key[0]}:{t.key[1]}")[0]]
    )
