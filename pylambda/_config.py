"""Version-locked function configuration, validated as Lambda validates it.

A ``FunctionConfig`` is a frozen value: ``$LATEST`` holds one, and publishing a
version copies it, so a published version's configuration can never change.
Every limit is checked here, at definition time, with an
``InvalidParameterValueError`` that names the field and the allowed range;
a bad configuration never reaches an environment.
"""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._errors import InvalidParameterValueError

__all__ = [
    "RESERVED_ENV_VARS",
    "FunctionConfig",
    "check_invoker_options",
    "default_runtime",
    "validate_endpoint_url",
    "validate_name",
]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]+")
ENV_VARS_LIMIT = 4096

# Names Lambda refuses in a function's Environment.Variables (reference §1.3),
# plus AWS_DEFAULT_REGION and TZ, which Lambda also sets itself.
RESERVED_ENV_VARS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)

# Python runtimes Lambda offers.  A Python runtime runs on that interpreter
# when the machine has it (PATH, pyenv), else on the caller's with a warning
# (``_environment/runtimes``); the name also sets AWS_EXECUTION_ENV and the
# runtime-dependent behaviour (e.g. non-ASCII JSON from python3.12 on).
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
# Node.js runtimes (pylambda's Node bootstrap on the node found on PATH) and
# the OS-only runtimes (the code's own executable ``bootstrap``), both served
# through the Runtime API.
NODE_RUNTIMES = ("nodejs20.x", "nodejs22.x")
PROVIDED_RUNTIMES = ("provided.al2023", "provided.al2")
RUNTIMES = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES
ARCHITECTURES = ("x86_64", "arm64")


def default_runtime() -> str:
    """The Lambda runtime matching the running interpreter, e.g. ``python3.11``."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def validate_name(name: object) -> str:
    """Check a function name: 1-64 characters of ``[A-Za-z0-9_-]``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameterValueError(
            f"function name must be 1-64 characters of letters, digits, '-' or '_', got {name!r}"
        )
    return name


