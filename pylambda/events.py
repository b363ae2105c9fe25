"""Builders for the events Lambda's sources deliver, in their exact shapes.

Use them to craft a single event by hand in a test::

    from pylambda import events

    invoker.invoke(fn, events.sqs_event(events.sqs_message("hello")))
    invoker.invoke(fn, events.s3_event("my-bucket", "uploads/a.csv", size=1024))

The shapes (field sets, order, string-typed attributes, base64 data) follow
reference §5; the values that are random on Lambda (ids, hashes, timestamps)
are generated, and every one can be given.  The event source mappings in
``pylambda`` build their events with these same functions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from ._clock import iso_ms

__all__ = [
    "api_gateway_event",
    "dynamodb_event",
    "dynamodb_record",
    "http_api_event",
    "kinesis_event",
    "kinesis_record",
    "s3_event",
    "s3_record",
    "scheduled_event",
    "sqs_event",
    "sqs_message",
]

_REGION = "us-east-1"
_ACCOUNT = "123456789012"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _message_attributes_md5(attrs: dict) -> str:
    """SQS's MD5 of message attributes (name, type, value, length-prefixed, sorted by name)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attrs):
        attr = attrs[name]
        data_type = attr["dataType"]
        for part in (name.encode(), data_type.encode()):
            digest.update(len(part).to_bytes(4, "big") + part)
        if "stringValue" in attr and attr["stringValue"] is not None:
            value = attr["stringValue"].encode()
            digest.update(b"\x01" + len(value).to_bytes(4, "big") + value)
        else:
            value = base64.b64decode(attr.get("binaryValue") or b"")
            digest.update(b"\x02" + len(value).to_bytes(4, "big") + value)
    return digest.hexdigest()


def _sqs_attribute(value: Any) -> dict:
    if isinstance(value, dict):
        return {
            "stringValue": value.get("stringValue"),
            "stringListValues": value.get("stringListValues", []),
            "binaryListValues": value.get("binaryListValues", []),
            "dataType": value.get("dataType", "String"),
            **({"binaryValue": value["binaryValue"]} if "binaryValue" in value else {}),
        }
    data_type = "Number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "String"
    return {"stringValue": str(value), "stringListValues": [], "binaryListValues": [], "dataType": data_type}


def sqs_message(
    body: str | Any,
    *,
    message_id: str | None = None,
    receipt_handle: str | None = None,
    message_attributes: dict | None = None,
    receive_count: int = 1,
    sent_timestamp: float | None = None,
    first_receive_timestamp: float | None = None,
    queue_arn: str = f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:queue",
    region: str = _REGION,
    sender_id: str = "AIDAIENQZJOLO23YVJ4VO",
    group_id: str | None = None,
    deduplication_id: str | None = None,
    sequence_number: str | None = None,
) -> dict:
    """One record of an SQS event (a non-str body is JSON-encoded)."""
    text = body if isinstance(body, str) else json.dumps(body)
    sent = time.time() if sent_timestamp is None else sent_timestamp
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(int(sent * 1000)),
        "SenderId": sender_id,
        "ApproximateFirstReceiveTimestamp": str(int((first_receive_timestamp or sent) * 1000)),
    }
    if group_id is not None:
        attributes["SequenceNumber"] = sequence_number or "18849496460467696128"
        attributes["MessageGroupId"] = group_id
        attributes["MessageDeduplicationId"] = deduplication_id or _md5(text)
    attrs = {k: _sqs_attribute(v) for k, v in (message_attributes or {}).items()}
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle or base64.b64encode(uuid.uuid4().bytes * 3).decode(),
        "body": text,
        "attributes": attributes,
        "messageAttributes": attrs,
        "md5OfMessageAttributes": _message_attributes_md5(attrs) if attrs else None,
        "md5OfBody": _md5(text),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(*records: dict | str) -> dict:
    """``{"Records": [...]}``; plain strings become messages."""
    return {"Records": [r if isinstance(r, dict) else sqs_message(r) for r in records]}


def kinesis_record(
    data: bytes | str | Any,
    *,
    partition_key: str = "1",
    sequence_number: str = "49590338271490256608559692538361571095921575989136588898",
    shard_id: str = "shardId-000000000000",
    arrival: float | None = None,
    stream_arn: str = f"arn:aws:kinesis:{_REGION}:{_ACCOUNT}:stream/stream",
    region: str = _REGION,
    role_arn: str = f"arn:aws:iam::{_ACCOUNT}:role/lambda-role",
) -> dict:
    """One Kinesis record; ``data`` is base64-encoded (a non-bytes, non-str value as JSON)."""
    raw = data if isinstance(data, bytes) else (data if isinstance(data, str) else json.dumps(data)).encode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(raw).decode(),
            "approximateArrivalTimestamp": round(time.time() if arrival is None else arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def kinesis_event(*records: dict) -> dict:
    """``{"Records": [...]}`` of Kinesis records."""
    return {"Records": list(records)}


def dynamodb_record(
    event_name: str,
    keys: dict,
    *,
    new_image: dict | None = None,
    old_image: dict | None = None,
    sequence_number: str = "111",
    view_type: str = "NEW_AND_OLD_IMAGES",
    created: float | None = None,
    stream_arn: str = f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/table/stream/2015-05-11T21:21:33.291",
    region: str = _REGION,
    event_id: str | None = None,
) -> dict:
    """One DynamoDB Streams record (``INSERT``/``MODIFY``/``REMOVE``); images in DynamoDB JSON."""
    if event_name not in ("INSERT", "MODIFY", "REMOVE"):
        raise ValueError(f"event_name must be INSERT, MODIFY or REMOVE, got {event_name!r}")
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": int(time.time() if created is None else created),
        "Keys": keys,
    }
    if new_image is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["NewImage"] = new_image
    if old_image is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["OldImage"] = old_image
    size = len(json.dumps(keys)) + len(json.dumps(body.get("NewImage", {}))) + len(json.dumps(body.get("OldImage", {})))
    body.update({"SequenceNumber": sequence_number, "SizeBytes": size, "StreamViewType": view_type})
    return {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


def dynamodb_event(*records: dict) -> dict:
    """``{"Records": [...]}`` of DynamoDB Streams records."""
    return {"Records": list(records)}


def s3_record(
    bucket: str,
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    size: int = 0,
    etag: str | None = None,
    event_time: float | None = None,
    region: str = _REGION,
    sequencer: str | None = None,
    configuration_id: str | None = None,
) -> dict:
    """One S3 notification record; the key is URL-encoded (spaces as ``+``), as S3 sends it."""
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": iso_ms(time.time() if event_time is None else event_time),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id or str(uuid.uuid4()),
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3I5XTEXAMAI3E"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {"key": quote_plus(key, safe="/"), "sequencer": sequencer or f"{time.time_ns():X}"},
        },
    }
    if not event_name.startswith("ObjectRemoved"):
        record["s3"]["object"] = {
            "key": quote_plus(key, safe="/"),
            "size": size,
            "eTag": etag or _md5(key),
            "sequencer": record["s3"]["object"]["sequencer"],
        }
    return record


