"""The pytest plugin: ``lambda_invoker``, ``lambda_function``, ``lambda_session_invoker`` and ``aws_services``.

Options (command line or ``addopts``) set the Invoker defaults for a run;
``@pytest.mark.lambda_invoker(**options)`` overrides them for one test::

    def test_order(lambda_invoker, lambda_function):
        fn = lambda_function("app.handler", code="src/")
        assert lambda_invoker.invoke(fn, {"id": 1}).payload == {"ok": True}

The Invoker is closed after the test, and the test fails if an environment
it started, or a process a handler started, is still alive then.  Every
Invoker of the run forks from one shared zygote (started once, ended when
pytest exits), so a test's Invoker and its first cold start cost a few
milliseconds.

Warm across tests: ``lambda_session_invoker`` is one Invoker for the whole
run.  ``--lambda-session`` (or ``@pytest.mark.lambda_session`` on a test,
class or module) makes ``lambda_invoker`` that Invoker, and then
``lambda_function`` gives tests that define the same function (handler,
code and configuration) the same ``Function``, so they share its warm
environments.  Shared across those tests: warm environments and their
module globals and ``/tmp``, ``invoker.history``, logs, metrics and bills,
and registered functions.  A test with its own
``@pytest.mark.lambda_invoker(...)`` options keeps a private Invoker.

``aws_services`` starts moto's server for the test (``pylambda[aws]``), points
the test process's boto3 at it (``AWS_ENDPOINT_URL``, a region, fake
credentials; restored after), and gives ``lambda_invoker`` its URL, so
handlers reach the same services (a private Invoker: the session one cannot
follow a per-test server)::

    def test_put(aws_services, lambda_invoker, lambda_function):
        boto3.client("dynamodb").create_table(...)
        lambda_invoker.invoke(lambda_function("app.put"), {"id": "1"})
        assert boto3.client("dynamodb").get_item(...)["Item"]
"""

from __future__ import annotations

from typing import Any

import pytest

__all__: list[str] = []

_OPTIONS = (
    ("lambda_stateless", "stateless"),
    ("lambda_idle_ttl", "idle_ttl"),
    ("lambda_concurrency_limit", "concurrency_limit"),
    ("lambda_echo_logs", "echo_logs"),
)


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
    group.addoption("--lambda-session", action="store_true", default=False,
                    help="lambda_invoker is the run's one Invoker (warm environments shared by tests)")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lambda_invoker(**options): Invoker options for this test's lambda_invoker fixture "
        "(e.g. stateless=True, idle_ttl=1.0, concurrency_limit=5)",
    )
    config.addinivalue_line(
        "markers",
        "lambda_session: lambda_invoker is the run's lambda_session_invoker (warm environments shared across tests)",
    )


def _run_options(config: pytest.Config) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for opt, key in _OPTIONS:
        value = config.getoption(opt)
        if value is not None:
            options[key] = value
    return options


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options = _run_options(request.config)
    for marker in reversed(list(request.node.iter_markers("lambda_invoker"))):
        options.update(marker.kwargs)
    return options


def _uses_session(request: pytest.FixtureRequest) -> bool:
    if request.node.get_closest_marker("lambda_invoker") is not None or "aws_services" in request.fixturenames:
        return False  # options (or a moto server) of its own: a private Invoker
    return (
        bool(request.config.getoption("lambda_session"))
        or request.node.get_closest_marker("lambda_session") is not None
    )


@pytest.fixture(scope="session")
def lambda_session_invoker(request: pytest.FixtureRequest):
    """One Invoker for the whole run (the run's options), closed at the end; fails if a process is left."""
    from pylambda import Invoker
    from pylambda.testing import environment_pids, leftover_processes

    invoker = Invoker(**_run_options(request.config))
    request.config.stash[_SESSION] = invoker
    started: list[int] = []
    try:
        yield invoker
    finally:
        started = environment_pids(invoker)
        invoker.close()
        del request.config.stash[_SESSION]
    left = leftover_processes(started)
    if left:
        pytest.fail(f"pylambda: processes left after the session Invoker closed: {left}")


