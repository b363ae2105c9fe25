"""Event source mappings through the API: Create/Get/List/Update/DeleteEventSourceMapping.

A mapping is ``Invoker.create_event_source_mapping(EventSourceArn, function,
...)``: a string ARN means "poll that queue or stream on the Invoker's
services endpoint" (``Invoker(aws_endpoint_url=...)``, e.g. moto's server
from ``pylambda.aws.services()``), with the same semantics and options as
the in-memory sources.  The members a caller set are kept and answered back
in Lambda's ``EventSourceMappingConfiguration`` shape.  Like Lambda, the
mutating operations answer the transitional state (``Creating``,
``Updating``, ``Deleting``) and reads the settled one (``Enabled`` or
``Disabled``): here the transition is over before the answer is sent.

An update of anything but ``Enabled`` replaces the poller (same UUID): the
model's mappings are immutable apart from enabling.
"""

from __future__ import annotations

import time
from typing import Any

from .api import LambdaApi
from .errors import invalid, not_found
from .http import Request
from .params import BOOL, INT, LIST, NUM, OBJ, STR, json_body, listed, page, parse_function

__all__ = ["ROUTES"]

_COMMON = {
    "Enabled": BOOL, "BatchSize": INT, "FilterCriteria": OBJ, "MaximumBatchingWindowInSeconds": INT,
    "DestinationConfig": OBJ, "MaximumRecordAgeInSeconds": INT, "BisectBatchOnFunctionError": BOOL,
    "MaximumRetryAttempts": INT, "ParallelizationFactor": INT, "FunctionResponseTypes": LIST,
    "ScalingConfig": OBJ, "TumblingWindowInSeconds": INT, "KMSKeyArn": STR, "MetricsConfig": OBJ,
    "ProvisionedPollerConfig": OBJ, "SourceAccessConfigurations": LIST, "DocumentDBEventSourceConfig": OBJ,
}  # fmt: skip
_CREATE = {
    **_COMMON, "EventSourceArn": STR, "FunctionName": STR, "StartingPosition": STR,
    "StartingPositionTimestamp": NUM, "Tags": OBJ, "Topics": LIST, "Queues": LIST, "SelfManagedEventSource": OBJ,
    "AmazonManagedKafkaEventSourceConfig": OBJ, "SelfManagedKafkaEventSourceConfig": OBJ,
}  # fmt: skip
_UPDATE = {**_COMMON, "FunctionName": STR}
_REFUSED = ("Topics", "Queues", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig",
            "SelfManagedKafkaEventSourceConfig", "SourceAccessConfigurations", "DocumentDBEventSourceConfig",
            "TumblingWindowInSeconds", "ProvisionedPollerConfig")  # fmt: skip


def _options(body: dict) -> dict[str, Any]:
    """Keyword arguments of ``create_event_source_mapping`` from API members."""
    for member in _REFUSED:
        if body.get(member):
            raise invalid(f"{member} is not supported by pylambda's Lambda endpoint")
    kwargs: dict[str, Any] = {}
    pairs = {
        "BatchSize": "batch_size", "MaximumBatchingWindowInSeconds": "maximum_batching_window",
        "FunctionResponseTypes": "function_response_types", "FilterCriteria": "filter_criteria",
        "Enabled": "enabled", "StartingPosition": "starting_position",
        "StartingPositionTimestamp": "starting_position_timestamp",
        "BisectBatchOnFunctionError": "bisect_batch_on_function_error",
        "MaximumRetryAttempts": "maximum_retry_attempts", "MaximumRecordAgeInSeconds": "maximum_record_age",
        "ParallelizationFactor": "parallelization_factor", "DestinationConfig": "destination_config",
    }  # fmt: skip
    for member, kw in pairs.items():
        if member in body:
            kwargs[kw] = body[member]
    return kwargs


def _configuration(api: LambdaApi, mapping: Any, state: str | None = None) -> dict:
    with api.lock:
        members = dict(api.mapping_members.get(mapping.uuid) or {})
        modified = api.mapping_modified.setdefault(mapping.uuid, time.time())
    fn = api.invoker.functions.get(mapping.function_name)
    out: dict[str, Any] = {
        "UUID": mapping.uuid,
        "EventSourceArn": mapping.source_arn,
        "FunctionArn": members.pop("FunctionArn", None) or (fn.arn if fn else mapping.function_name),
        "StateTransitionReason": "USER_INITIATED",
        "LastModified": modified,
        "EventSourceMappingArn": mapping.arn,
    }
    try:
        out.update(mapping.describe())
    except Exception:  # the function went away: what the API knows is enough
        pass
    out["State"] = state or mapping.state
    members.pop("EventSourceArn", None)
    members.pop("FunctionName", None)
    members.pop("Enabled", None)
    members.pop("Tags", None)
    out.update(members)
    return out