def validate_endpoint_url(url: object, field: str = "aws_endpoint_url") -> str:
    """Check an AWS endpoint URL (``http(s)://host[:port]``), as botocore will need it in every environment.

    A mistake here would otherwise surface inside a handler, as botocore's
    ``ValueError: Invalid endpoint`` or a connection error to a wrong host.
    """
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise InvalidParameterValueError(f"{field} must be a URL string like 'http://127.0.0.1:5000', got {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as e:
        raise InvalidParameterValueError(f"{field} is not a valid URL ({e}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise InvalidParameterValueError(f"{field} must be http(s)://host[:port], got {url!r}")
    if parts.query or parts.fragment or any(c.isspace() for c in url):
        raise InvalidParameterValueError(f"{field} must not carry a query, a fragment or spaces, got {url!r}")
    return url.rstrip("/")


def _check_int(field: str, value: Any, low: int, high: int | None = None, allow_none: bool = False) -> None:
    """Refuse ``value`` unless an int (not a bool) from ``low`` to ``high`` (or None, if allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        what = f"from {low} to {high}" if high is not None else f">= {low}"
        none = "None or " if allow_none else ""
        raise InvalidParameterValueError(f"{field} must be {none}an integer {what}, got {value!r}")


def check_invoker_options(
    *,
    concurrency_limit: Any,
    idle_ttl: Any,
    spin_us: Any,
    max_invocations_per_environment: Any,
    history_size: Any,
    async_workers: Any,
    mode: Any,
) -> None:
    """Validate ``Invoker()``'s numeric options and ``mode`` (InvalidParameterValueError naming the option)."""
    _check_int("concurrency_limit", concurrency_limit, 1)
    if idle_ttl is not None and not idle_ttl > 0:
        raise InvalidParameterValueError(f"idle_ttl must be > 0 seconds or None, got {idle_ttl!r}")
    _check_int("spin_us", spin_us, 0, 10_000)
    _check_int("max_invocations_per_environment", max_invocations_per_environment, 1, allow_none=True)
    _check_int("history_size", history_size, 0)
    _check_int("async_workers", async_workers, 1)
    if mode not in ("process", "inline"):
        raise InvalidParameterValueError(f"mode must be 'process' or 'inline', got {mode!r}")


def _int_range(field: str, low: int, high: int, unit: str):
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidParameterValueError(f"{field} must be an integer from {low} to {high} {unit}, got {value!r}")

    return check


def _check_environment(_inst: Any, _attr: Any, env: dict[str, str]) -> None:
    for key, value in env.items():
        if key in RESERVED_ENV_VARS:
            raise InvalidParameterValueError(f"environment variable {key!r} is reserved by Lambda and cannot be set")
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
            raise InvalidParameterValueError(
                f"environment variable name {key!r} is invalid: it must start with a "
                "letter and have at least 2 characters of letters, digits or '_'"
            )
        if not isinstance(value, str):
            raise InvalidParameterValueError(f"environment variable {key!r} must be a str, got {type(value).__name__}")
    measured = json.dumps(env, separators=(",", ":"))
    if len(measured.encode()) > ENV_VARS_LIMIT:
        raise InvalidParameterValueError(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. "
            f"String measured: {measured}"
        )


def _check_runtime(_inst: Any, _attr: Any, runtime: str) -> None:
    if runtime not in RUNTIMES:
        from ._environment.runtimes import interpreters  # the error path only: it looks at the machine

        found = ", ".join(f"{name} ({path})" for name, path in interpreters().items()) or "none"
        raise InvalidParameterValueError(
            f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}; interpreters found here: {found}"
        )


def _check_architecture(_inst: Any, _attr: Any, value: str) -> None:
    if value not in ARCHITECTURES:
        raise InvalidParameterValueError(f"architecture must be 'x86_64' or 'arm64', got {value!r}")


def _check_description(_inst: Any, _attr: Any, value: str) -> None:
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidParameterValueError("description must be a str of at most 256 characters")


_LOG_GROUP = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
APP_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")


def _one_of(field: str, allowed: tuple[str, ...], optional: bool = False):
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if optional and value is None:
            return
        if value not in allowed:
            raise InvalidParameterValueError(f"{field} must be one of {', '.join(allowed)}, got {value!r}")

    return check


def _check_log_group(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not _LOG_GROUP.fullmatch(value)):
        raise InvalidParameterValueError(
            f"log_group must be 1-512 characters of letters, digits and . - _ / #, got {value!r}"
        )


MAX_LAYERS = 5
DEPENDENCY_MODES = ("caller", "isolated")


def _layers_converter(value: Any) -> tuple[str, ...]:
    """Layers as absolute paths (a directory or a .zip each), checked where they are given."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidParameterValueError(f"layers must be a list of directories or .zip files, got {value!r}")
    if len(value) > MAX_LAYERS:
        raise InvalidParameterValueError(f"a function can use at most {MAX_LAYERS} layers, got {len(value)}")
    out = []
    for item in value:
        path = Path(os.fspath(item)).expanduser().resolve()
        if not (path.is_dir() or (path.is_file() and zipfile.is_zipfile(path))):
            raise InvalidParameterValueError(f"layer {os.fspath(item)!r} is neither a directory nor a .zip file")
        out.append(str(path))
    return tuple(out)


# An IAM role ARN, as CreateFunction's ``Role`` pattern has it.
_ROLE_ARN = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")


def _check_role(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not _ROLE_ARN.fullmatch(value)):
        raise InvalidParameterValueError(
            f"role must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), got {value!r}"
        )


def _check_bool(field: str):
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if not isinstance(value, bool):
            raise InvalidParameterValueError(f"{field} must be True or False, got {value!r}")

    return check


# Lambda offers SnapStart for Python from python3.12; pylambda runs it on any
# Python, and says so once per runtime where Lambda would refuse.
_NO_SNAP_START = ("python3.9", "python3.10", "python3.11")
_warned_snap_start: set[str] = set()


def _warn_snap_start_once(runtime: str) -> None:
    if runtime in _warned_snap_start:
        return
    _warned_snap_start.add(runtime)
    import warnings

    warnings.warn(
        f"Lambda offers SnapStart for Python from python3.12; pylambda runs it on {runtime} anyway "
        "(Lambda would refuse this configuration)",
        UserWarning,
        stacklevel=4,
    )


def _env_converter(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterValueError(f"environment must be a dict of str to str, got {type(value).__name__}")
    return dict(value)


@attrs.frozen(kw_only=True)
class FunctionConfig:
    """The version-locked settings of a function (what ``publish_version`` freezes)."""

    memory_size: int = attrs.field(default=128, validator=_int_range("memory_size", 128, 10240, "MB"))
    """Memory in MB, 128..10240; also the limit at which the environment is killed."""
    timeout: int = attrs.field(default=3, validator=_int_range("timeout", 1, 900, "seconds"))
    """Seconds an invocation may run before the environment is killed, 1..900."""
    ephemeral_storage: int = attrs.field(default=512, validator=_int_range("ephemeral_storage", 512, 10240, "MB"))
    """MB of /tmp, 512..10240 (billed above 512)."""
    environment: dict[str, str] = attrs.field(
        factory=dict, converter=_env_converter, validator=_check_environment, hash=False
    )
    """The function's own environment variables (4 KB in all, reserved names refused)."""
    architecture: str = attrs.field(default="x86_64", validator=_check_architecture)
    """``x86_64`` or ``arm64``; decides the price per GB-second."""
    runtime: str = attrs.field(factory=default_runtime, validator=_check_runtime)
    """Lambda runtime identifier, e.g. ``python3.11``."""
    description: str = attrs.field(default="", validator=_check_description)
    """Free text, at most 256 characters."""
    log_format: str = attrs.field(default="Text", validator=_one_of("log_format", ("Text", "JSON")))
    """``Text`` (default) or ``JSON``: the shape of application and platform log lines."""
    application_log_level: str | None = attrs.field(
        default=None, validator=_one_of("application_log_level", APP_LOG_LEVELS, optional=True)
    )
    """Lowest ``logging`` level kept (JSON format only; default INFO there)."""
    system_log_level: str | None = attrs.field(
        default=None, validator=_one_of("system_log_level", SYSTEM_LOG_LEVELS, optional=True)
    )
    """Lowest platform-record level kept (JSON format only; default INFO)."""
    log_group: str | None = attrs.field(default=None, validator=_check_log_group)
    """A custom log group (default ``/aws/lambda/<name>``)."""
    tracing: str = attrs.field(default="PassThrough", validator=_one_of("tracing", ("Active", "PassThrough")))
    """``Active`` samples every invocation and writes the XRAY line after REPORT."""
    snap_start: bool = attrs.field(default=False, validator=_check_bool("snap_start"))
    """SnapStart (``ApplyOn: PublishedVersions``): published versions' environments are restored from a snapshot."""
    layers: tuple[str, ...] = attrs.field(default=(), converter=_layers_converter)
    """Up to 5 layers (directories or .zip files), in order; on ``sys.path`` after the code, as ``/opt``."""
    dependencies: str = attrs.field(default="caller", validator=_one_of("dependencies", DEPENDENCY_MODES))
    """``caller`` (the caller's ``sys.path``) or ``isolated`` (code, layers, requirements.txt, boto3, stdlib)."""
    network: str | None = attrs.field(default=None, validator=_one_of("network", ("none",), optional=True))
    """None (the host's network) or ``"none"``: loopback only, as a VPC function without a NAT gateway."""

    role: str | None = attrs.field(default=None, validator=_check_role)
    """The execution role's ARN: with a services endpoint, environments get its credentials (STS AssumeRole)."""

    def __attrs_post_init__(self) -> None:
        if self.snap_start and self.runtime in _NO_SNAP_START:
            _warn_snap_start_once(self.runtime)
        if self.log_format == "Text" and (self.application_log_level or self.system_log_level):
            raise InvalidParameterValueError(
                "application_log_level and system_log_level need log_format='JSON' (as on Lambda, "
                "level filtering works only with JSON logs)"
            )

    def evolve(self, **changes: Any) -> FunctionConfig:
        """A copy with ``changes`` applied and validated."""
        unknown = set(changes) - {a.name for a in attrs.fields(FunctionConfig)}
        if unknown:
            raise InvalidParameterValueError(f"unknown configuration field(s): {', '.join(sorted(unknown))}")
        return attrs.evolve(self, **changes)
