"""The Lambda Runtime API, hosted on 127.0.0.1 for one execution environment (stdlib only).

A runtime (Node, a ``provided`` bootstrap, AWS's ``awslambdaric``) finds the
host in ``AWS_LAMBDA_RUNTIME_API`` and speaks HTTP/1.1 to it::

    GET  /2018-06-01/runtime/invocation/next          parks until an invocation; 200 + the event
    POST /2018-06-01/runtime/invocation/{id}/response 202 (413 over 6,291,556 bytes)
    POST /2018-06-01/runtime/invocation/{id}/error    202
    POST /2018-06-01/runtime/init/error               202; the runtime exits after it
    anything for an unknown, stale or empty id        400 InvalidRequestID

There is no server thread.  The environment's caller thread does all the I/O
while it waits (``RuntimeApiEnvironment``): it accepts connections, reads
requests as they complete, answers the parked ``next`` with the event and
reads the reply on the same keep-alive connection.  A warm invocation is then
one write and two reads on one socket, with no thread hand-off (a threaded
host adds 60-120 µs per invocation on this kind of machine).  Between
invocations nothing reads: the runtime's next ``GET`` waits in the socket
buffer, as a frozen Lambda sandbox would.

What real clients need (measured, ``reference/runtime-api.md``): Nagle off
(else delayed ACKs cost ~44 ms per request), chunked request bodies with
trailers (Go posts every body chunked), ``Expect: 100-continue`` answered
(curl sends it for bodies over 1 MB), any request ``Content-Type``.
"""

from __future__ import annotations

import json
import socket

__all__ = ["MAX_RESPONSE_BYTES", "Connection", "HttpRequest", "Listener", "ProtocolError", "response"]

# Lambda's synchronous response limit (6 MiB + 100 bytes).
MAX_RESPONSE_BYTES = 6_291_556
# The largest request head accepted; more is not a Runtime API client.
MAX_HEAD = 64 * 1024
# The largest body read at all (an oversized response is read, then refused);
# beyond it the connection is dropped.
MAX_DRAIN = 64 * 1024 * 1024
_PREFIX = "/2018-06-01/runtime/"
_READ_SIZE = 1 << 16

_REASONS = {
    100: "Continue",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}


class ProtocolError(Exception):
    """A request that is not HTTP/1.1 as a Runtime API client speaks it (the connection is dropped)."""


class HttpRequest:
    """One complete request: method, path, lower-cased headers, body (internal)."""

    __slots__ = ("body", "headers", "method", "path", "too_large")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, too_large: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.too_large = too_large  # the body passed MAX_RESPONSE_BYTES (not kept)

    def route(self) -> tuple[str, str]:
        """(what, request id): ``next``, ``response``, ``error``, ``init_error``, or ``unknown``."""
        path = self.path.split("?", 1)[0]
        if not path.startswith(_PREFIX):
            return "unknown", ""
        rest = path[len(_PREFIX) :]
        if rest == "invocation/next":
            return ("next", "") if self.method == "GET" else ("unknown", "")
        if rest == "init/error":
            return ("init_error", "") if self.method == "POST" else ("unknown", "")
        if rest.startswith("invocation/") and self.method == "POST":
            request_id, _, what = rest[len("invocation/") :].rpartition("/")
            if what in ("response", "error"):
                return what, request_id
        return "unknown", ""


def response(status: int, body: bytes = b"", headers: str = "", close: bool = False) -> bytes:
    """An HTTP/1.1 response, whole (one write; Nagle is off)."""
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}{headers}\r\n"
    ).encode() + body


def error_response(status: int, error_type: str, message: str, close: bool = False) -> bytes:
    """A Runtime API error answer: ``{"errorMessage": …, "errorType": …}``."""
    return response(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode(), close=close)


ACCEPTED = response(202, b'{"status":"OK"}')
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connection:
    """One accepted connection and its unparsed input (internal; read by the caller thread)."""

    __slots__ = ("buf", "continued", "fd", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = b""
        self.continued = False  # 100 Continue sent for the request being read

    def feed(self) -> bool:
        """Read what is there (non-blocking); False on EOF or a reset.

        Reads of 64 KiB: a larger ``recv`` allocates (and the allocator maps
        and unmaps) a buffer that size on every call, ~150 µs for 1 MB.
        """
        recv = self.sock.recv
        while True:
            try:
                chunk = recv(_READ_SIZE)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.buf = self.buf + chunk if self.buf else chunk
            if len(chunk) < _READ_SIZE:
                return True

    def send(self, data: bytes) -> bool:
        """Write a whole answer; False if the peer is gone.

        One non-blocking ``send`` takes a small answer whole (the socket
        buffer is empty: the client waits for it); a large event's rest is
        written blocking.
        """
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return False
        if sent == len(data):
            return True
        try:
            sock.setblocking(True)
            sock.sendall(memoryview(data)[sent:])
            sock.setblocking(False)
            return True
        except OSError:
            return False

    def next_request(self) -> HttpRequest | None:
        """The next complete request in the buffer (consumed), or None until more arrives.

        Raises:
            ProtocolError: the input is not a request this host understands.
        """
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise ProtocolError("request head too large")
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        try:
            method, path, _version = lines[0].split(" ", 2)
        except ValueError:
            raise ProtocolError(f"bad request line {lines[0]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = self._chunked(buf, start)
            if parsed is None:
                self._maybe_continue(headers)
                return None
            body, consumed, too_large = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
            if length > MAX_DRAIN:
                raise ProtocolError("request body too large to read")
            if len(buf) - start < length:
                self._maybe_continue(headers)
                return None
            # An oversized body is read to its end (a client still writing it
            # would see a reset and die), then refused with a 413.
            too_large = length > MAX_RESPONSE_BYTES
            body, consumed = (b"" if too_large else buf[start : start + length]), start + length
        self.buf = buf[consumed:]
        self.continued = False
        return HttpRequest(method, path, headers, body, too_large)

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if not self.continued and headers.get("expect", "").lower() == "100-continue":
            self.continued = True
            self.send(CONTINUE)

    @staticmethod
    def _chunked(buf: bytes, pos: int) -> tuple[bytes, int, bool] | None:
        """De-chunk from ``pos``: (body, bytes consumed, too large), or None if incomplete.

        Trailer fields after the last chunk (Go sends some) are read and ignored.
        """
        parts = []
        size_total = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            try:
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            pos = eol + 2
            if size == 0:
                break
            if len(buf) < pos + size + 2:
                return None
            if size_total <= MAX_RESPONSE_BYTES:
                parts.append(buf[pos : pos + size])
            size_total += size
            pos += size + 2
        while True:  # trailer lines, up to the empty one
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            if eol == pos:
                pos += 2
                break
            pos = eol + 2
        too_large = size_total > MAX_RESPONSE_BYTES
        return (b"" if too_large else b"".join(parts)), pos, too_large

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Listener:
    """The host's listening socket on 127.0.0.1 (an ephemeral port, or ``sock``: one made elsewhere).

    ``sock`` is an environment's own when it has no network: the sandbox's
    init made it in the environment's network namespace (``_runtime/sandbox.py``).
    """

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.address = f"127.0.0.1:{sock.getsockname()[1]}"

    def accept(self) -> list[Connection]:
        """Every connection waiting to be accepted."""
        conns = []
        while True:
            try:
                sock, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return conns
            except OSError:
                return conns
            conns.append(Connection(sock))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
