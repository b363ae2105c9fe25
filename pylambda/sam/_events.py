"""A function's ``Events`` onto pylambda's event source mappings.

``SQS``, ``Kinesis``, ``DynamoDB``, ``S3``, ``Schedule`` and ``ScheduleV2``
become ``invoker.create_event_source_mapping(source, function, ...)`` with
the template's settings (batch size, batching window, starting position,
filters, bisecting, retries ...), the source being the in-memory stand-in of
the template's queue, stream, table or bucket.  ``Api``/``HttpApi`` events
become routes (``_apis``).  Events are planned at load, so an unsupported
one fails there, naming the function, the event and its line; ``attach``
only carries the plan out.
"""

from __future__ import annotations

from typing import Any

from ._template import Node, TemplateError, line_of

__all__ = ["plan_events", "wire_events"]

_SOURCE_TYPES = {"SQS": "Queue", "Kinesis": "Stream", "DynamoDB": "Table"}
_STREAM_OPTIONS = {
    "StartingPosition": "starting_position", "BisectBatchOnFunctionError": "bisect_batch_on_function_error",
    "MaximumRetryAttempts": "maximum_retry_attempts", "MaximumRecordAgeInSeconds": "maximum_record_age",
    "ParallelizationFactor": "parallelization_factor",
}  # fmt: skip
_COMMON = {"BatchSize": "batch_size", "MaximumBatchingWindowInSeconds": "maximum_batching_window",
           "Enabled": "enabled", "FunctionResponseTypes": "function_response_types",
           "FilterCriteria": "filter_criteria"}  # fmt: skip
_NEEDS_SERVICES = ("SNS", "EventBridgeRule", "CloudWatchEvent", "SQSQueuePolicy", "IoTRule", "MQ", "MSK",
                   "SelfManagedKafka", "CloudWatchLogs", "Cognito", "AlexaSkill", "DocumentDB")  # fmt: skip


class _Plan:
    def __init__(self, logical_id: str, event_name: str, kind: str, source: Any, target: Any, options: dict) -> None:
        self.logical_id, self.event_name, self.kind = logical_id, event_name, kind
        self.source, self.target, self.options = source, target, options


def _source(app: Any, arn: Any, kind: str, fail) -> Any:
    for source in app.resources.values():
        if type(source).__name__ == kind and arn in (getattr(source, "arn", None), getattr(source, "name", None)):
            return source
    raise fail(f"{arn!r} is not a {kind.lower()} of this template (an outside ARN needs a services endpoint)")


def plan_events(app: Any) -> list[_Plan]:
    """What ``attach`` will create, one entry per non-API event; errors for events that cannot run here."""
    from .. import Schedule

    plans = []
    for logical_id, spec in app.specs.items():
        events = spec.props.get("Events") or {}
        if not isinstance(events, dict):
            raise TemplateError(f"{app.template.where(spec.props, 'Events')}: {logical_id}.Events must be a mapping")
        target = spec.alias or spec.function
        for name, event in events.items():
            line = line_of(events, name)

            def fail(message: str, name=name, line=line, logical_id=logical_id) -> TemplateError:
                return TemplateError(f"{app.template.path.name}: {logical_id}.Events.{name} (line {line}): {message}")

            if not isinstance(event, dict) or "Type" not in event:
                raise fail("an event needs a Type")
            kind = str(event["Type"])
            if kind in ("Api", "HttpApi"):
                continue
            props = app.resolve(event.get("Properties") or Node(), logical_id, f"Events.{name}", events) or {}
            options: dict[str, Any] = {}
            if kind in _SOURCE_TYPES:
                arn = props.get("Queue" if kind == "SQS" else "Stream")
                source = _source(app, arn, _SOURCE_TYPES[kind], fail)
                table = dict(_COMMON, **(_STREAM_OPTIONS if kind != "SQS" else {}))
                for prop, key in table.items():
                    if prop in props:
                        options[key] = props[prop]
                if "MaximumBatchingWindowInSeconds" in props:
                    options["maximum_batching_window"] = float(props["MaximumBatchingWindowInSeconds"])
                if "DestinationConfig" in props:
                    destination = (props["DestinationConfig"].get("OnFailure") or {}).get("Destination")
                    queue = _source(app, destination, "Queue", fail)
                    options["destination_config"] = {"OnFailure": {"Destination": queue}}
                if "enabled" in options:
                    options["enabled"] = str(options["enabled"]).lower() == "true"
                for prop in set(props) - set(table) - {"Queue", "Stream", "DestinationConfig"}:
                    raise fail(f"property {prop} of an {kind} event is not supported by pylambda")
            elif kind == "S3":
                source = _source(app, props.get("Bucket"), "Bucket", fail)
                events_ = props.get("Events", "s3:ObjectCreated:*")
                options["events"] = tuple(events_ if isinstance(events_, list) else [events_])
                for rule in ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
                    options[str(rule.get("Name", "")).lower()] = str(rule.get("Value", ""))
                if set(options) - {"events", "prefix", "suffix"}:
                    raise fail("S3 Filter rules are Name: prefix|suffix")
            elif kind in ("Schedule", "ScheduleV2"):
                expression = props.get("Schedule" if kind == "Schedule" else "ScheduleExpression")
                if not expression:
                    raise fail(f"a {kind} event needs {'Schedule' if kind == 'Schedule' else 'ScheduleExpression'}")
                if "Input" in props:
                    raise fail("a schedule's Input (a custom event) is not supported by pylambda's Schedule")
                state = props.get(
                    "State", "ENABLED" if props.get("Enabled", True) not in (False, "false") else "DISABLED"
                )
                try:
                    source = Schedule(str(expression), name=str(props.get("Name") or f"{logical_id}{name}"),
                                      region=app.region, account_id=app.account_id, clock=app.clock)  # fmt: skip
                except (ValueError, TypeError) as e:
                    raise fail(str(e)) from e
                options["enabled"] = str(state).upper() == "ENABLED"
            else:
                if kind in _NEEDS_SERVICES:
                    why = (
                        f"{kind} events are not supported: pylambda has no {kind} service to subscribe the function to"
                    )
                else:
                    why = f"event type {kind} is not supported by pylambda"
                if not app.unwired_events_ok:
                    raise fail(why)
                app.note(logical_id, f"Events.{name}", line, f"{why}; not wired")
                continue
            plans.append(_Plan(logical_id, name, kind, source, target, options))
    return plans


