"""The Runtime API backend: environments are runtime processes (Node, a ``provided`` bootstrap) on a host of their own.

Each environment is one runtime process, exec'd by the zygote in the
sandbox Python environments get (``_runtime/sandbox.py``: its own PID, mount
and, with ``network="none"``, network namespaces; read-only code; its own
/tmp; Lambda's limits), in a process group of its own, with Lambda's
variables and ``AWS_LAMBDA_RUNTIME_API`` pointing at its own host (``rapi``),
its stdout and stderr on one log pipe.  Without a network the host listens
inside the environment's namespace, at Lambda's 127.0.0.1:9001, on a socket
the sandbox's init makes there and hands over (a socket belongs to the
namespace it was made in, whoever accepts on it).  The caller thread that
has the environment checked out does every wait, on one ``poll`` set: the
host's sockets, the log pipe and the environment's status pipe (the zygote
or the sandbox's init writes the runtime's wait status there when it
exits).  So the outcomes are the process backend's: the reply, a death, the
deadline (the process group is killed: ``Sandbox.Timedout``), or a memory
overrun (the resident set of the whole process tree is sampled every
``MEMORY_SAMPLE_S`` while an invocation runs: ``Runtime.OutOfMemory``).

Init is the time from the start of the process to its first
``GET …/invocation/next``; a runtime that posts ``/init/error`` gives that
document as the init error, as Lambda does, even though it exits right
after.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import sys
import time

from .._errors import InvalidParameterValueError
from .._runtime.runtimes import EXEC_FAILED
from .backend import STATUS_BYTES, STATUS_ERROR, STATUS_JSON, Backend, Environment, Outcome, Request
from .ending import kill_sandbox
from .isolation import shown
from .rapi import ACCEPTED, Connection, Listener, ProtocolError, error_response, response
from .shared import shared_zygote
from .zygote import Zygote, read_status

__all__ = ["NODE_BOOTSTRAP", "RAPI_PORT", "RuntimeApiBackend", "RuntimeApiEnvironment"]

# pylambda's Node runtime client (a Runtime API loop, see the file).
NODE_BOOTSTRAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_runtime", "node",
                              "bootstrap.mjs")  # fmt: skip

# The Runtime API's port in an environment without a network (its own
# namespace, so any port is free): Lambda's own, 127.0.0.1:9001.
RAPI_PORT = 9001
# How often a running invocation's memory is sampled (see process.py).
MEMORY_SAMPLE_S = 0.01
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR
_TOO_LARGE = (
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).",'
    b'"errorType":"Function.ResponseSizeTooLarge"}'
)
_INVALID_ID = error_response(400, "InvalidRequestID", "Invalid request ID")
_OVERSIZE = error_response(413, "RequestEntityTooLarge", "Exceeded maximum allowed payload size (6291556 bytes).")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc's children lists)."""
    pids, i = [pid], 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            with open(f"/proc/{p}/task/{p}/children", "rb") as f:
                pids.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return pids


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid``'s process tree (a shell bootstrap's curl children count)."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE_KIB
        except (OSError, IndexError, ValueError):
            pass
    return total


