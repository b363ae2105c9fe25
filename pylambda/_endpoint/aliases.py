"""Aliases through the API: Create/Get/Update/Delete/ListAliases with ``RoutingConfig``.

An alias is pylambda's ``Alias``: its validation (one extra version, a
weight in 0..1, both versions published) is the model's, with Lambda's
messages.  ``{"AdditionalVersionWeights": {}}`` clears routing, as on Lambda.
"""

from __future__ import annotations

from typing import Any

from .api import LambdaApi
from .errors import ApiError, conflict, invalid, not_found
from .http import Request
from .params import OBJ, STR, json_body, listed, page, parse_function
from .shapes import alias_configuration, alias_revision

__all__ = ["ROUTES"]


def _routing(body: dict) -> dict[str, float] | None:
    """``RoutingConfig.AdditionalVersionWeights`` as ``{version: weight}`` (None when absent)."""
    if "RoutingConfig" not in body:
        return None
    weights = (body["RoutingConfig"] or {}).get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        raise ApiError("InvalidRequestContentException", "RoutingConfig.AdditionalVersionWeights must be an object")
    for version, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ApiError("InvalidRequestContentException", f"the weight of version {version} must be a number")
        if not version.isdigit():
            raise invalid(f"AdditionalVersionWeights takes published version numbers, got {version!r}")
    return dict(weights)


def _function(api: LambdaApi, fn: str):
    ref = parse_function(fn)
    if ref.qualifier is not None:
        raise invalid("Alias operations take an unqualified function name")
    return api.function(ref)


def _alias(function, name: str):
    alias = function.aliases.get(name)
    if alias is None:
        raise not_found(f"Cannot find alias arn: {function.arn}:{name}")
    return alias


def create_alias(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """CreateAlias (201)."""
    body = json_body(req, {"Name": STR, "FunctionVersion": STR, "Description": STR, "RoutingConfig": OBJ},
                     ("Name", "FunctionVersion"))  # fmt: skip
    function = _function(api, fn)
    with api.lock:
        if body["Name"] in function.aliases:
            raise conflict(f"Alias already exists: {function.arn}:{body['Name']}")
        alias = function.create_alias(
            body["Name"], body["FunctionVersion"], _routing(body) or None, body.get("Description", "")
        )
    return 201, alias_configuration(alias)


def get_alias(api: LambdaApi, req: Request, fn: str, name: str) -> tuple[int, dict]:
    """GetAlias."""
    return 200, alias_configuration(_alias(_function(api, fn), name))


def update_alias(api: LambdaApi, req: Request, fn: str, name: str) -> tuple[int, dict]:
    """UpdateAlias: version, description and routing (an empty weights object clears it)."""
    body = json_body(req, {"FunctionVersion": STR, "Description": STR, "RoutingConfig": OBJ, "RevisionId": STR})
    function = _function(api, fn)
    with api.lock:
        alias = _alias(function, name)
        if body.get("RevisionId") not in (None, alias_revision(alias)):
            raise ApiError(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            )
        kwargs: dict[str, Any] = {}
        if "FunctionVersion" in body:
            kwargs["version"] = body["FunctionVersion"]
        routing = _routing(body)
        if routing is not None:
            kwargs["routing"] = routing or None
        if "Description" in body:
            kwargs["description"] = body["Description"]
        alias.update(**kwargs)
    return 200, alias_configuration(alias)


def delete_alias(api: LambdaApi, req: Request, fn: str, name: str) -> tuple[int, None]:
    """DeleteAlias (204); its policy and configs go with it."""
    function = _function(api, fn)
    with api.lock:
        _alias(function, name)
        function.delete_alias(name)
        api.policies.pop((function.name, name), None)
    return 204, None


def list_aliases(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """ListAliases (``FunctionVersion`` keeps the aliases of that version)."""
    function = _function(api, fn)
    aliases = list(function.aliases.values())
    wanted = req.query.get("FunctionVersion")
    if wanted:
        aliases = [a for a in aliases if a.version.version == wanted or any(v.version == wanted for v in a.routing)]
    chunk, marker = page(req, aliases, lambda a: a.name)
    return listed("Aliases", [alias_configuration(a) for a in chunk], marker)


ROUTES = [
    ("POST", "/2015-03-31/functions/{fn}/aliases", "CreateAlias", create_alias),
    ("GET", "/2015-03-31/functions/{fn}/aliases", "ListAliases", list_aliases),
    ("GET", "/2015-03-31/functions/{fn}/aliases/{name}", "GetAlias", get_alias),
    ("PUT", "/2015-03-31/functions/{fn}/aliases/{name}", "UpdateAlias", update_alias),
    ("DELETE", "/2015-03-31/functions/{fn}/aliases/{name}", "DeleteAlias", delete_alias),
]
