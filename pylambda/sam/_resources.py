"""A loaded SAM application: its functions, layers, APIs and the resources they use.

``load()`` reads the template once and builds everything that needs no
Invoker: ``Function`` objects (with their layers, environment and aliases),
the in-memory queues, tables, streams and buckets the template declares, and
the API routes.  ``attach(invoker)`` then registers the functions and wires
their events; ``start_api(invoker)`` serves the APIs over HTTP.

Names follow what a deployment would give: ``!Ref`` of a function is its
``FunctionName`` or, without one, its logical id; a queue, table, stream or
bucket is named by its name property or its logical id (lower-cased for a
bucket, whose names must be).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .._environment.deps import cache_root
from ._functions import FunctionSpec, build_function, merge_globals
from ._intrinsics import NO_VALUE, Resolver, parameter_values
from ._template import Node, Template, TemplateError, line_of

__all__ = ["SamApp", "load"]

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
API_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
DATA_TYPES = ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable", "AWS::Kinesis::Stream",
              "AWS::S3::Bucket")  # fmt: skip
# Resources that change nothing about running the functions here (permissions, logs, alarms, deployments).
NO_LOCAL_EFFECT_PREFIXES = ("AWS::IAM::", "AWS::Logs::", "AWS::CloudWatch::", "AWS::ApplicationInsights::",
                            "AWS::ResourceGroups::", "AWS::Lambda::Permission", "AWS::Lambda::Version",
                            "AWS::Lambda::Alias", "AWS::SSM::Parameter", "AWS::SQS::QueuePolicy",
                            "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy", "AWS::KMS::",
                            "AWS::Serverless::Connector")  # fmt: skip


class SamApp:
    """A SAM template loaded for local runs (see ``pylambda.sam.load``).

    Attributes:
        functions: logical id -> ``Function``.
        layers: logical id -> the layer's directory (``ContentUri``).
        apis: logical id -> ``Api`` (its routes, stage, CORS and binary media
            types), including SAM's implicit ``ServerlessRestApi`` and
            ``ServerlessHttpApi``.
        resources: logical id -> the in-memory ``Queue``/``Table``/``Stream``/
            ``Bucket`` standing in for the template's resource.
        ignored: ``(resource, property, line, why)`` for each thing in the
            template that has no local effect (nothing is dropped unseen).
    """

    def __init__(self, path: str | os.PathLike, parameter_overrides: dict | None = None,
                 env_vars: dict | str | os.PathLike | None = None, *, dependencies: str = "isolated",
                 region: str | None = None, account_id: str = "123456789012", clock: Any = None,
                 unwired_events_ok: bool = False) -> None:  # fmt: skip
        self.template = Template(path)
        self.unwired_events_ok = unwired_events_ok
        self.clock = clock
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = account_id
        self.dependencies = dependencies
        self.cache = cache_root()
        self.ignored: list[tuple[str, str, int | None, str]] = []
        self._env_vars = _read_env_vars(env_vars)
        stack = re.sub(r"[^A-Za-z0-9-]", "-", self.template.base.name).strip("-") or "sam-app"
        pseudo = {
            "AWS::Region": self.region, "AWS::AccountId": account_id, "AWS::StackName": stack,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{account_id}:stack/{stack}/local",
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": [],
        }  # fmt: skip
        self.resolver = Resolver(self.template, parameter_values(self.template, parameter_overrides), pseudo,
                                 self._ref, self._getatt)  # fmt: skip
        self._raw = {k: v for k, v in self.template.section("Resources").items() if self._exists(k, v)}
        self._names: dict[str, str] = {}
        self.functions: dict[str, Any] = {}
        self.specs: dict[str, FunctionSpec] = {}
        self.layers: dict[str, str] = {}
        self.resources: dict[str, Any] = {}
        self.data_props: dict[str, dict] = {}
        self._build()

    # -- building -------------------------------------------------------------------
    def _exists(self, logical_id: str, resource: Any) -> bool:
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(f"{self.template.where(self.template.section('Resources'), logical_id)}: "
                                f"resource {logical_id} needs a Type")  # fmt: skip
        condition = resource.get("Condition")
        return condition is None or self.resolver.condition(condition, (logical_id, "Condition", resource))

    def _build(self) -> None:
        from ._apis import collect_apis
        from ._data import build_data_resource
        from ._events import plan_events

        for logical_id, resource in self._raw.items():
            kind = resource["Type"]
            if kind in DATA_TYPES:
                self.resources[logical_id] = build_data_resource(self, logical_id, resource)
        for logical_id, resource in self._raw.items():
            kind = resource["Type"]
            if kind in LAYER_TYPES:
                self.layers[logical_id] = self._layer_content(logical_id, resource)
        globals_ = self.template.section("Globals").get("Function") or Node()
        for logical_id, resource in self._raw.items():
            kind = resource["Type"]
            if kind in FUNCTION_TYPES:
                props = resource.get("Properties") or Node()
                if kind == "AWS::Serverless::Function":
                    props = merge_globals(globals_, props)
                spec = build_function(self, logical_id, resource, props, kind)
                self.specs[logical_id] = spec
                self.functions[logical_id] = spec.function
            elif kind not in DATA_TYPES + LAYER_TYPES + API_TYPES and kind not in ("AWS::SNS::Topic",):
                if not kind.startswith(NO_LOCAL_EFFECT_PREFIXES):
                    where = self.template.where(resource, "Type")
                    raise TemplateError(f"{where}: {logical_id}: resource type {kind} is not supported by pylambda")
                self.note(logical_id, "Type", line_of(resource, "Type"), f"{kind} has no local effect")
        self.apis = collect_apis(self)
        self.plans = plan_events(self)

    def _layer_content(self, logical_id: str, resource: Node) -> str:
        props = resource.get("Properties") or Node()
        key = "ContentUri" if resource["Type"] == "AWS::Serverless::LayerVersion" else "Content"
        content = self.resolve(props.get(key), logical_id, key, props)
        if not isinstance(content, str):
            raise TemplateError(f"{self.template.where(props, key)}: {logical_id}.{key}: "
                                "only a local directory or .zip can be used as a layer here")  # fmt: skip
        path = (self.template.base / content).resolve()
        build = (resource.get("Metadata") or {}).get("BuildMethod")
        if build and str(build).startswith("python") and not (path / "python").is_dir():
            # `sam build` installs a python layer's requirements.txt into python/; unbuilt, its sources sit at the root
            self.note(logical_id, "Metadata.BuildMethod", line_of(resource, "Metadata"),
                      "the layer is used as its directory's python/ would be after `sam build`")  # fmt: skip
        if not path.exists():
            raise TemplateError(f"{self.template.where(props, key)}: {logical_id}.{key}: {path} does not exist")
        return str(path)

    # -- used by the builders ----------------------------------------------------------
    def resolve(self, value: Any, logical_id: str, prop: str, node: Any) -> Any:
        """``value`` with intrinsics evaluated (errors name ``logical_id.prop`` and the line in ``node``)."""
        out = self.resolver.resolve(value, (logical_id, prop, node))
        return None if out is NO_VALUE else out

    def note(self, logical_id: str, prop: str, line: int | None, why: str) -> None:
        """Record something the template asks for that changes nothing here."""
        self.ignored.append((logical_id, prop, line, why))

    def env_overrides(self, logical_id: str, declared: dict[str, str]) -> dict[str, str]:
        """``--env-vars`` values for ``logical_id`` (``Parameters`` for all), for variables it declares (as SAM)."""
        out = {}
        for section in ("Parameters", logical_id):
            values = self._env_vars.get(section) or {}
            out.update({k: str(v) for k, v in values.items() if k in declared})
        return out

    def layer_path(self, layer: Any, logical_id: str, props: dict) -> str:
        """A function's ``Layers`` entry (a ``!Ref`` to a layer here, or a path) as a directory."""
        if isinstance(layer, str) and layer in self._layer_arns():
            return self._layer_arns()[layer]
        if isinstance(layer, str) and not layer.startswith("arn:"):
            path = (self.template.base / layer).resolve()
            if path.exists():
                return str(path)
        raise TemplateError(f"{self.template.where(props, 'Layers')}: {logical_id}.Layers: {layer!r} is not a "
                            "layer of this template (a published layer ARN cannot be fetched locally)")  # fmt: skip

    def _layer_arns(self) -> dict[str, str]:
        return {self._layer_arn(k): path for k, path in self.layers.items()}

    def _layer_arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{self._name(logical_id)}:1"

    def dead_letter_target(self, dlq: Any, logical_id: str, props: dict):
        """A callable sending a failed asynchronous event to the template's DLQ queue."""
        from ._data import dead_letter_sender

        return dead_letter_sender(self, dlq, logical_id, props)

    # -- names, !Ref and !GetAtt ---------------------------------------------------------
    def _name(self, logical_id: str) -> str:
        name = self._names.get(logical_id)
        if name is not None:
            return name
        resource = self._raw[logical_id]
        props = resource.get("Properties") or {}
        key = {"AWS::SQS::Queue": "QueueName", "AWS::DynamoDB::Table": "TableName", "AWS::Kinesis::Stream": "Name",
               "AWS::S3::Bucket": "BucketName", "AWS::Serverless::Function": "FunctionName",
               "AWS::Lambda::Function": "FunctionName", "AWS::SNS::Topic": "TopicName",
               "AWS::Serverless::SimpleTable": "TableName", "AWS::Serverless::LayerVersion": "LayerName",
               "AWS::Lambda::LayerVersion": "LayerName"}.get(resource["Type"])  # fmt: skip
        self._names[logical_id] = logical_id  # a name that refers to itself ends here
        given = self.resolve(props.get(key), logical_id, key, props) if key and key in props else None
        name = str(given) if given else logical_id
        if resource["Type"] == "AWS::S3::Bucket" and not given:
            name = f"{self.resolver.pseudo['AWS::StackName']}-{logical_id}".lower()
        self._names[logical_id] = name
        return name

    def _ref(self, logical_id: str) -> Any:
        if logical_id not in self._raw:
            return None
        kind = self._raw[logical_id]["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{self._name(logical_id)}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account_id}:{self._name(logical_id)}"
        if kind in LAYER_TYPES:
            return self._layer_arn(logical_id)
        return self._name(logical_id)

    def _getatt(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self._raw:
            return None
        kind, name, region, account = (
            self._raw[logical_id]["Type"],
            self._name(logical_id),
            self.region,
            self.account_id,
        )
        source = self.resources.get(logical_id)
        table = {
            "AWS::Serverless::Function": {"Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"},
            "AWS::Lambda::Function": {"Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"},
            "AWS::SQS::Queue": {"Arn": f"arn:aws:sqs:{region}:{account}:{name}", "QueueName": name,
                                "QueueUrl": self._ref(logical_id)},
            "AWS::DynamoDB::Table": {"Arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
                                     "StreamArn": getattr(source, "arn", None)},
            "AWS::Serverless::SimpleTable": {"Arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}"},
            "AWS::Kinesis::Stream": {"Arn": f"arn:aws:kinesis:{region}:{account}:stream/{name}"},
            "AWS::S3::Bucket": {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com"},
            "AWS::SNS::Topic": {"TopicArn": self._ref(logical_id), "TopicName": name},
            "AWS::IAM::Role": {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": f"AROA{name.upper()}"[:21]},
        }.get(kind, {})  # fmt: skip
        return table.get(attribute)

    # -- running ----------------------------------------------------------------------------
    def attach(self, invoker: Any) -> SamApp:
        """Register every function with ``invoker`` and wire their events (queues, streams, schedules ...).

        With ``Invoker(aws_endpoint_url=...)`` the queues, tables, streams and
        buckets are created at that endpoint and the SQS, Kinesis and DynamoDB
        events poll them there; otherwise they are the in-memory sources of
        ``app.resources``.
        """
        from ._events import wire_events

        invoker.register(*self.functions.values())
        wire_events(self, invoker)
        return self

    def start_api(self, invoker: Any, *, host: str = "127.0.0.1", port: int = 0, apis: list[str] | None = None):
        """Serve the template's APIs (``Api``/``HttpApi`` events) on ``host:port``; returns the running server."""
        from .._apigw.server import ApiServer

        chosen = [self.apis[a] for a in apis] if apis else list(self.apis.values())
        return ApiServer(invoker, chosen, host=host, port=port)

    def __repr__(self) -> str:
        return (f"<SamApp {self.template.path.name}: functions={sorted(self.functions)} "
                f"layers={sorted(self.layers)} apis={sorted(self.apis)}>")  # fmt: skip


def _read_env_vars(env_vars: Any) -> dict:
    """SAM's ``--env-vars`` document: ``{"LogicalId": {...}, "Parameters": {...}}`` (a dict or a JSON file)."""
    if env_vars is None:
        return {}
    if isinstance(env_vars, (str, os.PathLike)):
        try:
            env_vars = json.loads(Path(env_vars).read_text())
        except (OSError, ValueError) as e:
            raise TemplateError(f"cannot read the env-vars file {env_vars}: {e}") from e
    if not isinstance(env_vars, dict) or not all(isinstance(v, dict) for v in env_vars.values()):
        raise TemplateError('env_vars must map "Parameters" or a function\'s logical id to {"NAME": "value"}')
    return env_vars


def load(template: str | os.PathLike = "template.yaml", parameter_overrides: dict | None = None,
         env_vars: dict | str | os.PathLike | None = None, **options: Any) -> SamApp:  # fmt: skip
    """Load a SAM template for local runs.

    Args:
        template: the template file (YAML or JSON), or a directory holding
            ``template.yaml``/``template.yml``.
        parameter_overrides: values for the template's ``Parameters``.
        env_vars: SAM's ``--env-vars`` document (or a path to its JSON file):
            ``{"FunctionLogicalId": {"VAR": "value"}, "Parameters": {...}}``;
            only variables the template declares are overridden, as in SAM.
        options: ``dependencies`` (``"isolated"`` by default, as deployed;
            ``"caller"`` to let handlers import the caller's packages),
            ``region``, ``account_id``, ``clock`` (give the queues,
            streams and schedules the Invoker's ``ManualClock``, so
            visibility timeouts and schedules follow it), and
            ``unwired_events_ok=True`` to list events pylambda cannot wire
            (SNS, EventBridge ...) in ``app.ignored`` instead of raising, for
            invoking functions directly (``pylambda local invoke`` does).

    Returns:
        A ``SamApp`` with ``functions``, ``layers``, ``apis``, ``resources``;
        ``app.attach(invoker)`` registers and wires them.

    Raises:
        TemplateError: what cannot be run, naming the resource, property and line.

    .. versionadded:: 0.2
    """
    from ._template import find_template

    return SamApp(find_template(template), parameter_overrides, env_vars, **options)
