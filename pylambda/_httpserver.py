"""A local HTTP server on a thread: what function URLs and the API Gateway emulation share.

Each request is handed to ``self._handle(request)`` (a
``BaseHTTPRequestHandler`` for every method), on its own thread, so
concurrent requests reach concurrent environments as they would on Lambda.
Connections are kept alive (HTTP/1.1) and set ``TCP_NODELAY``: a response
is written as headers then body, and with Nagle's algorithm the body would
wait for the client's delayed ACK (~40 ms per request on Linux).
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LocalHttpServer"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class LocalHttpServer:
    """Serve ``_handle`` on ``host:port`` (0: a free port) until ``close()``; subclasses define ``_handle``."""

    def _start(self, host: str, port: int, name: str) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                owner._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:  # pragma: no cover - subclasses answer
        raise NotImplementedError

    @staticmethod
    def _send_body(request: BaseHTTPRequestHandler, body: bytes) -> None:
        """End the headers already sent with Content-Length, then write ``body`` (not for HEAD)."""
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def close(self) -> None:
        """Stop serving (bounded)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} objects cannot be pickled")
