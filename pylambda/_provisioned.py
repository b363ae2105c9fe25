"""Provisioned concurrency: environments initialised ahead of time, per version or alias.

A mixin of ``Invoker`` (the methods are the Invoker's public API); it uses the
Invoker's pool, recorder and environment start-up.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ._environment.backend import Environment
from ._errors import InvalidParameterValueError, ResourceNotFoundError
from ._function import Function
from ._history import qualifier_of
from ._logs import log_text
from ._version import LATEST, Version

__all__ = ["ProvisionedConcurrency"]


class ProvisionedConcurrency:
    """``put/get/delete_provisioned_concurrency_config`` for ``Invoker``."""

    def _config_target(self, target: Any) -> tuple[Version, Function]:
        """The version a configuration applies to: an alias means its primary version."""
        version, arn, fn = self.resolve(target)
        qualifier = qualifier_of(arn)
        if qualifier is not None and qualifier != LATEST and not qualifier.isdigit():
            version = fn.get_alias(qualifier).version  # not the version routing picked
        if version.version == LATEST:
            raise InvalidParameterValueError(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        return version, fn

    def put_provisioned_concurrency_config(self, target: Any, provisioned_concurrency: int) -> dict:
        """Keep ``provisioned_concurrency`` environments of a version (or alias) initialised.

        They init ahead of time with ``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``,
        serve invocations before any on-demand environment (without an Init
        Duration: their init is already paid), are never reaped for idleness,
        and are replaced when one fails.  Returns the config in Lambda's shape.
        """
        self._check_open()
        n = provisioned_concurrency
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterValueError(f"provisioned_concurrency must be an integer >= 1, got {n!r}")
        version, fn = self._config_target(target)
        if fn.reserved_concurrency is not None and n > fn.reserved_concurrency:
            raise InvalidParameterValueError(
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function"
            )
        key = self._key(version)
        if fn.reserved_concurrency is None:
            self._check_unreserved_room(key, n)
        self._provisioned_configs[key] = n
        have = len(self._pool.provisioned(key))
        for env in self._pool.take_idle_provisioned(key, max(0, have - n)):
            self._pool.discard(env, keep_tmp=False)
        failures = self._provision(key, version, fn, max(0, n - have))
        return self.get_provisioned_concurrency_config(target) | (
            {"Status": "FAILED", "StatusReason": failures[0]} if failures else {}
        )

    def _check_unreserved_room(self, key: tuple, n: int) -> None:
        """Refuse ``n`` provisioned environments for a function without a reservation if the
        account's unreserved concurrency cannot hold them with every other such config.

        Lambda also keeps a minimum unreserved (100 on a default account); that
        rule is not emulated, for reservations either.
        """
        functions = self._functions
        with self._lock:  # registrations change the functions under it
            unreserved = self._recarve()
            elsewhere = sum(
                count for other, count in self._provisioned_configs.items()
                if other != key and other[0] in functions and functions[other[0]].reserved_concurrency is None
            )  # fmt: skip
        carved = self._concurrency_limit - unreserved
        room = unreserved - elsewhere
        if n > room:
            raise InvalidParameterValueError(
                f"Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution"
                f" below zero: {n} requested, {room} left of concurrency_limit {self._concurrency_limit}"
                f" ({carved} reserved, {elsewhere} provisioned elsewhere)"
            )

    def get_provisioned_concurrency_config(self, target: Any) -> dict:
        """The provisioned-concurrency config of a version or alias, as Lambda reports it."""
        version, _fn = self._config_target(target)
        key = self._key(version)
        requested = self._provisioned_configs.get(key)
        if requested is None:
            raise ResourceNotFoundError("No Provisioned Concurrency Config found for this function")
        ready = len(self._pool.provisioned(key))
        return {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": ready,
            "AllocatedProvisionedConcurrentExecutions": ready,
            "Status": "READY" if ready >= requested else "IN_PROGRESS",
        }

    def delete_provisioned_concurrency_config(self, target: Any) -> None:
        """Remove the config; its idle environments are ended."""
        version, _fn = self._config_target(target)
        key = self._key(version)
        if self._provisioned_configs.pop(key, None) is None:
            raise ResourceNotFoundError("No Provisioned Concurrency Config found for this function")
        for env in self._pool.take_idle_provisioned(key, 10**9):
            self._pool.discard(env, keep_tmp=False)

    def _replace_if_provisioned(self, env: Environment, key: tuple, version: Version, fn: Function) -> None:
        """Lambda replaces a failed provisioned environment: start one in the background."""
        if env.provisioned and self._state == "OPEN":
            threading.Thread(target=self._provision, args=(key, version, fn, 1), daemon=True).start()

    def _provision(self, key: tuple, version: Version, fn: Function, count: int) -> list[str]:
        """Start ``count`` provisioned environments in parallel; return failure reasons."""
        if count <= 0 or self._state != "OPEN" or key not in self._provisioned_configs:
            return []
        timeout = max(130.0, float(version.config.timeout))
        failures: list[str] = []

        def start() -> None:
            env, out = self._start_env(key, version, fn, timeout, "provisioned-concurrency")
            lines = self._lines(key, version, fn)
            ok = out.kind == "ready"
            status, etype = (None, None) if ok else self._failure(out, "", timeout)[:2]
            text = (
                lines.init_start(env.stream_name, "provisioned-concurrency")
                + log_text(out.logs)
                + lines.init_report(out.duration_ms, "init", status, etype, "provisioned-concurrency")
            )
            self._recorder.platform_log(fn.name, env.stream_name, time.time(), text)
            if ok:
                self._pool.checkin(env)
            else:
                failures.append(f"{etype} during init")
                self._pool.discard(env, keep_tmp=False)

        threads = [threading.Thread(target=start) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return failures
