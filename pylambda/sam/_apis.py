"""The template's APIs: ``Api``/``HttpApi`` events and ``AWS::Serverless::Api``/``HttpApi`` resources.

SAM puts an ``Api`` event without ``RestApiId`` on an implicit REST API
called ``ServerlessRestApi`` (stage ``Prod``) and an ``HttpApi`` event
without ``ApiId`` on ``ServerlessHttpApi`` (stage ``$default``); both take
``Globals.Api``/``Globals.HttpApi``.  A function with ``AutoPublishAlias`` is
reached through its alias, as SAM wires it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .._apigw.routes import Api, Cors, Route
from ._template import Node, TemplateError, line_of

__all__ = ["collect_apis"]

IMPLICIT = {"REST": "ServerlessRestApi", "HTTP": "ServerlessHttpApi"}
_NOTED = ("Auth", "RequestParameters", "RequestModel", "Auth", "MethodSettings", "AccessLogSetting", "Domain",
          "EndpointConfiguration", "TracingEnabled", "OpenApiVersion", "Tags", "Description", "Name")  # fmt: skip


def _api_id(logical_id: str) -> str:
    return hashlib.sha256(logical_id.encode()).hexdigest()[:10]


def _strip_quotes(value: Any) -> str:
    """SAM's REST ``Cors`` values are quoted header strings: ``"'*'"``."""
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _split(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(v.strip() for v in _strip_quotes(value).split(",") if v.strip())


def _rest_cors(value: Any) -> Cors | None:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        return Cors(allow_origins=_split(value), allow_methods=("*",))
    max_age = value.get("MaxAge")
    return Cors(
        allow_origins=_split(value.get("AllowOrigin", "'*'")),
        allow_methods=_split(value.get("AllowMethods", "'*'")),
        allow_headers=_split(value.get("AllowHeaders")),
        max_age=int(_strip_quotes(max_age)) if max_age is not None else None,
        allow_credentials=str(value.get("AllowCredentials", "false")).lower() == "true",
    )


def _http_cors(value: Any) -> Cors | None:
    if value is None or value is False:
        return None
    if value is True:
        return Cors()
    return Cors(
        allow_origins=_split(value.get("AllowOrigins", ["*"])),
        allow_methods=_split(value.get("AllowMethods", ["*"])),
        allow_headers=_split(value.get("AllowHeaders")),
        expose_headers=_split(value.get("ExposeHeaders")),
        max_age=int(value["MaxAge"]) if value.get("MaxAge") is not None else None,
        allow_credentials=bool(value.get("AllowCredentials", False)),
    )


def _api_settings(app: Any, logical_id: str, kind: str, props: Node) -> dict:
    """Stage, stage variables, binary media types and CORS of one API (its properties over Globals)."""
    section = "Api" if kind == "REST" else "HttpApi"
    globals_ = app.template.section("Globals").get(section) or {}
    merged = Node({**globals_, **props})
    merged.lines = {**getattr(globals_, "lines", {}), **getattr(props, "lines", {})}

    def value(prop: str, default: Any = None) -> Any:
        return app.resolve(merged[prop], logical_id, prop, merged) if prop in merged else default

    for prop in merged:
        if prop in _NOTED:
            app.note(logical_id, prop, line_of(merged, prop), "has no local effect (requests are not authorized)")
    if kind == "REST":
        return {
            "stage": str(value("StageName", "Prod")),
            "stage_variables": dict(value("Variables") or {}),
            "binary_media_types": tuple(str(t) for t in value("BinaryMediaTypes") or ()),
            "cors": _rest_cors(value("Cors")),
        }
    return {
        "stage": str(value("StageName", "$default")),
        "stage_variables": dict(value("StageVariables") or {}),
        "cors": _http_cors(value("CorsConfiguration")),
    }


def collect_apis(app: Any) -> dict[str, Api]:
    """Every API the template defines or implies, with its routes."""
    declared: dict[str, tuple[str, Node]] = {}
    for logical_id, resource in app._raw.items():
        if resource["Type"] == "AWS::Serverless::Api":
            declared[logical_id] = ("REST", resource.get("Properties") or Node())
        elif resource["Type"] == "AWS::Serverless::HttpApi":
            declared[logical_id] = ("HTTP", resource.get("Properties") or Node())
    routes: dict[str, list[Route]] = {k: [] for k in declared}
    kinds = {k: v[0] for k, v in declared.items()}
    for logical_id, spec in app.specs.items():
        events = spec.props.get("Events") or {}
        for event_name, event in events.items():
            if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
                continue
            kind = "REST" if event["Type"] == "Api" else "HTTP"
            props = event.get("Properties") or Node()
            where = f"Events.{event_name}"
            resolved = app.resolve(props, logical_id, where, events) or {}
            at = f"{app.template.path.name}: {logical_id}.{where} (line {line_of(events, event_name)})"
            api = resolved.get("RestApiId" if kind == "REST" else "ApiId") or IMPLICIT[kind]
            if api not in declared and api != IMPLICIT[kind]:
                resource_type = "AWS::Serverless::Api" if kind == "REST" else "AWS::Serverless::HttpApi"
                raise TemplateError(f"{at}: {api!r} is not an {resource_type} of this template")
            if kinds.setdefault(api, kind) != kind:
                raise TemplateError(f"{at}: {api} is not a {kind} API")
            path, method = resolved.get("Path"), resolved.get("Method")
            if kind == "REST" and (not path or not method):
                raise TemplateError(f"{at}: an Api event needs Path and Method")
            for prop in ("Auth", "RequestParameters", "RequestModel"):
                if prop in resolved:
                    app.note(logical_id, f"{where}.{prop}", line_of(props, prop), "has no local effect")
            route = Route(
                method="ANY" if str(method or "ANY").lower() in ("any", "x-amazon-apigateway-any-method")
                else str(method).upper(),
                path="$default" if kind == "HTTP" and not path else str(path),
                function=spec.alias or spec.function,
                payload_format=str(resolved.get("PayloadFormatVersion", "1.0" if kind == "REST" else "2.0")),
                timeout_ms=int(resolved.get("TimeoutInMillis", 29_000 if kind == "REST" else 30_000)),
            )  # fmt: skip
            routes.setdefault(api, []).append(route)
    apis = {}
    for api, kind in kinds.items():
        props = declared.get(api, (kind, Node()))[1]
        apis[api] = Api(name=api, kind=kind, routes=tuple(routes.get(api, ())), api_id=_api_id(api), region=app.region,
                        **_api_settings(app, api, kind, props))  # fmt: skip
    return apis