_SESSION = pytest.StashKey[Any]()


@pytest.fixture
def lambda_invoker(request: pytest.FixtureRequest):
    """An Invoker for this test, closed after it; fails the test if a process is left.

    With ``--lambda-session`` or ``@pytest.mark.lambda_session``: the run's
    ``lambda_session_invoker``, left open.
    """
    if _uses_session(request):
        yield request.getfixturevalue("lambda_session_invoker")
        return
    from pylambda import Invoker
    from pylambda.testing import environment_pids, leftover_processes

    before = _known_children()
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
    session = request.config.stash.get(_SESSION, None)
    others = _with_parents(environment_pids(session)) if session is not None else set()
    left = leftover_processes(sorted(started | (_known_children(fresh=True) - before - others)))
    if left:
        _kill(left)
        pytest.fail(f"pylambda: processes left after the Invoker closed: {left}")


_WALKED: list = [None, frozenset()]  # (fork generation, the zygotes' children then)


def _known_children(fresh: bool = False) -> set[int]:
    """``zygote_children()``, or the walk of the last teardown when no zygote forked, started or ended since.

    Back to back, the walk before a test is the walk after the one before:
    reusing it saves a ``/proc`` walk a test. Pids that ended since only
    shorten the list of the test's processes (a pid is not reused that
    soon). Not while a zygote has forked an environment without a sandbox:
    its orphans join the zygote without a fork (``fork_generation`` None).
    """
    from pylambda._environment.zygote import fork_generation
    from pylambda.testing import zygote_children

    generation = fork_generation()
    if not fresh and generation is not None and _WALKED[0] == generation:
        return set(_WALKED[1])
    children = zygote_children()
    _WALKED[:] = [generation, frozenset(children)]
    return children


def _with_parents(pids: list[int]) -> set[int]:
    """``pids`` and their parents (a sandboxed environment's parent is its sandbox's init)."""
    from pylambda._environment.zygote import parent_of

    out = set(pids)
    for pid in pids:
        parent = parent_of(pid)
        if parent:
            out.add(parent)
    return out


def _kill(pids: list[int]) -> None:
    """SIGKILL what a failed leak check found, so later tests start clean."""
    import os
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def lambda_function(lambda_invoker, request: pytest.FixtureRequest):
    """Define a Function registered with ``lambda_invoker``.

    ``lambda_function(handler, code=None, name=None, **config)``: ``handler``
    is ``"module.function"`` (under ``code``, a directory or .zip, or the
    test's directory), ``"path/to/dir/module.function"``, or a callable.
    A relative ``code`` (and a handler's path) is looked up beside the test
    file first, then in the working directory: a suite runs the same from
    the project root or from its tests directory.  The name defaults to one
    derived from the test; on the session Invoker, to one derived from the
    definition, and the same definition gives the same (warm) Function.
    """
    import os
    from pathlib import Path

    from pylambda import Function

    counter = iter(range(1, 10**6))
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)[:50] or "fn"
    session = request.config.stash.get(_SESSION, None) is lambda_invoker

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
        if session and name is None:
            return _session_function(lambda_invoker, handler, code, config)
        fn = Function(name or f"{base}-{next(counter)}", handler, code=code, **config)
        lambda_invoker.register(fn)
        return fn

    return make


def _session_function(invoker, handler, code, config: dict):
    """The session Invoker's Function for this definition: the same one for the same definition."""
    import hashlib

    from pylambda import Function

    what = handler if isinstance(handler, str) else f"{getattr(handler, '__qualname__', 'fn')}@{id(handler)}"
    digest = hashlib.sha256(repr((what, str(code), sorted(config.items(), key=str))).encode()).hexdigest()[:10]
    label = "".join(c if c.isalnum() or c in "-_" else "-" for c in what.rsplit("/", 1)[-1].split("@")[0])[:40]
    name = f"{label or 'fn'}-{digest}"
    fn = invoker.functions.get(name)
    if fn is None:
        fn = Function(name, handler, code=code, **config)
        invoker.register(fn)
    return fn


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
