"""An execution environment that runs in the caller's own process and thread.

For debugging (``breakpoint()`` stops in the handler), for ``mock.patch``
applied in the test reaching the handler directly, and for tracebacks that
point at the test.  It implements the environment contract (``backend``),
so everything above it (history, logs, metrics, async, bills) works
unchanged, and it produces the same payloads, logs and REPORT lines.

During init and each invocation the process wears the environment's clothes:
``os.environ`` is replaced by the Lambda environment, the working directory,
``sys.path``, ``TMPDIR``, ``TZ``, ``sys.stdout``/``sys.stderr`` and the root
logger are switched, and all of it is restored afterwards.

What it cannot enforce (documented in docs/inline.md): memory limits, a hard
kill at the timeout (a late handler is reported as timed out when it
returns), isolation (the handler shares the caller's modules, globals and
threads; ``os._exit`` ends the caller), fd-level output (only Python-level
``print``/``sys.stdout``/``logging`` are captured).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
import time

from .._runtime import bootstrap as _bootstrap
from .._runtime import context as _context
from .._runtime import marshal as _marshal
from .._runtime.faults import resolve_handler
from .backend import STATUS_ERROR, Backend, Environment, Outcome, Request

__all__ = ["InlineBackend", "InlineEnvironment", "switch_lock"]

# One inline environment at a time: they switch process-wide state (the
# caller's imports of a function's code too, see imports.py).
switch_lock = _switch = threading.RLock()


class InlineBackend(Backend):
    """Environments that run handlers in the calling thread (``Invoker(mode="inline")``)."""

    name = "inline"

    def __init__(self) -> None:
        self._started = 0

    def start(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> InlineEnvironment:
        """A new inline environment (its init runs in ``wait_init``, in the caller's thread)."""
        self._started += 1
        return InlineEnvironment(key, env_id, init_spec, memory_mb)

    def stats(self) -> dict:
        """Name and environments started."""
        return {"name": self.name, "started": self._started}


class InlineEnvironment(Environment):
    """An environment whose handler runs in the calling thread."""

    __slots__ = ("_decode", "_encode", "_handler", "_json_logs", "_request", "_spec")

    def __init__(self, key, env_id: str, init_spec: dict, memory_mb: int) -> None:
        self._books(key, env_id, init_spec, memory_mb, os.getpid())
        self._request: Request | None = None
        self._spec = init_spec
        self._handler = None
        self._json_logs = init_spec["environ"].get("AWS_LAMBDA_LOG_FORMAT") == "JSON"
        self._encode = _bootstrap._encoder(init_spec["runtime"])
        self._decode = _marshal.decoder()

    @contextlib.contextmanager
    def _worn(self, out: io.StringIO):
        """Switch the process into this environment; restore everything after."""
        spec = self._spec
        with _switch:
            saved_environ = dict(os.environ)
            saved_cwd = os.getcwd()
            saved_path = list(sys.path)
            saved_tempdir = tempfile.tempdir
            saved_streams = (sys.stdout, sys.stderr)
            root = logging.getLogger()
            saved_handlers, saved_level = list(root.handlers), root.level
            saved_static = _context._static
            try:
                os.environ.clear()
                os.environ.update(spec["environ"])
                time.tzset()
                tempfile.tempdir = None
                os.chdir(spec["task_root"])
                sys.path[:] = [spec["task_root"], *saved_path]
                sys.stdout = sys.stderr = out
                _bootstrap._setup_logging(os.environ.get("AWS_LAMBDA_LOG_LEVEL"), self._json_logs)
                _context.load_static_fields()
                yield
            finally:
                os.environ.clear()
                os.environ.update(saved_environ)
                time.tzset()
                tempfile.tempdir = saved_tempdir
                os.chdir(saved_cwd)
                sys.path[:] = saved_path
                sys.stdout, sys.stderr = saved_streams
                root.handlers[:] = saved_handlers
                root.setLevel(saved_level)
                _context._static = saved_static

    def wait_init(self, timeout_s: float) -> Outcome:
        """Load the handler (the init phase) in this thread."""
        out = io.StringIO()
        start = time.perf_counter()
        with self._worn(out):
            try:
                handler = _bootstrap.load_handler(self._spec, self._import)
            except SystemExit as e:
                self.state = "DEAD"
                return Outcome("exit", logs=out.getvalue().encode(), exit_status=_bootstrap._exit_code(e) << 8)
            except BaseException as e:  # any init failure is reported, as RIC does
                error_type, payload = _bootstrap.report_init_error(e, self._json_logs, out)
                self.state = "DEAD"
                return Outcome(
                    "init_error",
                    status=STATUS_ERROR,
                    error_type=error_type,
                    payload=payload,
                    duration_ms=(time.perf_counter() - start) * 1000,
                    logs=out.getvalue().encode(),
                )
        self._handler = handler
        self.state = "IDLE"
        return Outcome("ready", duration_ms=(time.perf_counter() - start) * 1000, logs=out.getvalue().encode())

    def _import(self, handler: str):
        """Import the handler module, the caller's copy if it is the same file.

        Reusing a module the caller already imported from this code root is
        what lets a test's ``mock.patch("app.send")`` reach the handler.  A
        module of the same name from elsewhere (another function's ``app``)
        is set aside for the import and put back afterwards, so two
        functions' modules never mix.
        """
        modname = handler.rsplit(".", 1)[0].replace("/", ".") if "." in handler else handler
        existing = sys.modules.get(modname)
        root = os.path.realpath(self._spec["task_root"]) + os.sep
        source = getattr(existing, "__file__", None)
        if existing is None or (source and os.path.realpath(source).startswith(root)):
            return resolve_handler(handler)
        saved = sys.modules.pop(modname)
        try:
            return resolve_handler(handler)
        finally:
            sys.modules[modname] = saved

    def send(self, request: Request) -> bool:
        """Take the request (it runs in ``receive``, in the calling thread)."""
        self.state = "BUSY"
        self.invocations += 1
        self._request = request
        return True

    def receive(self, deadline: float) -> Outcome:
        """Run the request ``send`` took; a late handler is reported as timed out."""
        request = self._request
        self._request = None
        request_id, trace = request.request_id, request.trace
        cc = request.client_context
        client_context = self._decode(cc.decode()) if cc else None
        out = io.StringIO()
        with self._worn(out):
            if trace:
                os.environ["_X_AMZN_TRACE_ID"] = trace
            _bootstrap._current.value = request_id
            ctx = _context.LambdaContext(request_id, client_context, None, request.deadline_ms, request.invoked_arn)
            start = time.perf_counter()
            try:
                status, payload, etype = _bootstrap.run_handler(
                    self._handler, request.body, ctx, request_id, self._encode, self._decode, self._json_logs, out
                )
            except SystemExit as e:
                self.state = "DEAD"
                return Outcome("exit", logs=out.getvalue().encode(), exit_status=_bootstrap._exit_code(e) << 8)
            finally:
                _bootstrap._current.value = ""
            elapsed = (time.perf_counter() - start) * 1000
        if time.monotonic() > deadline:
            self.state = "DEAD"
            return Outcome("timeout", logs=out.getvalue().encode())
        self.state = "IDLE"
        return Outcome(
            "result",
            status=status,
            error_type=etype.decode(),
            payload=payload,
            duration_ms=elapsed,
            logs=out.getvalue().encode(),
        )

    def kill(self) -> None:
        """Nothing to kill: mark it dead (a running handler cannot be stopped)."""
        self.state = "DEAD"

    def stop(self) -> None:
        """Nothing runs between invocations: nothing to do."""

    def reap(self, timeout: float = 0.0) -> int | None:
        """Nothing to reap."""
        self.state = "DEAD"
        return None

    def shut_down(self, grace: float = 0.0) -> None:
        """Mark it dead."""
        self.state = "DEAD"
