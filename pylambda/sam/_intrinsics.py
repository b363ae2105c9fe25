"""CloudFormation's intrinsic functions, evaluated locally as a deployment would.

Values come from the template's ``Parameters`` (defaults, then overrides),
the pseudo parameters (``AWS::Region``, ``AWS::AccountId``,
``AWS::StackName`` ...), the resources this package creates (``!Ref`` of a
function is its name, ``!GetAtt Queue.Arn`` the local queue's ARN),
``Mappings`` and ``Conditions``.  ``AWS::NoValue`` removes the property or
list item it stands for, as in CloudFormation.

What cannot be known locally (``Fn::ImportValue``, ``Fn::Transform``, an
attribute no local resource has) is a ``TemplateError`` naming the resource,
the property and the line: a wrong value would be worse than none.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from ._template import Node, Template, TemplateError, line_of

__all__ = ["NO_VALUE", "Resolver"]


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB = re.compile(r"\$\{([^}]*)\}")
_LIST_TYPES = ("CommaDelimitedList", "List<")


class Resolver:
    """Evaluates intrinsics for one loaded template.

    Args:
        template: the parsed template (for ``Mappings``, ``Conditions`` and line numbers).
        parameters: parameter name -> value (strings; list parameters already split).
        pseudo: the pseudo parameters' values.
        ref: logical id -> what ``!Ref`` gives (None when the id is unknown).
        getatt: (logical id, attribute) -> the value, or None when unknown.
    """

    def __init__(
        self,
        template: Template,
        parameters: dict[str, Any],
        pseudo: dict[str, str],
        ref: Callable[[str], Any],
        getatt: Callable[[str, str], Any],
    ) -> None:
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo
        self._ref = ref
        self._getatt = getatt
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- errors ---------------------------------------------------------------------
    def error(self, where: tuple[str, str, Any], message: str) -> TemplateError:
        """A TemplateError for ``message`` at ``where`` = (resource, property, node holding it)."""
        resource, prop, node = where
        line = line_of(node, prop.split(".")[-1]) or line_of(node)
        at = f" (line {line})" if line else ""
        return TemplateError(f"{self.template.path.name}: {resource}.{prop}{at}: {message}")

    # -- values -----------------------------------------------------------------------
    def resolve(self, value: Any, where: tuple[str, str, Any]) -> Any:
        """``value`` with every intrinsic evaluated; ``NO_VALUE`` for ``!Ref AWS::NoValue``."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" or key.startswith("Fn::"):
                    node = value if isinstance(value, Node) else where[2]
                    return self._function(key, arg, (where[0], where[1], node))
            out = Node()
            if isinstance(value, Node):
                out.line, out.lines = value.line, value.lines
            for k, v in value.items():
                resolved = self.resolve(v, (where[0], f"{where[1]}.{k}", value))
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(value, list):
            items = [self.resolve(v, where) for v in value]
            return [v for v in items if v is not NO_VALUE]
        return value

    def _function(self, name: str, arg: Any, where: tuple[str, str, Any]) -> Any:
        handler = getattr(self, "_fn_" + name.replace("Fn::", "").lower(), None)
        if handler is None:
            raise self.error(where, f"{name} is not supported locally (pylambda cannot know its value)")
        return handler(arg, where)

    def _fn_ref(self, name: Any, where) -> Any:
        name = self.resolve(name, where)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        value = self._ref(name) if isinstance(name, str) else None
        if value is None:
            raise self.error(where, f"!Ref {name}: no such parameter, pseudo parameter or resource")
        return value

    def _fn_getatt(self, arg: Any, where) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        arg = self.resolve(arg, where)
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            raise self.error(where, f"!GetAtt needs Resource.Attribute, got {arg!r}")
        value = self._getatt(arg[0], arg[1])
        if value is None:
            raise self.error(where, f"!GetAtt {arg[0]}.{arg[1]}: no such resource or attribute here")
        return value

    def _fn_sub(self, arg: Any, where) -> str:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise self.error(where, "!Sub takes a string or [string, {variables}]")
            arg, variables = arg[0], {k: self.resolve(v, where) for k, v in arg[1].items()}
        if not isinstance(arg, str):
            raise self.error(where, f"!Sub needs a string, got {type(arg).__name__}")

        def substitute(match: re.Match) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name not in self.pseudo:
                value = self._fn_getatt(name, where)
            else:
                value = self._fn_ref(name, where)
            if isinstance(value, list) or value is NO_VALUE:
                raise self.error(where, f"!Sub ${{{name}}} is not a string")
            return str(value)

        return _SUB.sub(substitute, arg)

    def _fn_join(self, arg: Any, where) -> str:
        arg = self.resolve(arg, where)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
            raise self.error(where, "!Join takes [delimiter, [values]]")
        return str(arg[0]).join(str(v) for v in arg[1])

    def _fn_select(self, arg: Any, where) -> Any:
        arg = self.resolve(arg, where)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
            raise self.error(where, "!Select takes [index, [values]]")
        try:
            return arg[1][int(arg[0])]
        except (ValueError, IndexError) as e:
            raise self.error(where, f"!Select index {arg[0]!r} is not in a list of {len(arg[1])}") from e

    def _fn_split(self, arg: Any, where) -> list:
        arg = self.resolve(arg, where)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], str)):
            raise self.error(where, "!Split takes [delimiter, string]")
        return arg[1].split(str(arg[0]))

    def _fn_base64(self, arg: Any, where) -> str:
        return base64.b64encode(str(self.resolve(arg, where)).encode()).decode()

    def _fn_getazs(self, arg: Any, where) -> list:
        region = self.resolve(arg, where) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_findinmap(self, arg: Any, where) -> Any:
        arg = self.resolve(arg, where)
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise self.error(where, "!FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
        mapping = self.template.section("Mappings")
        try:
            return mapping[arg[0]][str(arg[1])][str(arg[2])]
        except (KeyError, TypeError) as e:
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return arg[3]["DefaultValue"]
            raise self.error(where, f"!FindInMap {arg[0]}/{arg[1]}/{arg[2]}: no such entry in Mappings") from e

    def _fn_if(self, arg: Any, where) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise self.error(where, "!If takes [ConditionName, value if true, value if false]")
        return self.resolve(arg[1] if self.condition(arg[0], where) else arg[2], where)

    # -- conditions ----------------------------------------------------------------------
    def condition(self, name: str, where: tuple[str, str, Any]) -> bool:
        """The value of the condition ``name`` from ``Conditions``."""
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.section("Conditions")
        if name not in conditions:
            raise self.error(where, f"condition {name!r} is not defined in Conditions")
        if name in self._evaluating:
            raise self.error(where, f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(conditions[name], ("Conditions", name, conditions))
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def _truth(self, expr: Any, where: tuple[str, str, Any]) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Condition":
                return self.condition(arg, where)
            if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                left, right = (self.resolve(a, where) for a in arg)
                return str(left) == str(right) if not isinstance(left, (list, dict)) else left == right
            if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self._truth(arg[0], where)
            if key == "Fn::And" and isinstance(arg, list):
                return all(self._truth(a, where) for a in arg)
            if key == "Fn::Or" and isinstance(arg, list):
                return any(self._truth(a, where) for a in arg)
        raise self.error(where, f"not a condition expression: {dict(expr) if isinstance(expr, dict) else expr!r}")


def parameter_values(template: Template, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Each parameter's value: the override, else the default; an error for one with neither."""
    section = template.section("Parameters")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(section))
    if unknown:
        raise TemplateError(f"{template.path.name}: parameter_overrides names unknown parameter(s) {unknown}")
    values: dict[str, Any] = {}
    for name, spec in section.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(
                f"{template.path.name}: parameter {name} (line {line_of(section, name)}) has no Default; "
                "give it with parameter_overrides / --parameter-overrides"
            )
        kind = str(spec.get("Type", "String"))
        if kind.startswith(_LIST_TYPES) and isinstance(value, str):
            value = [v.strip() for v in value.split(",")] if value else []
        elif not isinstance(value, list):
            value = str(value)
        allowed = spec.get("AllowedValues")
        if isinstance(allowed, list) and not isinstance(value, list) and value not in [str(a) for a in allowed]:
            raise TemplateError(
                f"{template.path.name}: parameter {name} (line {line_of(section, name)}) must be one of "
                f"{[str(a) for a in allowed]}, got {value!r}"
            )
        values[name] = value
    return values
