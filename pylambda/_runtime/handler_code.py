"""The handler's module compiled once by the caller, not at every cold start (both sides).

Why: in the sandbox the code directory is read-only, so an environment
cannot write the ``__pycache__`` entry of the handler's module and, unless
one was already there (``PYTHONDONTWRITEBYTECODE`` is common in
containers), compiles the module again at every cold start: on a 2-vCPU
VM, 28 of the 30 ms INIT of a 1,200-line module (1.9 ms with the caller's
code), a small part of a trivial one's.  The caller compiles it once per
source (``compiled_for``: the same ``compile`` call the import system
makes, cached by the file's bytes) and sends the code with the INIT
message; the environment's import uses it (``precompiled``) only when the
file it finds is that module's and still holds those exact bytes, and
imports normally otherwise.  The module object is what the import system
makes (its spec, ``__file__``, ``__cached__``); only its loader is a
``SourceFileLoader`` that does not compile.  Lambda compiles at every cold
start unless the package ships bytecode: only INIT's duration differs, not
what runs.

Only the standard library: this runs in the zygote's children.
"""

from __future__ import annotations

import marshal
import os
import sys
from importlib.machinery import PathFinder, SourceFileLoader
from importlib.util import MAGIC_NUMBER

__all__ = ["compiled_for", "precompiled"]

# A larger module is left to the import system: the INIT message carries
# the source (to compare) and the code, copied at every cold start.
# Compiling costs ~25 ms per 1,000 lines in a fresh fork on a 2-vCPU VM.
MAX_SOURCE = 256 * 1024

# The compiled modules kept (by file and bytes), bounded in number and size.
_CACHE_ENTRIES = 64
_CACHE_BYTES = 16 * 1024 * 1024
_cache: dict[tuple[str, bytes], bytes] = {}
_cached_bytes = 0


def compiled_for(task_root: str, handler: str) -> tuple[str, str, bytes, bytes, bytes] | None:
    """(module name, file, source bytes, marshalled code, bytecode magic) of ``handler``'s module, or None.

    None when the module is not a file of the code root (a package, a
    layer's, a built-in), is larger than ``MAX_SOURCE``, does not compile
    (the environment reports the error as Lambda does), or cannot be read.
    """
    module, _, _function = handler.rpartition(".")
    if not module:
        return None
    name = module.replace("/", ".")
    path = os.path.join(task_root, *name.split(".")) + ".py"
    try:
        if os.path.getsize(path) > MAX_SOURCE:
            return None
        with open(path, "rb") as f:
            source = f.read()
    except OSError:
        return None
    global _cached_bytes
    code = _cache.get((path, source))
    if code is None:
        try:
            code = marshal.dumps(compile(source, path, "exec", dont_inherit=True, optimize=0))
        except (SyntaxError, ValueError):
            return None
        if len(_cache) >= _CACHE_ENTRIES or _cached_bytes + len(source) + len(code) > _CACHE_BYTES:
            _cache.clear()
            _cached_bytes = 0
        _cache[(path, source)] = code
        _cached_bytes += len(source) + len(code)
    return name, path, source, code, MAGIC_NUMBER


class _Loader(SourceFileLoader):
    """A ``SourceFileLoader`` whose code for the module is given."""

    def __init__(self, fullname: str, path: str, code) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str):
        code, self._code = self._code, None
        return code if code is not None and fullname == self.name else super().get_code(fullname)


class _Finder:
    """Finds the handler's module as the path finder does, with the given code when the file is unchanged."""

    def __init__(self, name: str, path: str, source: bytes, code: bytes, magic: bytes) -> None:
        self._name, self._path, self._source, self._code = name, path, source, code
        self._usable = magic == MAGIC_NUMBER and sys.flags.optimize == 0  # this interpreter's bytecode

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != self._name:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if not self._usable or spec is None or spec.origin != self._path or type(spec.loader) is not SourceFileLoader:
            return spec
        try:
            with open(self._path, "rb") as f:
                unchanged = f.read() == self._source
        except OSError:
            return spec
        if unchanged:
            spec.loader = _Loader(fullname, self._path, marshal.loads(self._code))
        return spec


class precompiled:
    """While active, the handler's module (``compiled_for``'s tuple, or None) imports with its given code."""

    def __init__(self, compiled: tuple[str, str, bytes, bytes, bytes] | None) -> None:
        self._finder = _Finder(*compiled) if compiled else None

    def __enter__(self) -> None:
        if self._finder is not None:
            sys.meta_path.insert(0, self._finder)

    def __exit__(self, *exc: object) -> None:
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