class RuntimeApiEnvironment(Environment):
    """One runtime process speaking the Runtime API to a host of its own."""

    __slots__ = ("_conns", "_exit_status", "_host", "_in_flight", "_init_error", "_init_pid", "_inside", "_log_r",
                 "_parked", "_pending", "_pid_pending", "_poll", "_recent", "_sent_at", "_start", "_status_fd",
                 "_status_r")  # fmt: skip

    def __init__(self, zygote: Zygote | None, key, env_id: str, name: str, init_spec: dict, memory_mb: int,
                 argv: list[str] | None, problem=None):  # fmt: skip
        self._books(key, env_id, init_spec, memory_mb, None)
        self._host: Listener | None = None
        self._inside: socket.socket | None = None  # where the sandbox's init sends a host made inside
        self._conns: dict[int, Connection] = {}
        self._parked: Connection | None = None  # the connection whose GET next waits for an event
        self._recent: Connection | None = None  # the connection of the last answer (keep-alive)
        self._pending: Request | None = None  # sent by the caller, not yet given to the runtime
        self._in_flight = ""  # the request id the runtime is working on
        self._init_error: Outcome | None = problem  # set before any process runs: e.g. no bootstrap
        self._exit_status: int | None = None
        self._pid_pending = False
        self._init_pid = 0  # its sandbox's init (``end_now``)
        self._log_r = -1
        self._status_r = -1
        self._status_fd = -1
        self._poll = select.poll()
        self._start = self._sent_at = time.perf_counter()
        if argv is None or zygote is None:
            return
        sandbox = init_spec.get("sandbox")
        run = {"argv": argv, "cwd": init_spec["task_root"]}
        fds = []
        if sandbox is not None and sandbox.get("network") is False:
            # No network: the host listens in the environment's own network
            # namespace, at Lambda's own address, on a socket its init makes.
            run["listen"] = RAPI_PORT
            address = f"127.0.0.1:{RAPI_PORT}"
            self._inside, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            fds.append(theirs.fileno())
        else:
            theirs = None
            self._host = Listener()
            address = self._host.address
        run["env"] = dict(init_spec["environ"], AWS_LAMBDA_RUNTIME_API=address)
        log_r, log_w = os.pipe()
        os.set_inheritable(log_r, False)
        try:
            pid, self._status_r = zygote.fork([log_w, *fds], name, sandbox=sandbox, run=run)
        except BaseException:
            os.close(log_r)
            self._close_host()
            raise
        finally:
            os.close(log_w)
            if theirs is not None:
                theirs.close()
        # In a sandbox, ``pid`` is its init's until the init writes the
        # runtime's own (negated) on the status pipe: see ``_learn_pid``.
        self.pid = pid
        self._pid_pending = sandbox is not None
        # Its sandbox's init, unless under a CPU quota (the init removes its cgroup once the runtime has exited).
        self._init_pid = pid if sandbox is not None and not sandbox.get("cpus") else 0
        self._log_r = log_r
        os.set_blocking(log_r, False)
        # The status pipe says when the runtime has ended (the zygote or the
        # sandbox's init writes its wait status there).
        for fd in (log_r, self._status_r, *([self._host.fd] if self._host is not None else [])):
            self._poll.register(fd, _POLLIN)

    def _learn_pid(self, deadline: float) -> bool:
        """Read the sandboxed runtime's pid (and, without a network, its host); False if it ended first."""
        status = read_status(self._status_r, deadline)
        if status is None:
            return True  # not yet by the deadline: the wait times out and kills the init (and all in it)
        self._pid_pending = False
        if status >= -1:  # -1, or the init's own wait status: the sandbox could not be set up
            self._exit_status = status if status >= 0 else None
            return False
        self.pid = -status
        chan, self._inside = self._inside, None
        if chan is not None:  # sent before the runtime was forked: there by now
            try:
                chan.settimeout(max(0.001, deadline - time.monotonic()))
                _msg, fds, _flags, _addr = socket.recv_fds(chan, 1, 1)
            except OSError:
                fds = []
            finally:
                chan.close()
            if not fds:
                return False
            self._host = Listener(socket.socket(fileno=fds[0]))
            self._poll.register(self._host.fd, _POLLIN)
        return True

    # -- exchanges -------------------------------------------------------------
    def wait_init(self, timeout_s: float) -> Outcome:
        """Wait for the runtime's first ``GET next`` (ready), an ``/init/error``, its exit or the timeout."""
        if self._init_error is not None:
            self.state = "DEAD"
            self._close_host()
            return self._init_error
        deadline = time.monotonic() + timeout_s
        if self._pid_pending and not self._learn_pid(deadline):
            outcome = Outcome("exit", logs=self._drain_now(), exit_status=self.reap())
        else:
            outcome = self._pump(deadline, init=True)
        if outcome.kind == "exit" and outcome.logs.startswith(EXEC_FAILED.encode()):
            why = outcome.logs.decode(errors="replace")[len(EXEC_FAILED) :].strip()
            doc = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": why}
            return Outcome("init_error", STATUS_ERROR, "Runtime.InvalidEntrypoint", json.dumps(doc).encode())
        if outcome.kind == "ready":
            self.state = "IDLE"
            outcome.duration_ms = (time.perf_counter() - self._start) * 1000
        elif outcome.kind == "init_error":
            outcome.duration_ms = (time.perf_counter() - self._start) * 1000
            self.kill()
            self.reap()
        return outcome

    def send(self, request: Request) -> bool:
        """Give the runtime the event now if its ``GET next`` is parked, else as soon as it comes."""
        if select.select([self._status_r], [], [], 0)[0] if self._status_r >= 0 else True:
            self.reap()  # it ended while idle (e.g. after reporting an uncaught error): nothing ran
            return False
        self.state = "BUSY"
        self.invocations += 1
        self._pending = request
        parked = self._parked
        if parked is not None:
            self._parked = None
            if not self._answer_next(parked):
                self.kill()
                self.reap()
                return False
        elif self._recent is not None:
            # The runtime's next GET usually sits on its keep-alive connection
            # already: answered now, the handler runs while the caller does
            # its own bookkeeping, and the wait saves a poll.
            self._serve(self._recent, False)
        return True

    def receive(self, deadline: float) -> Outcome:
        """Wait for the runtime's response or error post, its exit, a memory overrun or ``deadline``."""
        outcome = self._pump(deadline, init=False)
        if outcome.kind == "result":
            outcome.duration_ms = (time.perf_counter() - self._sent_at) * 1000
            self.state = "IDLE"
            rss = self._peak_kib()
            if rss > self.max_rss_kib:
                self.max_rss_kib = rss
            outcome.rss_kib = rss
            if rss > self.memory_limit_kib:
                self.kill()
                outcome.kind = "oom"
                outcome.exit_status = self.reap()
        return outcome

    def _answer_next(self, conn: Connection) -> bool:
        """Write the pending request as the answer to ``conn``'s parked ``GET next``."""
        request = self._pending
        self._pending = None
        self._in_flight = request.request_id
        self._sent_at = time.perf_counter()
        headers = (
            f"Lambda-Runtime-Aws-Request-Id: {request.request_id}\r\n"
            f"Lambda-Runtime-Deadline-Ms: {request.deadline_ms}\r\n"
            f"Lambda-Runtime-Invoked-Function-Arn: {request.invoked_arn}\r\n"
            f"Lambda-Runtime-Trace-Id: {request.trace}\r\n"
        )
        if request.client_context:
            headers += f"Lambda-Runtime-Client-Context: {request.client_context.decode()}\r\n"
        return conn.send(response(200, request.body, headers))

    def _pump(self, deadline: float, init: bool) -> Outcome:
        """The caller thread's wait: serve the host, collect logs, watch the process, until an outcome."""
        logs: list[bytes] = []
        poll = self._poll.poll
        sampled = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                self._drain(logs)
                return Outcome("timeout", logs=b"".join(logs), rss_kib=max(sampled, self.max_rss_kib),
                               exit_status=self.reap())  # fmt: skip
            events = poll(max(1, int(min(remaining, MEMORY_SAMPLE_S) * 1000) + 1))
            if not events:
                if self.pid is not None:
                    sampled = tree_rss_kib(self.pid)
                    if sampled > self.memory_limit_kib:
                        self.kill()
                        self._drain(logs)
                        return Outcome("oom", logs=b"".join(logs), rss_kib=sampled, exit_status=self.reap())
                continue
            exited = False
            for fd, _ev in events:
                if fd == self._log_r:
                    self._drain(logs)
                elif self._host is not None and fd == self._host.fd:
                    for conn in self._host.accept():
                        self._conns[conn.fd] = conn
                        self._poll.register(conn.fd, _POLLIN)
                elif fd == self._status_r:
                    exited = True
                else:
                    conn = self._conns.get(fd)
                    if conn is not None:
                        outcome = self._serve(conn, init)
                        if outcome is not None:
                            self._drain(logs)
                            outcome.logs = b"".join(logs)
                            return outcome
            if exited:
                for conn in list(self._conns.values()):  # what it posted before it ended still counts
                    outcome = self._serve(conn, init)
                    if outcome is not None:
                        self._drain(logs)
                        outcome.logs = b"".join(logs)
                        return outcome
                self._drain(logs)
                return Outcome("exit", logs=b"".join(logs), rss_kib=self.max_rss_kib, exit_status=self.reap())

    def _serve(self, conn: Connection, init: bool) -> Outcome | None:
        """Read and answer what ``conn`` sent; the outcome it completes, if any."""
        alive = conn.feed()
        outcome = None
        while outcome is None:
            try:
                req = conn.next_request()
            except ProtocolError:
                alive = False
                break
            if req is None:
                break
            outcome, close = self._handle(conn, req, init)
            if close:
                alive = False
                break
        if not alive:
            self._drop(conn)
        return outcome

    def _handle(self, conn: Connection, req, init: bool) -> tuple[Outcome | None, bool]:
        """Answer one request: (the outcome it completes or None, whether to close the connection)."""
        what, request_id = req.route()
        if what == "next":
            if self._pending is not None:
                return None, not self._answer_next(conn)
            self._parked = conn
            return (Outcome("ready") if init else None), False
        if what in ("response", "error"):
            if not request_id or request_id != self._in_flight:
                return None, not conn.send(_INVALID_ID)
            self._in_flight = ""
            self._recent = conn
            if req.too_large:
                return Outcome("result", STATUS_ERROR, "Function.ResponseSizeTooLarge", _TOO_LARGE), not conn.send(
                    _OVERSIZE
                )
            closed = not conn.send(ACCEPTED)
            if what == "error":
                return Outcome("result", STATUS_ERROR, _error_type(req), req.body), closed
            return Outcome("result", _status_of(req.body), "", req.body), closed
        if what == "init_error":
            if not init:
                return None, not conn.send(
                    error_response(403, "InvalidStateTransition", "State transition from Ready to InitError failed")
                )
            closed = not conn.send(ACCEPTED)
            return Outcome("init_error", STATUS_ERROR, _error_type(req), req.body), closed
        return None, not conn.send(error_response(404, "NotFound", f"no route for {req.method} {req.path}"))

    def _drain(self, logs: list[bytes]) -> None:
        """Read what the log pipe holds now (non-blocking)."""
        fd = self._log_r
        if fd < 0:
            return
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not chunk:
                try:
                    self._poll.unregister(fd)
                except KeyError:
                    pass
                return
            logs.append(chunk)

    def _peak_kib(self) -> int:
        """The runtime's peak resident set (VmHWM), from a /proc status file kept open (one pread)."""
        fd = self._status_fd
        if fd < 0:
            try:
                fd = self._status_fd = os.open(f"/proc/{self.pid}/status", os.O_RDONLY)
            except OSError:
                return 0
        try:
            text = os.pread(fd, 4096, 0)
            at = text.index(b"VmHWM:")
            return int(text[at + 6 : text.index(b"kB", at)])
        except (OSError, ValueError):
            return 0

    def _drop(self, conn: Connection) -> None:
        self._conns.pop(conn.fd, None)
        try:
            self._poll.unregister(conn.fd)
        except KeyError:
            pass
        if self._parked is conn:
            self._parked = None
        if self._recent is conn:
            self._recent = None
        conn.close()

    def _drain_now(self) -> bytes:
        logs: list[bytes] = []
        self._drain(logs)
        return b"".join(logs)

    # -- ending ----------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL the runtime's process group (it and whatever it started) unless it has ended."""
        if self.pid is None or self.state == "DEAD":
            return
        if self._pid_pending:  # the sandbox's init: killing it ends its PID namespace
            _kill(os.kill, self.pid)
            return
        fd = self._status_r  # read once: a close() from another thread may be reaping it
        try:
            if fd < 0 or select.select([fd], [], [], 0)[0]:
                return  # ended (its pid may be reused): the zygote or its init reported it
        except (OSError, ValueError):
            return  # closed meanwhile: reaped
        if not _kill(os.killpg, self.pid):
            _kill(os.kill, self.pid)  # not (yet) a group leader

    def end_now(self) -> bool:
        """End a sandboxed idle runtime at once (as ``ProcessEnvironment.end_now``): SIGKILL, release, no wait."""
        if self.state == "DEAD":
            return True
        if not self._init_pid or self._pid_pending or self._status_r < 0:
            return False
        kill_sandbox(self._init_pid, self.pid, self._status_r)
        self.state = "DEAD"
        self._release()
        return True

    def stop(self) -> None:
        """Nothing to ask: an idle runtime is simply ended (``reap`` kills it)."""
        self.kill()

    def reap(self, timeout: float = 5.0) -> int | None:
        """Wait (bounded) for the runtime's wait status, release its pipes and host; idempotent.

        Whatever the runtime started dies with it: its sandbox's init ends
        its PID namespace, or (no sandbox) the zygote kills its group.
        """
        if self.state == "DEAD":
            return self._exit_status
        self.state = "DEAD"
        status = self._exit_status
        if status is None and self._status_r >= 0:
            status = read_status(self._status_r, time.monotonic() + timeout, skip_pid=True)
            if status is None and not select.select([self._status_r], [], [], 0)[0]:
                _kill(os.kill, self.pid)  # still alive after the bound: make sure it is not
        self._exit_status = status
        self._release()
        return status

    def _release(self) -> None:
        """Close its log and status pipes and its Runtime API host (it has ended, or is bound to)."""
        for fd in (self._log_r, self._status_fd, self._status_r):
            if fd >= 0:
                os.close(fd)
        self._log_r = self._status_fd = self._status_r = -1
        self._close_host()

    def _close_host(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        self._parked = self._recent = None
        if self._host is not None:
            self._host.close()
        if self._inside is not None:
            self._inside.close()
            self._inside = None


def _kill(kill, pid: int) -> bool:
    """``kill(pid, SIGKILL)``; False if there was no such process (or group)."""
    try:
        kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _error_type(req) -> str:
    """The error type of an error post: its header, else its document's ``errorType``."""
    header = req.headers.get("lambda-runtime-function-error-type")
    if header:
        return header
    try:
        doc = json.loads(req.body)
        return str(doc.get("errorType") or "Runtime.Unknown")
    except (ValueError, AttributeError):
        return "Runtime.Unknown"


def _status_of(body: bytes) -> int:
    """JSON when the response body is JSON text; else raw bytes (Lambda passes either through)."""
    if len(body) > 1 << 20:
        return STATUS_JSON  # not worth a parse: payload decoding will say if it is not
    try:
        json.loads(body)
        return STATUS_JSON
    except ValueError:
        return STATUS_BYTES


class RuntimeApiBackend(Backend):
    """Runtime processes for ``nodejs*`` (pylambda's Node bootstrap) or ``provided*`` (the code's ``bootstrap``).

    Each runtime is exec'd by the process's zygote (``zygote``: the caller's
    interpreter's shared one), so it gets the sandbox Python environments
    get (``_runtime/sandbox.py``): its own PID and mount namespaces, its own
    /tmp, read-only code, Lambda's limits, and no network when asked.
    """

    name = "runtime-api"

    def __init__(self, runtime: str, node: str | None = None, zygote: Zygote | None = None) -> None:
        self.runtime = runtime
        self._node = node  # the node executable, for nodejs runtimes
        self.zygote = zygote or shared_zygote(executable=sys.executable)
        self._started = 0

    def serves(self, runtime: str) -> bool:
        """Exactly the runtime it was made for."""
        return runtime == self.runtime

    def prepare(self) -> None:
        """Start the zygote now, without waiting (see ``ProcessBackend.prepare``)."""
        self.zygote.start()

    def start(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> RuntimeApiEnvironment:
        """Start the runtime process; its init ends with its first ``GET next``."""
        if init_spec.get("handler_pickle") is not None:
            raise InvalidParameterValueError(
                f"runtime {self.runtime} runs code from a directory or .zip, not a Python callable handler"
            )
        self._started += 1
        environ = dict(init_spec["environ"])
        if self.runtime.startswith("provided"):
            environ.pop("AWS_EXECUTION_ENV", None)  # Lambda does not set it for the provided family
            argv = [os.path.join(init_spec["task_root"], "bootstrap")]
            message = f"Couldn't find valid bootstrap(s): [{argv[0]} /opt/bootstrap]"
        else:
            argv = [self._node or shutil.which("node") or "node", NODE_BOOTSTRAP]
            message = f"{argv[0]}: not an executable file"
        problem = None
        if not os.access(argv[0], os.X_OK):
            argv = None
            problem = Outcome(
                "init_error",
                STATUS_ERROR,
                "Runtime.InvalidEntrypoint",
                json.dumps({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": message}).encode(),
            )
        sandbox = init_spec.get("sandbox")
        if sandbox is not None and argv is not None and not self.runtime.startswith("provided"):
            # node and pylambda's bootstrap stay where the command names them (a bootstrap is in the code)
            sandbox = dict(sandbox, views=[*sandbox["views"], *shown(argv, sandbox["hide"])])
        spec = dict(init_spec, environ=environ, sandbox=sandbox)
        return RuntimeApiEnvironment(self.zygote, key, env_id, name, spec, memory_mb, argv, problem)

    def close(self, timeout: float = 1.0) -> None:
        """After the pool ended our environments: end what their runtimes left (not the zygote)."""
        self.zygote.sweep_adopted()

    def stats(self) -> dict:
        """Name, runtime and environments started."""
        return {"name": self.name, "runtime": self.runtime, "started": self._started}

    def sandbox_report(self) -> dict | None:
        """What the zygote found this kernel lets environments have (starts it if needed)."""
        return self.zygote.sandbox_report()
