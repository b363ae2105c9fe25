"""Which operation a request is: method plus the full path (the date prefix differs by operation).

Lambda's paths start with a date that is not one API version but one per
operation family (``/2015-03-31/functions``, ``/2017-10-31/.../concurrency``,
``/2019-09-30/.../provisioned-concurrency``...), so a route is matched on the
method and every segment.  ``{fn}``-like segments are captured (already
percent-decoded: ``f%3A%24LATEST`` is ``f:$LATEST``); a trailing slash is
ignored (botocore sends ``/2015-03-31/functions/`` for ListFunctions).

A request for an operation of the Lambda API that pylambda does not serve is
answered at once with a 400 naming it (from the table below, taken from
botocore's model); anything else with a 400 naming the method and path.
Never a 500: botocore retries those, so a caller would wait through its
backoff before seeing the error.
"""

from __future__ import annotations

from collections.abc import Callable

from . import aliases, functions, invoke, mappings, policy, settings
from .errors import ApiError, unsupported
from .http import Request

__all__ = ["match"]

Route = tuple[str, tuple[str, ...], str, Callable]


def _compile(routes: list[tuple[str, str, str, Callable | None]]) -> list[Route]:
    return [(method, tuple(path.strip("/").split("/")), name, func) for method, path, name, func in routes]


_ROUTES = _compile(
    invoke.ROUTES + functions.ROUTES + aliases.ROUTES + settings.ROUTES + policy.ROUTES + mappings.ROUTES
)

# Operations of the Lambda API this endpoint does not implement (botocore's paths), so the error names them.
_UNSUPPORTED = _compile([
    (m, p, n, None) for m, p, n in (
        ("POST", "/2014-11-13/functions/{fn}/invoke-async", "InvokeAsync"),
        ("POST", "/2021-11-15/functions/{fn}/response-streaming-invocations", "InvokeWithResponseStream"),
        ("POST", "/2017-03-31/tags/{arn}", "TagResource"),
        ("GET", "/2017-03-31/tags/{arn}", "ListTags"),
        ("DELETE", "/2017-03-31/tags/{arn}", "UntagResource"),
        ("POST", "/2021-10-31/functions/{fn}/url", "CreateFunctionUrlConfig"),
        ("GET", "/2021-10-31/functions/{fn}/url", "GetFunctionUrlConfig"),
        ("PUT", "/2021-10-31/functions/{fn}/url", "UpdateFunctionUrlConfig"),
        ("DELETE", "/2021-10-31/functions/{fn}/url", "DeleteFunctionUrlConfig"),
        ("GET", "/2021-10-31/functions/{fn}/urls", "ListFunctionUrlConfigs"),
        ("GET", "/2018-10-31/layers", "ListLayers"),
        ("GET", "/2018-10-31/layers/{name}/versions", "ListLayerVersions"),
        ("POST", "/2018-10-31/layers/{name}/versions", "PublishLayerVersion"),
        ("GET", "/2018-10-31/layers/{name}/versions/{n}", "GetLayerVersion"),
        ("DELETE", "/2018-10-31/layers/{name}/versions/{n}", "DeleteLayerVersion"),
        ("POST", "/2018-10-31/layers/{name}/versions/{n}/policy", "AddLayerVersionPermission"),
        ("GET", "/2018-10-31/layers/{name}/versions/{n}/policy", "GetLayerVersionPolicy"),
        ("DELETE", "/2018-10-31/layers/{name}/versions/{n}/policy/{sid}", "RemoveLayerVersionPermission"),
        ("POST", "/2020-04-22/code-signing-configs", "CreateCodeSigningConfig"),
        ("GET", "/2020-04-22/code-signing-configs", "ListCodeSigningConfigs"),
        ("GET", "/2020-04-22/code-signing-configs/{arn}", "GetCodeSigningConfig"),
        ("PUT", "/2020-04-22/code-signing-configs/{arn}", "UpdateCodeSigningConfig"),
        ("DELETE", "/2020-04-22/code-signing-configs/{arn}", "DeleteCodeSigningConfig"),
        ("GET", "/2020-04-22/code-signing-configs/{arn}/functions", "ListFunctionsByCodeSigningConfig"),
        ("GET", "/2020-06-30/functions/{fn}/code-signing-config", "GetFunctionCodeSigningConfig"),
        ("PUT", "/2020-06-30/functions/{fn}/code-signing-config", "PutFunctionCodeSigningConfig"),
        ("DELETE", "/2020-06-30/functions/{fn}/code-signing-config", "DeleteFunctionCodeSigningConfig"),
        ("GET", "/2021-07-20/functions/{fn}/runtime-management-config", "GetRuntimeManagementConfig"),
        ("PUT", "/2021-07-20/functions/{fn}/runtime-management-config", "PutRuntimeManagementConfig"),
        ("GET", "/2024-08-31/functions/{fn}/recursion-config", "GetFunctionRecursionConfig"),
        ("PUT", "/2024-08-31/functions/{fn}/recursion-config", "PutFunctionRecursionConfig"),
        ("GET", "/2024-02-15/functions/{fn}/scaling-config", "GetFunctionScalingConfig"),
        ("PUT", "/2024-02-15/functions/{fn}/scaling-config", "PutFunctionScalingConfig"),
        ("GET", "/2015-03-31/functions/{fn}/policy/{sid}", "GetPolicy"),
    )
])  # fmt: skip


def _find(routes: list[Route], method: str | None, segments: list[str]) -> tuple[Route, dict] | None:
    n = len(segments)
    for route in routes:
        r_method, pattern = route[0], route[1]
        if len(pattern) != n or (method is not None and r_method != method):
            continue
        params = {}
        for want, got in zip(pattern, segments, strict=True):
            if want[0] == "{":
                if not got:
                    break
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return route, params
    return None


def match(req: Request) -> tuple[str, Callable, dict]:
    """(operation name, function, captured segments) for a request, or an ApiError naming what it is."""
    segments = req.segments
    found = _find(_ROUTES, req.method, segments)
    if found is not None:
        (_m, _p, name, func), params = found
        return name, func, params
    other = _find(_UNSUPPORTED, req.method, segments)
    if other is not None:
        raise unsupported(f"the {other[0][2]} operation")
    elsewhere = _find(_ROUTES, None, segments)
    if elsewhere is not None:
        raise ApiError(
            "UnsupportedOperationException",
            f"{req.method} is not a method of {req.raw_path} (the {elsewhere[0][2]} operation uses {elsewhere[0][0]})",
        )
    raise unsupported(f"{req.method} {req.raw_path}")
