"""Function: the mutable ``$LATEST`` plus its published versions and aliases."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._alias import Alias, VersionRef, not_found
from ._code import bundle_for, pickle_callable
from ._config import FunctionConfig, validate_name
from ._errors import InvalidParameterValueError
from ._version import LATEST, Version, function_arn

__all__ = ["Function"]

_DEFAULT_REGION = "us-east-1"
_DEFAULT_ACCOUNT = "123456789012"


def _check_reserved(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterValueError(f"reserved_concurrency must be None or an integer >= 0, got {value!r}")
    return value


class Function:
    """A Lambda function: a name, ``$LATEST`` (mutable), versions and aliases.

    ``handler`` is ``"module.function"`` resolved under ``code`` (a directory
    or a ``.zip``, like a deployment package; ``"dir/mod.fn"`` works), or a
    Python callable shipped by value (so handlers written in a test file or a
    notebook cell run in real environments).  With a module handler and no
    ``code``, the module is imported from the caller's ``sys.path`` and runs
    in the caller's working directory.

    Everything is validated here, at definition time.  ``setup`` is an
    optional callable run in each new environment before the handler is
    loaded (to install mocks or fakes where the handler will see them).
    ``stateless=True`` runs every invocation in a fresh environment.
    ``role`` is the execution role's ARN (CreateFunction's ``Role``): with a
    services endpoint (``Invoker(aws_endpoint_url=...)``) each environment
    gets that role's temporary credentials from the endpoint's STS.
    ``dead_letter_target`` receives the original event and Lambda's
    ``RequestID``/``ErrorCode``/``ErrorMessage`` attributes when an
    asynchronous event finally fails.  ``network="none"`` gives its
    environments loopback only (a VPC function without a NAT gateway; see
    docs/guide.md#sandbox).

    ``layers`` (at most 5 directories or .zip files, in order) come after the
    code on ``sys.path``, as Lambda's ``/opt``: each layer's
    ``python/lib/python3.X/site-packages`` and ``python/``, a later layer
    ahead of an earlier one (on Lambda it overwrites the earlier one's files).
    ``dependencies="isolated"`` gives the environment only the code, its
    layers, a ``requirements.txt`` installed into a cache, the runtime's own
    boto3/botocore and the standard library (as on Lambda); the default
    ``"caller"`` also sees everything the caller can import.

    ``snap_start=True`` is Lambda's SnapStart (``ApplyOn: PublishedVersions``):
    a published version is initialised once (its before-snapshot hooks
    included) and each of its environments is restored from that state,
    running the after-restore hooks instead of init (see docs/snapstart.md).
    ``$LATEST`` still inits on demand.
    """

    # Bumped whenever any function's reserved concurrency changes, so an
    # Invoker recomputes what is carved out of the account limit only then.
    reserved_epoch = 0

    def __init__(
        self,
        name: str,
        handler: str | Callable[..., Any],
        *,
        code: str | Any | None = None,
        runtime: str | None = None,
        memory_size: int = 128,
        timeout: int = 3,
        ephemeral_storage: int = 512,
        environment: Mapping[str, str] | None = None,
        architecture: str = "x86_64",
        reserved_concurrency: int | None = None,
        description: str = "",
        region: str = _DEFAULT_REGION,
        account_id: str = _DEFAULT_ACCOUNT,
        setup: Callable[[], Any] | None = None,
        stateless: bool = False,
        log_format: str = "Text",
        application_log_level: str | None = None,
        system_log_level: str | None = None,
        log_group: str | None = None,
        tracing: str = "PassThrough",
        dead_letter_target: Callable[[Any, dict], Any] | None = None,
        layers: list[str] | tuple[str, ...] | None = None,
        dependencies: str = "caller",
        network: str | None = None,
        role: str | None = None,
        snap_start: bool = False,
    ) -> None:
        self._name = validate_name(name)
        config_args: dict[str, Any] = dict(
            memory_size=memory_size,
            timeout=timeout,
            ephemeral_storage=ephemeral_storage,
            environment=environment,
            architecture=architecture,
            description=description,
            log_format=log_format,
            application_log_level=application_log_level,
            system_log_level=system_log_level,
            log_group=log_group,
            tracing=tracing,
            layers=layers,
            dependencies=dependencies,
            network=network,
            role=role,
            snap_start=snap_start,
        )
        if runtime is not None:
            config_args["runtime"] = runtime
        config = FunctionConfig(**config_args)
        handler_name, bundle = bundle_for(handler, code)
        self._region = region
        self._account_id = account_id
        self._reserved = _check_reserved(reserved_concurrency)
        Function.reserved_epoch += 1
        self._setup = pickle_callable(setup) if setup is not None else None
        self.stateless = bool(stateless)
        if dead_letter_target is not None and not callable(dead_letter_target):
            raise InvalidParameterValueError("dead_letter_target must be a callable taking (event, attributes)")
        self.dead_letter_target = dead_letter_target
        self._lock = threading.RLock()
        self._versions: list[Version | None] = []  # None: a deleted version (numbers are never reused)
        self._aliases: dict[str, Alias] = {}
        self._latest = Version(
            function_name=self._name,
            version=LATEST,
            handler=handler_name,
            code=bundle,
            config=config,
            region=region,
            account_id=account_id,
            description=description,
            revision=1,
            function=self,
        )

    # -- reading -------------------------------------------------------------
    @property
    def name(self) -> str:
        """The function name."""
        return self._name

    @property
    def region(self) -> str:
        """Region used in ARNs."""
        return self._region

    @property
    def account_id(self) -> str:
        """Account id used in ARNs."""
        return self._account_id

    @property
    def arn(self) -> str:
        """The unqualified function ARN."""
        return function_arn(self._region, self._account_id, self._name)

    @property
    def latest(self) -> Version:
        """The current ``$LATEST`` (a new value after every update)."""
        return self._latest

    @property
    def config(self) -> FunctionConfig:
        """The configuration of ``$LATEST``."""
        return self._latest.config

    @property
    def handler(self) -> str:
        """The handler setting of ``$LATEST``."""
        return self._latest.handler

    @property
    def reserved_concurrency(self) -> int | None:
        """Reserved concurrency (function-level, shared by all versions)."""
        return self._reserved

    @property
    def setup_pickle(self) -> bytes | None:
        """The pickled per-environment setup callable, if any."""
        return self._setup

    @property
    def versions(self) -> tuple[Version, ...]:
        """Published versions, oldest first."""
        with self._lock:
            return tuple(v for v in self._versions if v is not None)

    @property
    def aliases(self) -> dict[str, Alias]:
        """Aliases by name."""
        with self._lock:
            return dict(self._aliases)

    def get_version(self, ref: VersionRef) -> Version:
        """The ``Version`` for ``"$LATEST"``, ``"3"``, ``3`` or a Version of this function."""
        if isinstance(ref, Version):
            if ref.function_name != self._name:
                raise InvalidParameterValueError(
                    f"version {ref.version} belongs to function {ref.function_name!r}, not {self._name!r}"
                )
            return self._latest if ref.version == LATEST else ref
        key = str(ref)
        if key == LATEST:
            return self._latest
        with self._lock:
            if key.isdigit() and 0 < int(key) <= len(self._versions) and self._versions[int(key) - 1] is not None:
                return self._versions[int(key) - 1]
        raise not_found(self._region, self._account_id, self._name, key)

    def get_alias(self, name: str) -> Alias:
        """The alias called ``name``."""
        with self._lock:
            alias = self._aliases.get(name)
        if alias is None:
            raise not_found(self._region, self._account_id, self._name, name)
        return alias

    # -- changing $LATEST ----------------------------------------------------
    def _replace_latest(self, **changes: Any) -> Version:
        import attrs

        with self._lock:
            old = self._latest
            self._latest = attrs.evolve(old, revision=old.revision + 1, **changes)
            return self._latest

    def update_configuration(self, **changes: Any) -> Version:
        """Change ``$LATEST``'s configuration (memory_size, timeout, environment, ...).

        ``reserved_concurrency`` is accepted here too, as a function-level
        setting.  Environments of the previous ``$LATEST`` are retired; the
        next invocation starts cold.
        """
        if "reserved_concurrency" in changes:
            self._reserved = _check_reserved(changes.pop("reserved_concurrency"))
            Function.reserved_epoch += 1
        if not changes:
            return self._latest
        new_config = self._latest.config.evolve(**changes)
        extra = {"description": new_config.description} if "description" in changes else {}
        return self._replace_latest(config=new_config, **extra)

    def reload_code(self) -> Version:
        """Start a new ``$LATEST`` revision over the same code (its files changed)."""
        return self._replace_latest()

    def update_code(self, *, handler: str | Callable[..., Any] | None = None, code: Any = None) -> Version:
        """Replace ``$LATEST``'s handler and/or code; new environments run it."""
        if handler is None and code is None:
            raise InvalidParameterValueError("update_code needs handler=, code= or both")
        current = self._latest
        if handler is None:
            if current.code.kind == "callable":
                raise InvalidParameterValueError("a callable handler has no code to replace; pass handler=")
            handler = current.handler
        if code is None and not callable(handler):
            code = current.code.path if current.code.kind == "directory" else None
            if current.code.kind == "zip":
                raise InvalidParameterValueError("pass code= again with the new handler")
        handler_name, bundle = bundle_for(handler, code)
        return self._replace_latest(handler=handler_name, code=bundle)

    # -- versions and aliases ------------------------------------------------
    def publish_version(self, description: str | None = None) -> Version:
        """Freeze ``$LATEST`` into a numbered version (or return the last, if unchanged).

        The code is snapshotted: a directory becomes zip bytes in memory, so
        editing the files afterwards never changes a published version.
        """
        with self._lock:
            latest = self._latest
            code = latest.code.snapshot()
            last = next((v for v in reversed(self._versions) if v is not None), None)
            if (
                last is not None
                and last.handler == latest.handler
                and last.config == latest.config
                and last.code.sha256 == code.sha256
            ):
                return last
            version = Version(
                function_name=self._name,
                version=str(len(self._versions) + 1),
                handler=latest.handler,
                code=code,
                config=latest.config,
                region=self._region,
                account_id=self._account_id,
                description=latest.config.description if description is None else description,
                function=self,
            )
            self._versions.append(version)
            return version

    def delete_version(self, version: VersionRef) -> None:
        """Delete a published version (its number is never reused); not one an alias points at."""
        target = self.get_version(version)
        if target.version == LATEST:
            raise InvalidParameterValueError("$LATEST cannot be deleted on its own: delete the function")
        with self._lock:
            for alias in self._aliases.values():
                if target is alias.version or target in alias.routing:
                    raise InvalidParameterValueError(
                        f"Unable to delete version because the following aliases reference it: [{alias.name}]"
                    )
            self._versions[int(target.version) - 1] = None

    def create_alias(
        self,
        name: str,
        version: VersionRef,
        routing: dict[VersionRef, float] | None = None,
        description: str = "",
    ) -> Alias:
        """Create the alias ``name`` pointing at ``version``."""
        with self._lock:
            if name in self._aliases:
                raise InvalidParameterValueError(
                    f"Alias already exists: {function_arn(self._region, self._account_id, self._name, name)}"
                )
            alias = Alias(self, name, version, routing, description)
            self._aliases[name] = alias
            return alias

    def delete_alias(self, name: str) -> None:
        """Remove the alias ``name``."""
        with self._lock:
            if self._aliases.pop(name, None) is None:
                raise not_found(self._region, self._account_id, self._name, name)

    def __repr__(self) -> str:
        return (
            f"Function({self._name!r}, handler={self.handler!r}, "
            f"memory_size={self.config.memory_size}, timeout={self.config.timeout}, "
            f"versions={len(self._versions)}, aliases={sorted(self._aliases)})"
        )

    def __reduce__(self):
        raise TypeError("Function objects cannot be pickled; publish a version instead")
