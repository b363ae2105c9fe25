"""The one exception tree of pylambda.

::

    * PylambdaError
      x InvalidParameterValueError (+ValueError)  bad configuration or argument, at definition time
      x ResourceNotFoundError      (+LookupError) unknown function, version or alias
      x TooManyRequestsError                      throttled: no environment may start
      x RequestTooLargeError       (+ValueError)  the request body is over Lambda's limit
      x InvalidRequestContentError (+ValueError)  the request body is not JSON
      x InvokerClosedError                        you closed the Invoker; it cannot be used again
      x FunctionError                             the sandbox returned an error; raised only
                                                  by InvocationResult.raise_for_error()

The split follows Lambda's own: ``invoke()`` raises only when no invocation
could happen (the API answered 4xx); whatever happens inside the sandbox
(an exception, a timeout, a crash, running out of memory) comes back as an
``InvocationResult`` with ``function_error`` set, and raising is the caller's
choice (``raise_for_error()``), like httpx's ``raise_for_status()``.
"""

from __future__ import annotations

__all__ = [
    "FunctionError",
    "InvalidParameterValueError",
    "InvalidRequestContentError",
    "InvokerClosedError",
    "PylambdaError",
    "RequestTooLargeError",
    "ResourceNotFoundError",
    "TooManyRequestsError",
]


class PylambdaError(Exception):
    """Base of every error pylambda raises."""


class InvalidParameterValueError(PylambdaError, ValueError):
    """A configuration value or argument is outside what Lambda accepts.

    Raised where the value is given (``Function(...)``, ``update_configuration``,
    ``create_alias``), so a bad configuration never reaches an environment.
    The message names the field and the allowed range; fix the value.
    """


class ResourceNotFoundError(PylambdaError, LookupError):
    """No registered function, version or alias matches the target.

    The message is Lambda's (``Function not found: <arn>``).  Register the
    function with the Invoker, or check the qualifier.
    """


class TooManyRequestsError(PylambdaError):
    """The invocation was throttled (Lambda's 429); nothing ran.

    ``reason`` is Lambda's value, e.g.
    ``ReservedFunctionConcurrentInvocationLimitExceeded``.  Retry later, or
    raise the concurrency limits.
    """

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason


class RequestTooLargeError(PylambdaError, ValueError):
    """The request payload is over Lambda's limit (413); nothing ran."""


class InvalidRequestContentError(PylambdaError, ValueError):
    """The request payload is not valid JSON (400); nothing ran."""


class InvokerClosedError(PylambdaError):
    """The Invoker was closed by its owner; make a new one."""


class FunctionError(PylambdaError):
    """The function returned an error; raised by ``raise_for_error()`` only.

    Attributes mirror Lambda's error payload: ``error_type`` (``"ValueError"``,
    ``"Sandbox.Timedout"``, ``"Runtime.ImportModuleError"`` …),
    ``error_message``, ``stack_trace`` (list of formatted frames, possibly
    empty) and ``request_id``.
    """

    def __init__(
        self,
        error_type: str,
        error_message: str,
        stack_trace: list[str] | None = None,
        request_id: str = "",
    ) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = list(stack_trace or [])
        self.request_id = request_id
