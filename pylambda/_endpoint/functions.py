"""Functions and versions through the API: create, read, list, update, delete, publish.

Each operation maps onto pylambda's model: CreateFunction builds a
``Function`` (its zip kept in memory, extracted once into the Invoker's code
cache) and registers it; the updates are ``update_code`` and
``update_configuration``; PublishVersion is ``publish_version`` (a no-op
publish returns the last version, as on Lambda); DeleteFunction is
``Invoker.unregister``.  Settings pylambda cannot honour (layers, container
images, file systems, code from S3) are refused with a message naming them,
never accepted and ignored; ``VpcConfig`` and ``KMSKeyArn`` are accepted and
have no effect (there is no VPC or KMS here), as the docs say.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .._code import bundle_for
from .._function import Function
from .._version import LATEST
from .api import LambdaApi
from .errors import ApiError, conflict, invalid
from .http import Request, Response
from .params import BOOL, INT, LIST, OBJ, STR, json_body, listed, page, parse_function
from .shapes import version_revision

__all__ = ["ROUTES"]

_CONFIG_MEMBERS = {
    "Role": STR, "Handler": STR, "Description": STR, "Timeout": INT, "MemorySize": INT, "VpcConfig": OBJ,
    "Environment": OBJ, "Runtime": STR, "DeadLetterConfig": OBJ, "KMSKeyArn": STR, "TracingConfig": OBJ,
    "Layers": LIST, "FileSystemConfigs": LIST, "ImageConfig": OBJ, "EphemeralStorage": OBJ, "LoggingConfig": OBJ,
    "SnapStart": OBJ,
}  # fmt: skip
_CREATE_MEMBERS = {
    **_CONFIG_MEMBERS, "FunctionName": STR, "Code": OBJ, "Publish": BOOL, "PackageType": STR, "Tags": OBJ,
    "CodeSigningConfigArn": STR, "Architectures": LIST,
}  # fmt: skip
_UPDATE_CONFIG_MEMBERS = {**_CONFIG_MEMBERS, "RevisionId": STR}
_UPDATE_CODE_MEMBERS = {
    "ZipFile": STR, "S3Bucket": STR, "S3Key": STR, "S3ObjectVersion": STR, "ImageUri": STR, "Publish": BOOL,
    "DryRun": BOOL, "RevisionId": STR, "Architectures": LIST, "SourceKMSKeyArn": STR,
}  # fmt: skip
_CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/lambda/")


def _refuse(body: dict, *members: str) -> None:
    for member in members:
        if body.get(member):
            raise invalid(f"{member} is not supported by pylambda's Lambda endpoint")


def _zip(text: str, member: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{member} must be the base64 text of a zip file") from None


def _sub(body: dict, member: str, field: str, kind: type) -> Any:
    """``body[member][field]`` checked for type, or None."""
    value = (body.get(member) or {}).get(field)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ApiError("InvalidRequestContentException", f"{member}.{field} must be a JSON {kind.__name__}")
    return value


def _config_changes(body: dict) -> dict[str, Any]:
    """FunctionConfig fields from an API body (only the members present)."""
    _refuse(body, "Layers", "FileSystemConfigs", "ImageConfig")
    if (body.get("DeadLetterConfig") or {}).get("TargetArn"):
        raise invalid("DeadLetterConfig.TargetArn is not supported by pylambda's Lambda endpoint")
    if (body.get("SnapStart") or {}).get("ApplyOn", "None") != "None":
        raise invalid("SnapStart is not supported by pylambda's Lambda endpoint")
    changes: dict[str, Any] = {}
    simple = {"Description": "description", "Timeout": "timeout", "MemorySize": "memory_size", "Runtime": "runtime",
              "Role": "role"}  # fmt: skip
    for member, field in simple.items():
        if member in body:
            changes[field] = body[member]
    if "Environment" in body:
        variables = _sub(body, "Environment", "Variables", dict) or {}
        changes["environment"] = variables
    size = _sub(body, "EphemeralStorage", "Size", int)
    if size is not None:
        changes["ephemeral_storage"] = size
    mode = _sub(body, "TracingConfig", "Mode", str)
    if mode is not None:
        changes["tracing"] = mode
    for member, field in (("LogFormat", "log_format"), ("ApplicationLogLevel", "application_log_level"),
                          ("SystemLogLevel", "system_log_level"), ("LogGroup", "log_group")):  # fmt: skip
        value = _sub(body, "LoggingConfig", member, str)
        if value is not None:
            changes[field] = value
    if "Architectures" in body:
        arch = body["Architectures"]
        if len(arch) != 1 or not isinstance(arch[0], str):
            raise invalid("Architectures must hold exactly one of x86_64, arm64")
        changes["architecture"] = arch[0]
    return changes


def create_function(api: LambdaApi, req: Request) -> tuple[int, dict]:
    """CreateFunction (201)."""
    body = json_body(req, _CREATE_MEMBERS, ("FunctionName", "Role", "Code"))
    name = body["FunctionName"]
    if ":" in name:  # a full or partial ARN names the function too
        ref = parse_function(name)
        name = ref.name
    if body.get("PackageType", "Zip") != "Zip":
        raise invalid("PackageType Image is not supported by pylambda's Lambda endpoint: upload a zip")
    code = body["Code"]
    for member in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri", "SourceKMSKeyArn"):
        if code.get(member):
            raise invalid(f"Code.{member} is not supported by pylambda's Lambda endpoint: send Code.ZipFile")
    if not isinstance(code.get("ZipFile"), str):
        raise invalid("Code.ZipFile (the base64 text of a zip file) is required")
    if not isinstance(body.get("Handler"), str):
        raise invalid("Handler is required for a Zip package")
    _refuse(body, "CodeSigningConfigArn")
    tags = body.get("Tags") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ApiError("InvalidRequestContentException", "Tags must map strings to strings")
    changes = _config_changes(body)
    match = _CREDENTIAL_REGION.search(req.headers.get("authorization", ""))
    region = match.group(1) if match else "us-east-1"
    with api.lock:
        if name in api.invoker.functions:
            existing = api.invoker.functions[name]
            raise conflict(f"Function already exist: {existing.arn}")
        fn = Function(name, body["Handler"], code=_zip(code["ZipFile"], "Code.ZipFile"), region=region, **changes)
        api.invoker.register(fn)
    api.invoker._pool.retire(name)  # idle environments of an earlier function of that name
    api.touched(fn)
    if tags:
        api.tags[name] = dict(tags)
    if body.get("Publish"):
        version = fn.publish_version()
        return 201, api.configuration(fn, version, fn.arn)
    return 201, api.configuration(fn, fn.latest)


def get_function(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetFunction."""
    function, version, arn, _alias = api.lookup(parse_function(fn, req.query.get("Qualifier")))
    out: dict[str, Any] = {
        "Configuration": api.configuration(function, version, None if version.version == LATEST else arn),
        "Code": {
            "RepositoryType": "S3",
            "Location": f"{api.url}/pylambda/code/{function.name}/{version.version.replace('$', '%24')}",
        },
    }
    if api.tags.get(function.name):
        out["Tags"] = dict(api.tags[function.name])
    if function.reserved_concurrency is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": function.reserved_concurrency}
    return 200, out


