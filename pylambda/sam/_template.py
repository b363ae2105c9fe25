"""Reading a SAM/CloudFormation template: YAML or JSON, with CloudFormation's tags and line numbers.

The short-form tags (``!Ref``, ``!Sub``, ``!GetAtt A.Arn``, ``!If`` ...) are
cfn-flip's business: its loader turns each into the long form
(``{"Fn::Sub": ...}``, ``{"Ref": ...}``, ``{"Fn::GetAtt": [A, "Arn"]}``), the
one shape the rest of this package reads.  cfn-lint's decoder would do the
same and keeps line marks too, but importing it costs ~2.5 s (it pulls in
sympy and networkx), more than the whole ``pylambda local invoke`` it would
serve; cfn-flip's loader costs ~60 ms.  The one thing it lacks, where each
key sits in the file, is added here by the mapping constructor alone: every
mapping becomes a ``Node`` (a ``dict``) that remembers its own line and each
key's line, so an error can say "line 12" for any property.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._errors import InvalidParameterValueError

__all__ = ["Node", "Template", "TemplateError", "find_template", "line_of"]


class TemplateError(InvalidParameterValueError):
    """A template pylambda cannot run as written: the message names the resource, the property and the line.

    Raised by ``pylambda.sam.load`` for YAML it cannot parse, an intrinsic it
    cannot resolve, a property or event type it does not support, or a value
    Lambda would refuse.  Fix the template (or pass ``parameter_overrides``).
    """


class Node(dict):
    """A template mapping that knows its line (``line``) and the line of each key (``lines``)."""

    __slots__ = ("line", "lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.lines: dict[str, int] = {}


def line_of(node: Any, key: str | None = None) -> int | None:
    """The 1-based line of ``key`` in ``node`` (or of ``node`` itself), when the file said."""
    if not isinstance(node, Node):
        return None
    if key is not None and key in node.lines:
        return node.lines[key]
    return node.line


def _loader():
    """cfn-flip's loader class, with mappings that keep their line marks."""
    try:
        import yaml
        from cfn_tools.yaml_loader import CfnYamlLoader
    except ImportError as e:  # pragma: no cover - the sam extra is missing
        raise TemplateError(
            "SAM templates need cfn-flip: install pylambda with its 'sam' extra, or pip install cfn-flip"
        ) from e

    class Loader(CfnYamlLoader):
        def construct_mapping(self, node, deep=False):  # also used by cfn-flip's tags, e.g. !Sub [.., {..}]
            mapping = Node()
            mapping.line = node.start_mark.line + 1
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                mapping[key] = self.construct_object(value_node, deep=True)
                mapping.lines[key] = key_node.start_mark.line + 1
            return mapping

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
    return Loader, yaml.YAMLError


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        node = Node((k, _from_json(v)) for k, v in value.items())
        return node
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


class Template:
    """A parsed template: its sections and where it lives (relative paths resolve against ``base``)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).resolve()
        self.base = self.path.parent
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise TemplateError(f"cannot read the template {self.path}: {getattr(e, 'strerror', None) or e}") from e
        self.doc = self._parse(text)
        if not isinstance(self.doc, dict) or not isinstance(self.doc.get("Resources"), dict):
            raise TemplateError(f"{self.path}: a template needs a Resources mapping")

    def _parse(self, text: str) -> Any:
        if text.lstrip().startswith("{"):
            try:
                return _from_json(json.loads(text))
            except ValueError as e:
                raise TemplateError(f"{self.path} is not valid JSON: {e}") from e
        loader, yaml_error = _loader()
        import yaml

        try:
            return yaml.load(text, Loader=loader)  # cfn-flip's SafeLoader subclass: no arbitrary objects
        except yaml_error as e:
            raise TemplateError(f"{self.path} is not valid YAML: {e}") from e

    def section(self, name: str) -> Node:
        """A top-level section (``Parameters``, ``Globals`` ...), empty when absent."""
        value = self.doc.get(name)
        if value is None:
            return Node()
        if not isinstance(value, dict):
            raise TemplateError(f"{self.path}: {name} must be a mapping (line {line_of(self.doc, name)})")
        return value

    def where(self, node: Any, key: str | None = None) -> str:
        """``template.yaml line 12`` for messages (just the file name when the line is unknown)."""
        line = line_of(node, key)
        return f"{self.path.name} line {line}" if line else self.path.name


def find_template(path: str | os.PathLike | None) -> Path:
    """The template to use: ``path``, else ``template.yaml``/``template.yml`` in the current directory."""
    if path is not None:
        candidate = Path(path)
        if candidate.is_dir():
            for name in ("template.yaml", "template.yml", "template.json"):
                if (candidate / name).is_file():
                    return candidate / name
            raise TemplateError(f"no template.yaml or template.yml in {candidate}")
        if not candidate.is_file():
            raise TemplateError(f"template {path} does not exist")
        return candidate
    for name in ("template.yaml", "template.yml"):
        if Path(name).is_file():
            return Path(name)
    raise TemplateError("no template.yaml or template.yml in the current directory; pass -t/--template")
