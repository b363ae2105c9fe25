"""Concurrency, provisioned concurrency, asynchronous-invocation configs and account settings.

Each is the Invoker's or the Function's own setting, read and written in
Lambda's shapes: reserved concurrency is ``Function.reserved_concurrency``
(carved out of ``Invoker(concurrency_limit=...)``, which is the account
limit GetAccountSettings reports); provisioned concurrency is
``Invoker.put_provisioned_concurrency_config`` (its environments are
initialised before the call returns, so the status is ``READY`` at once);
event-invoke configs are ``Invoker.put_function_event_invoke_config``, with
another function as destination (a Lambda ARN or name).
"""

from __future__ import annotations

import time
from typing import Any

from .._alias import Alias
from .._errors import ResourceNotFoundError
from .._function import Function
from .._version import Version
from .api import LambdaApi
from .errors import ApiError, invalid
from .http import Request
from .params import INT, OBJ, json_body, listed, page, parse_function
from .shapes import iso_time

__all__ = ["ROUTES"]


def _unqualified(api: LambdaApi, fn: str) -> Function:
    ref = parse_function(fn)
    if ref.qualifier is not None:
        raise invalid("Concurrency is a function-level setting: pass an unqualified function name")
    return api.function(ref)


def put_concurrency(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """PutFunctionConcurrency (0 = always throttled)."""
    body = json_body(req, {"ReservedConcurrentExecutions": INT}, ("ReservedConcurrentExecutions",))
    function = _unqualified(api, fn)
    n = body["ReservedConcurrentExecutions"]
    limit = api.invoker._admission.limit
    others = sum(f.reserved_concurrency or 0 for f in api.invoker.functions.values() if f is not function)
    if n < 0 or n + others > limit:
        raise invalid(
            f"Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below zero: {n} requested, {limit - others} left of {limit}"
        )
    function.update_configuration(reserved_concurrency=n)
    return 200, {"ReservedConcurrentExecutions": n}


def get_concurrency(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetFunctionConcurrency (empty when none is reserved)."""
    function = _unqualified(api, fn)
    n = function.reserved_concurrency
    return 200, ({} if n is None else {"ReservedConcurrentExecutions": n})


def delete_concurrency(api: LambdaApi, req: Request, fn: str) -> tuple[int, None]:
    """DeleteFunctionConcurrency."""
    _unqualified(api, fn).update_configuration(reserved_concurrency=None)
    return 204, None


def _qualified(api: LambdaApi, req: Request, fn: str) -> str:
    ref = parse_function(fn, req.query.get("Qualifier"))
    api.function(ref)
    if ref.qualifier is None:
        raise invalid("Qualifier (a version or an alias) is required")
    return ref.target


def _provisioned_out(api: LambdaApi, target: str, config: dict) -> dict:
    with api.lock:
        modified = api.provisioned_modified.setdefault(target, time.time())
    return {**config, "LastModified": iso_time(modified)}


def put_provisioned(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """PutProvisionedConcurrencyConfig (202)."""
    body = json_body(req, {"ProvisionedConcurrentExecutions": INT}, ("ProvisionedConcurrentExecutions",))
    target = _qualified(api, req, fn)
    config = api.invoker.put_provisioned_concurrency_config(target, body["ProvisionedConcurrentExecutions"])
    with api.lock:
        api.provisioned_modified[target] = time.time()
    return 202, _provisioned_out(api, target, config)


def _no_provisioned(e: ResourceNotFoundError) -> ApiError:
    return ApiError("ProvisionedConcurrencyConfigNotFoundException", str(e))


def get_provisioned(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetProvisionedConcurrencyConfig (404 ProvisionedConcurrencyConfigNotFoundException when none).

    With ``?List=ALL`` (the same path) it is ListProvisionedConcurrencyConfigs.
    """
    if req.query.get("List") == "ALL":
        return _list_provisioned(api, req, fn)
    target = _qualified(api, req, fn)
    try:
        config = api.invoker.get_provisioned_concurrency_config(target)
    except ResourceNotFoundError as e:
        raise _no_provisioned(e) from None
    return 200, _provisioned_out(api, target, config)


def _list_provisioned(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """ListProvisionedConcurrencyConfigs: one per version (an alias's config is its version's)."""
    function = _unqualified(api, fn)
    versions = sorted({k[1] for k in api.invoker._provisioned.configs if k[0] == function.name}, key=int)
    chunk, marker = page(req, versions, lambda q: q.zfill(10))
    configs = []
    for q in chunk:
        target = f"{function.name}:{q}"
        config = api.invoker.get_provisioned_concurrency_config(target)
        configs.append({"FunctionArn": f"{function.arn}:{q}", **_provisioned_out(api, target, config)})
    return listed("ProvisionedConcurrencyConfigs", configs, marker)


def delete_provisioned(api: LambdaApi, req: Request, fn: str) -> tuple[int, None]:
    """DeleteProvisionedConcurrencyConfig."""
    target = _qualified(api, req, fn)
    try:
        api.invoker.delete_provisioned_concurrency_config(target)
    except ResourceNotFoundError as e:
        raise _no_provisioned(e) from None
    return 204, None


_EVENT_MEMBERS = {"MaximumRetryAttempts": INT, "MaximumEventAgeInSeconds": INT, "DestinationConfig": OBJ}


def _destination(api: LambdaApi, body: dict, which: str) -> str | None:
    dest = ((body.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
    if dest is None:
        return None
    if not isinstance(dest, str):
        raise ApiError("InvalidRequestContentException", f"DestinationConfig.{which}.Destination must be a string")
    if dest.startswith("arn:") and dest.split(":")[2:3] != ["lambda"]:
        raise invalid(
            f"DestinationConfig.{which}: only another function (a Lambda ARN) is supported as a destination "
            f"by pylambda's Lambda endpoint, got {dest}"
        )
    api.function(parse_function(dest))  # 404 now rather than a dropped record later
    return dest


def _destination_out(value: Any) -> dict | None:
    if isinstance(value, str):
        return {"Destination": value}
    if isinstance(value, (Function, Alias, Version)):
        return {"Destination": value.arn}
    return None  # a Python callable: no ARN to show


def _event_out(api: LambdaApi, target: str, config) -> dict:
    _version, arn, _fn = api.invoker.resolve(target)
    with api.lock:
        modified = api.event_config_modified.setdefault(target, time.time())
    destinations = {
        k: d for k, d in (("OnSuccess", _destination_out(config.on_success)),
                          ("OnFailure", _destination_out(config.on_failure))) if d
    }  # fmt: skip
    return {
        "FunctionArn": arn,
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_in_seconds,
        "DestinationConfig": destinations,
        "LastModified": modified,
    }


def put_event_config(api: LambdaApi, req: Request, fn: str, update: bool = False) -> tuple[int, dict]:
    """PutFunctionEventInvokeConfig (replaces) and UpdateFunctionEventInvokeConfig (merges)."""
    body = json_body(req, _EVENT_MEMBERS)
    target = parse_function(fn, req.query.get("Qualifier"))
    api.function(target)
    current = None
    if update:
        try:
            current = api.invoker.get_function_event_invoke_config(target.target)
        except ResourceNotFoundError:
            current = None
    kwargs: dict[str, Any] = {}
    if current is not None:
        kwargs = {"maximum_retry_attempts": current.maximum_retry_attempts, "on_success": current.on_success,
                  "maximum_event_age_in_seconds": current.maximum_event_age_in_seconds,
                  "on_failure": current.on_failure}  # fmt: skip
    if "MaximumRetryAttempts" in body:
        kwargs["maximum_retry_attempts"] = body["MaximumRetryAttempts"]
    if "MaximumEventAgeInSeconds" in body:
        kwargs["maximum_event_age_in_seconds"] = body["MaximumEventAgeInSeconds"]
    if "DestinationConfig" in body:
        kwargs["on_success"] = _destination(api, body, "OnSuccess")
        kwargs["on_failure"] = _destination(api, body, "OnFailure")
    config = api.invoker.put_function_event_invoke_config(target.target, **kwargs)
    with api.lock:
        api.event_config_modified[target.target] = time.time()
    return 200, _event_out(api, target.target, config)


def update_event_config(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """UpdateFunctionEventInvokeConfig."""
    return put_event_config(api, req, fn, update=True)


def get_event_config(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetFunctionEventInvokeConfig (404 when none)."""
    target = parse_function(fn, req.query.get("Qualifier"))
    api.function(target)
    return 200, _event_out(api, target.target, api.invoker.get_function_event_invoke_config(target.target))


def delete_event_config(api: LambdaApi, req: Request, fn: str) -> tuple[int, None]:
    """DeleteFunctionEventInvokeConfig."""
    target = parse_function(fn, req.query.get("Qualifier"))
    api.function(target)
    api.invoker.delete_function_event_invoke_config(target.target)
    return 204, None


def list_event_configs(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """ListFunctionEventInvokeConfigs: the function's and its versions' and aliases'."""
    function = _unqualified(api, fn)
    configs = [(q, c) for (name, q), c in api.invoker._event_configs.by_key.items() if name == function.name]
    chunk, marker = page(req, configs, lambda item: item[0] or "")
    return listed(
        "FunctionEventInvokeConfigs",
        [_event_out(api, f"{function.name}:{q}" if q else function.name, c) for q, c in chunk],
        marker,
    )


def account_settings(api: LambdaApi, req: Request) -> tuple[int, dict]:
    """GetAccountSettings: the Invoker's concurrency limit and what its functions use."""
    invoker = api.invoker
    functions = list(invoker.functions.values())
    reserved = sum(f.reserved_concurrency or 0 for f in functions)
    total = 0
    for fn in functions:
        for version in (fn.latest, *fn.versions):
            total += api.configuration(fn, version)["CodeSize"]
    return 200, {
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": invoker._admission.limit,
            "UnreservedConcurrentExecutions": invoker._admission.limit - reserved,
        },
        "AccountUsage": {"TotalCodeSize": total, "FunctionCount": len(functions)},
    }


ROUTES = [
    ("PUT", "/2017-10-31/functions/{fn}/concurrency", "PutFunctionConcurrency", put_concurrency),
    ("GET", "/2019-09-30/functions/{fn}/concurrency", "GetFunctionConcurrency", get_concurrency),
    ("DELETE", "/2017-10-31/functions/{fn}/concurrency", "DeleteFunctionConcurrency", delete_concurrency),
    ("PUT", "/2019-09-30/functions/{fn}/provisioned-concurrency", "PutProvisionedConcurrencyConfig", put_provisioned),
    ("GET", "/2019-09-30/functions/{fn}/provisioned-concurrency", "GetProvisionedConcurrencyConfig", get_provisioned),
    (
        "DELETE",
        "/2019-09-30/functions/{fn}/provisioned-concurrency",
        "DeleteProvisionedConcurrencyConfig",
        delete_provisioned,
    ),
    ("PUT", "/2019-09-25/functions/{fn}/event-invoke-config", "PutFunctionEventInvokeConfig", put_event_config),
    ("POST", "/2019-09-25/functions/{fn}/event-invoke-config", "UpdateFunctionEventInvokeConfig", update_event_config),
    ("GET", "/2019-09-25/functions/{fn}/event-invoke-config", "GetFunctionEventInvokeConfig", get_event_config),
    (
        "DELETE",
        "/2019-09-25/functions/{fn}/event-invoke-config",
        "DeleteFunctionEventInvokeConfig",
        delete_event_config,
    ),
    (
        "GET",
        "/2019-09-25/functions/{fn}/event-invoke-config/list",
        "ListFunctionEventInvokeConfigs",
        list_event_configs,
    ),
    ("GET", "/2016-08-19/account-settings", "GetAccountSettings", account_settings),
]
