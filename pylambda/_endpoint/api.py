"""The Lambda API of one Invoker: what every endpoint of it serves, and what the model has no place for.

One ``LambdaApi`` per Invoker (made on the first ``serve()``, or when an
environment first needs ``AWS_ENDPOINT_URL_LAMBDA``), shared by all its
endpoints, so a function created through one is seen through the others.
The functions, versions, aliases and configurations live in pylambda's
model; this object keeps only the API's own bookkeeping: when each version
last changed (``LastModified``), tags, resource-based policies.

``handle`` is the whole request path: match the route, run the operation,
turn the outcome into a response.  Every request gets an answer: an
operation's own errors are Lambda's modelled ones; anything unexpected is
a ``ServiceException`` naming the Python exception, never an empty 500 or a
dropped connection.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from .._alias import Alias
from .._errors import PylambdaError
from .._function import Function
from .._version import LATEST, Version, function_arn
from .errors import ApiError, api_error, not_found
from .http import Request, Response
from .params import FunctionRef
from .shapes import function_configuration

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["MAX_API_BODY", "LambdaApi"]

log = logging.getLogger("pylambda")

# Largest request body kept in memory: CreateFunction's 50 MB zip as base64
# (~67 MB) plus its JSON.  A larger body is read and dropped, then refused (413).
MAX_API_BODY = 72 * 1024 * 1024


class LambdaApi:
    """Routes requests to operations over an Invoker's model; keeps the API-only state."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker
        self.lock = threading.RLock()
        self.urls: list[str] = []
        self._modified: dict[tuple, float] = {}
        self._code: dict[tuple, tuple[int, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        # (function name, qualifier or None) -> policy statements, in insertion order
        self.policies: dict[tuple[str, str | None], list[dict]] = {}
        self.mapping_members: dict[str, dict] = {}  # UUID -> the API members a caller set
        self.mapping_modified: dict[str, float] = {}
        self.provisioned_modified: dict[str, float] = {}
        self.event_config_modified: dict[str, float] = {}

    # -- the request path --------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request (never raises)."""
        from .routes import match

        try:
            operation, func, params = match(req)
            if req.body_size > len(req.body) and operation != "Invoke":
                raise ApiError(
                    "RequestTooLargeException",
                    f"Request must be smaller than {MAX_API_BODY} bytes for the {operation} operation",
                )
            out = func(self, req, **params)
        except ApiError as e:
            return e.response(str(uuid.uuid4()))
        except PylambdaError as e:
            return api_error(e).response(str(uuid.uuid4()))
        except Exception as e:  # a bug of ours: say so, never drop the connection
            log.exception("the Lambda API endpoint failed on %s %s", req.method, req.raw_path)
            return ApiError("ServiceException", f"{type(e).__name__}: {e}").response(str(uuid.uuid4()))
        if isinstance(out, Response):  # Invoke: its request id is the invocation's
            return out
        status, body = out
        headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
        if body is None:
            return Response(status, b"", headers)
        headers.append(("Content-Type", "application/json"))
        return Response(status, json.dumps(body).encode(), headers)

    # -- the model ---------------------------------------------------------------------
    def function(self, ref: FunctionRef) -> Function:
        """The registered function ``ref`` names (its region and account must match), else 404."""
        fn = self.invoker.functions.get(ref.name)
        if fn is not None and ref.region and ref.region != fn.region:  # Lambda's wording for another region
            raise not_found(f"Functions from '{ref.region}' are not reachable in this region ('{fn.region}')")
        if fn is None or (ref.region and ref.region != fn.region) or (ref.account and ref.account != fn.account_id):
            region = ref.region or (fn.region if fn else "us-east-1")
            account = ref.account or (fn.account_id if fn else "123456789012")
            raise not_found(f"Function not found: {function_arn(region, account, ref.name, ref.qualifier or LATEST)}")
        return fn

    def lookup(self, ref: FunctionRef) -> tuple[Function, Version, str, Alias | None]:
        """(function, version, ARN as addressed, alias) for a reference; an alias means its primary version."""
        fn = self.function(ref)
        q = ref.qualifier
        if q is None:
            return fn, fn.latest, fn.arn, None
        arn = function_arn(fn.region, fn.account_id, fn.name, q)
        if q == LATEST or q.isdigit():
            return fn, fn.get_version(q), arn, None
        alias = fn.get_alias(q)
        return fn, alias.version, arn, alias

    def touched(self, fn: Function, version: Version | None = None) -> None:
        """Record that ``version`` (default: ``$LATEST``) changed now."""
        version = version or fn.latest
        with self.lock:
            self._modified[(id(fn), version.version, version.revision)] = time.time()

    def configuration(self, fn: Function, version: Version, arn: str | None = None) -> dict:
        """FunctionConfiguration of ``version``; ``$LATEST``'s ARN is unqualified, a version's qualified."""
        key = (id(fn), version.version, version.revision)
        with self.lock:
            modified = self._modified.setdefault(key, time.time())
            code = self._code.get(key)
        if code is None:
            package = version.code.package_bytes()
            code = (len(package), version.code_sha256)
            with self.lock:
                self._code[key] = code
        if arn is None:
            arn = fn.arn if version.version == LATEST else version.arn
        return function_configuration(fn, version, arn, modified, code)

    def forget(self, name: str) -> None:
        """Drop the API state of a deleted function."""
        with self.lock:
            self.tags.pop(name, None)
            for key in [k for k in self.policies if k[0] == name]:
                del self.policies[key]

    @property
    def url(self) -> str:
        """The first endpoint's URL (for ``Code.Location``)."""
        return self.urls[0] if self.urls else "http://127.0.0.1"


def shape_or_none(value: Any) -> Any:
    """``value`` without None members (botocore reads absent and null alike; Lambda omits them)."""
    if isinstance(value, dict):
        return {k: shape_or_none(v) for k, v in value.items() if v is not None}
    return value
