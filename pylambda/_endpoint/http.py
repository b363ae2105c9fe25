"""A small HTTP/1.1 server on sockets: what the Lambda API endpoint speaks.

Why not ``http.server``: its ``serve_forever`` polls every 0.5 s, so
``shutdown()`` waits up to half a second (an Invoker's ``close()`` must be
quick); it parses headers with the ``email`` package (most of a warm
request's server-side cost); and it cannot end the keep-alive connections
botocore holds open, which would leave threads blocked on reads after
``close()``.  This one does only what botocore and the AWS CLI send:

- the process's one accept thread (``accept.py``) accepts for it;
  ``close()`` shuts the listening socket down, so nothing listens after
  ``close()`` returns;
- a thread per connection, HTTP/1.1 keep-alive (botocore reuses its
  connections), ``TCP_NODELAY`` (a response is one ``sendall``; Nagle would
  hold a second segment for the client's delayed ACK, ~40 ms);
- ``Content-Length`` or chunked bodies, ``Expect: 100-continue``; a body
  over ``max_body`` is read and dropped (the client would otherwise see a
  reset instead of the 413) and the handler is told how large it was;
- ``close()`` also shuts every open connection down, and waits (bounded)
  for their threads.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from . import accept

__all__ = ["HttpServer", "Request", "Response"]

# Limits on what a request may send before the server stops reading it.
MAX_LINE = 65_536
MAX_HEADERS = 200
_CHUNK = 1 << 20


class Request:
    """One parsed request: method, decoded path segments, query, headers (lower-case names), body."""

    __slots__ = ("body", "body_size", "headers", "method", "path", "query", "raw_path", "segments")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes, body_size: int) -> None:
        split = urlsplit(target)
        self.method = method
        self.raw_path = split.path
        # Segments are split before decoding: a function ARN's ``%3A`` stays inside its segment.
        self.segments = [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        self.path = "/" + "/".join(self.segments)
        self.query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body
        self.body_size = body_size


class Response:
    """What a handler answers: a status, headers and a body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.1 request we can read."""


class HttpServer:
    """Serve ``handle(Request) -> Response`` on ``host:port`` until ``close()``."""

    def __init__(
        self, host: str, port: int, handle: Callable[[Request], Response], max_body: int, name: str = "pylambda-api"
    ) -> None:
        self._handle = handle
        self._max_body = max_body
        self._name = name
        self._sock = socket.create_server((host, port), backlog=128, reuse_port=False)
        self._closed = False
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        accept.add(self._sock, self)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    def _accepted(self, conn: socket.socket) -> None:
        """Serve a new connection on a thread of its own (called by the accept thread)."""
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer is gone already
            conn.close()
            return
        thread = threading.Thread(target=self._serve, args=(conn,), name=f"{self._name}-conn", daemon=True)
        with self._lock:
            if self._closed:
                conn.close()
                return
            self._conns[conn] = thread
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb", buffering=_CHUNK)
        try:
            while not self._closed:
                try:
                    request, keep_alive = self._read(conn, rfile)
                except _BadRequest as e:
                    body = f'{{"message":"{e}"}}'.encode()
                    conn.sendall(self._head(400, [("Content-Type", "application/json")], len(body), False) + body)
                    return
                if request is None:
                    return
                response = self._handle(request)
                body = b"" if request.method == "HEAD" else response.body
                conn.sendall(self._head(response.status, response.headers, len(response.body), keep_alive) + body)
                if not keep_alive:
                    return
        except OSError:  # the peer went away, or close() shut the connection down
            pass
        finally:
            with self._lock:
                self._conns.pop(conn, None)
            try:
                rfile.close()
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]], length: int, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        lines.append(f"Content-Length: {length}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _read(self, conn: socket.socket, rfile) -> tuple[Request | None, bool]:
        line = rfile.readline(MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 §2.2)
            line = rfile.readline(MAX_LINE + 1)
        if not line:
            return None, False
        if len(line) > MAX_LINE:
            raise _BadRequest("request line too long")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest("malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        while True:
            h = rfile.readline(MAX_LINE + 1)
            if len(h) > MAX_LINE or len(headers) > MAX_HEADERS:
                raise _BadRequest("request headers too large")
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest("malformed header line")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        if headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, size = self._read_chunked(rfile)
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                raise _BadRequest("invalid Content-Length") from None
            if length < 0:
                raise _BadRequest("invalid Content-Length")
            body, size = self._read_exactly(rfile, length)
        return Request(method, target, headers, body, size), keep_alive

    def _read_exactly(self, rfile, length: int) -> tuple[bytes, int]:
        """The body, or b"" once it is over ``max_body`` (then read and dropped); and its size."""
        if length <= self._max_body:
            body = rfile.read(length)
            if len(body) < length:
                raise OSError("connection closed mid-body")
            return body, length
        left = length
        while left:
            got = rfile.read(min(left, _CHUNK))
            if not got:
                raise OSError("connection closed mid-body")
            left -= len(got)
        return b"", length

    def _read_chunked(self, rfile) -> tuple[bytes, int]:
        parts: list[bytes] = []
        size = 0
        while True:
            line = rfile.readline(MAX_LINE + 1)
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest("malformed chunk size") from None
            if n == 0:
                while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                break
            chunk = rfile.read(n)
            rfile.readline(MAX_LINE + 1)
            size += len(chunk)
            if size <= self._max_body:
                parts.append(chunk)
            else:
                parts.clear()
        return (b"".join(parts) if size <= self._max_body else b""), size

    def close(self, timeout: float = 1.0) -> None:
        """Stop listening, end every connection, wait (bounded) for the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = dict(self._conns)
        accept.remove(self._sock)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # no longer listening, at once
        except OSError:
            pass
        self._sock.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in conns.values():
            if thread is not threading.current_thread():  # a handler may close its own endpoint
                thread.join(max(0.0, deadline - time.monotonic()))
