"""What an environment is told at init: its Lambda environment, code and handler.

The environment variables are Lambda's (reference §1.3): the reserved ones,
the function's own, and nothing from the caller unless ``inherit_env`` says
so.  The spec is built once per version (revision) and reused for every
environment of it; the stream name and ``TMPDIR`` are added per environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from .._config import RESERVED_ENV_VARS
from .._function import Function
from .._runtime.handler_code import compiled_for
from .._version import Version
from .deps import environment_sys_path

__all__ = ["build_init_spec"]

# Credentials an environment sees: Lambda always provides execution-role
# credentials, so SDK clients built at init succeed.  These are fake: nothing
# reaches AWS from here (there is no network in the sandbox's spirit).
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAPYLAMBDAFAKEKEY0",
    "AWS_SECRET_ACCESS_KEY": "pylambda/fake/secret/access/key/000000000",
    "AWS_SESSION_TOKEN": "pylambda-fake-session-token",
}
_RUNTIME_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_runtime")


def _coverage_settings() -> dict | None:
    """The caller's coverage settings when it is being measured (coverage/pytest-cov), else None."""
    module = sys.modules.get("coverage")
    current = getattr(getattr(module, "Coverage", None), "current", None)
    cov = current() if current is not None else None
    if cov is None:
        return None
    config = cov.config
    return {
        "data_file": os.path.abspath(config.data_file),
        "config_file": config.config_file,
        "source": config.source,
        "include": config.run_include,
        "omit": config.run_omit,
        "branch": config.branch,
    }


def build_init_spec(
    version: Version, fn: Function, workdir: str, inherit: bool | Iterable[str], endpoints: Mapping[str, str] = {}
) -> dict:
    """The INIT message for environments of ``version`` (without per-environment fields).

    ``endpoints`` are the Invoker's own variables (``AWS_ENDPOINT_URL``):
    under the function's ``environment``, so a function can still point its
    SDK clients elsewhere.
    """
    cfg = version.config
    code = version.code
    task_root = code.materialize(os.path.join(workdir, "code")) or os.getcwd()
    environ: dict[str, str] = {}
    if inherit is True:
        environ.update(os.environ)
    elif inherit:
        environ.update({k: os.environ[k] for k in inherit if k in os.environ})
    for k in RESERVED_ENV_VARS:
        if k not in _FAKE_CREDENTIALS or k not in environ:
            environ.pop(k, None)
    environ.update(
        {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LANG": "en_US.UTF-8",
            "LC_CTYPE": "C.UTF-8",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }
        if inherit is False
        else {}
    )
    for k, v in _FAKE_CREDENTIALS.items():
        environ.setdefault(k, v)
    environ.update(endpoints)
    environ.update(cfg.environment)
    environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": version.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": version.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": cfg.log_group or f"/aws/lambda/{version.function_name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{cfg.runtime}",
            "AWS_REGION": version.region,
            "AWS_DEFAULT_REGION": version.region,
            "_HANDLER": version.handler,
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": _RUNTIME_DIR,
            "TZ": ":UTC",
            "PWD": task_root,
            "SHLVL": "0",
            "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
            "_AWS_XRAY_DAEMON_PORT": "2000",
        }
    )
    if cfg.log_format == "JSON":
        environ["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        environ["AWS_LAMBDA_LOG_LEVEL"] = cfg.application_log_level or "INFO"
    own_paths, runtime_paths = environment_sys_path(cfg, task_root, version.function_name, workdir)
    spec = {
        "environ": environ,
        "task_root": task_root,
        "sys_path": [*own_paths, *runtime_paths],
        "own_paths": own_paths,  # kept by an environment on another interpreter (process.py)
        "runtime": cfg.runtime,
        "handler": version.handler,
        "handler_pickle": code.data if code.kind == "callable" else None,
        "handler_file": code.path if code.kind == "callable" else None,
        "handler_code": compiled_for(task_root, version.handler) if code.kind != "callable" else None,
        "live_code": code.kind == "directory",
        "coverage": _coverage_settings(),
        "setup": fn.setup_pickle,
    }
    return spec
