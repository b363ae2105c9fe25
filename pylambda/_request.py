"""An Invoke request's body and client context, checked as Lambda's Invoke API checks them (reference §3.5, §3.6)."""

from __future__ import annotations

import base64
import json
from typing import Any

from ._errors import InvalidParameterValueError, InvalidRequestContentError, RequestTooLargeError
from ._runtime.marshal import encoder
from ._sources import data_bytes

__all__ = ["MAX_CLIENT_CONTEXT_BYTES", "MAX_REQUEST_BYTES", "client_context_bytes", "event_body", "payload_body"]

# Lambda's limits (reference §3.6).
MAX_REQUEST_BYTES = 6_291_456
MAX_CLIENT_CONTEXT_BYTES = 3_583
_encode_event = encoder(allow_nan=False)


def _check_size(body: bytes) -> None:
    if len(body) > MAX_REQUEST_BYTES:
        raise RequestTooLargeError(
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
        )


def event_body(event: Any) -> bytes:
    """The request body for an ``event`` (a JSON-serialisable value), within Lambda's size limit."""
    if event is None:
        return b"{}"
    try:
        body = _encode_event(event).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidRequestContentError(f"Could not serialize the event to JSON: {e}") from e
    _check_size(body)
    return body


def payload_body(payload: bytes | str, event: Any) -> bytes:
    """The request body for raw JSON ``payload`` (as boto3's ``Payload``): empty means ``{}``."""
    if event is not None:
        raise InvalidParameterValueError("pass event or payload, not both")
    body = data_bytes(payload, "payload")
    if not body.strip():
        return b"{}"
    if len(body) <= MAX_REQUEST_BYTES:
        try:
            json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as e:
            reason = "nesting too deep" if isinstance(e, RecursionError) else e
            raise InvalidRequestContentError(
                f"Could not parse request body into json: Could not parse payload into json: {reason}"
            ) from None
    _check_size(body)
    return body


def _refuse_constant(name: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259); Lambda's parser refuses them.

    Lambda's Invoke API parses the body with Jackson (its errors name Jackson's
    tokens), whose default refuses these tokens; ``event=`` refuses them too.
    """
    raise ValueError(f"Non-standard token '{name}': NaN and Infinity are not JSON")


def client_context_bytes(client_context: dict | str | None) -> bytes:
    """The client context as the JSON bytes the environment gets (b"" for none); base64 text as boto3 sends it."""
    if client_context is None:
        return b""
    if isinstance(client_context, str):  # base64 JSON, as boto3 sends it
        try:
            raw = base64.b64decode(client_context, validate=True)
            value = json.loads(raw)
        except ValueError as e:
            raise InvalidRequestContentError(
                f"Client context must be a valid Base64-encoded JSON object: {e}"
            ) from None
        if not isinstance(value, dict):
            raise InvalidRequestContentError(
                f"Client context must be a valid Base64-encoded JSON object, got a JSON {type(value).__name__}"
            )
        encoded_len = len(client_context)
    else:
        if not isinstance(client_context, dict):  # the context's fields are read from an object
            raise InvalidRequestContentError(
                f"Client context must be a JSON object (a dict), got {type(client_context).__name__}"
            )
        try:
            raw = json.dumps(client_context).encode()
        except (TypeError, ValueError) as e:
            raise InvalidRequestContentError(f"Client context is not JSON: {e}") from None
        encoded_len = len(base64.b64encode(raw))
    if encoded_len > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidRequestContentError(
            f"Client context must be at most {MAX_CLIENT_CONTEXT_BYTES} bytes once base64-encoded"
        )
    return raw
