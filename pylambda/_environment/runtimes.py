"""Which backend serves which runtime: the Invoker's choice, made per version.

A runtime is a property of a function's version (``Function(runtime=...)``),
so two versions of one function may run on different backends.  The choice:

- a backend given to the Invoker (``Invoker(backend=...)``) serves every
  runtime it says it serves;
- the caller's own Python runtime: worker processes from a zygote
  (``ProcessBackend``), or the caller's thread with ``mode="inline"``;
- another ``python3.X``: a zygote of that interpreter when the machine has it
  (PATH, pyenv); else the caller's interpreter, with a warning once;
- ``nodejs20.x``/``nodejs22.x``: ``node`` from PATH through the Runtime API
  (``external``), with a warning once when its major version differs;
- ``provided.al2023``/``provided.al2``: the code's ``bootstrap`` through the
  Runtime API.

Backends other than the default one are made on first use and closed with
the Invoker.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings

from .._errors import InvalidParameterValueError
from .backend import Backend

__all__ = ["Backends", "interpreters", "node_executable"]

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _python_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.cache
def python_interpreter(version: str) -> str | None:
    """An interpreter of Python ``version`` ("3.12") on this machine: PATH first, then pyenv's versions."""
    if version == f"{sys.version_info[0]}.{sys.version_info[1]}":
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}"))
    candidates += sorted(
        found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.split("versions")[-1])], reverse=True
    )
    for path in candidates:
        if path and os.access(path, os.X_OK) and _python_version(path) == version:
            return path
    return None


@functools.lru_cache(maxsize=1)
def node_executable() -> tuple[str, int] | None:
    """(path, major version) of the ``node`` on PATH, or None."""
    path = shutil.which("node")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return path, int(out.strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def interpreters() -> dict[str, str]:
    """The runtimes this machine can really run, with what runs them (for error messages and docs)."""
    from .._config import PYTHON_RUNTIMES

    found = {}
    for runtime in PYTHON_RUNTIMES:
        path = python_interpreter(runtime.removeprefix("python"))
        if path:
            found[runtime] = path
    node = node_executable()
    if node is not None:
        found[f"node v{node[1]}"] = node[0]
    return found


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
        self._own = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        if mode == "inline":
            from .inline import InlineBackend

            self.default: Backend = InlineBackend()
        else:
            from .process_backend import ProcessBackend

            self.default = ProcessBackend(spin_s)

    def for_runtime(self, runtime: str) -> Backend:
        """The backend that makes environments for versions of ``runtime``."""
        custom = self._custom
        if custom is not None and custom.serves(runtime):
            return custom
        made = self._made.get(runtime)
        if made is not None:
            return made
        if runtime == self._own or (self._mode == "inline" and runtime.startswith("python")):
            return self.default
        with self._lock:
            made = self._made.get(runtime)
            if made is None:
                made = self._make(runtime)
                self._made[runtime] = made
        return made

    def _make(self, runtime: str) -> Backend:
        """A backend for a runtime other than the caller's Python (lock held)."""
        if runtime.startswith("python"):
            version = runtime.removeprefix("python")
            path = python_interpreter(version)
            if path is None:
                _warn_once(
                    runtime,
                    f"runtime {runtime} asked for, but no python{version} was found on PATH or in pyenv: "
                    f"running it on this interpreter, {self._own} ({sys.executable})",
                )
                return self.default
            from .process_backend import ProcessBackend

            return ProcessBackend(self._spin_s, executable=path, runtimes=(runtime,))
        from .external import RuntimeApiBackend

        if runtime.startswith("nodejs"):
            node = node_executable()
            if node is None:
                raise InvalidParameterValueError(f"runtime {runtime} needs node on PATH; none was found")
            wanted = int(re.sub(r"\D", "", runtime))
            if node[1] != wanted:
                _warn_once(runtime, f"runtime {runtime} asked for, running it on node v{node[1]} ({node[0]})")
            return RuntimeApiBackend(runtime, node[0])
        if runtime.startswith("provided"):
            return RuntimeApiBackend(runtime)
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
        return [self.default, *custom, *[b for b in made if b is not self.default]]

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