def get_code(api: LambdaApi, req: Request, name: str, version: str) -> Response:
    """The deployment package of a version (GetFunction's ``Code.Location``), as zip bytes."""
    _fn, v, _arn, _alias = api.lookup(parse_function(name, version))
    return Response(200, v.code.snapshot().package_bytes(), [("Content-Type", "application/zip")])


def get_function_configuration(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetFunctionConfiguration."""
    function, version, arn, _alias = api.lookup(parse_function(fn, req.query.get("Qualifier")))
    return 200, api.configuration(function, version, None if version.version == LATEST else arn)


def _version_key(function_name: str, version: str) -> str:
    return f"{function_name}:{'0' * 10 if version == LATEST else version.zfill(10)}"


def list_functions(api: LambdaApi, req: Request) -> tuple[int, dict]:
    """ListFunctions: ``$LATEST`` of each function (every version with ``FunctionVersion=ALL``)."""
    every = req.query.get("FunctionVersion")
    if every not in (None, "", "ALL"):
        raise invalid(f"FunctionVersion must be ALL, got {every!r}")
    items = []
    for fn in api.invoker.functions.values():
        items.append((fn, fn.latest))
        if every == "ALL":
            items.extend((fn, v) for v in fn.versions)
    chunk, marker = page(req, items, lambda item: _version_key(item[0].name, item[1].version))
    return listed("Functions", [api.configuration(fn, v) for fn, v in chunk], marker)


def list_versions(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """ListVersionsByFunction: ``$LATEST`` first, then ascending."""
    function = api.function(parse_function(fn))
    items = [function.latest, *function.versions]
    chunk, marker = page(req, items, lambda v: _version_key(function.name, v.version))
    return listed("Versions", [api.configuration(function, v) for v in chunk], marker)


def _check_revision(api: LambdaApi, function: Function, body: dict) -> None:
    given = body.get("RevisionId")
    if given is not None and given != version_revision(function, function.latest):
        raise ApiError(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )


def _unqualified(api: LambdaApi, fn: str):
    ref = parse_function(fn)
    if ref.qualifier is not None:
        raise invalid("This operation takes an unqualified function name (it changes $LATEST)")
    return api.function(ref)


def update_function_code(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """UpdateFunctionCode: a new ``$LATEST`` zip (``DryRun`` checks only; ``Publish`` publishes)."""
    body = json_body(req, _UPDATE_CODE_MEMBERS)
    function = _unqualified(api, fn)
    for member in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri", "SourceKMSKeyArn"):
        if body.get(member):
            raise invalid(f"{member} is not supported by pylambda's Lambda endpoint: send ZipFile")
    if "ZipFile" not in body:
        raise invalid("ZipFile (the base64 text of a zip file) is required")
    data = _zip(body["ZipFile"], "ZipFile")
    with api.lock:
        _check_revision(api, function, body)
        arch = _config_changes({"Architectures": body["Architectures"]}) if "Architectures" in body else {}
        if body.get("DryRun"):
            bundle_for(function.handler, data)  # validates the zip
            function.config.evolve(**arch)
            return 200, api.configuration(function, function.latest)
        if function.latest.code.kind == "callable":
            raise invalid("this function's handler is a Python callable; it has no zip to replace")
        if arch:
            function.config.evolve(**arch)  # validate before changing anything
        function.update_code(handler=function.handler, code=data)
        if arch:
            function.update_configuration(**arch)
        api.touched(function)
        if body.get("Publish"):
            version = function.publish_version()
            return 200, api.configuration(function, version)
    return 200, api.configuration(function, function.latest)


def update_function_configuration(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """UpdateFunctionConfiguration of ``$LATEST``."""
    body = json_body(req, _UPDATE_CONFIG_MEMBERS)
    function = _unqualified(api, fn)
    changes = _config_changes(body)
    with api.lock:
        _check_revision(api, function, body)
        function.config.evolve(**changes)  # validate everything before changing anything
        handler = body.get("Handler")
        if handler is not None and handler != function.handler:
            current = function.latest.code
            if current.kind == "callable":
                raise invalid("this function's handler is a Python callable; Handler cannot be changed")
            bundle_for(handler, current.data if current.kind == "zip" else current.path)
            function.update_code(handler=handler, code=current.data if current.kind == "zip" else current.path)
        if changes:
            function.update_configuration(**changes)
        api.touched(function)
    return 200, api.configuration(function, function.latest)


def delete_function(api: LambdaApi, req: Request, fn: str) -> tuple[int, None]:
    """DeleteFunction: the whole function, or one version with a version ``Qualifier``."""
    ref = parse_function(fn, req.query.get("Qualifier"))
    function = api.function(ref)
    if ref.qualifier is None:
        api.invoker.unregister(function)
        api.forget(function.name)
        return 204, None
    if not ref.qualifier.isdigit():
        raise invalid(f"DeleteFunction takes a version number as qualifier, not {ref.qualifier!r}")
    version = function.get_version(ref.qualifier)
    users = [a.name for a in function.aliases.values() if a.version is version or version in a.routing]
    if users:
        raise conflict(f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]")
    function.delete_version(version)
    return 204, None


def publish_version(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """PublishVersion (201); ``CodeSha256`` and ``RevisionId`` guard against a concurrent change."""
    body = json_body(req, {"CodeSha256": STR, "Description": STR, "RevisionId": STR})
    function = _unqualified(api, fn)
    with api.lock:
        _check_revision(api, function, body)
        sha = function.latest.code_sha256
        if body.get("CodeSha256") not in (None, sha):
            raise invalid(
                f"CodeSHA256 ({body['CodeSha256']}) is different from current CodeSHA256 in $LATEST ({sha}). "
                "Please try again with the CodeSHA256 in $LATEST."
            )
        version = function.publish_version(body.get("Description"))
    return 201, api.configuration(function, version)


ROUTES = [
    ("POST", "/2015-03-31/functions", "CreateFunction", create_function),
    ("GET", "/2015-03-31/functions", "ListFunctions", list_functions),
    ("GET", "/2015-03-31/functions/{fn}", "GetFunction", get_function),
    ("DELETE", "/2015-03-31/functions/{fn}", "DeleteFunction", delete_function),
    ("GET", "/2015-03-31/functions/{fn}/configuration", "GetFunctionConfiguration", get_function_configuration),
    ("PUT", "/2015-03-31/functions/{fn}/configuration", "UpdateFunctionConfiguration", update_function_configuration),
    ("PUT", "/2015-03-31/functions/{fn}/code", "UpdateFunctionCode", update_function_code),
    ("POST", "/2015-03-31/functions/{fn}/versions", "PublishVersion", publish_version),
    ("GET", "/2015-03-31/functions/{fn}/versions", "ListVersionsByFunction", list_versions),
    ("GET", "/pylambda/code/{name}/{version}", "GetFunctionCode", get_code),
]
