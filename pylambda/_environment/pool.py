"""The environment pool: which environments exist, which are idle, which go next.

::

    Invoker.invoke ─▶ checkout(key) ──idle?──▶ LIFO pop (warmest first)
                          │ none
                          ▼
                      start(version) ──▶ its backend.start ──▶ Environment (init begun)
    … invocation …
    checkin(env)  ──▶ push on its key's idle stack (timestamped)
    discard(env)  ──▶ killed; its /tmp goes to the key's free list (reset keeps /tmp)
    reaper        ──▶ every few seconds, ends environments idle longer than idle_ttl
                      (from the cold end of each stack; one thread for every pool: reaper.py)
    close()       ──▶ every environment ended, bounded in time

A *key* is ``(function name, version, revision)``: each published version has
its own environments, as on Lambda, and every change to ``$LATEST`` makes a
new revision whose environments never mix with the old ones
(``retire_older``).  The pool holds no policy about concurrency or init
failures; the Invoker decides, the pool keeps the books.  Which backend
makes a version's environments (processes from a zygote, the caller's
thread, a Runtime API host …) is asked of ``select`` per start, from the
version's runtime: the pool itself never looks behind the environment
contract (``backend``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable

from .._cleanup import remove_later
from .._errors import InvokerClosedError, PylambdaError
from . import reaper
from .backend import Backend, Environment

__all__ = ["EnvironmentPool"]


class EnvironmentPool:
    """Idle stacks per version key, every live environment, and their /tmp dirs."""

    def __init__(
        self,
        select: Callable[[str], Backend],
        workdir: str,
        idle_ttl: float | None,
        lock: threading.Lock | None = None,
    ) -> None:
        # The backend serving a runtime (the Invoker's choice, per version).
        self._select = select
        self._workdir = workdir
        self._idle_ttl = idle_ttl
        # The Invoker shares its lock, so that its warm path counts an
        # invocation in and takes an environment in one critical section.
        self._lock = lock or threading.Lock()
        self._idle: dict[tuple, list[Environment]] = {}
        # Provisioned-concurrency environments: checked out first, never reaped.
        self._provisioned: dict[tuple, list[Environment]] = {}
        self._live: set[Environment] = set()
        self._free_tmp: dict[tuple, list[str]] = {}
        self._init_failed: set[tuple] = set()
        self._counter = 0
        self._closed = False
        self._reaped = False  # watched by the process's reaper thread (from the first check-in)

    # -- lifecycle of environments ----------------------------------------------
    def new_env_id(self) -> str:
        """A short unique id for a new environment."""
        with self._lock:
            self._counter += 1
            return f"env-{self._counter}"

    def tmpdir_for(self, key: tuple, env_id: str) -> str:
        """A private /tmp: one left by a reset environment of ``key``, or a new one."""
        with self._lock:
            if self._closed:
                raise InvokerClosedError("the Invoker was closed")
            free = self._free_tmp.get(key)
            if free:
                return free.pop()
        # In the work directory itself, beside ``code`` and ``layers``: one directory made
        # per cold start, not two (a mkdir on a disk file system is ~0.08 ms here).
        path = os.path.join(self._workdir, env_id)
        try:
            os.mkdir(path)
        except FileNotFoundError:  # close() removed the work directory meanwhile (it is removed in the background)
            if self._closed:
                raise InvokerClosedError("the Invoker was closed") from None
            raise
        if self._closed:  # closed while we made it: nobody would remove it
            remove_later(self._workdir)
            raise InvokerClosedError("the Invoker was closed")
        return path

    def start(self, key: tuple, env_id: str, name: str, init_spec: dict, memory_mb: int) -> Environment:
        """A new environment for ``key`` from the backend serving its runtime (init begun)."""
        try:
            env = self._select(init_spec["runtime"]).start(key, env_id, name, init_spec, memory_mb)
        except PylambdaError:
            if self._closed:  # close() removed what it was being set up in (its /tmp): that is the cause
                raise InvokerClosedError("the Invoker was closed") from None
            raise
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._live.add(env)
        if closed:  # close() ran while this one started: it must not outlive the pool
            env.kill()
            env.shut_down()
            raise InvokerClosedError("the Invoker was closed")
        return env

    def checkout(self, key: tuple) -> Environment | None:
        """The most recently used idle environment of ``key``, or None.

        An environment that died while idle is not detected here (that would
        cost a syscall per invocation): its first write fails with EPIPE and
        the Invoker retries on another one.
        """
        with self._lock:
            return self.checkout_locked(key)

    def checkout_locked(self, key: tuple) -> Environment | None:
        """``checkout`` for a caller that holds the pool's lock."""
        stack = self._provisioned.get(key)
        if stack:
            return stack.pop()
        stack = self._idle.get(key)
        if stack:
            return stack.pop()
        return None

    def checkin(self, env: Environment) -> None:
        """Return a healthy environment to its idle stack."""
        with self._lock:
            kept = self.checkin_locked(env)
        if not kept:
            env.shut_down()

    def checkin_locked(self, env: Environment) -> bool:
        """``checkin`` for a caller that holds the pool's lock; False: the pool is closed, shut ``env`` down."""
        env.last_used = time.monotonic()
        if self._closed:
            return False
        stacks = self._provisioned if env.provisioned else self._idle
        stack = stacks.get(env.key)
        if stack is None:
            stacks[env.key] = [env]
        else:
            stack.append(env)
        if not self._reaped and self._idle_ttl is not None:
            self._reaped = True
            reaper.watch(self, min(max(self._idle_ttl / 4, 0.05), 5.0))
        return True

    def discard(self, env: Environment, keep_tmp: bool) -> None:
        """Forget a dead or failed environment; ``keep_tmp`` as Lambda's reset does."""
        env.shut_down()
        with self._lock:
            self._live.discard(env)
            if keep_tmp and env.tmpdir and not self._closed:
                self._free_tmp.setdefault(env.key, []).append(env.tmpdir)
                return
        if env.tmpdir:
            shutil.rmtree(env.tmpdir, ignore_errors=True)

    # -- init failures (the Invoker's memory of them) ----------------------------------
    def init_failed(self, key: tuple) -> bool:
        """Whether the last init for ``key`` failed (next init runs in the invoke phase)."""
        return key in self._init_failed

    def set_init_failed(self, key: tuple, failed: bool) -> None:
        """Record the outcome of the last init for ``key``."""
        with self._lock:
            if failed:
                self._init_failed.add(key)
            else:
                self._init_failed.discard(key)

    # -- retiring ------------------------------------------------------------------
    def retire_older(self, function_name: str, version: str, revision: int) -> None:
        """End idle environments of earlier revisions of ``function_name:version``."""
        with self._lock:
            stale = [k for k in self._idle if k[0] == function_name and k[1] == version and k[2] < revision]
            envs = [e for k in stale for e in self._idle.pop(k)]
        for env in envs:
            self.discard(env, keep_tmp=False)

    def retire(self, function_name: str) -> int:
        """End every idle environment of ``function_name``; return how many."""
        with self._lock:
            keys = [k for k in self._idle if k[0] == function_name]
            envs = [e for k in keys for e in self._idle.pop(k)]
        for env in envs:
            self.discard(env, keep_tmp=False)
        return len(envs)

    @property
    def idle_ttl(self) -> float | None:
        """Seconds an idle environment is kept (None: forever)."""
        return self._idle_ttl

    def reap_idle(self, older_than: float) -> int:
        """End idle environments last used before ``older_than`` (monotonic)."""
        victims: list[Environment] = []
        with self._lock:
            for key, stack in list(self._idle.items()):
                while stack and stack[0].last_used < older_than:
                    victims.append(stack.pop(0))
                if not stack:
                    del self._idle[key]
        for env in victims:
            self.discard(env, keep_tmp=False)
        return len(victims)

    # -- reading -------------------------------------------------------------------
    def provisioned(self, key: tuple) -> list[Environment]:
        """Live provisioned environments of ``key`` (idle or busy)."""
        with self._lock:
            return [e for e in self._live if e.key == key and e.provisioned]

    def take_idle_provisioned(self, key: tuple, count: int) -> list[Environment]:
        """Remove up to ``count`` idle provisioned environments of ``key`` and return them."""
        with self._lock:
            stack = self._provisioned.get(key, [])
            taken, self._provisioned[key] = stack[:count], stack[count:]
        return taken

    def live(self) -> list[Environment]:
        """Every environment not yet discarded (idle or busy)."""
        with self._lock:
            return list(self._live)

    # -- closing -------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> None:
        """End every environment: idle ones get EOF, busy ones SIGKILL; bounded."""
        with self._lock:
            self._closed = True
            live = list(self._live)
            idle = {e for stack in (*self._idle.values(), *self._provisioned.values()) for e in stack}
            self._live.clear()
            self._idle.clear()
            self._provisioned.clear()
            free = [d for dirs in self._free_tmp.values() for d in dirs]
            self._free_tmp.clear()
        # Idle environments get EOF and exit by themselves (saving coverage
        # data when measuring), killed if they are not gone by the deadline;
        # a busy one is killed at once, and the caller thread waiting on it
        # sees EOF, reaps it and discards it.
        waiting = []
        for env in live:
            if env not in idle:
                env.kill()
            elif not env.end_now():  # a sandbox's init killed: nothing to wait for
                env.stop()
                waiting.append(env)
        deadline = time.monotonic() + timeout
        for env in waiting:
            env.reap(max(0.0, deadline - time.monotonic()))
        for path in [e.tmpdir for e in idle if e.tmpdir] + free:
            remove_later(path)
        if self._reaped:
            reaper.unwatch(self, timeout)
