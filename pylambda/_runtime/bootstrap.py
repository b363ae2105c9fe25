"""The runtime loop inside one execution environment (the child side).

Shaped like the AWS Python runtime (RIC ``bootstrap.run``): set up logging,
load the handler (the init phase), then serve invocations one at a time until
the request pipe closes.  Differences from RIC, on purpose: the transport is a
private pipe instead of the Runtime API over HTTP, per-invocation state lives
in locals instead of module globals, and the environment is set from the
``INIT`` message instead of being inherited.

The environment ends itself in three ways only: EOF on the request pipe
(Invoker closed or died: exit 0), an init failure (report, then exit 1 as RIC
does), or the handler calling ``sys.exit``/``os._exit`` (exit with that code,
which the parent reports as ``Runtime.ExitError``).  Timeouts and memory
overruns are enforced from outside by killing the process.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import pickle
import resource
import select
import sys
import time
import traceback
import types

from . import context as _context
from . import snapshot as _snapshot
from .faults import Fault, error_log_line, error_payload, resolve_handler
from .handler_code import precompiled
from .marshal import decoder, encoder
from .protocol import (
    FLAG_SPIN,
    FLAG_TIMEOUT,
    HEADER,
    INIT_DONE,
    INIT_FAILED,
    INVOKE_HEAD,
    RESULT,
    RESULT_FRAME,
    RESULT_HEAD,
    STATUS_BYTES,
    STATUS_ERROR,
    STATUS_JSON,
    read_exact,
    write_all,
)

__all__ = ["load_handler", "main", "parse_invoke", "report_init_error", "run_handler"]

# Lambda's synchronous response limit (6 MiB + 100 bytes): a larger response is
# a function error, checked here so an oversized body never crosses the pipe.
MAX_RESPONSE_BYTES = 6_291_556
_TOO_LARGE = (
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).",'
    b'"errorType":"Function.ResponseSizeTooLarge"}'
)
# How long an environment polls for the next request after replying, when the
# Invoker asked it to (invocations do not outnumber the cores).  The loop
# yields the CPU on every turn (sched_yield), so it only uses time nothing
# else wants.  Longer catches slower callers and costs more idle CPU when no
# request comes.
SPIN_S = 0.0001

_INIT_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the "
    "function code. However, in rare cases, a Lambda runtime update can cause "
    "unexpected function behavior. For functions using managed runtimes, runtime "
    "updates can be triggered by a function change, or can be applied "
    "automatically. To determine if the runtime has been updated, check the runtime "
    "version in the INIT_START log entry. If this error correlates with a change in "
    "the runtime version, you may be able to mitigate this error by temporarily "
    "rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)


class _RequestId:
    """The id of the invocation in progress, read by the logging filter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = ""


_current = _RequestId()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current.value
        return True


# Attributes every LogRecord has; anything else came from ``extra=`` and is
# merged into the JSON object, as RIC's JsonFormatter does.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "aws_request_id",
}


class _JsonFormatter(logging.Formatter):
    """RIC's JSON log format: one object per record, second-precision UTC timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": "DEBUG" if record.levelname == "TRACE" else record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["stackTrace"] = traceback.format_tb(record.exc_info[2])
            doc["errorType"] = type(exc).__name__
            doc["errorMessage"] = str(exc)
        doc["requestId"] = getattr(record, "aws_request_id", "") or None
        doc["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                doc[key] = value
        return json.dumps({k: v for k, v in doc.items() if v is not None}, default=str)


def _setup_logging(level: str | None, json_format: bool) -> None:
    """Install RIC's handler on the root logger, in Text or JSON format.

    In Text format the root level stays at WARNING unless
    ``AWS_LAMBDA_LOG_LEVEL`` is set, which is why ``logging.info`` is silent
    by default on Lambda; in JSON format Lambda sets that variable to the
    function's application log level (INFO by default).
    """
    handler = logging.StreamHandler(sys.stdout)
    if json_format:
        formatter: logging.Formatter = _JsonFormatter()
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    if level:
        root.setLevel({"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))


def _unbuffered_std_streams() -> None:
    """Point sys.stdout/stderr at fds 1/2 with every write going straight out.

    Lambda's stdout is unbuffered: output written before a crash or a timeout
    must still reach the log, so nothing may sit in a Python buffer.
    """
    for fd, name in ((1, "stdout"), (2, "stderr")):
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _encoder(runtime: str):
    """RIC's response encoder: Decimal allowed, NaN allowed, UTF-8 from 3.12."""
    version = runtime.removeprefix("python")
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
        ensure_ascii = (major, minor) < (3, 12)
    except ValueError:
        ensure_ascii = True

    def default(o):
        import decimal  # here: the zygote imports it only once idle, see zygote._preload_later

        if isinstance(o, decimal.Decimal):
            # RIC emits the decimal text verbatim (simplejson RawJSON); the
            # stdlib encoder cannot, so integral values stay exact and others
            # become the nearest float.  Documented as a difference.
            if o.is_nan():
                return math.nan
            return int(o) if o == o.to_integral_value() else float(o)
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    return encoder(default, ensure_ascii=ensure_ascii)


