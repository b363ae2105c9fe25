"""Which backend serves which runtime: the Invoker's choice, made per version.

A runtime is a property of a function's version (``Function(runtime=...)``),
so two versions of one function may run on different backends.  The choice:

- a backend given to the Invoker (``Invoker(backend=...)``) serves every
  runtime it says it serves;
- Python runtimes: worker processes from a zygote (``ProcessBackend``), or the
  caller's thread with ``mode="inline"``;

Backends other than the default one are made on first use and closed with
the Invoker.
"""

from __future__ import annotations

import threading

from .._errors import InvalidParameterValueError
from .backend import Backend

__all__ = ["Backends"]


class Backends:
    """The backends of one Invoker, by runtime; thread-safe."""

    def __init__(self, mode: str, spin_s: float, backend: Backend | None = None) -> None:
        if backend is not None and not isinstance(backend, Backend):
            raise InvalidParameterValueError(f"backend must be a pylambda backend or None, got {backend!r}")
        self._custom = backend
        self._mode = mode
        self._spin_s = spin_s
        self._lock = threading.Lock()
        self._made: dict[str, Backend] = {}
        if mode == "inline":
            from .inline import InlineBackend

            self.default: Backend = InlineBackend()
        else:
            from .process import ProcessBackend

            self.default = ProcessBackend(spin_s)

    def for_runtime(self, runtime: str) -> Backend:
        """The backend that makes environments for versions of ``runtime``."""
        custom = self._custom
        if custom is not None and custom.serves(runtime):
            return custom
        if runtime.startswith("python"):
            return self.default
        raise InvalidParameterValueError(f"no backend serves the runtime {runtime!r}")

    def prepare(self, runtime: str) -> None:
        """Let the backend of ``runtime`` get ready (start a zygote early); never raises for a bad runtime."""
        try:
            backend = self.for_runtime(runtime)
        except InvalidParameterValueError:
            return
        backend.prepare()

    def all(self) -> list[Backend]:
        """Every backend in use (the default first)."""
        with self._lock:
            made = list(self._made.values())
        custom = [self._custom] if self._custom is not None else []
        return [self.default, *custom, *made]

    def pids(self) -> list[int]:
        """Helper processes of every backend (zygotes, hosts)."""
        return [pid for backend in self.all() for pid in backend.pids()]

    def close(self, timeout: float = 1.0) -> None:
        """Close every backend (after the pool has ended their environments)."""
        for backend in self.all():
            try:
                backend.close(timeout)
            except Exception:  # one failing backend must not keep the others open
                pass
