"""The context object a handler receives, built as the AWS Python runtime builds it.

Attribute names, types and sources follow RIC's ``LambdaContext``: the static
fields come from the environment variables Lambda sets (so
``memory_limit_in_mb`` is a *string*), the per-invocation ones from the
invocation, and ``get_remaining_time_in_millis()`` counts down to the deadline
and never goes below zero.  The static fields are read once per environment,
not once per invocation, because they cannot change in a live environment.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = [
    "Client",
    "ClientContext",
    "CognitoIdentity",
    "LambdaContext",
    "load_static_fields",
]


class Client:
    """The ``client`` part of a mobile client context."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, client: dict) -> None:
        self.installation_id = client.get("installation_id")
        self.app_title = client.get("app_title")
        self.app_version_name = client.get("app_version_name")
        self.app_version_code = client.get("app_version_code")
        self.app_package_name = client.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"Client([installation_id={self.installation_id},"
            f"app_title={self.app_title},app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    """``context.client_context``: present only when the caller sent one."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, data: dict) -> None:
        self.custom = data.get("custom")
        self.env = data.get("env")
        client = data.get("client")
        self.client = Client(client) if client is not None else None

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class CognitoIdentity:
    """``context.identity``: always an object, with None fields when absent."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data: dict | None) -> None:
        if not data:  # the usual case: no identity, built once per invocation
            self.cognito_identity_id = self.cognito_identity_pool_id = None
            return
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


# (log group, log stream, function name, memory size, version): fixed for the
# life of an environment, so read from os.environ once, after init set them.
_static: tuple = (None, None, None, None, None)


def load_static_fields() -> None:
    """Read the environment-wide context fields from ``os.environ`` (after init)."""
    global _static
    env = os.environ
    _static = (
        env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        env.get("AWS_LAMBDA_FUNCTION_NAME"),
        env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        env.get("AWS_LAMBDA_FUNCTION_VERSION"),
    )


class LambdaContext:
    """The second argument of every handler call."""

    __slots__ = (
        "_deadline_ms",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        invoke_id: str,
        client_context: dict | None,
        cognito_identity: dict | None,
        deadline_ms: int,
        invoked_function_arn: str,
        tenant_id: str | None = None,
    ) -> None:
        self.aws_request_id = invoke_id
        (
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
        ) = _static
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(cognito_identity)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the environment is killed, never negative."""
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to the log as is, without adding a newline."""
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )
