"""What environments get from the endpoint side: ``AWS_ENDPOINT_URL_LAMBDA`` and their role's credentials.

Functions invoke functions the way they do on AWS: a handler's
``boto3.client("lambda").invoke(FunctionName="billing")`` goes to
``AWS_ENDPOINT_URL_LAMBDA`` (botocore >= 1.28 prefers it over
``AWS_ENDPOINT_URL`` for the Lambda client only), which is this Invoker's
own Lambda API, so the call runs in the same Invoker and shows in its
history, logs and bills.  A function's own
``environment={"AWS_ENDPOINT_URL_LAMBDA": ...}`` wins.

One server per process serves every Invoker's: its URL is
``http://127.0.0.1:PORT/TOKEN``, the token an unguessable path segment of
the Invoker's own (botocore keeps an endpoint URL's path and puts the
operation's after it).  Why not a listening socket per Invoker: opening
one, registering it with the accept thread and closing it again took
~0.7 ms of every test with an Invoker per test (most of it the accept
thread woken twice, contending for the GIL), for an endpoint most tests
never call.  An Invoker's token is registered when its first environment
spec is built (never for an Invoker that starts no environment) and
forgotten when it closes: from then on the URL answers 404
``ResourceNotFoundException``, so nothing of a closed Invoker is served.
The server itself starts on the first need and lives as long as the
process (a forked child starts its own).

A chain of calls that runs out of concurrency gets Lambda's 429 at once
(the Invoker throttles, it never queues a synchronous call), so a handler
waiting on another function can never deadlock the Invoker.

Roles: with a services endpoint (``Invoker(aws_endpoint_url=...)``) and
``Function(role=...)``, each environment of a version gets the credentials
of that endpoint's STS ``AssumeRole`` (session name: the function name, as
Lambda does), so a backend that enforces IAM sees the function's role;
``sts.get_caller_identity()`` answers ``assumed-role/ROLE/FUNCTION``.
Without a services endpoint the fake credentials stay.
"""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from typing import TYPE_CHECKING

from .._errors import InvalidParameterValueError, InvokerClosedError

if TYPE_CHECKING:
    from .._invoker import Invoker
    from .._version import Version

__all__ = ["endpoint_environ", "lambda_environ", "role_credentials"]


_lock = threading.Lock()
_server = None  # the process's HttpServer for internal endpoints (made on first need)
_server_pid = 0
_apis: dict = {}  # token -> the LambdaApi it serves


def _dispatch(req):
    """Serve a request to ``/TOKEN/...`` with the API of the Invoker that token names."""
    from .errors import ApiError

    api = _apis.get(req.segments[0]) if req.segments else None
    if api is None:
        return ApiError("ResourceNotFoundException", "no open Invoker serves this endpoint").response(str(uuid.uuid4()))
    token = req.segments[0]
    req.segments = req.segments[1:]
    req.path = "/" + "/".join(req.segments)
    req.raw_path = req.raw_path[len(token) + 1 :] or "/"
    return api.handle(req)


def _server_url() -> str:
    """``http://127.0.0.1:PORT`` of the process's internal endpoint server (started on first need)."""
    global _server, _server_pid
    with _lock:
        if _server is None or _server_pid != os.getpid():  # none yet, or a forked child's copy of the parent's
            from .api import MAX_API_BODY
            from .http import HttpServer

            _server = HttpServer("127.0.0.1", 0, _dispatch, MAX_API_BODY, name="pylambda-api")
            _server_pid = os.getpid()
            _apis.clear()
        return f"http://127.0.0.1:{_server.address[1]}"


class InternalEndpoint:
    """An Invoker's registration on the process's internal endpoint: ``url``, until ``close()``."""

    def __init__(self, api, token: str, url: str) -> None:
        self._api, self._token, self.url = api, token, url
        api.urls.append(url)

    def close(self) -> None:
        """Forget the token (its URL answers 404 from now on); idempotent."""
        if _apis.pop(self._token, None) is not None:
            try:
                self._api.urls.remove(self.url)
            except ValueError:
                pass


def _internal_url(invoker: Invoker) -> str:
    """The URL of the endpoint environments call (registered on first need)."""
    endpoint = invoker.__dict__.get("_internal_endpoint")
    if endpoint is None:
        from .endpoint import lambda_api

        api = lambda_api(invoker)
        with api.lock:
            endpoint = invoker.__dict__.get("_internal_endpoint")
            if endpoint is None:
                token = secrets.token_urlsafe(16)
                url = f"{_server_url()}/{token}"
                # Under the Invoker's lock, against a racing close(): either it sees the endpoint
                # (and closes it after CLOSED) or we see CLOSED; nothing is served after close().
                with invoker._lock:
                    if invoker._state != "OPEN":
                        raise InvokerClosedError("the Invoker was closed while an environment was starting")
                    _apis[token] = api
                    endpoint = InternalEndpoint(api, token, url)
                    invoker._endpoints.append(endpoint)
                    invoker._internal_endpoint = endpoint
    return endpoint.url


def role_credentials(invoker: Invoker, services_url: str, role: str, session: str, region: str) -> dict[str, str]:
    """Temporary credentials of ``role`` from the services endpoint's STS (cached per role and session)."""
    cache = invoker.__dict__.setdefault("_role_credentials", {})
    key = (services_url, role, session)
    creds = cache.get(key)
    if creds is None:
        try:
            import boto3

            sts = boto3.client(
                "sts", endpoint_url=services_url, region_name=region,
                aws_access_key_id="pylambda", aws_secret_access_key="pylambda",
            )  # fmt: skip
            got = sts.assume_role(RoleArn=role, RoleSessionName=session)["Credentials"]
        except Exception as e:
            raise InvalidParameterValueError(
                f"cannot get credentials for role {role} from the STS at {services_url}: {type(e).__name__}: {e}"
            ) from e
        creds = {
            "AWS_ACCESS_KEY_ID": got["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": got["SecretAccessKey"],
            "AWS_SESSION_TOKEN": got["SessionToken"],
        }
        cache[key] = creds
    return creds


def endpoint_environ(invoker: Invoker, version: Version | None) -> dict[str, str]:
    """Variables pointing handlers' SDK clients at the Invoker's endpoints.

    ``AWS_ENDPOINT_URL`` (``aws_endpoint_url``); for an environment of
    ``version``, also ``AWS_ENDPOINT_URL_LAMBDA`` (this Invoker's Lambda
    API, so functions invoke functions) and the credentials of the
    version's role.
    """
    url = invoker.aws_endpoint_url
    out = {"AWS_ENDPOINT_URL": url} if url else {}
    if version is not None:
        out.update(lambda_environ(invoker, version))
    return out


def lambda_environ(invoker: Invoker, version: Version) -> dict[str, str]:
    """Variables an environment of ``version`` gets from the endpoint side."""
    out: dict[str, str] = {}
    own = version.config.environment
    if "AWS_ENDPOINT_URL_LAMBDA" not in own:
        out["AWS_ENDPOINT_URL_LAMBDA"] = _internal_url(invoker)
    role = version.config.role
    services = invoker.aws_endpoint_url
    if role and services:
        out.update(role_credentials(invoker, services, role, version.function_name, version.region))
    return out
