"""Deployment packages: where a handler's code comes from and how it is frozen.

Three shapes, like Lambda's package plus one for notebooks and tests:

* a directory (``code="src/"``): ``$LATEST`` runs it in place; publishing a
  version snapshots it into zip bytes in memory, so later edits never reach
  the published version;
* a ``.zip`` file: read once; extracted into the Invoker's code cache;
* a Python callable: pickled once, by value, with cloudpickle; the
  environment unpickles it as its init phase.

``code_sha256`` is Lambda's ``CodeSha256``: base64 of the SHA-256 of the
package bytes.  A directory's package is a deterministic zip (sorted names,
fixed timestamps, ``__pycache__`` left out), so the same tree gives the same
hash on every machine.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._errors import InvalidParameterValueError

__all__ = ["CodeBundle", "bundle_for", "pickle_callable"]

ZIPPED_LIMIT = 52_428_800
UNZIPPED_LIMIT = 262_144_000
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_pickle_lock = threading.Lock()


@attrs.frozen(kw_only=True)
class CodeBundle:
    """One deployment package (a value: two equal bundles run the same code)."""

    kind: str
    """``"directory"`` (live), ``"zip"`` (bytes), ``"callable"`` or ``"path"``."""
    path: str | None = None
    """The live directory (``"directory"``), or a callable's source file (``"callable"``)."""
    data: bytes | None = attrs.field(default=None, repr=False)
    """Zip bytes for ``"zip"``, the cloudpickle for ``"callable"``."""

    @property
    def sha256(self) -> str:
        """Lambda's ``CodeSha256`` (base64, not hex) of this package."""
        return base64.b64encode(hashlib.sha256(self.package_bytes()).digest()).decode()

    def package_bytes(self) -> bytes:
        """The bytes Lambda would hash: zip bytes, pickle bytes, or a zip of the tree."""
        if self.kind == "directory":
            return _zip_directory(Path(self.path))
        return self.data or b""

    def snapshot(self) -> CodeBundle:
        """An immutable copy: a live directory becomes zip bytes."""
        if self.kind == "directory":
            return CodeBundle(kind="zip", data=_zip_directory(Path(self.path)))
        return self

    def materialize(self, cache_dir: str) -> str | None:
        """Where the environment should run: a directory (or None for the caller's cwd)."""
        if self.kind == "directory":
            return self.path
        if self.kind == "zip":
            digest = hashlib.sha256(self.data).hexdigest()
            target = os.path.join(cache_dir, digest[:32])
            if not os.path.isdir(target):
                tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
                with zipfile.ZipFile(io.BytesIO(self.data)) as zf:
                    zf.extractall(tmp)
                    for info in zf.infolist():  # extractall drops modes: a provided runtime's bootstrap is executable
                        mode = (info.external_attr >> 16) & 0o777
                        if mode and not info.is_dir():
                            os.chmod(os.path.join(tmp, info.filename), mode)
                try:
                    os.rename(tmp, target)
                except OSError:  # another thread got there first
                    pass
            return target
        return None


def _zip_directory(root: Path) -> bytes:
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                full = Path(dirpath, name)
                rel = full.relative_to(root).as_posix()
                info = zipfile.ZipInfo(rel, _FIXED_DATE)
                info.external_attr = (0o755 if os.access(full, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                data = full.read_bytes()
                total += len(data)
                if total > UNZIPPED_LIMIT:
                    raise InvalidParameterValueError(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
                zf.writestr(info, data)
    return buf.getvalue()


def _check_zip(data: bytes, where: str) -> None:
    if len(data) > ZIPPED_LIMIT:
        raise InvalidParameterValueError(f"Zipped size must be smaller than {ZIPPED_LIMIT} bytes ({where})")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile as e:
        raise InvalidParameterValueError(f"code {where} is not a valid zip file: {e}") from e
    if unzipped > UNZIPPED_LIMIT:
        raise InvalidParameterValueError(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes ({where})")


def pickle_callable(func: Callable[..., Any]) -> bytes:
    """Pickle a handler by value, so it runs where its module cannot be imported.

    A function from a test file (imported by pytest under a name no other
    process can import) or from a notebook cell must travel with its code, not
    as a reference.  cloudpickle's by-value registration is global, hence the
    lock.  If by-value pickling fails (a module global that cannot be pickled),
    pickling by reference is tried before giving up.
    """
    import cloudpickle

    module_name = getattr(func, "__module__", None)
    import sys

    module = sys.modules.get(module_name) if module_name else None
    by_value = module is not None and module_name not in ("__main__", "builtins")
    first_error: Exception | None = None
    with _pickle_lock:
        if by_value:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                by_value = False
        try:
            return cloudpickle.dumps(func, protocol=5)
        except Exception as e:
            first_error = e
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)
        try:
            return cloudpickle.dumps(func, protocol=5)
        except Exception as e:
            raise InvalidParameterValueError(
                f"handler {func!r} cannot be shipped to an environment: {first_error or e}"
            ) from e


def bundle_for(handler: object, code: object) -> tuple[str, CodeBundle]:
    """Validate ``handler``/``code`` and return (handler string, live bundle)."""
    if callable(handler):
        name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', 'handler')}"
        if code is not None:
            raise InvalidParameterValueError(
                "code= cannot be combined with a callable handler; put data files next to a module handler instead"
            )
        code_obj = getattr(handler, "__code__", None)
        source = code_obj.co_filename if code_obj is not None else None
        return name, CodeBundle(kind="callable", path=source, data=pickle_callable(handler))
    if not isinstance(handler, str) or not handler or len(handler) > 128 or any(c.isspace() for c in handler):
        raise InvalidParameterValueError(
            f"handler must be 'module.function' (at most 128 characters, no spaces) or a callable, got {handler!r}"
        )
    if code is None:
        return handler, CodeBundle(kind="path")
    if isinstance(code, (bytes, bytearray, memoryview)):  # a package in memory (the API's ZipFile)
        data = bytes(code)
        _check_zip(data, "ZipFile")
        return handler, CodeBundle(kind="zip", data=data)
    path = Path(os.fspath(code)).expanduser().resolve()  # type: ignore[arg-type]
    if path.is_dir():
        return handler, CodeBundle(kind="directory", path=str(path))
    if path.is_file():
        data = path.read_bytes()
        _check_zip(data, str(path))
        return handler, CodeBundle(kind="zip", data=data)
    raise InvalidParameterValueError(f"code must be a directory or a .zip file (or zip bytes), got {code!r}")
