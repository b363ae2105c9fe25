"""Invoke over HTTP: the request's headers and body become one ``Invoker.invoke`` call.

``X-Amz-Invocation-Type`` RequestResponse / Event / DryRun answers 200 / 202
/ 204; ``X-Amz-Log-Type: Tail`` adds ``X-Amz-Log-Result`` (base64 of the
last 4 KB of the log); ``X-Amz-Client-Context`` (base64 JSON) reaches
``context.client_context``; a function error is still a 200, with
``X-Amz-Function-Error: Unhandled`` and Lambda's error document as the
body.  The response's ``x-amzn-RequestId`` is the invocation's
``aws_request_id``, so a caller can find it in ``invoker.history`` and the
logs.  Errors before anything runs (unknown function, not JSON, too large,
throttled) are the Invoker's own exceptions, answered as Lambda's.
"""

from __future__ import annotations

from .api import LambdaApi
from .errors import ApiError
from .http import Request, Response
from .params import parse_function

__all__ = ["ROUTES"]

_TYPES = ("RequestResponse", "Event", "DryRun")


def invoke(api: LambdaApi, req: Request, fn: str) -> Response:
    """Invoke."""
    ref = parse_function(fn, req.query.get("Qualifier"))
    api.function(ref)  # 404 for another region or account, with Lambda's ARN
    headers = req.headers
    kind = headers.get("x-amz-invocation-type") or "RequestResponse"
    if kind not in _TYPES:
        raise ApiError(
            "InvalidRequestContentException",
            f"X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got {kind!r}",
        )
    log_type = headers.get("x-amz-log-type") or None
    if log_type == "None":  # the same as no header, and then the Invoker's warm route serves it
        log_type = None
    if log_type not in (None, "Tail"):
        raise ApiError("InvalidRequestContentException", f"X-Amz-Log-Type must be None or Tail, got {log_type!r}")
    if req.body_size > len(req.body):  # read and dropped by the server: over any limit
        limit = "1048576 bytes for the Event" if kind == "Event" else "6291456 bytes for the InvokeFunction"
        raise ApiError("RequestTooLargeException", f"Request must be smaller than {limit} operation")
    result = api.invoker.invoke(
        ref.target,
        payload=req.body,
        log_type=log_type,
        client_context=headers.get("x-amz-client-context") or None,
        invocation_type=kind,
    )
    out = [("x-amzn-RequestId", result.request_id)]
    if kind != "RequestResponse":
        return Response(result.status_code, b"", out)
    out.append(("X-Amz-Executed-Version", result.executed_version or "$LATEST"))
    if result.function_error:
        out.append(("X-Amz-Function-Error", result.function_error))
    if log_type == "Tail" and result.log_result is not None:
        out.append(("X-Amz-Log-Result", result.log_result))
    if not result.payload_is_bytes:
        out.append(("Content-Type", "application/json"))
    return Response(200, result.raw_payload, out)


ROUTES = [
    ("POST", "/2015-03-31/functions/{fn}/invocations", "Invoke", invoke),
]
