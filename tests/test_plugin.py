"""The pytest plugin, run as a user runs it (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def handler_dir(pytester):
    """A project with a handler module next to its tests."""
    pytester.makepyfile(
        app="""
        import os
        STATE = {"n": 0}

        def handler(event, context):
            STATE["n"] += 1
            return {"n": STATE["n"], "pid": os.getpid(), "name": context.function_name}
        """
    )
    return pytester


def test_fixtures_run_a_module_handler(handler_dir):
    """lambda_function finds app.handler next to the test; lambda_invoker runs it warm."""
    handler_dir.makepyfile(
        test_it="""
        def test_warm(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            first = lambda_invoker.invoke(fn, {})
            second = lambda_invoker.invoke(fn, {})
            assert first.payload["n"] == 1 and second.payload["n"] == 2
            assert first.payload["name"].startswith("test_warm")

        def test_callable(lambda_invoker, lambda_function):
            fn = lambda_function(lambda event, context: event["x"] * 2)
            assert lambda_invoker.invoke(fn, {"x": 21}).payload == 42
        """
    )
    result = handler_dir.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_stateless_option_and_marker(handler_dir):
    """--lambda-stateless and @pytest.mark.lambda_invoker set Invoker options."""
    handler_dir.makepyfile(
        test_it="""
        import pytest

        def test_option(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            assert [lambda_invoker.invoke(fn, {}).payload["n"] for _ in range(2)] == [1, 1]

        @pytest.mark.lambda_invoker(stateless=False)
        def test_marker_wins(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            assert [lambda_invoker.invoke(fn, {}).payload["n"] for _ in range(2)] == [1, 2]
        """
    )
    result = handler_dir.runpytest_subprocess("--lambda-stateless", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_help_lists_the_options(pytester):
    """pytest --help shows the plugin's option group."""
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*pylambda*", "*--lambda-stateless*"])


def test_nothing_is_left_running(handler_dir):
    """After a run that used the fixtures, no environment process survives."""
    handler_dir.makepyfile(
        test_it="""
        import os
        from pylambda.testing import environment_pids

        def test_many(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            lambda_invoker.invoke(fn, {})
            with open("pids.txt", "w") as f:
                f.write(" ".join(map(str, environment_pids(lambda_invoker))))
        """
    )
    result = handler_dir.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    from pylambda.testing import leftover_processes

    pids = [int(p) for p in (handler_dir.path / "pids.txt").read_text().split()]
    assert pids
    assert leftover_processes(pids) == []


def test_coverage_counts_lines_run_inside_environments(pytester):
    """pytest --cov measures handler lines executed in environments, with no setup."""
    pytester.makepyfile(
        app="""
        def handler(event, context):
            if event.get("big"):
                return "big"
            return "small"


        def never_called():
            return 1
        """
    )
    pytester.makepyfile(
        test_app="""
        def test_both_branches(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            assert lambda_invoker.invoke(fn, {"big": True}).payload == "big"
            assert lambda_invoker.invoke(fn, {}).payload == "small"
        """
    )
    result = pytester.runpytest_subprocess(
        "--cov=.", "--cov-report=term-missing", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"
    )
    result.assert_outcomes(passed=1)
    line = next(x for x in result.stdout.lines if x.startswith("app.py"))
    # 6 statements: def handler, if, return big, return small, def never_called, return 1.
    # Lines 2-4 ran only inside an environment; only "return 1" (line 8) never ran.
    assert line.split()[1:] == ["6", "1", "83%", "8"], line


def test_documented_patterns_work(pytester):
    """The patterns in docs/pytest.md: setup patches, inline mocks, a virtual clock for retries."""
    pytester.makepyfile(
        app="""
        def send_email(to):
            raise RuntimeError("no network in tests")

        def handler(event, context):
            if event.get("bad"):
                raise ValueError("bad")
            return send_email(event["to"])
        """
    )
    pytester.makepyfile(
        test_patterns="""
        from unittest import mock

        import pytest

        from pylambda import ManualClock


        def install_fakes():
            from unittest import mock
            mock.patch("app.send_email", return_value="queued").start()


        def test_setup_patch(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler", setup=install_fakes)
            assert lambda_invoker.invoke(fn, {"to": "a@b"}).payload == "queued"


        @pytest.mark.lambda_invoker(mode="inline")
        def test_inline_patch(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            with mock.patch("app.send_email", return_value="inline"):
                assert lambda_invoker.invoke(fn, {"to": "a@b"}).payload == "inline"


        @pytest.mark.lambda_invoker(clock=ManualClock())
        def test_retries(lambda_invoker, lambda_function):
            fn = lambda_function("app.handler")
            lambda_invoker.invoke(fn, {"bad": True}, invocation_type="Event")
            lambda_invoker.wait_for_idle()
            assert lambda_invoker.async_outcomes[0].attempts == 3
            assert lambda_invoker.metrics(fn).get("Errors") == 3
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_lambda_function_resolves_code_beside_the_test(pytester):
    """lambda_function(..., code="src") finds src/ next to the test file, whatever the working directory."""
    pytester.mkdir("suite")
    pytester.mkdir("suite/src")
    (pytester.path / "suite" / "src" / "app.py").write_text("def handler(event, context):\n    return 'beside'\n")
    (pytester.path / "suite" / "test_it.py").write_text(
        "def test_code_dir(lambda_invoker, lambda_function):\n"
        "    fn = lambda_function('app.handler', code='src')\n"
        "    assert lambda_invoker.invoke(fn, {}).payload == 'beside'\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suite/test_it.py")
    result.assert_outcomes(passed=1)
