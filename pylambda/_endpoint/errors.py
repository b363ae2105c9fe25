"""Errors as the Lambda API sends them, so botocore raises its modelled exception classes.

botocore (rest-json) takes the error code from the ``x-amzn-ErrorType``
header, else from the body's ``__type``; we send both, with Lambda's body
(``Type`` and ``message`` or ``Message``: the capitalisation is Lambda's and
differs between exceptions).  A modelled name (``ResourceNotFoundException``)
makes boto3 raise ``client.exceptions.ResourceNotFoundException``; members
such as ``Reason`` land at the top of ``e.response``.

``api_error`` turns pylambda's own exceptions into these: the endpoint is a
thin skin over the Invoker, so what the Python API refuses, the HTTP API
refuses with the same message.
"""

from __future__ import annotations

import json

from .._errors import (
    InvalidParameterValueError,
    InvalidRequestContentError,
    InvokerClosedError,
    PylambdaError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from .http import Response

__all__ = ["ApiError", "api_error", "conflict", "invalid", "not_found", "unsupported"]

# (status, member that carries the message) per error name, as Lambda sends them.
_ERRORS = {
    "ResourceNotFoundException": (404, "Message"),
    "ResourceConflictException": (409, "message"),
    "InvalidParameterValueException": (400, "message"),
    "InvalidRequestContentException": (400, "message"),
    "RequestTooLargeException": (413, "message"),
    "UnsupportedMediaTypeException": (415, "message"),
    "TooManyRequestsException": (429, "message"),
    "ProvisionedConcurrencyConfigNotFoundException": (404, "message"),
    "PreconditionFailedException": (412, "message"),
    "ServiceException": (500, "Message"),
    # Not a Lambda error: an operation this endpoint does not implement (a 4xx, so no client retries it).
    "UnsupportedOperationException": (400, "message"),
}


class ApiError(Exception):
    """An error answer of the API: a modelled name, a message and extra body members."""

    def __init__(self, name: str, message: str, **members: object) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.members = members
        self.status, self.key = _ERRORS[name]

    def response(self, request_id: str) -> Response:
        """The HTTP answer: status, ``x-amzn-ErrorType``, JSON body with ``__type``."""
        body = {"Type": "Service" if self.status >= 500 else "User", self.key: self.message, "__type": self.name}
        body.update(self.members)
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", self.name),
            ("x-amzn-RequestId", request_id),
        ]
        if self.name == "TooManyRequestsException":
            headers.append(("Retry-After", "1"))
        return Response(self.status, json.dumps(body).encode(), headers)


def invalid(message: str) -> ApiError:
    """400 InvalidParameterValueException."""
    return ApiError("InvalidParameterValueException", message)


def not_found(message: str) -> ApiError:
    """404 ResourceNotFoundException."""
    return ApiError("ResourceNotFoundException", message)


def conflict(message: str) -> ApiError:
    """409 ResourceConflictException."""
    return ApiError("ResourceConflictException", message)


def unsupported(what: str) -> ApiError:
    """400 naming an operation (or method and path) this endpoint does not implement."""
    return ApiError(
        "UnsupportedOperationException",
        f"pylambda's Lambda endpoint does not implement {what}; see docs/lambda-api.md for the operations it serves",
    )


def api_error(e: PylambdaError) -> ApiError:
    """The API error for an exception of pylambda's own tree."""
    if isinstance(e, ResourceNotFoundError):
        return not_found(str(e))
    if isinstance(e, TooManyRequestsError):
        return ApiError("TooManyRequestsException", str(e), Reason=e.reason)
    if isinstance(e, RequestTooLargeError):
        return ApiError("RequestTooLargeException", str(e))
    if isinstance(e, InvalidRequestContentError):
        return ApiError("InvalidRequestContentException", str(e))
    if isinstance(e, InvalidParameterValueError):
        return invalid(str(e))
    if isinstance(e, InvokerClosedError):
        return ApiError("ServiceException", f"the Invoker behind this endpoint is closed: {e}")
    return ApiError("ServiceException", f"{type(e).__name__}: {e}")
