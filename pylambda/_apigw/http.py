"""Payload format 2.0: HTTP APIs' Lambda integration.

The request becomes ``pylambda.events.http_api_event`` with the route's
``routeKey`` (``GET /orders/{id}`` or ``$default``), ``pathParameters``,
the stage and ``stageVariables``: lower-cased headers, repeated values
joined with ``,``, cookies in ``cookies``, a body that is not UTF-8 text
base64-encoded.

The response is mapped as HTTP APIs map it: an object with ``statusCode``
gives the status, ``headers``, ``cookies`` (each a ``set-cookie``) and the
``body`` (base64-decoded when ``isBase64Encoded``); any other JSON value
(an object without ``statusCode``, a list, a string, a number) is a 200 with
``content-type: application/json`` and that value, JSON-encoded, as the
body.  A response that cannot be mapped is a 502 ``{"message":"Internal
Server Error"}``, as is a function error.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .. import events
from .rest import MalformedResponse
from .routes import Match

__all__ = ["build_event", "map_response"]


def build_event(match: Match, request: Any, path: str, query: str, body: bytes | None, request_id: str) -> dict:
    """The 2.0 event for ``request`` (a ``BaseHTTPRequestHandler``) on the matched route."""
    api = match.api
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return events.http_api_event(
        request.command,
        path,
        query=query,
        headers=headers,
        body=body,
        source_ip=request.client_address[0],
        request_id=request_id,
        domain=f"{api.api_id}.execute-api.{api.region}.amazonaws.com",
        route_key=match.route.route_key,
        path_parameters=match.path_parameters or None,
        stage=api.stage,
        stage_variables=api.stage_variables or None,
        account_id="123456789012",
    )


def map_response(payload: Any, raw: bytes, is_bytes: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from a 2.0 response; ``MalformedResponse`` if it cannot be mapped."""
    if is_bytes:
        return 200, [("content-type", "application/octet-stream")], raw
    if isinstance(payload, dict) and "statusCode" in payload:
        try:
            status = int(payload["statusCode"])
        except (TypeError, ValueError) as e:
            raise MalformedResponse(f"statusCode {payload['statusCode']!r} is not a number") from e
        headers_in = payload.get("headers") or {}
        if not isinstance(headers_in, dict):
            raise MalformedResponse("headers must be an object")
        headers = [(str(k).lower(), str(v)) for k, v in headers_in.items()]
        headers.extend(("set-cookie", str(c)) for c in payload.get("cookies") or [])
        body = payload.get("body")
        if body is None:
            data = b""
        elif payload.get("isBase64Encoded"):
            try:
                data = base64.b64decode(str(body), validate=True)
            except ValueError as e:
                raise MalformedResponse("isBase64Encoded but the body is not base64") from e
        else:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        return status, headers, data
    return 200, [("content-type", "application/json")], json.dumps(payload).encode()
