"""Admission: counting invocations in and out against reserved and account concurrency.

``Admission`` is a mixin of ``Invoker``; its state (the in-flight counts,
the carved-out account limit) is the Invoker's, guarded by its lock.
"""

from __future__ import annotations

import time

from ._errors import TooManyRequestsError
from ._function import Function

__all__ = ["SPIN_QUIET_S", "Admission"]

# After two invocations overlapped, requests say ``concurrent`` for this long
# (a process environment's caller then does not spin).  Longer keeps a bursty
# concurrent workload from spinning; shorter returns to low latency sooner
# when a caller goes back to sequential calls.
SPIN_QUIET_S = 0.05


class Admission:
    """Concurrency accounting and the spin policy of ``Invoker``."""

    def _acquire(self, fn: Function) -> int:
        """Count the invocation in, or raise TooManyRequestsError; return how many of ``fn``'s are in flight."""
        with self._lock:
            return self._count_in(fn)

    def _count_in(self, fn: Function) -> int:
        """``_acquire`` for a caller that holds the lock.

        Returns the function's own in-flight count, this invocation included:
        its ``ConcurrentExecutions`` metric (the account-wide count decides
        only how environments wait, through ``Request.concurrency``).
        """
        name = fn._name  # the attributes behind the properties: two calls fewer per invocation
        reserved = fn._reserved
        inflight = self._inflight.get(name, 0)
        if reserved is not None:
            if inflight >= reserved:
                raise TooManyRequestsError("ReservedFunctionConcurrentInvocationLimitExceeded")
        else:
            if self._carved_epoch != Function.reserved_epoch:  # some reservation changed
                self._recarve()
            if self._unreserved_inflight >= self._unreserved_limit:
                raise TooManyRequestsError("ConcurrentInvocationLimitExceeded")
            self._unreserved_inflight += 1
        inflight += 1
        self._inflight[name] = inflight
        total = self._total_inflight = self._total_inflight + 1
        if total > 1:
            self._concurrent_until = time.time() + SPIN_QUIET_S
        return inflight

    def _recarve(self) -> int:
        """The account limit less every reservation, recomputed now (lock held); cached for ``_count_in``."""
        self._carved_epoch = Function.reserved_epoch
        carved = sum(f.reserved_concurrency or 0 for f in self._functions.values())
        self._unreserved_limit = self._concurrency_limit - carved
        return self._unreserved_limit

    def _release(self, fn: Function) -> None:
        with self._lock:
            self._count_out(fn)

    def _count_out(self, fn: Function) -> None:
        """``_release`` for a caller that holds the lock."""
        self._inflight[fn._name] -= 1
        self._total_inflight -= 1
        if fn._reserved is None:
            self._unreserved_inflight -= 1
