"""Event filtering for event source mappings: EventBridge's pattern grammar.

``FilterCriteria = {"Filters": [{"Pattern": "<JSON>"}, ...]}``: a record is
kept when any pattern matches (OR).  Inside a pattern every key must match
(AND); a key's value is either a nested pattern (an object) or a list of
matchers, any of which may match:

======================  =====================================================
``"a"``, ``1``, ``true``  equals (strings exactly; numbers as written: 300 ≠ 300.0)
``null``                the field is null
``""``                  the field is the empty string
``{"prefix": "us-"}``   string prefix
``{"suffix": ".png"}``  string suffix
``{"equals-ignore-case": "a"}``  string equality, case folded
``{"anything-but": …}``  not one of a value or list (or not ``{"prefix"|"suffix"|"equals-ignore-case": …}``)
``{"numeric": […]}``     ``["=", 100]``, ``[">", 10, "<=", 20]``…
``{"exists": bool}``     presence of the field
======================  =====================================================

``"$or": [pattern, pattern, …]`` inside a pattern matches when any of the
patterns does (Lambda's "Or (multiple fields)").  These are the operators
Lambda's event filtering documents; EventBridge's ``wildcard`` and ``cidr``
are not among them and are refused like any unknown operator.

An array field matches if any element matches.  The record's data key (SQS
``body``, Kinesis ``data``, DynamoDB ``dynamodb``) is matched as JSON when
the pattern gives an object for it; a body that is not JSON then fails a JSON
pattern (the record is dropped), as on Lambda.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from .._errors import InvalidParameterValueError

__all__ = ["compile_filter_criteria"]

_INVALID = "Invalid filter pattern definition."
_MISSING = object()
_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "prefix": str.startswith,
    "suffix": str.endswith,
    "equals-ignore-case": lambda v, arg: v.casefold() == arg.casefold(),
}
_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equals(expected: Any) -> Callable[[Any], bool]:
    if expected is None:
        return lambda v: v is None
    if _is_number(expected):
        # "numbers compared as written": an int pattern matches an int value of
        # the same text, not 300.0
        return lambda v: _is_number(v) and type(v) is type(expected) and v == expected
    return lambda v: v == expected and type(v) is type(expected)


def _matcher(spec: Any) -> tuple[Callable[[Any], bool], bool | None]:
    """(match a present value, exists requirement or None) for one list element."""
    if not isinstance(spec, dict):
        if isinstance(spec, (list,)):
            raise InvalidParameterValueError(_INVALID)
        return _equals(spec), None
    if len(spec) != 1:
        raise InvalidParameterValueError(_INVALID)
    ((op, arg),) = spec.items()
    if op in _STRING_OPS:
        if not isinstance(arg, str):
            raise InvalidParameterValueError(_INVALID)
        test = _STRING_OPS[op]
        return (lambda v: isinstance(v, str) and test(v, arg)), None
    if op == "exists":
        if not isinstance(arg, bool):
            raise InvalidParameterValueError(_INVALID)
        return (lambda v: True), arg
    if op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in _STRING_OPS:
                raise InvalidParameterValueError(_INVALID)
            inner, _ = _matcher(arg)
            return (lambda v: not inner(v)), None
        values = arg if isinstance(arg, list) else [arg]
        if any(isinstance(x, (dict, list)) for x in values):
            raise InvalidParameterValueError(_INVALID)
        equals = [_equals(x) for x in values]
        return (lambda v: not any(eq(v) for eq in equals)), None
    if op == "numeric":
        if not isinstance(arg, list) or not arg or len(arg) % 2:
            raise InvalidParameterValueError(_INVALID)
        checks = []
        for i in range(0, len(arg), 2):
            fn = _NUMERIC_OPS.get(arg[i])
            if fn is None or not _is_number(arg[i + 1]):
                raise InvalidParameterValueError(_INVALID)
            checks.append((fn, arg[i + 1]))
        return (lambda v: _is_number(v) and all(fn(v, bound) for fn, bound in checks)), None
    raise InvalidParameterValueError(_INVALID)


def _compile(pattern: Any, decode_json: set[str] | None = None) -> Callable[[Any], bool]:
    if not isinstance(pattern, dict) or not pattern:
        raise InvalidParameterValueError(_INVALID)
    checks: list[Callable[[Any], bool]] = []
    for key, spec in pattern.items():
        if key == "$or":
            if not isinstance(spec, list) or len(spec) < 2:
                raise InvalidParameterValueError(_INVALID)
            alternatives = [_compile(p, decode_json) for p in spec]
            checks.append(lambda doc, alternatives=alternatives: any(alt(doc) for alt in alternatives))
            continue
        if isinstance(spec, dict):
            nested = _compile(spec)
            as_json = decode_json is not None and key in decode_json

            def check(doc, key=key, nested=nested, as_json=as_json) -> bool:
                value = doc.get(key, _MISSING) if isinstance(doc, dict) else _MISSING
                if as_json:
                    value = _as_json(value)
                return isinstance(value, dict) and nested(value)

        elif isinstance(spec, list) and spec:
            matchers = [_matcher(s) for s in spec]

            def check(doc, key=key, matchers=matchers) -> bool:
                value = doc.get(key, _MISSING) if isinstance(doc, dict) else _MISSING
                for match, exists in matchers:
                    if exists is not None:
                        if (value is not _MISSING) == exists:
                            return True
                        continue
                    if value is _MISSING:
                        continue
                    values = value if isinstance(value, list) else [value]
                    if any(match(v) for v in values):
                        return True
                return False

        else:
            raise InvalidParameterValueError(_INVALID)
        checks.append(check)
    return lambda doc: all(c(doc) for c in checks)


def _as_json(value: Any) -> Any:
    if isinstance(value, dict) or value is _MISSING:
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return _MISSING


def compile_filter_criteria(criteria: dict | None, data_key: str) -> Callable[[dict], bool] | None:
    """A predicate over records for ``criteria`` (None: keep everything).

    ``data_key`` is the record field holding the payload (``body``, ``data``
    or ``dynamodb``); Kinesis ``data`` is base64-decoded before JSON matching.

    Raises:
        InvalidParameterValueError: ``Invalid filter pattern definition.``,
        or more than 5 filters / a pattern over 4,096 characters.
    """
    if criteria is None:
        return None
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list) or not filters:
        raise InvalidParameterValueError("filter_criteria must be {'Filters': [{'Pattern': '<JSON>'}, ...]}")
    if len(filters) > 5:
        raise InvalidParameterValueError("at most 5 filters are allowed per event source mapping")
    predicates = []
    for item in filters:
        text = item.get("Pattern") if isinstance(item, dict) else None
        if not isinstance(text, str) or len(text) > 4096:
            raise InvalidParameterValueError(_INVALID)
        try:
            pattern = json.loads(text)
        except ValueError:
            raise InvalidParameterValueError(_INVALID) from None
        predicates.append(_compile(pattern, decode_json={data_key}))

    def keep(record: dict) -> bool:
        doc = record
        if data_key == "data" and "kinesis" in record:  # Kinesis: match the decoded data
            doc = dict(record["kinesis"])
            try:
                doc["data"] = base64.b64decode(doc["data"]).decode()
            except (ValueError, UnicodeDecodeError):
                pass
            doc = {**record, **doc}
        return any(p(doc) for p in predicates)

    return keep
