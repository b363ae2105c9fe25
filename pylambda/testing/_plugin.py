"""The pytest plugin: ``lambda_invoker``, ``lambda_function`` and ``aws_services`` fixtures.

Options (command line or ``addopts``) set the Invoker defaults for a run;
``@pytest.mark.lambda_invoker(**options)`` overrides them for one test::

    def test_order(lambda_invoker, lambda_function):
        fn = lambda_function("app.handler", code="src/")
        assert lambda_invoker.invoke(fn, {"id": 1}).payload == {"ok": True}

The Invoker is closed after the test, and the test fails if any process it
started is still alive then.

``aws_services`` starts moto's server for the test (``pylambda[aws]``), points
the test process's boto3 at it (``AWS_ENDPOINT_URL``, a region, fake
credentials; restored after), and gives ``lambda_invoker`` its URL, so
handlers reach the same services::

    def test_put(aws_services, lambda_invoker, lambda_function):
        boto3.client("dynamodb").create_table(...)
        lambda_invoker.invoke(lambda_function("app.put"), {"id": "1"})
        assert boto3.client("dynamodb").get_item(...)["Item"]
"""

from __future__ import annotations

from typing import Any

import pytest

__all__: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pylambda", "pylambda: local Lambda environments")
    group.addoption("--lambda-stateless", action="store_true", default=None,
                    help="give every invocation a fresh environment (proves handlers keep no warm state)")  # fmt: skip
    group.addoption("--lambda-idle-ttl", type=float, default=None, metavar="SECONDS",
                    help="end environments idle this long (default 300)")  # fmt: skip
    group.addoption("--lambda-concurrency-limit", type=int, default=None, metavar="N",
                    help="the account concurrency limit (default 1000)")  # fmt: skip
    group.addoption("--lambda-echo-logs", action="store_true", default=None,
                    help="print every invocation's log to stderr as it completes")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lambda_invoker(**options): Invoker options for this test's lambda_invoker fixture "
        "(e.g. stateless=True, idle_ttl=1.0, concurrency_limit=5)",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    cfg = request.config
    options: dict[str, Any] = {}
    for opt, key in (
        ("lambda_stateless", "stateless"),
        ("lambda_idle_ttl", "idle_ttl"),
        ("lambda_concurrency_limit", "concurrency_limit"),
        ("lambda_echo_logs", "echo_logs"),
    ):
        value = cfg.getoption(opt)
        if value is not None:
            options[key] = value
    for marker in reversed(list(request.node.iter_markers("lambda_invoker"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def lambda_invoker(request: pytest.FixtureRequest):
    """An Invoker for this test, closed after it; fails the test if a process is left."""
    from pylambda import Invoker
    from pylambda.testing import environment_pids, leftover_processes

    options = _options(request)
    if "aws_services" in request.fixturenames:
        options.setdefault("aws_endpoint_url", request.getfixturevalue("aws_services").url)
    invoker = Invoker(**options)
    started: set[int] = set()
    try:
        yield invoker
    finally:
        started.update(environment_pids(invoker))
        invoker.close()
    left = leftover_processes(sorted(started))
    if left:
        pytest.fail(f"pylambda: processes left after the Invoker closed: {left}")


@pytest.fixture
def lambda_function(lambda_invoker, request: pytest.FixtureRequest):
    """Define a Function registered with ``lambda_invoker``.

    ``lambda_function(handler, code=None, name=None, **config)``: ``handler``
    is ``"module.function"`` (under ``code``, a directory or .zip, or the
    test's directory), ``"path/to/dir/module.function"``, or a callable.
    A relative ``code`` (and a handler's path) is looked up beside the test
    file first, then in the working directory: a suite runs the same from
    the project root or from its tests directory.
    The name defaults to one derived from the test.
    """
    import os
    from pathlib import Path

    from pylambda import Function

    counter = iter(range(1, 10**6))
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)[:50] or "fn"

    def make(handler, code=None, name=None, **config):
        if isinstance(code, (str, os.PathLike)) and not Path(code).is_absolute():
            beside = Path(request.path).parent / code  # as for handler paths: the test's directory first
            if beside.exists():
                code = str(beside)
        if isinstance(handler, str) and code is None:
            directory, _, module_fn = handler.rpartition("/")
            candidate = Path(request.path).parent / directory if directory else None
            if candidate is not None and candidate.is_dir():
                handler, code = module_fn, str(candidate)
            elif not directory:
                code = str(Path(request.path).parent)
        fn = Function(name or f"{base}-{next(counter)}", handler, code=code, **config)
        lambda_invoker.register(fn)
        return fn

    return make


@pytest.fixture
def aws_services(monkeypatch: pytest.MonkeyPatch):
    """moto's server on 127.0.0.1 for this test; boto3 in the test (and ``lambda_invoker``'s handlers) use it."""
    import pylambda.aws

    with pylambda.aws.services() as services:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):  # a profile would win over the variables below
            monkeypatch.delenv(name, raising=False)
        for name, value in services.environ().items():
            monkeypatch.setenv(name, value)
        yield services