def s3_event(bucket: str, key: str, **kwargs: Any) -> dict:
    """``{"Records": [one S3 record]}``."""
    return {"Records": [s3_record(bucket, key, **kwargs)]}


def scheduled_event(
    rule_arn: str = f"arn:aws:events:{_REGION}:{_ACCOUNT}:rule/schedule",
    when: float | None = None,
    *,
    account: str = _ACCOUNT,
    region: str = _REGION,
    event_id: str | None = None,
) -> dict:
    """An EventBridge ``Scheduled Event`` (second-precision time)."""
    t = time.time() if when is None else when
    return {
        "version": "0",
        "account": account,
        "region": region,
        "detail": {},
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
        "id": event_id or str(uuid.uuid4()),
        "resources": [rule_arn],
    }


def http_api_event(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    domain: str = "localhost",
    when: float | None = None,
    route_key: str = "$default",
    path_parameters: dict[str, str] | None = None,
    stage: str = "$default",
    stage_variables: dict[str, str] | None = None,
    account_id: str | None = None,
) -> dict:
    """A function-URL / HTTP API payload format 2.0 event.

    Header names are lower-cased, repeated values joined with ``,``; cookies
    move from the ``cookie`` header to ``cookies``; a binary body is base64
    with ``isBase64Encoded: true``.  For an HTTP API route give
    ``route_key`` (``"GET /orders/{id}"``), ``path_parameters``, ``stage``,
    ``stage_variables``, ``account_id`` and the API's ``domain``
    (``<api-id>.execute-api.<region>.amazonaws.com``); the defaults are a
    function URL's.
    """
    t = time.time() if when is None else when
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    cookies = [c.strip() for c in hdrs.pop("cookie", "").split(";") if c.strip()]
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params[k] = f"{params[k]},{v}" if k in params else v
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = hdrs
    if params:
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": account_id or "anonymous",
        "apiId": domain.split(".")[0],
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": hdrs.get("user-agent", ""),
        },
        "requestId": request_id or str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": stage,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t)),
        "timeEpoch": int(t * 1000),
    }
    if body is not None:
        if isinstance(body, bytes):
            try:
                event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = body, False
    else:
        event["isBase64Encoded"] = False
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    return event


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    """API Gateway 1.0's single-value (last wins) and multi-value views of repeated names."""
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        single[k] = v
        multi.setdefault(k, []).append(v)
    return single, multi


def api_gateway_event(
    method: str = "GET",
    path: str = "/",
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: str = "",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    stage: str = "Prod",
    stage_variables: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    api_id: str = "1234567890",
    account_id: str = _ACCOUNT,
    region: str = _REGION,
    when: float | None = None,
) -> dict:
    """An API Gateway REST API proxy event (payload format 1.0).

    ``headers`` keep their case; a repeated header (give a list of pairs) or
    query parameter keeps its last value in ``headers``/
    ``queryStringParameters`` and every value in ``multiValueHeaders``/
    ``multiValueQueryStringParameters``; absent ones are ``null``, as API
    Gateway sends them.  ``resource`` is the matched route (``/orders/{id}``,
    default ``path``).  A body is base64 with ``isBase64Encoded: true`` when
    ``binary`` (the API's ``BinaryMediaTypes`` matched its content type).
    """
    t = time.time() if when is None else when
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    single_headers, multi_headers = _multi(pairs)  # never null: a real request always has Host at least
    single_query, multi_query = _multi(parse_qsl(query, keep_blank_values=True))
    lowered = {k.lower(): v for k, v in pairs}
    resource = resource or path
    domain = lowered.get("host") or f"{api_id}.execute-api.{region}.amazonaws.com"
    if body is None:
        text, encoded = None, False
    elif binary:
        raw = body.encode() if isinstance(body, str) else bytes(body)
        text, encoded = base64.b64encode(raw).decode(), True
    else:
        text, encoded = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body), False
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers or {},
        "multiValueHeaders": multi_headers or {},
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": dict(stage_variables) if stage_variables else None,
        "requestContext": {
            "resourceId": hashlib.md5(resource.encode()).hexdigest()[:6],  # an id, not a security hash
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t)),
            "path": f"/{stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": domain.split(".")[0],
            "requestTimeEpoch": int(t * 1000),
            "requestId": request_id or str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": lowered.get("user-agent", ""),
                "user": None,
            },
            "domainName": domain,
            "apiId": api_id,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
