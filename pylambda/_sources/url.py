"""Function URLs: a function served over HTTP on 127.0.0.1 (payload format 2.0).

``invoker.create_function_url(fn)`` starts a small threaded HTTP server
(standard library) on a free port.  Each request becomes a payload-2.0 event
(lower-cased headers, repeated values joined with ``,``, cookies apart, a
binary body base64-encoded) and a synchronous invocation; the result becomes
the response as Lambda maps it: ``statusCode``/``headers``/``body``/
``cookies``/``isBase64Encoded`` when the function returns them, otherwise
200 with the JSON of the return value.  A function error, or a return value
that cannot be mapped (a ``statusCode`` that is not a number, a body that is
not base64 when it says it is), is a 502 ``Internal Server Error``; a
throttle a 429; a body over 6 MB a 413 (the message is the Invoke API's: the
function URL's own wording is unverified).  Every request gets an answer.

The event names the URL as Lambda would (``requestContext.domainName``
``<url-id>.lambda-url.<region>.on.aws``, ``apiId`` and ``domainPrefix`` the
url-id), whatever Host the request came with: the url-id is 32 lower-case
letters and digits derived from the target's ARN, so it is the same on
every run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import events as _events
from .._errors import PylambdaError, RequestTooLargeError, TooManyRequestsError
from .._httpserver import LocalHttpServer

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["HttpEndpoint"]


class HttpEndpoint(LocalHttpServer):
    """A running function URL; ``url`` is where it listens; ``close()`` stops it."""

    def __init__(self, invoker: Invoker, target: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._invoker = invoker
        self._target = target
        arn = invoker.resolve(target)[1]
        self.url_id = url_id_for(arn)
        self.region = arn.split(":")[3]
        self._start(host, port, "pylambda-url")

    @property
    def domain_name(self) -> str:
        """``<url-id>.lambda-url.<region>.on.aws``: the domain Lambda would give this function URL."""
        return f"{self.url_id}.lambda-url.{self.region}.on.aws"

    @property
    def function_url(self) -> str:
        """``https://<url-id>.lambda-url.<region>.on.aws/``: the URL Lambda would give (not served: see ``url``)."""
        return f"https://{self.domain_name}/"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length) if length else None
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = _events.http_api_event(
            request.command, split.path or "/", query=split.query, headers=headers, body=body,
            source_ip=request.client_address[0], domain=self.domain_name,
        )  # fmt: skip
        json_type = {"content-type": "application/json"}
        internal_error = b'{"Message":"Internal Server Error"}'
        try:
            result = self._invoker.invoke(self._target, event)
        except TooManyRequestsError:
            self._reply(request, 429, json_type, b'{"Message":"Rate Exceeded."}', [])
            return
        except RequestTooLargeError as e:
            self._reply(request, 413, json_type, json.dumps({"Message": str(e)}).encode(), [])
            return
        except PylambdaError:  # the Invoker closed, or the function went away
            self._reply(request, 500, json_type, internal_error, [])
            return
        mapped = None
        if result.function_error is None:
            try:
                mapped = _response(result)
            except (TypeError, ValueError):  # a response Lambda cannot map (binascii.Error is a ValueError)
                pass
        if mapped is None:
            self._reply(request, 502, json_type, internal_error, [], result.request_id)
            return
        status, out_headers, out_body, cookies = mapped
        self._reply(request, status, out_headers, out_body, cookies, result.request_id)

    @staticmethod
    def _reply(request, status: int, headers: dict, body: bytes, cookies: list, request_id: str = "") -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, str(value))
        for cookie in cookies:
            request.send_header("set-cookie", cookie)
        if request_id:
            request.send_header("x-amzn-RequestId", request_id)
        LocalHttpServer._send_body(request, body)

    def __repr__(self) -> str:
        return f"<HttpEndpoint {self.url}>"


def url_id_for(arn: str) -> str:
    """A function URL's url-id for ``arn``: 32 lower-case letters and digits, stable across runs."""
    digest = hashlib.sha256(arn.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:32]


def _response(result) -> tuple[int, dict, bytes, list]:
    """Lambda's mapping of a function's return value to an HTTP response."""
    payload = result.raw_payload if result.payload_is_bytes else result.payload
    if isinstance(payload, dict) and "statusCode" in payload:
        headers = {str(k).lower(): v for k, v in (payload.get("headers") or {}).items()}
        body = payload.get("body") or ""
        raw = base64.b64decode(body, validate=True) if payload.get("isBase64Encoded") else str(body).encode()
        return int(payload["statusCode"]), headers, raw, list(payload.get("cookies") or [])
    if isinstance(payload, bytes):
        return 200, {"content-type": "application/octet-stream"}, payload, []
    return 200, {"content-type": "application/json"}, json.dumps(payload).encode(), []