_DYNAMIC = "<dynamic-code>"


def _restore_filenames(handler, filename: str) -> None:
    """Give a by-value handler back its source file name.

    cloudpickle (3.1+) replaces ``co_filename`` with ``<dynamic-code>`` so its
    payloads are deterministic; line numbers survive.  Without the file name
    every stack trace and log location of a handler defined in a test file
    would point nowhere, so it is restored on the handler and on the
    functions of the same module it references.
    """

    def fix(code: types.CodeType) -> types.CodeType:
        consts = tuple(fix(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
        name = filename if code.co_filename == _DYNAMIC else code.co_filename
        if name == code.co_filename and consts == code.co_consts:
            return code
        return code.replace(co_filename=name, co_consts=consts)

    module = getattr(handler, "__module__", None)
    candidates = [handler, *getattr(handler, "__globals__", {}).values()]
    for obj in candidates:
        if isinstance(obj, types.FunctionType) and obj.__module__ == module and obj.__code__.co_filename == _DYNAMIC:
            obj.__code__ = fix(obj.__code__)


_coverage = None


def _start_coverage(conf: dict) -> None:
    """Measure this environment with the caller's coverage settings (the caller is measured).

    The data goes to a suffixed file next to the caller's, which pytest-cov
    (or ``coverage combine``) merges; it is saved when the environment exits
    normally (EOF, init failure, ``sys.exit``), not when it is killed.
    """
    global _coverage
    try:
        import coverage
    except ImportError:
        return
    _coverage = coverage.Coverage(
        data_file=conf["data_file"],
        data_suffix=True,
        config_file=conf.get("config_file") or False,
        source=conf.get("source"),
        include=conf.get("include"),
        omit=conf.get("omit"),
        branch=conf.get("branch"),
    )
    _coverage.start()


def _exit(code: int) -> None:
    """End the environment process, saving coverage data first when measuring."""
    if _coverage is not None:
        try:
            _coverage.stop()
            _coverage.save()
        except Exception:
            pass
    sys.stdout.flush()
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _read_frame(fd: int) -> tuple[int, bytes, bytes] | None:
    """The next frame (kind, body, what was read past it), or None when the parent closed the pipe.

    Past it: the start of the INVOKE a cold start sends with its INIT.
    """
    chunk = os.read(fd, 65536)
    if not chunk:
        return None
    if len(chunk) < HEADER.size:
        chunk = read_exact(fd, HEADER.size, chunk)
    size, kind = HEADER.unpack_from(chunk)
    end = HEADER.size + size
    chunk = read_exact(fd, end, chunk)
    return kind, chunk[HEADER.size : end], chunk[end:]


def _send(fd: int, kind: int, body: bytes) -> None:
    write_all(fd, HEADER.pack(len(body), kind) + body)


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def load_handler(spec: dict, resolve=resolve_handler):
    """The user's part of init: the setup hook, then the handler (unpickled, or imported by ``resolve``)."""
    setup = spec.get("setup")
    if setup is not None:
        pickle.loads(setup)()
    if spec.get("handler_pickle") is not None:
        handler = pickle.loads(spec["handler_pickle"])
        if spec.get("handler_file"):
            _restore_filenames(handler, spec["handler_file"])
        return handler
    with precompiled(spec.get("handler_code")):
        return resolve(spec["handler"])


def report_init_error(exc: BaseException, json_logs: bool, stdout) -> tuple[str, bytes]:
    """Log an init failure as RIC does (the error line, then LAMBDA_WARNING); return (type, payload)."""
    error_type, payload = error_payload(exc, "")
    stdout.write(error_log_line(error_type, payload, json_logs))
    logging.warning(_INIT_WARNING + ("" if json_logs else "\r"))
    return error_type, json.dumps(payload).encode()


def _init(req_r: int, resp_w: int):
    """Run the init phase; return the handler or exit the process."""
    frame = _read_frame(req_r)
    if frame is None:
        _exit(0)
    spec = pickle.loads(frame[1])
    start = time.perf_counter()
    os.environ.clear()
    os.environ.update(spec["environ"])
    time.tzset()  # TZ=:UTC, as on Lambda
    tempfile = sys.modules.get("tempfile")  # if imported: re-read TMPDIR, /tmp is private here
    if tempfile is not None:
        tempfile.tempdir = None
    task_root = spec["task_root"]
    os.chdir(task_root)
    sys.path[:] = [task_root, *spec["sys_path"]]
    if spec.get("coverage"):
        _start_coverage(spec["coverage"])
    # A live code directory may be edited and re-imported by the next
    # environment within the same second: bytecode caches keyed on whole-second
    # mtimes could then serve the old code, so none are written.
    sys.dont_write_bytecode = bool(spec.get("live_code"))
    _unbuffered_std_streams()
    json_logs = os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON"
    _setup_logging(os.environ.get("AWS_LAMBDA_LOG_LEVEL"), json_logs)
    _context.load_static_fields()
    snap_start = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"
    _snapshot.install_hooks_module()
    try:
        handler = load_handler(spec)
        if snap_start:  # the end of a SnapStart init: the function's before-snapshot hooks
            _snapshot.before_snapshot()
    except SystemExit as e:
        _exit(_exit_code(e))
    except BaseException as e:
        error_type, body = report_init_error(e, json_logs, sys.stdout)
        elapsed = (time.perf_counter() - start) * 1000.0
        etype = error_type.encode()
        _send(resp_w, INIT_FAILED, RESULT_HEAD.pack(STATUS_ERROR, len(etype), elapsed, _peak_rss_kib()) + etype + body)
        _exit(1)
    elapsed = (time.perf_counter() - start) * 1000.0
    mark = spec.get("log_mark")
    if mark:  # the invocation sent with this INIT starts at once: its logs follow this mark
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    _send(resp_w, INIT_DONE, RESULT_HEAD.pack(STATUS_JSON, 0, elapsed, _peak_rss_kib()))
    if mark:  # after INIT_DONE: the caller is woken once, by INIT_DONE, and finds the mark behind it
        os.write(1, mark)
    return handler, spec["runtime"], json_logs, frame[2]


_unpack_invoke = INVOKE_HEAD.unpack_from
_INVOKE_HEAD_SIZE = INVOKE_HEAD.size


def parse_invoke(body: bytes, start: int, decode):
    """The fields of an INVOKE body that begins at ``start`` in ``body``.

    Returns (deadline_ms, flags, request_id, invoked_arn, trace, client
    context, cognito identity, offset of the event bytes).  Each field is
    decoded from its own bytes (the lengths are byte counts), and the two
    optional documents are looked at only when present: this runs on every
    invocation, and the usual one carries neither.
    """
    deadline_ms, flags, n_id, n_arn, n_trace, n_cc, n_cog = _unpack_invoke(body, start)
    arn_at = start + _INVOKE_HEAD_SIZE + n_id
    trace_at = arn_at + n_arn
    end = trace_at + n_trace
    request_id = body[arn_at - n_id : arn_at].decode()
    arn = body[arn_at:trace_at].decode()
    trace = body[trace_at:end].decode()
    if not (n_cc or n_cog):
        return deadline_ms, flags, request_id, arn, trace, None, None, end
    client_context = decode(body[end : end + n_cc].decode()) if n_cc else None
    end += n_cc
    cognito = decode(body[end : end + n_cog].decode()) if n_cog else None
    return deadline_ms, flags, request_id, arn, trace, client_context, cognito, end + n_cog


def _unmarshal(event_bytes: bytes):
    """The event, as RIC's ``json.loads`` of the request bytes gives it, when it is not UTF-8 JSON text.

    ``json.loads`` also accepts a BOM and UTF-16/32, and says why anything
    else is not JSON.
    """
    try:
        return json.loads(event_bytes)
    except ValueError as e:
        raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from None


def run_handler(handler, event_bytes: bytes, ctx, request_id: str, encode, decode, json_logs: bool, stdout):
    """Call the handler as RIC does: (status, response bytes, error type bytes).

    Exceptions become the error document (and the ``[ERROR]`` log line);
    ``SystemExit`` propagates, since what it means depends on who runs this.
    """
    try:
        try:
            event = decode(event_bytes.decode())
        except ValueError:  # not UTF-8 JSON text: the slow path decides
            event = _unmarshal(event_bytes)
        result = handler(event, ctx)
        if result is None:  # the most common result: no encoder call
            return STATUS_JSON, b"null", b""
        if result.__class__ is bytes:
            status, out = STATUS_BYTES, result
        else:
            try:
                out = encode(result).encode()
            except (Exception, RecursionError) as e:
                raise Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from None
            status = STATUS_JSON
        if len(out) > MAX_RESPONSE_BYTES:
            return STATUS_ERROR, _TOO_LARGE, b"Function.ResponseSizeTooLarge"
        return status, out, b""
    except SystemExit:
        raise
    except BaseException as e:  # the handler's failure is the result
        error_type, payload = error_payload(e, request_id)
        stdout.write(error_log_line(error_type, payload, json_logs))
        return STATUS_ERROR, json.dumps(payload).encode(), error_type.encode()


def main(req_r: int, resp_w: int) -> None:
    """Serve one environment's life: init, then invocations until EOF.

    This loop is the environment's share of every warm invocation, so it is
    written flat: names bound to locals, one read and one write per
    invocation in the common case, no per-call setup.
    """
    handler, runtime, json_logs, pending = _init(req_r, resp_w)
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # a SnapStart template
        req_r, resp_w = _snapshot.serve(req_r, resp_w)  # returns in each restored environment
    encode = _encoder(runtime)
    decode = decoder()
    environ = os.environ
    # os.environ's __setitem__ encodes key and value in three Python-level
    # calls; the trace header changes on every invocation, so the loop sets it
    # as that method does (putenv, then the mapping's bytes store) directly.
    environ_data = getattr(environ, "_data", None)
    putenv, unsetenv = os.putenv, os.unsetenv
    trace_key = b"_X_AMZN_TRACE_ID"
    perf = time.perf_counter
    wall = time.time
    read = os.read
    write = os.write
    getrusage = resource.getrusage
    rusage_self = resource.RUSAGE_SELF
    pack_result = RESULT_FRAME.pack
    unpack_frame = HEADER.unpack_from
    make_context = _context.LambdaContext
    stdout = sys.stdout
    waiter = select.poll()
    waiter.register(req_r, select.POLLIN | select.POLLHUP)
    ready = waiter.poll
    sched_yield = getattr(os, "sched_yield", lambda: None)
    spin_s = 0.0
    while True:
        if pending:  # read with the INIT: the INVOKE sent with it
            chunk, pending = pending, b""
        else:
            if spin_s:  # asked to (invocations do not outnumber the cores): the next request comes soon
                until = perf() + spin_s
                while not ready(0) and perf() < until:
                    sched_yield()
            chunk = read(req_r, 65536)
            if not chunk:
                _exit(0)
        if len(chunk) < HEADER.size:
            chunk = read_exact(req_r, HEADER.size, chunk)
        size = unpack_frame(chunk)[0] + HEADER.size
        if len(chunk) < size:
            chunk = read_exact(req_r, size, chunk)
        deadline_ms, flags, request_id, arn, trace, client_context, cognito, pos = parse_invoke(
            chunk, HEADER.size, decode
        )
        spin_s = SPIN_S if flags & FLAG_SPIN else 0.0
        if flags & FLAG_TIMEOUT:  # sent with the INIT: the timeout runs from now
            deadline_ms += int(wall() * 1000)
        if environ_data is None:  # not CPython's POSIX os.environ
            if trace:
                environ["_X_AMZN_TRACE_ID"] = trace
            else:
                environ.pop("_X_AMZN_TRACE_ID", None)
        elif trace:
            value = trace.encode()
            putenv(trace_key, value)
            environ_data[trace_key] = value
        elif trace_key in environ_data:
            unsetenv(trace_key)
            del environ_data[trace_key]
        _current.value = request_id
        ctx = make_context(request_id, client_context, cognito, deadline_ms, arn)
        start = perf()
        try:
            status, out, etype = run_handler(handler, chunk[pos:], ctx, request_id, encode, decode, json_logs, stdout)
        except SystemExit as e:
            _exit(_exit_code(e))
        elapsed = (perf() - start) * 1000.0
        _current.value = ""
        data = (
            pack_result(RESULT_HEAD.size + len(etype) + len(out), RESULT, status, len(etype), elapsed,
                        getrusage(rusage_self).ru_maxrss)
            + etype
            + out
        )  # fmt: skip
        sent = write(resp_w, data)
        if sent < len(data):  # a large response may need several writes
            write_all(resp_w, data[sent:])
