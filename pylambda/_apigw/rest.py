"""Payload format 1.0: REST APIs' Lambda proxy integration (and HTTP APIs that ask for 1.0).

The request becomes ``pylambda.events.api_gateway_event``: headers with
their case and a multi-value view, query parameters likewise, the matched
``resource``, ``pathParameters``, ``stageVariables`` and a ``requestContext``
with the stage, resource path, method, request id and the caller's IP.  A
body whose content type is one of the API's ``BinaryMediaTypes`` travels
base64-encoded.

The function must answer with ``{"statusCode", "headers",
"multiValueHeaders", "body", "isBase64Encoded"}``: anything else (no
``statusCode``, a ``body`` that is not a string, a value that is not an
object) is a malformed proxy response, which API Gateway answers with 502
``{"message": "Internal server error"}``, as it does for a function error.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from .. import events
from .routes import Match

__all__ = ["MalformedResponse", "build_event", "map_response"]


class MalformedResponse(ValueError):
    """The function's return value is not a response of its payload format (API Gateway: 502)."""


def build_event(match: Match, request: Any, path: str, query: str, body: bytes | None, request_id: str) -> dict:
    """The 1.0 event for ``request`` (a ``BaseHTTPRequestHandler``) on the matched route."""
    api = match.api
    headers = list(request.headers.items())
    content_type = request.headers.get("content-type")
    return events.api_gateway_event(
        request.command,
        unquote(path),
        resource="/{proxy+}" if match.route.path == "$default" else match.route.path,
        path_parameters=match.path_parameters or None,
        query=query,
        headers=headers,
        body=body,
        binary=body is not None and api.is_binary(content_type),
        stage=api.stage,
        stage_variables=api.stage_variables or None,
        source_ip=request.client_address[0],
        request_id=request_id,
        api_id=api.api_id,
        region=api.region,
    )


def map_response(payload: Any, api: Any, accept: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from a 1.0 proxy response; ``MalformedResponse`` if it is not one."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        raise MalformedResponse("the response has no statusCode")
    try:
        status = int(payload["statusCode"])
    except (TypeError, ValueError) as e:
        raise MalformedResponse(f"statusCode {payload['statusCode']!r} is not a number") from e
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    headers: list[tuple[str, str]] = []
    single = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders values must be lists")
        headers.extend((str(name), _header_value(v)) for v in values)
    named = {n.lower() for n, _ in headers}
    headers.extend((str(n), _header_value(v)) for n, v in single.items() if n.lower() not in named)
    raw = (body or "").encode()
    if payload.get("isBase64Encoded"):
        content_type = next((v for n, v in headers if n.lower() == "content-type"), None)
        if api.binary_media_types and (api.is_binary(accept) or api.is_binary(content_type)):
            try:
                raw = base64.b64decode(body or "", validate=True)
            except ValueError as e:
                raise MalformedResponse("isBase64Encoded but the body is not base64") from e
    return status, headers, raw


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise MalformedResponse("a header value must be a string, number or boolean")
    return str(value)
