"""API Gateway's routes: what an API is, and which route a request matches.

A REST API (payload format 1.0) and an HTTP API (2.0 by default) both map
``METHOD /path`` onto a function.  Paths hold literal segments, ``{name}``
parameters (one segment) and a final greedy ``{name+}``; the method may be
``ANY``; an HTTP API may also have the ``$default`` route, which catches
everything no other route does.  Matching follows API Gateway's priority:
the most literal path wins (a literal segment beats ``{param}``, which beats
``{proxy+}``), an exact method beats ``ANY``.  No match is a 404 on an HTTP
API (``{"message":"Not Found"}``) and a 403 on a REST API
(``{"message":"Missing Authentication Token"}``), as API Gateway answers.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["Api", "Cors", "Match", "Route", "match_route"]

_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@attrs.frozen(kw_only=True)
class Route:
    """One ``METHOD /path`` of an API and the function behind it."""

    method: str
    """``GET``, ``POST`` ... or ``ANY``."""
    path: str
    """``/orders/{id}``, ``/{proxy+}``, or ``$default`` (HTTP APIs)."""
    function: Any
    """What the Invoker invokes: a Function, Alias, name or ARN."""
    payload_format: str = "1.0"
    """``1.0`` (REST APIs, and HTTP APIs that ask for it) or ``2.0``."""
    timeout_ms: int = 29_000
    """API Gateway's integration timeout (29 s for REST; HTTP APIs' ``TimeoutInMillis``)."""

    @property
    def route_key(self) -> str:
        """An HTTP API's ``routeKey``: ``GET /orders/{id}`` or ``$default``."""
        return self.path if self.path == "$default" else f"{self.method} {self.path}"


@attrs.frozen(kw_only=True)
class Cors:
    """An API's CORS configuration (``Cors`` on a REST API, ``CorsConfiguration`` on an HTTP API)."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("*",)
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def headers(self, origin: str | None) -> dict[str, str]:
        """The ``Access-Control-*`` response headers for a request from ``origin``."""
        if "*" in self.allow_origins:
            allowed = "*"
        elif origin and origin in self.allow_origins:
            allowed = origin
        else:
            return {}
        out = {"Access-Control-Allow-Origin": allowed}
        if self.allow_methods:
            out["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            out["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
        if self.expose_headers:
            out["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.max_age is not None:
            out["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        return out


@attrs.frozen(kw_only=True)
class Api:
    """One API: a REST API (``kind="REST"``) or an HTTP API (``kind="HTTP"``) and its routes."""

    name: str
    """The logical id (``ServerlessRestApi``/``ServerlessHttpApi`` for SAM's implicit APIs)."""
    kind: str
    """``REST`` or ``HTTP``."""
    routes: tuple[Route, ...] = ()
    """Its routes, in template order."""
    stage: str = "Prod"
    """The stage name (``requestContext.stage``); ``$default`` for an HTTP API without one."""
    stage_variables: dict = attrs.field(factory=dict, hash=False)
    """``stageVariables`` of every event (None in the event when empty)."""
    binary_media_types: tuple[str, ...] = ()
    """Content types whose bodies a REST API passes base64-encoded (``*/*`` for all)."""
    cors: Cors | None = None
    """CORS headers added to responses (and OPTIONS preflight answered), when configured."""
    api_id: str = "1234567890"
    """The API id in ``requestContext.apiId`` and the domain name."""
    region: str = "us-east-1"
    """The region in the domain name (``<api-id>.execute-api.<region>.amazonaws.com``)."""

    def is_binary(self, content_type: str | None) -> bool:
        """Whether a REST API treats a body of ``content_type`` as binary (HTTP APIs always judge by bytes)."""
        if not content_type:
            return False
        base = content_type.split(";")[0].strip().lower()
        for media in self.binary_media_types:
            media = media.replace("~1", "/").lower()
            if media == "*/*" or media == base or (media.endswith("/*") and base.startswith(media[:-1])):
                return True
        return False


@attrs.frozen
class Match:
    """The route a request matched, its path parameters, and the API it belongs to."""

    api: Api
    route: Route
    path_parameters: dict


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _match_path(pattern: str, path: str) -> tuple[tuple, dict] | None:
    """(priority, parameters) if ``path`` matches ``pattern``; a larger priority is more literal."""
    want, have = _segments(pattern), _segments(path)
    params: dict[str, str] = {}
    score: list[int] = []
    for i, segment in enumerate(want):
        m = _PARAM.match(segment)
        if m and m.group(2):  # {proxy+}: the rest, at least one segment
            if i != len(want) - 1 or len(have) <= i:
                return None
            params[m.group(1)] = "/".join(have[i:])
            score.append(0)
            return (tuple(score), len(want)), params
        if i >= len(have):
            return None
        if m:
            params[m.group(1)] = have[i]
            score.append(1)
        elif segment == have[i]:
            score.append(2)
        else:
            return None
    if len(want) != len(have):
        return None
    return (tuple(score), len(want)), params


def match_route(apis: list[Api], method: str, path: str) -> Match | None:
    """The best route for ``method path`` over ``apis`` (their routes share one server, as in ``sam local``)."""
    best: tuple | None = None
    found: Match | None = None
    for api in apis:
        for route in api.routes:
            if route.path == "$default":
                continue
            if route.method not in ("ANY", method) and not (method == "HEAD" and route.method == "GET"):
                continue
            matched = _match_path(route.path, path)
            if matched is None:
                continue
            priority = (*matched[0], route.method != "ANY")
            if best is None or priority > best:
                best, found = priority, Match(api, route, matched[1])
    if found is not None:
        return found
    for api in apis:
        for route in api.routes:
            if route.path == "$default":
                return Match(api, route, {})
    return None


def allowed_methods(apis: list[Api], path: str) -> list[str]:
    """The methods some route accepts at ``path`` (for an OPTIONS preflight)."""
    methods = []
    for api in apis:
        for route in api.routes:
            if route.path != "$default" and _match_path(route.path, path) is not None:
                methods.append(route.method)
    return methods
