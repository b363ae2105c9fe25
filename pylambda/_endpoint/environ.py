"""What environments get from the endpoint side: ``AWS_ENDPOINT_URL_LAMBDA`` and their role's credentials.

Functions invoke functions the way they do on AWS: a handler's
``boto3.client("lambda").invoke(FunctionName="billing")`` goes to
``AWS_ENDPOINT_URL_LAMBDA`` (botocore >= 1.28 prefers it over
``AWS_ENDPOINT_URL`` for the Lambda client only), which is this Invoker's
own Lambda API, so the call runs in the same Invoker and shows in its
history, logs and bills.  That endpoint starts when the first environment
spec is built (a listening socket and one thread blocked in ``accept()``;
measured in docs/lambda-api.md), never for an Invoker that starts no
environment, and it closes with the Invoker.  A function's own
``environment={"AWS_ENDPOINT_URL_LAMBDA": ...}`` wins.

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

from typing import TYPE_CHECKING

from .._errors import InvalidParameterValueError, InvokerClosedError

if TYPE_CHECKING:
    from .._invoker import Invoker
    from .._version import Version

__all__ = ["endpoint_environ", "lambda_environ", "role_credentials"]


def _internal_url(invoker: Invoker) -> str:
    """The URL of the endpoint environments call (started on first need)."""
    endpoint = invoker.__dict__.get("_internal_endpoint")
    if endpoint is None:
        from .endpoint import LambdaEndpoint, lambda_api

        api = lambda_api(invoker)
        with api.lock:
            endpoint = invoker.__dict__.get("_internal_endpoint")
            if endpoint is None:
                endpoint = LambdaEndpoint(invoker, "127.0.0.1", 0)
                # Under the Invoker's lock, against a racing close(): either it sees the endpoint
                # (and closes it after CLOSED) or we see CLOSED; nothing listens after close().
                with invoker._lock:
                    is_open = invoker._state == "OPEN"
                    if is_open:
                        invoker._endpoints.append(endpoint)
                        invoker._internal_endpoint = endpoint
                if not is_open:
                    endpoint.close()
                    raise InvokerClosedError("the Invoker was closed while an environment was starting")
    return endpoint.local_url


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
