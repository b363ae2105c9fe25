"""``AWS::Serverless::Function`` and ``AWS::Lambda::Function`` properties onto pylambda's ``Function``.

Each property is either mapped (``MemorySize`` -> ``memory_size`` ...),
known to have no local effect (``Policies``, ``Role``, ``VpcConfig`` ...:
listed in ``app.ignored`` so nothing is dropped unseen), or an error naming
the resource, the property and its line.  ``Globals.Function`` applies first,
as SAM applies it: a mapping merges key by key, a list is prepended to the
function's own, anything else is replaced by the function's value.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .._errors import InvalidParameterValueError
from .._function import Function
from ._template import Node, TemplateError, line_of

__all__ = ["FunctionSpec", "build_function", "merge_globals"]

# Properties that change nothing about how the code runs on this machine.
NO_LOCAL_EFFECT = frozenset(
    {
        "Policies", "Role", "Tags", "VpcConfig", "KmsKeyArn", "PermissionsBoundary", "AssumeRolePolicyDocument",
        "RolePath", "PropagateTags", "CodeSigningConfigArn", "DeploymentPreference", "AutoPublishCodeSha256",
        "AutoPublishAliasAllProperties", "VersionDescription", "RuntimeManagementConfig", "FunctionUrlConfig",
        "SnapStart", "FileSystemConfigs", "RecursiveLoop", "Connectors", "ImageConfig",
    }
)  # fmt: skip
SERVERLESS_PROPERTIES = frozenset(
    {
        "Handler", "Runtime", "CodeUri", "InlineCode", "MemorySize", "Timeout", "Environment", "Architectures",
        "EphemeralStorage", "ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig", "AutoPublishAlias",
        "DeadLetterQueue", "EventInvokeConfig", "Layers", "Tracing", "LoggingConfig", "Events", "FunctionName",
        "Description", "PackageType",
    }
)  # fmt: skip
LAMBDA_PROPERTIES = frozenset(
    {
        "Handler", "Runtime", "Code", "MemorySize", "Timeout", "Environment", "Architectures", "EphemeralStorage",
        "ReservedConcurrentExecutions", "DeadLetterConfig", "Layers", "TracingConfig", "LoggingConfig",
        "FunctionName", "Description", "PackageType",
    }
)  # fmt: skip


class FunctionSpec:
    """What the template says about one function, beyond the ``Function`` itself (wired at attach)."""

    def __init__(self, logical_id: str, function: Function, props: dict, node: Node) -> None:
        self.logical_id = logical_id
        self.function = function
        self.props = props
        self.node = node
        self.alias = None


def merge_globals(globals_: dict, props: dict) -> dict:
    """SAM's merge of ``Globals.Function`` into one function's properties."""
    out = Node()
    if isinstance(props, Node):
        out.line, out.lines = props.line, dict(props.lines)
    for key, value in globals_.items():
        out[key] = value
        if isinstance(globals_, Node) and key in globals_.lines and key not in out.lines:
            out.lines[key] = globals_.lines[key]
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not _is_intrinsic(value):
            merged = merge_globals(out[key], value)
            out[key] = merged
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
        if isinstance(props, Node) and key in props.lines:
            out.lines[key] = props.lines[key]
    return out


def _is_intrinsic(value: dict) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref", "Condition"))


def _inline_code(source: str, filename: str, cache: str) -> str:
    """A directory holding inline code (``InlineCode``, ``Code.ZipFile``) as ``filename``."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    target = Path(cache, "inline", digest)
    if not (target / filename).is_file():
        target.mkdir(parents=True, exist_ok=True)
        (target / filename).write_text(source)
    return str(target)


