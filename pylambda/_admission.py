"""Admission: counting invocations in and out against reserved and account concurrency.

``Admission`` is a collaborator of ``Invoker``.  It keeps the in-flight
counts (per function, unreserved, account-wide) and the account limit less
every reservation; it shares the Invoker's lock, so that the warm path
counts an invocation in and takes an environment from the pool in one
critical section (``count_in`` and ``count_out`` are for a caller holding
it; ``acquire`` and ``release`` take it).  The account-wide count and
``concurrent_until`` also tell environments how to wait for their next
request (``Request.concurrency``, ``Request.concurrent``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ._errors import TooManyRequestsError
from ._function import Function
from ._lock import Lock

__all__ = ["SPIN_QUIET_S", "Admission"]

# After two invocations overlapped, requests say ``concurrent`` for this long
# (a process environment's caller then does not spin).  Longer keeps a bursty
# concurrent workload from spinning; shorter returns to low latency sooner
# when a caller goes back to sequential calls.
SPIN_QUIET_S = 0.05


class Admission:
    """Concurrency accounting and the spin policy of one Invoker.

    Args:
        lock: the Invoker's lock (guards every count).
        functions: the registered functions by name (read, to carve every
            reservation out of the account limit).
        limit: the account's concurrent executions limit.
    """

    __slots__ = ("_carved_epoch", "_functions", "_inflight", "_lock", "_unreserved_inflight", "_unreserved_limit",
                 "concurrent_until", "limit", "total")  # fmt: skip

    def __init__(self, lock: Lock, functions: Mapping[str, Function], limit: int) -> None:
        self._lock = lock
        self._functions = functions
        self.limit = limit
        self._inflight: dict[str, int] = {}
        self._unreserved_inflight = 0
        self.total = 0  # account-wide in flight: how environments wait
        self.concurrent_until = 0.0  # no spinning before this (epoch s): concurrency was seen
        # The account limit less every reservation, as of Function.reserved_epoch.
        self._carved_epoch = -1
        self._unreserved_limit = limit

    def acquire(self, fn: Function) -> int:
        """Count the invocation in, or raise TooManyRequestsError; return how many of ``fn``'s are in flight."""
        with self._lock:
            return self.count_in(fn)

    def count_in(self, fn: Function) -> int:
        """``acquire`` for a caller that holds the lock.

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
                self.unreserved_limit()
            if self._unreserved_inflight >= self._unreserved_limit:
                raise TooManyRequestsError("ConcurrentInvocationLimitExceeded")
            self._unreserved_inflight += 1
        inflight += 1
        self._inflight[name] = inflight
        total = self.total = self.total + 1
        if total > 1:
            self.concurrent_until = time.time() + SPIN_QUIET_S
        return inflight

    def unreserved_limit(self) -> int:
        """The account limit less every reservation, recomputed now (lock held); cached for ``count_in``."""
        self._carved_epoch = Function.reserved_epoch
        carved = sum(f.reserved_concurrency or 0 for f in self._functions.values())
        self._unreserved_limit = self.limit - carved
        return self._unreserved_limit

    def release(self, fn: Function) -> None:
        """Count the invocation out."""
        with self._lock:
            self.count_out(fn)

    def count_out(self, fn: Function) -> None:
        """``release`` for a caller that holds the lock."""
        self._inflight[fn._name] -= 1
        self.total -= 1
        if fn._reserved is None:
            self._unreserved_inflight -= 1
