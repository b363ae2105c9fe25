"""What an environment can import: the code, its layers, and (isolated) nothing else of the caller's.

Lambda's Python runtime builds ``sys.path`` as::

    /var/task                                   the function's code
    /opt/python/lib/python3.X/site-packages     the layers, merged into /opt
    /opt/python
    /var/runtime                                the runtime's boto3, botocore, ...
    /var/lang/lib/python3.X ...                 the standard library

Layers are extracted into ``/opt`` in order, a later layer overwriting an
earlier one's files.  Here each layer stays in its own directory (a .zip is
extracted once into the Invoker's code cache), so the later layer's paths go
first: the module a later layer provides wins, as its file would on Lambda.

``dependencies="caller"`` (the default) keeps the caller's ``sys.path``
after the layers, so a handler imports whatever the test process can.
``dependencies="isolated"`` replaces it with what Lambda has: a directory of
links to the runtime's own SDK (boto3, botocore and their dependencies,
``/var/runtime``'s role) and the standard library.  A ``requirements.txt`` at
the code's root is installed once (``pip install --target``) into a cache
keyed by its content and the interpreter, what ``sam build`` does, and goes
right after the code (``sam build`` puts the packages in the code directory).
A package the code needs but does not list is then missing, and init fails
with ``Runtime.ImportModuleError`` naming it, as on Lambda.

Modules the zygote has already imported (the standard library it uses,
pylambda's runtime, cloudpickle) stay importable whatever ``sys.path`` says:
they are in ``sys.modules`` before the environment is forked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import threading
import zipfile

from .._errors import InvalidParameterValueError

__all__ = ["cache_root", "environment_sys_path", "install_requirements", "layer_root"]

# Lambda's Python runtimes ship these next to the runtime interface client
# (/var/runtime): boto3 and everything it imports.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_install_lock = threading.Lock()


def cache_root() -> str:
    """Where installed requirements and the SDK links live: ``$PYLAMBDA_CACHE_DIR`` or ``~/.cache/pylambda``."""
    root = os.environ.get("PYLAMBDA_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "pylambda")
    return root


def _publish(tmp: str, target: str) -> None:
    """Move a finished ``tmp`` into place; if another process got there first, keep theirs."""
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def layer_root(layer: str, workdir: str) -> str:
    """The directory of a layer: itself, or a .zip extracted once (keyed by its content) under ``workdir``."""
    if os.path.isdir(layer):
        return layer
    with open(layer, "rb") as f:
        data = f.read()
    target = os.path.join(workdir, "layers", hashlib.sha256(data).hexdigest()[:32])
    if not os.path.isdir(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
        _publish(tmp, target)
    return target


def _layer_paths(layers: tuple[str, ...], runtime: str, workdir: str) -> list[str]:
    roots = [layer_root(layer, workdir) for layer in reversed(layers)]  # a later layer overwrites: it goes first
    site = [os.path.join(root, "python", "lib", runtime, "site-packages") for root in roots]
    return [p for p in site + [os.path.join(root, "python") for root in roots] if os.path.isdir(p)]


def _stdlib_paths() -> list[str]:
    """The caller's ``sys.path`` entries that hold the standard library (zip, lib, lib-dynload).

    They are the ones under the base interpreter's prefix that are not a
    site-packages (or Debian's dist-packages) directory; a venv's own
    directories are under its prefix, not the base one.
    """
    bases = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    out = []
    for p in sys.path:
        real = os.path.realpath(p) if p else ""
        if not real or "site-packages" in real or "dist-packages" in real:
            continue
        if any(real == b or real.startswith(b + os.sep) for b in bases):
            out.append(p)
    return out


def _sdk_path() -> str | None:
    """A directory of links to the caller's boto3/botocore and their dependencies (Lambda's /var/runtime)."""
    found = []
    for name in RUNTIME_SDK:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        if spec.submodule_search_locations:
            found.append((name, next(iter(spec.submodule_search_locations))))
        else:
            found.append((os.path.basename(spec.origin), spec.origin))
    if not found:
        return None
    digest = hashlib.sha256(repr((sys.version, found)).encode()).hexdigest()[:24]
    target = os.path.join(cache_root(), "runtime", digest)
    if not os.path.isdir(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
        os.makedirs(tmp)
        for name, source in found:
            os.symlink(source, os.path.join(tmp, name))
        _publish(tmp, target)
    return target


def install_requirements(requirements: str, function_name: str, python: str | None = None) -> str:
    """Install ``requirements`` (a requirements.txt) once into the cache; return the directory.

    The cache key is the file's content and the interpreter, so an unchanged
    file costs nothing after the first time, and an edited one installs
    afresh.  pip runs with the caller's environment, so ``PIP_INDEX_URL``,
    ``PIP_FIND_LINKS``, ``PIP_NO_INDEX`` and pip's config files apply.
    """
    with open(requirements, "rb") as f:
        content = f.read()
    python = python or sys.executable  # the interpreter the environment runs on installs for itself
    key = hashlib.sha256(content + f"\0{python}\0{sys.platform}".encode()).hexdigest()[:32]
    target = os.path.join(cache_root(), "requirements", key)
    with _install_lock:
        if os.path.isdir(target):
            return target
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"pylambda: installing {requirements} for {function_name} into {target} (pip) ...", file=sys.stderr)
        command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-warn-script-location", "--target", tmp, "-r", requirements]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=os.path.dirname(requirements))
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise InvalidParameterValueError(f"installing {requirements} for {function_name} failed:\n{tail}")
        _publish(tmp, target)
        print(f"pylambda: installed {requirements} for {function_name}", file=sys.stderr)
    return target


def environment_sys_path(cfg, task_root: str, function_name: str, workdir: str) -> tuple[list[str], list[str]]:
    """(the function's own paths, the runtime's paths) after the code root, for a function with config ``cfg``.

    The first part (installed requirements, layers, and for ``isolated`` the
    SDK) goes on ``sys.path`` whatever interpreter runs the environment; the
    second is the caller's path (``caller``) or the caller's standard library
    (``isolated``), which an environment on another Python version replaces
    with its own.
    """
    layers = _layer_paths(cfg.layers, cfg.runtime, workdir) if cfg.layers else []
    if cfg.dependencies != "isolated":
        return layers, [p for p in sys.path if p]
    python = None
    if cfg.runtime.startswith("python"):
        from .runtimes import python_interpreter

        python = python_interpreter(cfg.runtime.removeprefix("python"))
    requirements = os.path.join(task_root, "requirements.txt")
    installed = [install_requirements(requirements, function_name, python)] if os.path.isfile(requirements) else []
    sdk = _sdk_path()
    return [*installed, *layers, *([sdk] if sdk else [])], _stdlib_paths()
