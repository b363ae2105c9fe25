"""The API's output shapes: FunctionConfiguration, AliasConfiguration, revision ids, timestamps.

Built from pylambda's model on every request (the model is the single
source of truth; the endpoint keeps only what the model has no place for:
when something last changed, tags, policies).  A function is ready the
moment it exists, so ``State`` is ``Active`` and ``LastUpdateStatus``
``Successful`` at once: botocore's ``function_active_v2`` and
``function_updated_v2`` waiters poll for exactly these and would otherwise
wait five minutes.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .._version import LATEST

if TYPE_CHECKING:
    from .._alias import Alias
    from .._function import Function
    from .._version import Version

__all__ = ["alias_configuration", "function_configuration", "iso_time", "revision_id"]

_NAMESPACE = uuid.UUID("6f1c2a4e-3b1d-4c55-9a57-70796c616d62")


def iso_time(epoch: float) -> str:
    """Lambda's ``LastModified`` string: ``2024-01-01T00:00:00.000+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}+0000"


def revision_id(*parts: Any) -> str:
    """A RevisionId that changes exactly when its parts do (a uuid5 of them)."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(map(str, parts))))


def version_revision(fn: Function, version: Version) -> str:
    """The RevisionId of a version: new for every ``$LATEST`` revision, fixed for a published one."""
    return revision_id(id(fn), version.version, version.revision)


def function_configuration(fn: Function, version: Version, arn: str, modified: float, code: tuple[int, str]) -> dict:
    """FunctionConfiguration of ``version`` as invoked through ``arn``; ``code`` = (CodeSize, CodeSha256)."""
    cfg = version.config
    out: dict[str, Any] = {
        "FunctionName": fn.name,
        "FunctionArn": arn,
        "Runtime": cfg.runtime,
        "Handler": version.handler,
        "CodeSize": code[0],
        "Description": version.description if version.version != LATEST else cfg.description,
        "Timeout": cfg.timeout,
        "MemorySize": cfg.memory_size,
        "LastModified": iso_time(modified),
        "CodeSha256": code[1],
        "Version": version.version,
        "TracingConfig": {"Mode": cfg.tracing},
        "RevisionId": version_revision(fn, version),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [cfg.architecture],
        "EphemeralStorage": {"Size": cfg.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": _logging(fn, cfg),
    }
    if cfg.role:
        out["Role"] = cfg.role
    if cfg.environment:
        out["Environment"] = {"Variables": dict(cfg.environment)}
    return out


def _logging(fn: Function, cfg) -> dict:
    out = {"LogFormat": cfg.log_format, "LogGroup": cfg.log_group or f"/aws/lambda/{fn.name}"}
    if cfg.log_format == "JSON":
        out["ApplicationLogLevel"] = cfg.application_log_level or "INFO"
        out["SystemLogLevel"] = cfg.system_log_level or "INFO"
    return out


def alias_configuration(alias: Alias) -> dict:
    """AliasConfiguration."""
    out: dict[str, Any] = {
        "AliasArn": alias.arn,
        "Name": alias.name,
        "FunctionVersion": alias.version.version,
        "Description": alias.description,
        "RevisionId": alias_revision(alias),
    }
    if alias.routing:
        out["RoutingConfig"] = {"AdditionalVersionWeights": {v.version: w for v, w in alias.routing.items()}}
    return out


def alias_revision(alias: Alias) -> str:
    """The alias's RevisionId: changes with its version, routing or description."""
    routing = sorted((v.version, w) for v, w in alias.routing.items())
    return revision_id(id(alias), alias.version.version, routing, alias.description)
