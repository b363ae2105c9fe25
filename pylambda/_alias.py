"""Aliases: named pointers to a version, with optional weighted routing."""

from __future__ import annotations

import random
import re
import threading
from typing import TYPE_CHECKING

from ._errors import InvalidParameterValueError, ResourceNotFoundError
from ._version import LATEST, Version, function_arn

if TYPE_CHECKING:
    from ._function import Function

__all__ = ["Alias"]

_ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
VersionRef = Version | str | int


class _Unset:
    """Marks an argument that was not passed (``routing=None`` means "clear")."""

    def __repr__(self) -> str:
        return "<unchanged>"


_UNSET = _Unset()


class Alias:
    """A name (``"live"``) pointing at one version, and optionally a second one.

    ``routing={v2: 0.1}`` sends each invocation to ``v2`` with probability 0.1
    and to the primary version otherwise, as Lambda's
    ``AdditionalVersionWeights`` does (at most one extra version, weight
    0..1, both versions published).  The alias ARN is what the handler sees as
    ``context.invoked_function_arn``; the version that ran is reported in
    ``executed_version``.
    """

    def __init__(
        self,
        function: Function,
        name: str,
        version: VersionRef,
        routing: dict[VersionRef, float] | None = None,
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not _ALIAS_NAME.fullmatch(name):
            raise InvalidParameterValueError(
                f"alias name must be 1-128 characters of letters, digits, '-' or '_' and not all digits, got {name!r}"
            )
        self._function = function
        self._name = name
        self._lock = threading.Lock()
        self._version, self._routing = self._validated(version, routing)
        self._description = description

    def _validated(
        self, version: VersionRef, routing: dict[VersionRef, float] | None
    ) -> tuple[Version, tuple[Version, float] | None]:
        primary = self._function.get_version(version)
        if not routing:
            return primary, None
        if len(routing) > 1:
            raise InvalidParameterValueError("Number of items in AdditionalVersionWeights cannot be greater than 1")
        ((extra_ref, weight),) = routing.items()
        extra = self._function.get_version(extra_ref)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise InvalidParameterValueError(
                f"1 validation error detected: Value '{{{extra.version}={weight}}}' at "
                "'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
                "Map value must satisfy constraint: [Member must have value less than or "
                "equal to 1.0, Member must have value greater than or equal to 0.0, "
                "Member must not be null]"
            )
        if primary.version == LATEST or extra.version == LATEST:
            raise InvalidParameterValueError("$LATEST is not supported for an alias pointing to more than 1 version")
        if extra.version == primary.version:
            raise InvalidParameterValueError(
                f"Invalid function version {extra.version}. Function version "
                f"{extra.version} is already included in routing configuration."
            )
        return primary, (extra, float(weight))

    @property
    def name(self) -> str:
        """The alias name."""
        return self._name

    @property
    def function(self) -> Function:
        """The function the alias belongs to."""
        return self._function

    @property
    def function_name(self) -> str:
        """Name of the function the alias belongs to."""
        return self._function.name

    @property
    def version(self) -> Version:
        """The primary version."""
        return self._version

    @property
    def routing(self) -> dict[Version, float]:
        """``{extra_version: weight}``, empty when all traffic goes to ``version``."""
        r = self._routing
        return {r[0]: r[1]} if r else {}

    @property
    def description(self) -> str:
        """Free text."""
        return self._description

    @property
    def arn(self) -> str:
        """``arn:aws:lambda:<region>:<account>:function:<name>:<alias>``."""
        fn = self._function
        return function_arn(fn.region, fn.account_id, fn.name, self._name)

    def update(
        self,
        version: VersionRef | None = None,
        routing: dict[VersionRef, float] | object | None = _UNSET,
        description: str | None = None,
    ) -> Alias:
        """Point the alias elsewhere; ``routing=None`` (or ``{}``) clears the split."""
        with self._lock:
            new_version = self._version if version is None else version
            if routing is _UNSET:
                routing = {self._routing[0]: self._routing[1]} if self._routing else None
            self._version, self._routing = self._validated(new_version, routing)  # type: ignore[arg-type]
            if description is not None:
                self._description = description
        return self

    def pick(self, rand: random.Random | None = None) -> Version:
        """The version one invocation runs, drawn by the routing weights."""
        primary, routing = self._version, self._routing
        if routing is not None and (rand or random).random() < routing[1]:
            return routing[0]
        return primary

    def __repr__(self) -> str:
        extra = f", routing={{{self._routing[0].version!r}: {self._routing[1]}}}" if self._routing else ""
        return f"Alias({self._function.name}:{self._name} -> {self._version.version!r}{extra})"


def not_found(fn_region: str, account: str, name: str, qualifier: str) -> ResourceNotFoundError:
    """Lambda's 404 for an unknown function, version or alias."""
    return ResourceNotFoundError(f"Function not found: {function_arn(fn_region, account, name, qualifier)}")