def build_function(app: Any, logical_id: str, resource: Node, props: dict, kind: str) -> FunctionSpec:
    """A ``Function`` for one template resource (``kind`` is its ``Type``)."""
    serverless = kind == "AWS::Serverless::Function"
    allowed = SERVERLESS_PROPERTIES if serverless else LAMBDA_PROPERTIES

    def fail(prop: str, message: str) -> TemplateError:
        return TemplateError(f"{app.template.path.name}: {logical_id}.{prop} (line {line_of(props, prop)}): {message}")

    for prop in props:
        if prop in allowed:
            continue
        if prop in NO_LOCAL_EFFECT:
            app.note(logical_id, prop, line_of(props, prop), "has no local effect")
            continue
        raise fail(prop, f"property {prop} is not supported by pylambda")

    def value(prop: str, default: Any = None) -> Any:
        if prop not in props:
            return default
        return app.resolve(props[prop], logical_id, prop, props)

    if str(value("PackageType", "Zip")) != "Zip":
        raise fail("PackageType", "container images are not supported; use a Zip package")
    name = str(value("FunctionName") or logical_id)
    handler = value("Handler")
    code: str | None = None
    if serverless:
        inline = value("InlineCode")
        code_uri = value("CodeUri")
        if inline is not None:
            code = _inline_code(str(inline), f"{str(handler or 'index.handler').rsplit('.', 1)[0]}.py", app.cache)
        elif isinstance(code_uri, str):
            code = str((app.template.base / code_uri).resolve())
        elif code_uri is None:
            code = str(app.template.base)
        else:
            raise fail("CodeUri", "an S3 location cannot be run locally; point CodeUri at the code directory")
    else:
        code_prop = value("Code")
        if isinstance(code_prop, str):
            code = str((app.template.base / code_prop).resolve())
        elif isinstance(code_prop, dict) and "ZipFile" in code_prop:
            code = _inline_code(str(code_prop["ZipFile"]), "index.py", app.cache)
        else:
            raise fail("Code", "only a local path or Code.ZipFile can be run locally (not S3)")
    if handler is None:
        raise fail("Handler", "a function needs a Handler")
    if code is not None and not os.path.exists(code):
        where = "CodeUri" if serverless else "Code"
        raise fail(where, f"the code directory {code} does not exist (run it from the project, or fix the path)")

    kwargs: dict[str, Any] = {"code": code, "region": app.region, "account_id": app.account_id}
    for prop, key in (("MemorySize", "memory_size"), ("Timeout", "timeout"),
                      ("ReservedConcurrentExecutions", "reserved_concurrency")):  # fmt: skip
        if prop in props:
            raw = value(prop)
            try:
                kwargs[key] = int(raw)
            except (TypeError, ValueError) as e:
                raise fail(prop, f"must be a whole number, got {raw!r}") from e
    if "Runtime" in props:
        kwargs["runtime"] = str(value("Runtime"))
    if "Description" in props:
        kwargs["description"] = str(value("Description"))
    env = value("Environment") or {}
    variables = env.get("Variables") if isinstance(env, dict) else None
    if variables is not None and not isinstance(variables, dict):
        raise fail("Environment", "Environment.Variables must be a mapping")
    environment = {str(k): _env_string(v) for k, v in (variables or {}).items()}
    environment.update(app.env_overrides(logical_id, environment))
    kwargs["environment"] = environment
    arch = value("Architectures")
    if arch is not None:
        if not (isinstance(arch, list) and len(arch) == 1):
            raise fail("Architectures", f"must list one architecture, got {arch!r}")
        kwargs["architecture"] = str(arch[0])
    storage = value("EphemeralStorage")
    if storage is not None:
        kwargs["ephemeral_storage"] = int(storage.get("Size", 512)) if isinstance(storage, dict) else storage
    tracing = value("Tracing") if serverless else (value("TracingConfig") or {}).get("Mode")
    if tracing is not None:
        kwargs["tracing"] = str(tracing)
    logging_config = value("LoggingConfig")
    if isinstance(logging_config, dict):
        for prop, key in (("LogFormat", "log_format"), ("ApplicationLogLevel", "application_log_level"),
                          ("SystemLogLevel", "system_log_level"), ("LogGroup", "log_group")):  # fmt: skip
            if prop in logging_config:
                kwargs[key] = str(logging_config[prop])
    layers = value("Layers") or []
    if not isinstance(layers, list):
        raise fail("Layers", "must be a list")
    kwargs["layers"] = [app.layer_path(layer, logical_id, props) for layer in layers]
    kwargs["dependencies"] = app.dependencies
    dlq = value("DeadLetterQueue") if serverless else value("DeadLetterConfig")
    if dlq:
        kwargs["dead_letter_target"] = app.dead_letter_target(dlq, logical_id, props)
    try:
        fn = Function(name, handler, **kwargs)
    except InvalidParameterValueError as e:
        raise fail(_guilty(str(e)), str(e)) from e
    spec = FunctionSpec(logical_id, fn, props, resource)
    alias = value("AutoPublishAlias") if serverless else None
    if alias:
        spec.alias = fn.create_alias(str(alias), fn.publish_version())
    return spec


_FIELDS = {
    "memory_size": "MemorySize", "timeout": "Timeout", "runtime": "Runtime", "environment": "Environment",
    "architecture": "Architectures", "ephemeral_storage": "EphemeralStorage", "layer": "Layers",
    "reserved_concurrency": "ReservedConcurrentExecutions", "handler": "Handler", "tracing": "Tracing",
    "log": "LoggingConfig", "function name": "FunctionName", "code": "CodeUri",
}  # fmt: skip


def _guilty(message: str) -> str:
    """The template property a ``Function`` validation message is about."""
    for field, prop in _FIELDS.items():
        if message.startswith(field) or f" {field} " in message or f"{field}_" in message[:30]:
            return prop
    return "Properties"


def _env_string(value: Any) -> str:
    """CloudFormation's string form of an environment variable's value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
