"""A version of a function: an immutable snapshot of its code and configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._code import CodeBundle
from ._config import FunctionConfig

if TYPE_CHECKING:
    from ._function import Function

__all__ = ["LATEST", "Version", "function_arn"]

LATEST = "$LATEST"


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    """Lambda's function ARN, unqualified or with a version/alias qualifier."""
    base = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


@attrs.frozen(kw_only=True)
class Version:
    """One version of a function: ``"$LATEST"`` or a published ``"1"``, ``"2"``, ...

    Published versions never change.  ``$LATEST`` is also a ``Version`` value,
    replaced by a new one (with a higher ``revision``) each time the function's
    code or configuration is updated; environments of an older revision are
    retired.
    """

    function_name: str
    """The function this version belongs to."""
    version: str
    """``"$LATEST"`` or the published number as a string."""
    handler: str
    """The handler setting (``module.function``) or the callable's dotted name."""
    code: CodeBundle = attrs.field(repr=False)
    """The deployment package."""
    config: FunctionConfig = attrs.field(repr=False)
    """The version-locked configuration."""
    region: str = attrs.field(repr=False)
    """Region part of the ARN."""
    account_id: str = attrs.field(repr=False)
    """Account part of the ARN."""
    description: str = attrs.field(default="", repr=False)
    """The version's description (publish may override the function's)."""
    revision: int = attrs.field(default=0, repr=False)
    """Change counter of ``$LATEST``; 0 for published versions."""
    function: Function | None = attrs.field(default=None, eq=False, repr=False)
    """The owning Function (not part of the value)."""

    @property
    def arn(self) -> str:
        """The qualified ARN (``…:function:name:3`` or ``…:name:$LATEST``)."""
        return function_arn(self.region, self.account_id, self.function_name, self.version)

    @property
    def code_sha256(self) -> str:
        """Lambda's ``CodeSha256``: base64 of the SHA-256 of the package bytes."""
        return self.code.sha256

    @property
    def memory_size(self) -> int:
        """Configured memory in MB."""
        return self.config.memory_size

    @property
    def timeout(self) -> int:
        """Configured timeout in seconds."""
        return self.config.timeout
