"""Provisioned concurrency: environments initialised ahead of time, per version or alias.

``Provisioned`` is a collaborator of ``Invoker``: it keeps the configs
(requested environments per pool key), starts and ends provisioned
environments through the launcher (``Launcher.start_provisioned``) and the
pool, and replaces a provisioned environment the engine lost (its
``on_lost`` hook).  The Invoker's ``put/get/delete_provisioned_concurrency_config``
delegate here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._admission import Admission
from ._environment.backend import Environment
from ._environment.pool import EnvironmentPool
from ._errors import InvalidParameterValueError, ResourceNotFoundError
from ._execution import Launcher
from ._function import Function
from ._history import qualifier_of
from ._lock import Lock
from ._version import LATEST, Version

__all__ = ["Provisioned"]


class Provisioned:
    """Provisioned-concurrency configs and their environments (internal; one per Invoker).

    Args:
        resolve: a target to (version, ARN as invoked, function).
        launcher: starts environments and knows pool keys.
        pool: the Invoker's environment pool.
        admission: the concurrency accounting (the account's unreserved room).
        functions: the registered functions by name.
        lock: the Invoker's lock.
        is_open: whether the Invoker is still open.
    """

    def __init__(
        self,
        *,
        resolve: Callable[[Any], tuple[Version, str, Function]],
        launcher: Launcher,
        pool: EnvironmentPool,
        admission: Admission,
        functions: Mapping[str, Function],
        lock: Lock,
        is_open: Callable[[], bool],
    ) -> None:
        self._resolve = resolve
        self._launcher = launcher
        self._pool = pool
        self._admission = admission
        self._functions = functions
        self._lock = lock
        self._is_open = is_open
        self.configs: dict[tuple, int] = {}  # pool key -> requested environments

    def _config_target(self, target: Any) -> tuple[Version, Function]:
        """The version a configuration applies to: an alias means its primary version."""
        version, arn, fn = self._resolve(target)
        qualifier = qualifier_of(arn)
        if qualifier is not None and qualifier != LATEST and not qualifier.isdigit():
            version = fn.get_alias(qualifier).version  # not the version routing picked
        if version.version == LATEST:
            raise InvalidParameterValueError(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        return version, fn

    def put(self, target: Any, n: int) -> dict:
        """``Invoker.put_provisioned_concurrency_config``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterValueError(f"provisioned_concurrency must be an integer >= 1, got {n!r}")
        version, fn = self._config_target(target)
        if fn.reserved_concurrency is not None and n > fn.reserved_concurrency:
            raise InvalidParameterValueError(
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function"
            )
        key = self._launcher.key(version)
        if fn.reserved_concurrency is None:
            self._check_unreserved_room(key, n)
        self.configs[key] = n
        have = len(self._pool.provisioned(key))
        for env in self._pool.take_idle_provisioned(key, max(0, have - n)):
            self._pool.discard(env, keep_tmp=False)
        failures = self.provision(key, version, fn, max(0, n - have))
        return self.get(target) | ({"Status": "FAILED", "StatusReason": failures[0]} if failures else {})

    def _check_unreserved_room(self, key: tuple, n: int) -> None:
        """Refuse ``n`` provisioned environments for a function without a reservation if the
        account's unreserved concurrency cannot hold them with every other such config.

        Lambda also keeps a minimum unreserved (100 on a default account); that
        rule is not emulated, for reservations either.
        """
        functions = self._functions
        limit = self._admission.limit
        with self._lock:  # registrations change the functions under it
            unreserved = self._admission.unreserved_limit()
            elsewhere = sum(
                count for other, count in self.configs.items()
                if other != key and other[0] in functions and functions[other[0]].reserved_concurrency is None
            )  # fmt: skip
        carved = limit - unreserved
        room = unreserved - elsewhere
        if n > room:
            raise InvalidParameterValueError(
                f"Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution"
                f" below zero: {n} requested, {room} left of concurrency_limit {limit}"
                f" ({carved} reserved, {elsewhere} provisioned elsewhere)"
            )

    def get(self, target: Any) -> dict:
        """``Invoker.get_provisioned_concurrency_config``."""
        version, _fn = self._config_target(target)
        key = self._launcher.key(version)
        requested = self.configs.get(key)
        if requested is None:
            raise ResourceNotFoundError("No Provisioned Concurrency Config found for this function")
        ready = len(self._pool.provisioned(key))
        return {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": ready,
            "AllocatedProvisionedConcurrentExecutions": ready,
            "Status": "READY" if ready >= requested else "IN_PROGRESS",
        }

    def delete(self, target: Any) -> None:
        """``Invoker.delete_provisioned_concurrency_config``."""
        version, _fn = self._config_target(target)
        key = self._launcher.key(version)
        if self.configs.pop(key, None) is None:
            raise ResourceNotFoundError("No Provisioned Concurrency Config found for this function")
        self._end_idle(key)

    def forget(self, function_name: str) -> None:
        """A function was unregistered: its configs go and their idle environments end."""
        with self._lock:
            keys = [k for k in self.configs if k[0] == function_name]
            for key in keys:
                del self.configs[key]
        for key in keys:
            self._end_idle(key)

    def _end_idle(self, key: tuple) -> None:
        for env in self._pool.take_idle_provisioned(key, 10**9):
            self._pool.discard(env, keep_tmp=False)

    def replace_if_provisioned(self, env: Environment, key: tuple, version: Version, fn: Function) -> None:
        """Lambda replaces a failed provisioned environment: start one in the background."""
        if env.provisioned and self._is_open():
            threading.Thread(target=self.provision, args=(key, version, fn, 1), daemon=True).start()

    def provision(self, key: tuple, version: Version, fn: Function, count: int) -> list[str]:
        """Start ``count`` provisioned environments in parallel; return failure reasons."""
        if count <= 0 or not self._is_open() or key not in self.configs:
            return []
        timeout = max(130.0, float(version.config.timeout))
        failures: list[str] = []

        def start() -> None:
            failure = self._launcher.start_provisioned(key, version, fn, timeout)
            if failure is not None:
                failures.append(failure)

        threads = [threading.Thread(target=start) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return failures
