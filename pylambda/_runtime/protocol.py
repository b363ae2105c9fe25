"""The wire between the Invoker and one execution environment.

Every message is a frame: a 5-byte header (``<IB``: body length, kind) then the
body.  Frames travel over two private ``os.pipe`` pairs per environment, one per
direction; stdout and stderr of the environment go to a third pipe and never
share a channel with frames, so a handler's ``print`` cannot corrupt the wire.

Why not pickle or attrs here: this module is imported inside the environment,
which must stay stdlib-only and small (design.md, "Environment").  The hot
messages (``INVOKE`` and ``RESULT``) are packed with :mod:`struct`; the event and
the response travel as JSON bytes, untouched.  The cold messages (``INIT`` and
``INIT_FAILED``) carry a stdlib pickle of plain dicts, paid once per
environment.

Conversation::

    parent                                   environment
      INIT  ───────────────────────────────▶  set env, chdir, import handler
            ◀───────────────────────  INIT_DONE | INIT_FAILED (then exits)
      INVOKE ──────────────────────────────▶  context, handler(event, context)
            ◀──────────────────────────────  RESULT            (repeat)
      EOF on the request pipe  ────────────▶  exit 0

A death at any point shows as EOF on the response pipe; the zygote, which is
the real parent process, then reports the wait status on a status pipe.
"""

from __future__ import annotations

import os
import struct
from _socket import CMSG_LEN, SCM_RIGHTS, SOL_SOCKET

__all__ = [
    "FLAG_SPIN",
    "FLAG_TIMEOUT",
    "HEADER",
    "INIT",
    "INIT_DONE",
    "INIT_FAILED",
    "INVOKE",
    "INVOKE_HEAD",
    "RESULT",
    "RESULT_FRAME",
    "RESULT_HEAD",
    "STATUS_BYTES",
    "STATUS_ERROR",
    "STATUS_JSON",
    "read_exact",
    "recv_fds",
    "send_fds",
    "write_all",
]

HEADER = struct.Struct("<IB")

# Parent -> environment.
INIT = 1
INVOKE = 2

# Environment -> parent.
INIT_DONE = 10
INIT_FAILED = 11
RESULT = 12

# INVOKE body: deadline (epoch ms), flags, then the lengths of request id,
# invoked ARN, trace header, client context JSON and cognito identity JSON;
# the five strings follow in that order, then the event bytes fill the rest.
INVOKE_HEAD = struct.Struct("<QBBHHHH")
# Flag: after replying, poll for the next request for a moment before
# blocking, yielding the CPU meanwhile (few invocations are in flight; see
# Invoker._spin).
FLAG_SPIN = 1
# Flag: the deadline field holds the function's timeout in ms, counted from
# when the environment starts the invocation.  A cold start's INVOKE is sent
# with its INIT (``ProcessEnvironment.send_ahead``), before anyone knows when
# the INIT ends.
FLAG_TIMEOUT = 2

# RESULT body: status, length of the error type, handler duration (ms), peak
# RSS of the environment (KiB, from getrusage); the error type follows, then
# the payload bytes fill the rest.
RESULT_HEAD = struct.Struct("<BBdQ")
# The frame header and the RESULT head packed in one call by the environment.
RESULT_FRAME = struct.Struct("<IB" + RESULT_HEAD.format[1:])
STATUS_JSON = 0
STATUS_BYTES = 1
STATUS_ERROR = 2


# File descriptors travel as SCM_RIGHTS ancillary data, native ints (the
# zygote's requests and answers, a spare's claim).  Written against ``_socket``
# rather than with ``socket.recv_fds``/``send_fds``: the ``socket`` module (with
# ``selectors``) is a fifteenth of the zygote's imports, and nothing else in an
# environment needs it.
_FD = struct.Struct("i")


def recv_fds(sock, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One message and the descriptors attached to it."""
    msg, ancdata, _flags, _addr = sock.recvmsg(bufsize, CMSG_LEN(maxfds * _FD.size))
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            whole = len(data) - len(data) % _FD.size
            fds.extend(fd for (fd,) in _FD.iter_unpack(data[:whole]))
    return msg, fds


def send_fds(sock, data: bytes, fds: list[int]) -> None:
    """Send ``data`` with ``fds`` attached."""
    ancdata = [(SOL_SOCKET, SCM_RIGHTS, b"".join(_FD.pack(fd) for fd in fds))] if fds else []
    sock.sendmsg([data], ancdata)


def read_exact(fd: int, n: int, first: bytes = b"") -> bytes:
    """Read exactly ``n`` bytes from ``fd``, starting with ``first`` already read.

    Large bodies are read into one preallocated buffer (no list of chunks to
    join), since a 6 MB payload is about copies, not the transport.

    Raises:
        EOFError: the other end closed before ``n`` bytes arrived.
    """
    if len(first) >= n:
        return first
    buf = bytearray(n)
    view = memoryview(buf)
    got = len(first)
    view[:got] = first
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise EOFError("pipe closed mid-frame")
        got += k
    return bytes(buf)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (pipes may accept a large write in parts)."""
    n = os.write(fd, data)
    if n == len(data):
        return
    view = memoryview(data)
    while n < len(data):
        n += os.write(fd, view[n:])