def _destination(app: Any, spec: Any, which: str, config: dict) -> Any:
    """An ``EventInvokeConfig`` destination: a function of the template, or a queue (records sent as JSON)."""
    import json

    target = (config.get("DestinationConfig") or {}).get(which) or {}
    arn = target.get("Destination")
    if not arn:
        return None
    for fn in app.functions.values():
        if arn in (fn.arn, fn.name):
            return fn
    for source in app.resources.values():
        if type(source).__name__ == "Queue" and arn == source.arn:
            return lambda record, queue=source: queue.send(json.dumps(record))
    line = line_of(spec.props, "EventInvokeConfig")
    raise TemplateError(f"{app.template.path.name}: {spec.logical_id}.EventInvokeConfig (line {line}): "
                        f"{which} destination {arn!r} is not a function or queue of this template")  # fmt: skip


def wire_events(app: Any, invoker: Any) -> list:
    """Create every planned mapping on ``invoker``, with asynchronous and provisioned settings; returns the mappings."""
    for logical_id, spec in app.specs.items():
        target = spec.alias or spec.function
        config = app.resolve(spec.props.get("EventInvokeConfig"), logical_id, "EventInvokeConfig", spec.props)
        if config:
            invoker.put_function_event_invoke_config(
                target,
                maximum_retry_attempts=int(config.get("MaximumRetryAttempts", 2)),
                maximum_event_age_in_seconds=int(config.get("MaximumEventAgeInSeconds", 21600)),
                on_success=_destination(app, spec, "OnSuccess", config),
                on_failure=_destination(app, spec, "OnFailure", config),
            )
        provisioned = app.resolve(spec.props.get("ProvisionedConcurrencyConfig"), logical_id,
                                  "ProvisionedConcurrencyConfig", spec.props)  # fmt: skip
        if provisioned:
            if spec.alias is None:
                line = line_of(spec.props, "ProvisionedConcurrencyConfig")
                raise TemplateError(f"{app.template.path.name}: {logical_id}.ProvisionedConcurrencyConfig "
                                    f"(line {line}): needs AutoPublishAlias, as in SAM")  # fmt: skip
            invoker.put_provisioned_concurrency_config(spec.alias, int(provisioned["ProvisionedConcurrentExecutions"]))
    endpoint = getattr(invoker, "aws_endpoint_url", None)
    remote: dict[Any, str] = {}
    if endpoint:
        from ._remote import create_remote_resources

        arns = create_remote_resources(app, endpoint)
        remote = {id(app.resources[k]): arn for k, arn in arns.items()}
    mappings = []
    for plan in app.plans:
        source, options = plan.source, dict(plan.options)
        if remote and plan.kind in _SOURCE_TYPES:
            source = remote[id(source)]
            destination = (options.get("destination_config") or {}).get("OnFailure", {}).get("Destination")
            if destination is not None:
                options["destination_config"] = {"OnFailure": {"Destination": remote[id(destination)]}}
        elif remote and plan.kind == "S3":
            why = "notifications come from the in-memory bucket of app.resources, not the endpoint's bucket"
            app.note(plan.logical_id, f"Events.{plan.event_name}", None, why)
        try:
            mappings.append(invoker.create_event_source_mapping(source, plan.target, **options))
        except (ValueError, TypeError) as e:
            raise TemplateError(f"{app.template.path.name}: {plan.logical_id}.Events.{plan.event_name}: {e}") from e
    return mappings
