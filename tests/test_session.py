"""The session Invoker: warm environments shared across tests, on request (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

APP = """
import os
STATE = {"n": 0}

def handler(event, context):
    STATE["n"] += 1
    return {"n": STATE["n"], "pid": os.getpid()}
"""

TESTS = """
import pytest

SEEN = []

{mark}
def test_first(lambda_invoker, lambda_function):
    SEEN.append(lambda_invoker.invoke(lambda_function("app.handler", code="src"), {{}}).payload)

{mark}
def test_second(lambda_invoker, lambda_function):
    SEEN.append(lambda_invoker.invoke(lambda_function("app.handler", code="src"), {{}}).payload)
    assert [p["n"] for p in SEEN] == {expected}

@pytest.mark.lambda_invoker(stateless=False)
def test_private_options(lambda_invoker, lambda_function, lambda_session_invoker):
    assert lambda_invoker is not lambda_session_invoker
    assert lambda_invoker.invoke(lambda_function("app.handler", code="src"), {{}}).payload["n"] == 1
"""


@pytest.mark.parametrize(
    ("mark", "args", "expected"),
    [
        ("", ["--lambda-session"], [1, 2]),
        ("@pytest.mark.lambda_session", [], [1, 2]),
        ("", [], [1, 1]),
    ],
)
def test_session_invoker_keeps_environments_warm_across_tests(pytester, mark, args, expected):
    """--lambda-session or the lambda_session marker: the same definition is the same warm function."""
    pytester.mkdir("src")  # not the test directory: pytester writes its output files there while tests run
    (pytester.path / "src" / "app.py").write_text(APP)
    pytester.makepyfile(test_it=TESTS.format(mark=mark, expected=expected))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=3)


def test_an_environment_started_between_two_tests_is_not_the_second_tests(pytester):
    """The walk before a test is reused from the one before only when no zygote forked in between.

    A module-scoped fixture set up after the first test starts an environment and keeps it across the
    second: a walk reused from the first test's teardown would blame the second test for it.
    """
    pytester.mkdir("src")
    (pytester.path / "src" / "app.py").write_text(APP)
    pytester.makepyfile(
        test_it="""
        import pytest
        from pylambda import Function, Invoker

        @pytest.fixture(scope="module")
        def kept():
            with Invoker() as invoker:
                fn = Function("kept", "app.handler", code="src")
                invoker.invoke(fn, {})
                yield invoker

        def test_first(lambda_invoker, lambda_function):
            lambda_invoker.invoke(lambda_function("app.handler", code="src"), {})

        def test_second(kept, lambda_invoker, lambda_function):
            lambda_invoker.invoke(lambda_function("app.handler", code="src"), {})
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_test_leaving_an_environment_fails(pytester):
    """The plugin's leak check ignores the shared zygote but fails a test that leaves an environment running."""
    pytester.mkdir("src")
    (pytester.path / "src" / "app.py").write_text(APP)
    pytester.makepyfile(
        test_it="""
        import warnings
        from pylambda import Invoker

        KEEP = []

        def test_leaves_one(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler", code="src")
            lambda_invoker.invoke(fn, {})
            other = Invoker()  # never closed
            other.invoke(fn, {})
            KEEP.append(other)

        def test_clean(lambda_invoker, lambda_function):
            assert lambda_invoker.invoke(lambda_function("app.handler", code="src"), {}).payload["n"] == 1
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::ResourceWarning")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*processes left after the Invoker closed*"])
