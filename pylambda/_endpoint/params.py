"""Reading a request's parameters as Lambda reads them: JSON bodies, query strings, function names.

Every check happens before an operation touches anything, so a malformed
request (a body that is not a JSON object, a member the operation does not
have, a member of the wrong type, a bad qualifier) is answered with a 4xx
and changes nothing.  Structural problems are
``InvalidRequestContentException`` (the request could not be read); values
outside Lambda's ranges are ``InvalidParameterValueException``, raised by the
model itself (``FunctionConfig``, ``Alias``...) with its own message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._registry import split_function_name
from .errors import ApiError, invalid, not_found
from .http import Request

__all__ = ["FunctionRef", "json_body", "listed", "page", "parse_function", "query_int"]

# Member types as the service model declares them.
STR, INT, BOOL, OBJ, LIST, NUM = "string", "integer", "boolean", "structure", "list", "number"
_PY = {STR: (str,), INT: (int,), BOOL: (bool,), OBJ: (dict,), LIST: (list,), NUM: (int, float)}

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUALIFIER = re.compile(r"\$LATEST|[0-9]+|[A-Za-z0-9_-]{1,128}")


def _content_error(message: str) -> ApiError:
    return ApiError("InvalidRequestContentException", message)


def json_body(req: Request, members: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, checked against the operation's members and their types."""
    if not req.body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(req.body)
        except ValueError as e:
            raise _content_error(f"Could not parse request body into json: {e}") from None
    if not isinstance(data, dict):
        raise _content_error(f"The request body must be a JSON object, got a JSON {type(data).__name__}")
    unknown = sorted(set(data) - set(members))
    if unknown:
        raise _content_error(f"Unknown member(s) in the request body: {', '.join(unknown)}")
    for key, value in data.items():
        kind = members[key]
        if value is None:
            continue
        ok = isinstance(value, _PY[kind]) and not (kind in (INT, NUM) and isinstance(value, bool))
        if not ok:
            raise _content_error(f"{key} must be a JSON {kind}, got {type(value).__name__}: {value!r}"[:300])
    missing = [k for k in required if data.get(k) is None]
    if missing:
        raise invalid(f"Missing required member(s): {', '.join(missing)}")
    return {k: v for k, v in data.items() if v is not None}


def query_int(req: Request, name: str, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high], or None when absent."""
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise invalid(f"{name} must be from {low} to {high}, got {value}")
    return value


def page(req: Request, items: list, key, default_size: int = 50) -> tuple[list, str | None]:
    """One page of ``items`` (sorted by ``key``) after ``Marker``, and the next marker (or None).

    The marker is the key of the last item returned: opaque to clients, and
    a page stays right when items are added or removed between requests.
    """
    size = query_int(req, "MaxItems", 1, 10_000) or default_size
    size = min(size, default_size)
    marker = req.query.get("Marker") or None
    items = sorted(items, key=key)
    if marker is not None:
        items = [i for i in items if str(key(i)) > marker]
    chunk = items[:size]
    return chunk, (str(key(chunk[-1])) if len(items) > size else None)


def listed(member: str, items: list, marker: str | None) -> tuple[int, dict]:
    """A List* answer: the page under ``member``, and ``NextMarker`` unless it is the last page."""
    out: dict[str, Any] = {member: items}
    if marker:
        out["NextMarker"] = marker
    return 200, out


class FunctionRef:
    """A ``{FunctionName}`` path segment (and ``?Qualifier=``), parsed as Lambda parses it."""

    __slots__ = ("account", "name", "qualifier", "region")

    def __init__(self, name: str, qualifier: str | None, region: str | None, account: str | None) -> None:
        self.name = name
        self.qualifier = qualifier
        self.region = region
        self.account = account

    @property
    def target(self) -> str:
        """What ``Invoker.resolve`` takes: ``name`` or ``name:qualifier``."""
        return f"{self.name}:{self.qualifier}" if self.qualifier else self.name


def parse_function(segment: str, query_qualifier: str | None = None) -> FunctionRef:
    """``name``, ``name:q``, ``account:function:name[:q]`` or a full ARN, plus ``Qualifier``.

    The two qualifiers must agree when both are given, as on Lambda.
    """
    region, account, name, qualifier = split_function_name(segment)  # InvalidParameterValueError: a 400
    if not _NAME.fullmatch(name):
        raise invalid(
            f"1 validation error detected: Value '{segment}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-"
            "[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    if query_qualifier:
        if qualifier is not None and qualifier != query_qualifier:
            raise invalid("The derived qualifier from the function name does not match the specified qualifier.")
        qualifier = query_qualifier
    if qualifier is not None and not _QUALIFIER.fullmatch(qualifier):
        raise invalid(f"invalid qualifier {qualifier!r}: $LATEST, a version number or an alias name")
    if account is not None and not re.fullmatch(r"\d{12}", account):
        raise not_found(f"Function not found: {segment}")
    return FunctionRef(name, qualifier, region, account)
