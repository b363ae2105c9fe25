"""The process backend: Python environments forked by the process's shared zygote (``process.py``).

``ProcessBackend`` is what the Invoker's ``Backends`` pick for a Python
runtime: it holds the shared zygote of its interpreter, starts each
environment (``ProcessEnvironment``: the pipes, the wire and the waits),
initialises a published version's SnapStart template on first use and
forks restored environments from it, and gives another interpreter's
environments that interpreter's own ``sys.path``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from .._errors import InvalidParameterValueError
from .backend import Backend
from .process import ProcessEnvironment
from .shared import shared_zygote

__all__ = ["ProcessBackend"]


class ProcessBackend(Backend):
    """Environments forked from a zygote of ``executable`` (default: the caller's interpreter).

    The zygote is the process's, shared by every backend of the same
    interpreter (``shared.py``): started on ``prepare`` (when a function is
    registered) or on the first start, replaced transparently if it dies, and
    kept when an Invoker closes.
    """

    name = "process"
    # Its environments take a cold start's INVOKE with the INIT (``ProcessEnvironment.send_ahead``).
    sends_ahead = True

    def __init__(self, spin_s: float = 0.0, executable: str | None = None, runtimes: tuple[str, ...] | None = None):
        self.zygote = shared_zygote(executable=executable or sys.executable)
        self._spin_s = spin_s
        self._runtimes = runtimes
        self._started = 0
        self._sys_path: list[str] | None = None  # another interpreter's own
        self._templates: dict = {}  # version key -> SnapshotTemplate (SnapStart)
        self._templates_lock = threading.Lock()

    def serves(self, runtime: str) -> bool:
        """Python runtimes (or the ones named at construction)."""
        return runtime in self._runtimes if self._runtimes is not None else runtime.startswith("python")

    def prepare(self) -> None:
        """Start the zygote now, without waiting: its imports overlap the caller's work."""
        self.zygote.start()

    def start(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int) -> ProcessEnvironment:
        """Fork an environment and send it the INIT message (SnapStart: restore it from the version's template)."""
        if self.zygote.executable != sys.executable:
            init_spec = self._foreign(init_spec)
        self._started += 1
        if init_spec["environ"].get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            template = self._template(key, env_id, name, init_spec, memory_mb)
            if template.init_outcome.kind != "ready":
                return template  # its init failed: that is this environment's init error
            return ProcessEnvironment(template, key, env_id, name, init_spec, memory_mb, self._spin_s)
        return ProcessEnvironment(self.zygote, key, env_id, name, init_spec, memory_mb, self._spin_s)

    def _foreign(self, init_spec: dict) -> dict:
        """The INIT message for another interpreter: its own ``sys.path``, and no pickled code.

        The caller's path would put the caller's standard library and
        site-packages under another version's interpreter; pickled callables
        (cloudpickle by value) do not cross Python versions.
        """
        if init_spec.get("handler_pickle") is not None or init_spec.get("setup") is not None:
            raise InvalidParameterValueError(
                f"runtime {init_spec['runtime']} runs on {self.zygote.executable}: give it a handler in a code "
                "directory or .zip (a Python callable, or a setup hook, cannot cross interpreter versions)"
            )
        if self._sys_path is None:
            out = subprocess.run(
                [self.zygote.executable, "-I", "-S", "-c", "import sys, json; print(json.dumps(sys.path))"],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            self._sys_path = [p for p in json.loads(out.stdout) if p]
        # the function's layers and installed requirements stay; the caller's path gives way to this one's
        return dict(init_spec, sys_path=[*init_spec.get("own_paths", ()), *self._sys_path], coverage=None,
                    handler_code=None)  # fmt: skip

    def _template(self, key, env_id: str, name: str, init_spec: dict, memory_mb: int):
        """The version's SnapStart template, initialised on first use (Lambda does it at publish)."""
        from .snapshot import SnapshotTemplate

        with self._templates_lock:
            template = self._templates.get(key)
            if template is not None and template.alive():
                return template
            sandbox = init_spec.get("sandbox")
            if sandbox is not None:  # the template's /tmp: its own mount namespace's, gone with it
                init_spec = dict(init_spec, sandbox=dict(sandbox, tmp=None, fresh_tmp=True, template=True))
            template = SnapshotTemplate(self.zygote, key, f"{env_id}-snapshot", name, init_spec, memory_mb)
            if template.start_template().kind == "ready":
                self._templates[key] = template
            return template

    def template_of(self, key):
        """The version's SnapStart template, if one is running."""
        with self._templates_lock:
            return self._templates.get(key)

    def snapshots(self) -> list:
        """The SnapStart templates alive now (for the bill's cache charge)."""
        with self._templates_lock:
            return [t for t in self._templates.values() if t.alive()]

    def close(self, timeout: float = 1.0) -> None:
        """After the pool ended our environments: end SnapStart templates and what handlers left (not the zygote)."""
        with self._templates_lock:
            templates = list(self._templates.values())
            self._templates.clear()
        for template in templates:
            template.end(timeout)
        self.zygote.sweep_adopted()

    def stats(self) -> dict:
        """Name, environments started, the zygote's pid."""
        return {"name": self.name, "started": self._started, "zygote_pid": self.zygote.pid}

    def sandbox_report(self) -> dict | None:
        """What the zygote found this kernel lets environments have (starts it if needed)."""
        return self.zygote.sandbox_report()

    def pids(self) -> list[int]:
        """None of its own: the zygote is the process's (``shared_zygote_pids``), not an Invoker's."""
        return []
