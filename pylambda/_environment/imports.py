"""Inline mode: a function's code importable in the caller, imported as its environment would.

Why: a test that patches ``app.send`` before the first invocation
(``mock.patch("app.send")``) imports ``app`` itself, in the caller.  Without
help that fails (the code directory is on ``sys.path`` only while the
handler runs), and when it succeeds, the module-level code runs with the
caller's ``os.environ`` instead of the function's (``TABLE =
os.environ["TABLE"]`` raises ``KeyError``).

``CallerImports`` is a ``sys.meta_path`` finder, installed while an inline
Invoker has functions whose code is a directory.  It finds top-level
modules under those directories and executes them the way the inline
environment's init would: with the function's Lambda environment in
``os.environ`` and its code root as the working directory, restored
afterwards.  The inline environment then reuses that module (it is the
same file), so the test's patches reach the handler.  The import is the
caller's, not an init: what the module prints goes to the caller's output,
and the first invocation's init finds the module already loaded.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
import time
from collections.abc import Callable

from .inline import switch_lock

__all__ = ["CallerImports"]


class _EnvironmentLoader(importlib.abc.Loader):
    """Executes a module with a function's environment worn, delegating the rest to the real loader."""

    def __init__(self, loader, root: str, environ: Callable[[], dict[str, str]]) -> None:
        self._loader, self._root, self._environ = loader, root, environ

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        environ = self._environ()
        with switch_lock:
            saved_environ, saved_cwd = dict(os.environ), os.getcwd()
            try:
                os.environ.clear()
                os.environ.update(environ)
                time.tzset()
                os.chdir(self._root)
                self._loader.exec_module(module)
            finally:
                os.environ.clear()
                os.environ.update(saved_environ)
                time.tzset()
                os.chdir(saved_cwd)

    def __getattr__(self, name: str):  # get_source, get_code, is_package ...: the real loader's
        return getattr(self._loader, name)


class CallerImports(importlib.abc.MetaPathFinder):
    """The code directories of an inline Invoker's functions, importable in the caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roots: dict[str, Callable[[], dict[str, str]]] = {}  # root -> its function's environ

    def add(self, root: str, environ: Callable[[], dict[str, str]], module: str) -> None:
        """Make top-level modules under ``root`` importable, executed with ``environ()`` worn.

        ``module``, the handler's, is dropped from ``sys.modules`` if the
        caller holds a module of that name from elsewhere (an earlier test's
        ``app``): a ``mock.patch("app.x")`` must reach this function's.
        """
        with self._lock:
            self._roots.setdefault(os.path.realpath(root), environ)
            existing = getattr(sys.modules.get(module), "__file__", None)
            if existing and not any(os.path.realpath(existing).startswith(r + os.sep) for r in self._roots):
                del sys.modules[module]
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def close(self) -> None:
        """Stop finding (modules already imported stay imported, as any import does)."""
        with self._lock:
            self._roots.clear()
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass

    def find_spec(self, fullname: str, path=None, target=None):
        if path is not None:  # a submodule: its package's own __path__ finds it
            return None
        with self._lock:
            roots = list(self._roots.items())
        if len(roots) > 1:  # an inline environment being worn puts its own root first on sys.path
            order = {os.path.realpath(p): i for i, p in reversed(list(enumerate(sys.path))) if p}
            roots.sort(key=lambda item: order.get(item[0], len(order)))
        for root, environ in roots:
            spec = importlib.machinery.PathFinder.find_spec(fullname, [root])
            if spec is not None and spec.loader is not None:
                spec.loader = _EnvironmentLoader(spec.loader, root, environ)
                return spec
        return None
