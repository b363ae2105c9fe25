"""The functions an Invoker knows, and how a target (Function, Version, Alias, name, ARN) resolves to a version.

``Registry`` is a mixin of ``Invoker``.  Names and ARNs are parsed as
Lambda's Invoke API parses ``FunctionName``: a name, ``name:qualifier``,
``account:function:name[:qualifier]`` or a full ARN, whose region and
account must be the function's (reference §6.2); an alias picks its
version by its routing weights on every resolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._alias import Alias, not_found
from ._errors import InvalidParameterValueError, InvokerClosedError
from ._function import Function
from ._version import LATEST, Version, function_arn

if TYPE_CHECKING:
    from ._invoker import Invoker

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
    """``register``, ``functions`` and ``resolve`` of ``Invoker``."""

    def register(self, *functions: Function) -> Invoker:
        """Make functions resolvable by name, ``name:qualifier`` and ARN."""
        self._check_open()
        for fn in functions:
            if not isinstance(fn, Function):
                raise InvalidParameterValueError(f"register() takes Function objects, got {fn!r}")
            with self._lock:
                existing = self._functions.get(fn.name)
                if existing is not None and existing is not fn:
                    raise InvalidParameterValueError(f"a different function named {fn.name!r} is already registered")
                self._functions[fn.name] = fn
        for fn in functions:  # a zygote (say) starts now, overlapping the caller's work
            self._backends.prepare(fn.config.runtime)
        if self._caller_imports is not None:
            for fn in functions:
                self._importable_in_caller(fn)
        return self

    def _importable_in_caller(self, fn: Function) -> None:
        """Inline mode: ``fn``'s code directory importable in the caller, with its environment (imports.py)."""
        code = fn.latest.code
        if code.kind != "directory":
            return
        from ._environment.spec import build_init_spec

        def environ() -> dict[str, str]:
            return build_init_spec(fn.latest, fn, self._workdir, self._inherit, self._endpoint_environ())["environ"]

        module = fn.latest.handler.rpartition(".")[0].replace("/", ".").split(".")[0]
        self._caller_imports.add(code.path, environ, module)

    def unregister(self, function: Function | str) -> Function:
        """Forget a function (the Lambda API's DeleteFunction): its name stops resolving.

        Its idle environments end, its event source mappings, provisioned
        concurrency and asynchronous-invocation configs go with it; an
        invocation already running finishes.  Returns the removed Function.
        """
        name = function.name if isinstance(function, Function) else function
        with self._lock:
            fn = self._functions.pop(name, None)
            if fn is None:
                raise not_found("us-east-1", "123456789012", name, LATEST)
            for target in [t for t, route in self._routes.items() if route.fn is fn]:
                del self._routes[target]
            provisioned = [k for k in self._provisioned_configs if k[0] == name]
            for key in provisioned:
                del self._provisioned_configs[key]
            for key in [k for k in self._event_configs if k[0] == name]:
                del self._event_configs[key]
        for mapping in [m for m in self._triggers.all() if m.function_name == name]:
            mapping.delete()
        for key in provisioned:
            for env in self._pool.take_idle_provisioned(key, 10**9):
                self._pool.discard(env, keep_tmp=False)
        self._pool.retire(name)
        return fn

    @property
    def functions(self) -> dict[str, Function]:
        """Registered functions by name."""
        with self._lock:
            return dict(self._functions)

    def _check_open(self) -> None:
        if self._state != "OPEN":
            raise InvokerClosedError("Cannot use an Invoker once it has been closed.")

    def _lookup(self, name: str, region: str | None, account: str | None, qualifier: str | None) -> Function:
        fn = self._functions.get(name)
        if fn is None or (region and region != fn.region) or (account and account != fn.account_id):
            raise not_found(region or "us-east-1", account or "123456789012", name, qualifier or LATEST)
        return fn

    def resolve(self, target: Any) -> tuple[Version, str, Function]:
        """(version to run, ARN as invoked, function) for any accepted target."""
        if isinstance(target, (Function, Alias, Version)):
            fn = target if isinstance(target, Function) else target.function
            if fn is None:  # a Version made apart from any Function
                raise InvalidParameterValueError(f"{target!r} is not attached to a Function")
            if self._functions.get(fn.name) is not fn:  # an object's function registers itself on first use
                self.register(fn)
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
