"""One HTTP server on 127.0.0.1 for a template's APIs, as ``sam local start-api`` serves them.

Every API's routes are mounted at the root (no stage prefix in the URL, as in
``sam local``; the stage is in the event).  A request is matched
(``routes.match_route``), turned into its route's payload format (``rest``
for 1.0, ``http`` for 2.0), invoked synchronously, and the result mapped
back.  What API Gateway answers itself is answered here the same way:

====================================  =====================================================
no route (REST API)                   403 ``{"message":"Missing Authentication Token"}``
no route (HTTP API)                   404 ``{"message":"Not Found"}``
function error / malformed response   502 ``{"message": "Internal server error"}`` (REST),
                                      ``{"message":"Internal Server Error"}`` (HTTP)
slower than the integration timeout   504 ``{"message": "Endpoint request timed out"}`` (REST),
                                      503 ``{"message":"Service Unavailable"}`` (HTTP)
throttled (no concurrency left)       500 ``{"message": "Internal server error"}`` (REST),
                                      503 ``{"message":"Service Unavailable"}`` (HTTP)
CORS preflight (``OPTIONS``)          204 with the API's ``Access-Control-*`` headers
====================================  =====================================================

The server is threaded (a request per thread, so concurrent requests reach
concurrent environments as they would on Lambda), sets ``TCP_NODELAY`` on
each connection (small responses must not wait for Nagle) and keeps
connections alive (HTTP/1.1).
"""

from __future__ import annotations

import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from .._errors import PylambdaError, TooManyRequestsError
from .._httpserver import LocalHttpServer
from . import http, rest
from .routes import Api, allowed_methods, match_route

__all__ = ["ApiServer"]

_JSON = ("Content-Type", "application/json")


class ApiServer(LocalHttpServer):
    """The running APIs; ``url`` is where they listen; ``close()`` (or ``with``) stops them."""

    def __init__(self, invoker: Any, apis: list[Api], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._invoker = invoker
        self.apis = list(apis)
        self._rest_only = all(api.kind == "REST" for api in self.apis)
        self._start(host, port, "pylambda-apigw")

    # -- one request --------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        path = split.path or "/"
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length) if length else None
        origin = request.headers.get("origin")
        match = match_route(self.apis, request.command, path)
        if request.command == "OPTIONS" and (match is None or match.route.method != "OPTIONS"):
            cors = next((api.cors for api in self.apis if api.cors is not None), None)
            if cors is not None and allowed_methods(self.apis, path):
                self._reply(request, 204, list(cors.headers(origin).items()), b"")
                return
        if match is None:
            if self._rest_only:
                self._reply(request, 403, [_JSON], b'{"message":"Missing Authentication Token"}')
            else:
                self._reply(request, 404, [_JSON], b'{"message":"Not Found"}')
            return
        api, route = match.api, match.route
        is_rest = api.kind == "REST"
        request_id = str(uuid.uuid4())
        id_header = ("x-amzn-RequestId" if is_rest else "apigw-requestid", request_id)
        cors_headers = list(api.cors.headers(origin).items()) if api.cors is not None else []
        v1 = route.payload_format == "1.0"
        event = (rest if v1 else http).build_event(match, request, path, split.query, body, request_id)
        internal = b'{"message": "Internal server error"}' if is_rest else b'{"message":"Internal Server Error"}'
        try:
            result = self._invoker.invoke(route.function, event)
        except TooManyRequestsError:
            status, text = (500, internal) if is_rest else (503, b'{"message":"Service Unavailable"}')
            self._reply(request, status, [_JSON, id_header, *cors_headers], text)
            return
        except PylambdaError:  # the Invoker closed, or the function went away
            self._reply(request, 500, [_JSON, id_header], internal)
            return
        if result.duration_ms > route.timeout_ms:
            if is_rest:
                self._reply(request, 504, [_JSON, id_header], b'{"message": "Endpoint request timed out"}')
            else:
                self._reply(request, 503, [_JSON, id_header], b'{"message":"Service Unavailable"}')
            return
        try:
            if result.function_error is not None:
                raise rest.MalformedResponse("function error")
            if v1:
                payload = None if result.payload_is_bytes else result.payload
                status, headers, data = rest.map_response(payload, api, request.headers.get("accept"))
            else:
                status, headers, data = http.map_response(result.payload, result.raw_payload, result.payload_is_bytes)
        except rest.MalformedResponse:
            self._reply(request, 502, [_JSON, id_header, *cors_headers], internal)
            return
        named = {n.lower() for n, _ in headers}
        extra = [h for h in cors_headers if h[0].lower() not in named]
        self._reply(request, status, [*headers, id_header, *extra], data)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: list, body: bytes) -> None:
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        LocalHttpServer._send_body(request, body)

    def __repr__(self) -> str:
        return f"<ApiServer {self.url} apis={[a.name for a in self.apis]}>"
