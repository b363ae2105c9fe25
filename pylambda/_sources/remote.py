"""Event source mappings on ARNs: the real service at the Invoker's ``aws_endpoint_url``, polled with boto3.

``invoker.create_event_source_mapping("arn:aws:sqs:us-east-1:123456789012:orders", fn)``
means what it means on Lambda: poll that queue (or Kinesis stream, or
DynamoDB table stream) and invoke ``fn`` with batches, with the same options
and semantics as the in-memory sources.  The service is whatever answers at
the Invoker's endpoint, typically moto's server from ``pylambda.aws.services()``.

The registry of source kinds (``kinds.py``) sends an ARN by its service to
``sqs_remote.SqsPoller`` (queues) or ``streams_remote.RemoteStreamMapping``
(Kinesis, DynamoDB Streams); this module reads the ARN, checks the endpoint
and makes the clients.  boto3 is imported on the first ARN mapping, never at
``import pylambda``.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._errors import InvalidParameterValueError, PylambdaError

__all__ = ["SourceArn", "check_remote_source", "make_client", "parse_source_arn", "service_error", "unreachable"]

SUPPORTED = "sqs (a queue ARN), kinesis (a stream ARN), dynamodb (a table's stream ARN)"

# How long one SQS ReceiveMessage waits for messages (long polling, 0..20 s).
# Longer means fewer requests on an idle queue; shorter means a deleted or
# disabled mapping's thread ends sooner (it cannot abandon a request midway).
SQS_WAIT_TIME_S = 1


@attrs.frozen
class SourceArn:
    """An event source ARN, split: ``arn:<partition>:<service>:<region>:<account>:<resource>``."""

    arn: str
    """The ARN as given."""
    service: str
    """``sqs``, ``kinesis`` or ``dynamodb``."""
    region: str
    """The resource's region (clients are made for it)."""
    account_id: str
    """The resource's account."""
    resource: str
    """What follows the account: a queue name, ``stream/<name>``, ``table/<t>/stream/<label>``."""

    @property
    def name(self) -> str:
        """The queue, stream or table name."""
        if self.service == "sqs":
            return self.resource
        return self.resource.split("/")[1]


def parse_source_arn(arn: str) -> SourceArn:
    """Split and check an event source ARN; an error names what is wrong with it."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not all(parts[1:4]) or not parts[4] or not parts[5]:
        raise InvalidParameterValueError(
            f"an event source given as a string must be an ARN like 'arn:aws:sqs:us-east-1:123456789012:queue', "
            f"got {arn!r}"
        )
    _arn, _partition, service, region, account, resource = parts
    if service not in ("sqs", "kinesis", "dynamodb"):
        raise InvalidParameterValueError(
            f"event source ARN {arn!r}: service {service!r} cannot be an event source mapping here; "
            f"supported: {SUPPORTED}"
        )
    pieces = resource.split("/")
    if service == "sqs" and len(pieces) != 1:
        raise InvalidParameterValueError(f"event source ARN {arn!r}: an SQS ARN ends with the queue name")
    if service == "kinesis" and (len(pieces) != 2 or pieces[0] != "stream" or not pieces[1]):
        raise InvalidParameterValueError(f"event source ARN {arn!r}: a Kinesis ARN ends with 'stream/<name>'")
    if service == "dynamodb" and (len(pieces) != 4 or pieces[0] != "table" or pieces[2] != "stream"):
        raise InvalidParameterValueError(
            f"event source ARN {arn!r}: a DynamoDB event source is the table's stream ARN "
            f"('table/<name>/stream/<label>', the table's LatestStreamArn), not the table's ARN"
        )
    return SourceArn(arn, service, region, account, resource)


def make_client(endpoint_url: str, service: str, region: str, read_timeout: float = 10.0) -> Any:
    """A boto3 client for ``service`` at ``endpoint_url``, with fake credentials and few retries.

    Credentials are explicit so nothing on the host (``AWS_PROFILE``,
    ``~/.aws``, instance metadata) is consulted; a local endpoint accepts any.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as e:
        raise PylambdaError(
            f"event source ARNs need boto3: pip install boto3, or pip install -e '.[aws]' in the pylambda checkout "
            f"({e})"
        ) from e
    from ..aws import FAKE_CREDENTIALS

    config = Config(
        connect_timeout=2, read_timeout=read_timeout, retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=4,
    )  # fmt: skip
    return boto3.session.Session().client(
        service, endpoint_url=endpoint_url, region_name=region, config=config, **FAKE_CREDENTIALS
    )


def service_error(e: Exception) -> str:
    """The error code of a botocore ClientError (``""`` for anything else, e.g. a connection error)."""
    response = getattr(e, "response", None)
    return (response or {}).get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


def check_remote_source(owner: Any, arn: str, function_name: str) -> tuple[SourceArn, str]:
    """The parsed ARN and the Invoker's endpoint, or an error: no endpoint, or this mapping exists already."""
    source = parse_source_arn(arn)
    endpoint = owner.invoker.aws_endpoint_url
    if endpoint is None:
        raise InvalidParameterValueError(
            f"event source {arn}: an ARN source is polled at the Invoker's AWS endpoint, and this Invoker has "
            f"none: pass Invoker(aws_endpoint_url=...) (e.g. pylambda.aws.services().url)"
        )
    for existing in owner.all():
        if existing.source_arn == arn and existing.function_name == function_name:
            raise InvalidParameterValueError(
                f'An event source mapping with {source.service.upper()} arn (" {arn} ") and function '
                f'(" {function_name} ") already exists. Please update or delete the existing mapping with UUID '
                f"{existing.uuid}"
            )
    return source, endpoint


def unreachable(arn: str, endpoint: str, e: Exception) -> InvalidParameterValueError:
    """The error for a resource that cannot be checked: nothing answers at the endpoint, or it refused."""
    return InvalidParameterValueError(f"event source {arn}: cannot reach the AWS endpoint {endpoint}: {e}")
