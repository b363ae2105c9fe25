"""The environment contract: what the pool and the Invoker may ask of any execution environment.

A *backend* makes environments of one kind; an *environment* is one Lambda
execution environment, checked out by exactly one caller thread at a time.
Everything above this module (the pool, the Invoker, history, logs, bills)
speaks only these names, so a new kind of environment is one new backend:

::

    Invoker ──Request──▶ Environment.send ─────▶ (the backend's own machinery:
            ◀─Outcome─── Environment.receive ◀──  zygote + pipes, the caller's
                                                   thread, a Runtime API host …)

    Backend.start(key, env_id, name, init spec, memory) ─▶ Environment (init begun)
    Environment.wait_init(timeout)   ─▶ Outcome "ready" | "init_error" | "timeout" | "exit" | "oom"
    Environment.send(request)        ─▶ False: it was dead before anything ran
    Environment.receive(deadline)    ─▶ Outcome "result" | "timeout" | "exit" | "oom"
    Environment.kill() / stop() / reap(timeout) / shut_down(grace)
    Backend.prepare() / close(timeout) / stats()

``send`` and ``receive`` are apart so that the caller can do its own
bookkeeping while the handler runs (the warm path overlaps the two);
``invoke`` is the two in one.  The request and the outcome are neutral:
no frame layouts, no pipe or GIL details.  How a backend waits (spinning,
holding the GIL, a parked HTTP request) is its own business, decided from
the request's ``concurrency`` and ``concurrent`` hints.

Which backend serves a version is decided per version (a runtime is a
property of the version): see ``Backends``.
"""

from __future__ import annotations

import os
import signal
import time

__all__ = [
    "STATUS_BYTES",
    "STATUS_ERROR",
    "STATUS_JSON",
    "Backend",
    "Environment",
    "Outcome",
    "Request",
    "describe_exit",
]

# What a "result" outcome's payload is: JSON text, raw bytes the handler
# returned, or an error document.  (The process backend's wire uses the same
# numbers, so its replies pass through untranslated.)
STATUS_JSON = 0
STATUS_BYTES = 1
STATUS_ERROR = 2


class Request:
    """One invocation, as the Invoker hands it to an environment (internal; a per-call message).

    ``deadline_ms`` is the epoch-milliseconds deadline the runtime's context
    reports; the caller's own wait is bounded separately (``receive``'s
    monotonic deadline).  ``concurrency`` (invocations in flight, this one
    included) and ``concurrent`` (others ran alongside lately) let a
    backend choose how to wait.
    """

    __slots__ = ("body", "client_context", "concurrency", "concurrent", "deadline_ms", "invoked_arn", "request_id",
                 "trace")  # fmt: skip

    def __init__(
        self,
        request_id: str,
        invoked_arn: str,
        trace: str,
        client_context: bytes,
        body: bytes,
        deadline_ms: int,
        concurrency: int = 1,
        concurrent: bool = False,
    ) -> None:
        self.request_id = request_id
        self.invoked_arn = invoked_arn
        self.trace = trace
        self.client_context = client_context  # JSON bytes, b"" when absent
        self.body = body  # the event, JSON bytes
        self.deadline_ms = deadline_ms
        self.concurrency = concurrency
        self.concurrent = concurrent

    def __repr__(self) -> str:
        return f"<Request {self.request_id} {self.invoked_arn} {len(self.body)} bytes>"


class Outcome:
    """What one exchange with an environment produced (internal).

    ``kind``: ``"ready"`` (init done), ``"init_error"`` (the runtime reported
    an init failure: ``payload`` is its error document), ``"result"`` (an
    invocation's reply: ``status`` says JSON, bytes or error), ``"timeout"``,
    ``"exit"`` (the runtime died: ``exit_status`` is its wait status, or
    None when unknown), ``"oom"`` (killed for memory), ``"gone"`` (dead
    before the request was sent: nothing ran).
    """

    __slots__ = ("duration_ms", "error_type", "exit_status", "kind", "logs", "payload", "rss_kib", "status")

    def __init__(
        self,
        kind,
        status=0,
        error_type="",
        payload=b"",
        duration_ms=0.0,
        rss_kib=0,
        logs=b"",
        exit_status=None,
    ):
        self.kind = kind
        self.status = status
        self.error_type = error_type
        self.payload = payload
        self.duration_ms = duration_ms
        self.rss_kib = rss_kib
        self.logs = logs
        self.exit_status = exit_status

    def __repr__(self) -> str:
        return f"<Outcome {self.kind} status={self.status} error_type={self.error_type!r}>"


# Go's names for signals, as Lambda prints them ("signal: killed").
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGHUP: "hangup",
    signal.SIGINT: "interrupt",
    signal.SIGQUIT: "quit",
    signal.SIGPIPE: "broken pipe",
    signal.SIGALRM: "alarm clock",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGXCPU: "CPU time limit exceeded",
}


def describe_exit(status: int | None) -> str:
    """Lambda's wording for how a runtime process ended, from a wait status."""
    if status is None:
        return "Runtime exited with error: signal: killed"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = _SIGNAL_NAMES.get(sig, f"signal {sig}")
        return f"Runtime exited with error: signal: {name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    if code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {code}"


class Environment:
    """The bookkeeping every environment carries, and the interface it implements.

    The pool and the Invoker read and write these attributes (``state``,
    ``last_used``, ``invocations`` …) whatever the backend; a backend's
    environment calls ``_books`` first in its constructor.

    States::

        STARTING ──init ok──▶ IDLE ⇄ BUSY ──timeout/crash/OOM/close──▶ DEAD
            └────init failed──────────────────────────────────────────▶ DEAD
    """

    __slots__ = (
        "created",
        "id",
        "init_type",
        "invocations",
        "key",
        "last_used",
        "max_rss_kib",
        "memory_limit_kib",
        "pid",
        "provisioned",
        "sandboxed",
        "state",
        "stream_name",
        "tmpdir",
    )

    def _books(self, key, env_id: str, init_spec: dict, memory_mb: int, pid: int | None) -> None:
        environ = init_spec["environ"]
        self.id = env_id
        self.key = key
        self.pid = pid  # the runtime's process, when it has one of its own
        self.state = "STARTING"
        self.stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        # The host directory behind its /tmp (the pool keeps it across a reset).
        self.tmpdir = init_spec.get("tmpdir") or environ.get("TMPDIR")
        # In a sandbox of its own (_runtime/sandbox.py): a handler sees its own pids only.
        self.sandboxed = init_spec.get("sandbox") is not None
        self.init_type = environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        # True for an environment started by a provisioned-concurrency config.
        self.provisioned = self.init_type == "provisioned-concurrency"
        self.created = self.last_used = time.monotonic()
        self.invocations = 0
        self.max_rss_kib = 0
        self.memory_limit_kib = memory_mb * 1024

    # -- the interface (each backend's environment implements these) ------------
    def wait_init(self, timeout_s: float) -> Outcome:
        """Wait for the init phase begun by ``Backend.start``: ``ready`` or why not."""
        raise NotImplementedError

    def send(self, request: Request) -> bool:
        """Hand over one invocation (state BUSY); False if it was dead before anything ran."""
        raise NotImplementedError

    def receive(self, deadline: float) -> Outcome:
        """Wait for the reply to ``send``'s request, a death, or ``deadline`` (monotonic)."""
        raise NotImplementedError

    def invoke(self, request: Request, deadline: float) -> Outcome:
        """``send`` then ``receive``; an outcome of kind ``"gone"`` when nothing ran."""
        if not self.send(request):
            return Outcome("gone")
        return self.receive(deadline)

    def kill(self) -> None:
        """End it now (a timeout, a memory kill, an Invoker closing under a busy one)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask an idle environment to end by itself; returns at once (``reap`` waits)."""
        raise NotImplementedError

    def reap(self, timeout: float = 5.0) -> int | None:
        """Wait (bounded) until it has ended, release its resources; its wait status if known. Idempotent."""
        raise NotImplementedError

    def end_now(self) -> bool:
        """End an idle environment without waiting, if its kind can make sure it ends; False: it cannot.

        Then ``stop`` and ``reap`` end it.  True means every process of it
        has been sent SIGKILL (or is bound to be by the kernel) and its
        resources here are released.
        """
        return False

    def shut_down(self, grace: float = 1.0) -> None:
        """End an idle environment: ``stop``, then ``reap`` within ``grace`` (killed after it)."""
        if self.state == "DEAD":
            return
        self.stop()
        self.reap(grace)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} pid={self.pid} state={self.state} invocations={self.invocations}>"


class Backend:
    """Makes environments of one kind; owns whatever machinery they share (a zygote, a host).

    ``runtimes`` names the Lambda runtimes it can serve (``None``: any
    Python runtime).  A backend is closed by the Invoker that made or was
    given it, after every environment it started has been ended.
    """

    name = "backend"
    # Whether its environments take a cold start's INVOKE with the INIT (``send_ahead(request, timeout_s)``,
    # before ``wait_init``), the INIT message carrying a ``log_mark`` for the runtime to write between
    # INIT's logs and the invocation's.
    sends_ahead = False

    def serves(self, runtime: str) -> bool:
        """Whether this backend can run functions of ``runtime``."""
        return runtime.startswith("python")

    def prepare(self) -> None:
        """Get ready for a first start (e.g. start a zygote early, in the background); optional."""

    def start(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> Environment:
        """A new environment whose init has begun (``wait_init`` waits for it)."""
        raise NotImplementedError

    def close(self, timeout: float = 1.0) -> None:
        """Release the machinery; bounded by ``timeout``."""

    def stats(self) -> dict:
        """A snapshot for inspection: at least ``name`` and ``started`` (environments started)."""
        return {"name": self.name}

    def pids(self) -> list[int]:
        """Helper processes it runs besides environments (e.g. a zygote), for leak checks."""
        return []

    def sandbox_report(self) -> dict | None:
        """What its sandbox enforces (``{part: None or why not}``, see ``isolation``); None: no sandbox."""
        return None
