"""The functions an Invoker knows, and how a target (Function, Version, Alias, name, ARN) resolves to a version.

``Registry`` is a collaborator of ``Invoker`` (its ``register``,
``unregister``, ``functions`` and ``resolve`` delegate here).  Names and ARNs are parsed as
Lambda's Invoke API parses ``FunctionName``: a name, ``name:qualifier``,
``account:function:name[:qualifier]`` or a full ARN, whose region and
account must be the function's (reference §6.2); an alias picks its
version by its routing weights on every resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._alias import Alias, not_found
from ._errors import InvalidParameterValueError
from ._function import Function
from ._lock import Lock
from ._version import LATEST, Version, function_arn

__all__ = ["Registry", "split_function_name"]


def split_function_name(target: str) -> tuple[str | None, str | None, str, str | None]:
    """(region, account, name, qualifier) of ``name[:q]``, ``account:function:name[:q]`` or a full ARN."""
    region = account = None
    parts = target.split(":")
    if target.startswith("arn:"):
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise InvalidParameterValueError(f"not a Lambda function ARN: {target!r}")
        region, account, name = parts[3], parts[4], parts[6]
        qualifier = parts[7] if len(parts) == 8 else None
    elif len(parts) in (3, 4) and parts[1] == "function":
        account, name = parts[0], parts[2]
        qualifier = parts[3] if len(parts) == 4 else None
    elif len(parts) <= 2:
        name = parts[0]
        qualifier = parts[1] if len(parts) == 2 else None
    else:
        raise InvalidParameterValueError(f"cannot parse function name {target!r}")
    return region, account, name, qualifier


class Registry:
    """The functions one Invoker knows, by name, and the resolution of targets (internal).

    Args:
        lock: the Invoker's lock (guards the table).
        register: registers a Function object met for the first time in
            ``resolve`` (``Invoker.register``, which also readies its backend).
    """

    __slots__ = ("_lock", "_register", "by_name")

    def __init__(self, lock: Lock, register: Callable[[Function], Any]) -> None:
        self._lock = lock
        self._register = register
        self.by_name: dict[str, Function] = {}  # read without the lock (a dict lookup is atomic)

    def add(self, fn: Function) -> None:
        """Make ``fn`` resolvable (again: the same object is a no-op; another of its name is refused)."""
        if not isinstance(fn, Function):
            raise InvalidParameterValueError(f"register() takes Function objects, got {fn!r}")
        with self._lock:
            existing = self.by_name.get(fn.name)
            if existing is not None and existing is not fn:
                raise InvalidParameterValueError(f"a different function named {fn.name!r} is already registered")
            self.by_name[fn.name] = fn

    def remove(self, name: str) -> Function:
        """Forget the function called ``name`` and return it; ResourceNotFoundError if there is none."""
        with self._lock:
            fn = self.by_name.pop(name, None)
        if fn is None:
            raise not_found("us-east-1", "123456789012", name, LATEST)
        return fn

    def snapshot(self) -> dict[str, Function]:
        """Registered functions by name (a copy)."""
        with self._lock:
            return dict(self.by_name)

    def _lookup(self, name: str, region: str | None, account: str | None, qualifier: str | None) -> Function:
        fn = self.by_name.get(name)
        if fn is None or (region and region != fn.region) or (account and account != fn.account_id):
            raise not_found(region or "us-east-1", account or "123456789012", name, qualifier or LATEST)
        return fn

    def resolve(self, target: Any) -> tuple[Version, str, Function]:
        """(version to run, ARN as invoked, function) for any accepted target."""
        if isinstance(target, (Function, Alias, Version)):
            fn = target if isinstance(target, Function) else target.function
            if fn is None:  # a Version made apart from any Function
                raise InvalidParameterValueError(f"{target!r} is not attached to a Function")
            if self.by_name.get(fn.name) is not fn:  # an object's function registers itself on first use
                self._register(fn)
            if target is fn:
                return fn.latest, fn.arn, fn
            if isinstance(target, Alias):
                return target.pick(), target.arn, fn
            return fn.get_version(target), target.arn, fn
        if not isinstance(target, str):
            raise InvalidParameterValueError(
                f"target must be a Function, Version, Alias, name or ARN, got {type(target).__name__}"
            )
        region, account, name, qualifier = split_function_name(target)
        fn = self._lookup(name, region, account, qualifier)
        if qualifier is None:
            return fn.latest, fn.arn, fn
        arn = function_arn(fn.region, fn.account_id, fn.name, qualifier)
        if qualifier == LATEST or qualifier.isdigit():
            return fn.get_version(qualifier), arn, fn
        return fn.get_alias(qualifier).pick(), arn, fn