def _mapping(api: LambdaApi, uuid: str) -> Any:
    mapping = next((m for m in api.invoker._triggers.all() if m.uuid == uuid), None)
    if mapping is None:
        raise not_found(f"The resource you requested does not exist. (Service: Lambda, Status Code: 404, UUID: {uuid})")
    return mapping


def _target(api: LambdaApi, name: str) -> tuple[str, str]:
    """(target for the Invoker, the FunctionArn to report) for a FunctionName in any accepted form."""
    ref = parse_function(name)
    fn = api.function(ref)
    return ref.target, f"{fn.arn}:{ref.qualifier}" if ref.qualifier else fn.arn


def create_mapping(api: LambdaApi, req: Request) -> tuple[int, dict]:
    """CreateEventSourceMapping (202)."""
    body = json_body(req, _CREATE, ("FunctionName",))
    arn = body.get("EventSourceArn")
    if not arn:
        raise invalid("EventSourceArn is required (the ARN of a queue or stream on the services endpoint)")
    target, function_arn = _target(api, body["FunctionName"])
    mapping = api.invoker.create_event_source_mapping(arn, target, **_options(body))
    with api.lock:
        api.mapping_members[mapping.uuid] = {**body, "FunctionArn": function_arn}
        api.mapping_modified[mapping.uuid] = time.time()
    return 202, _configuration(api, mapping, "Creating")


def get_mapping(api: LambdaApi, req: Request, uuid: str) -> tuple[int, dict]:
    """GetEventSourceMapping."""
    return 200, _configuration(api, _mapping(api, uuid))


def list_mappings(api: LambdaApi, req: Request) -> tuple[int, dict]:
    """ListEventSourceMappings (``EventSourceArn`` and ``FunctionName`` filter)."""
    mappings = api.invoker._triggers.all()
    source = req.query.get("EventSourceArn")
    if source:
        mappings = [m for m in mappings if m.source_arn == source]
    name = req.query.get("FunctionName")
    if name:
        wanted = parse_function(name).name
        mappings = [m for m in mappings if m.function_name == wanted]
    chunk, marker = page(req, mappings, lambda m: m.uuid, default_size=100)
    return listed("EventSourceMappings", [_configuration(api, m) for m in chunk], marker)


def update_mapping(api: LambdaApi, req: Request, uuid: str) -> tuple[int, dict]:
    """UpdateEventSourceMapping (202): ``Enabled`` toggles; other members replace the poller."""
    body = json_body(req, _UPDATE)
    with api.lock:
        mapping = _mapping(api, uuid)
        members = dict(api.mapping_members.get(uuid) or {})
        changed = {k: v for k, v in body.items() if members.get(k) != v and k != "Enabled"}
        if changed:
            merged = {**members, **body}
            merged.pop("FunctionArn", None)
            target, function_arn = _target(api, merged["FunctionName"])
            source = mapping.source if not isinstance(mapping.source, str) else merged["EventSourceArn"]
            mapping.delete()
            try:
                new = api.invoker.create_event_source_mapping(source, target, **_options(merged))
            except Exception:  # put the old one back: an update that fails changes nothing
                old = api.invoker.create_event_source_mapping(source, target, **_options({**members}))
                _rekey(api, old, uuid)
                raise
            _rekey(api, new, uuid)
            mapping = new
            members = {**merged, "FunctionArn": function_arn}
        elif "Enabled" in body:
            (mapping.enable if body["Enabled"] else mapping.disable)()
            members["Enabled"] = body["Enabled"]
        api.mapping_members[uuid] = members
        api.mapping_modified[uuid] = time.time()
    return 202, _configuration(api, mapping, "Updating")


def _rekey(api: LambdaApi, mapping: Any, uuid: str) -> None:
    """Give a replacement poller its predecessor's UUID."""
    triggers = api.invoker._triggers
    with triggers._lock:
        triggers._by_uuid.pop(mapping.uuid, None)
        mapping.uuid = uuid
        triggers._by_uuid[uuid] = mapping


def delete_mapping(api: LambdaApi, req: Request, uuid: str) -> tuple[int, dict]:
    """DeleteEventSourceMapping (202, ``State: Deleting``)."""
    mapping = _mapping(api, uuid)
    out = _configuration(api, mapping, "Deleting")
    mapping.delete()
    with api.lock:
        api.mapping_members.pop(uuid, None)
        api.mapping_modified.pop(uuid, None)
    return 202, out


ROUTES = [
    ("POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping", create_mapping),
    ("GET", "/2015-03-31/event-source-mappings", "ListEventSourceMappings", list_mappings),
    ("GET", "/2015-03-31/event-source-mappings/{uuid}", "GetEventSourceMapping", get_mapping),
    ("PUT", "/2015-03-31/event-source-mappings/{uuid}", "UpdateEventSourceMapping", update_mapping),
    ("DELETE", "/2015-03-31/event-source-mappings/{uuid}", "DeleteEventSourceMapping", delete_mapping),
]
