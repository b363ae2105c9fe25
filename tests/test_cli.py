"""The pylambda command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "pylambda", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        cwd=ROOT,
    )


def test_invoke_example_prints_payload_and_log():
    """The README's main command: payload on stdout, START/END/REPORT on stderr."""
    out = run("invoke", "examples/hello", "--event", '{"name": "Ada"}')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["greeting"] == "Hello, Ada!"
    assert "INIT_START" in out.stderr
    assert "START RequestId:" in out.stderr
    assert "REPORT RequestId:" in out.stderr


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["examples/hello/app.py", "--event", "@examples/hello/event.json"], None),
        (["examples/hello/app.handler", "--event", "-"], '{"name": "Ada"}'),
        (["examples/hello", "--handler", "app.handler", "-e", '{"name": "Ada"}'], None),
    ],
)
def test_target_and_event_forms(args, stdin):
    """A .py file, dir/module.function, --handler; event as text, @file or stdin."""
    out = run("invoke", *args, stdin=stdin)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["greeting"] == "Hello, Ada!"


def test_log_type_tail_prints_the_log_result():
    """--log-type Tail prints base64 of the log's last 4 KB to stderr."""
    import base64

    out = run("invoke", "examples/hello", "--log-type", "Tail", "-q")
    assert out.returncode == 0
    tail = base64.b64decode(out.stderr.strip().splitlines()[-1]).decode()
    assert tail.startswith("INIT_START")
    assert "REPORT RequestId:" in tail


def test_function_error_exits_nonzero():
    """A function error prints the error document and exits 1."""
    out = run("invoke", "tests/handlers/faults.raises", "-q")
    assert out.returncode == 1
    assert json.loads(out.stdout)["errorType"] == "ValueError"


def test_bad_options_are_reported():
    """Invalid configuration exits 2 with the typed error's message."""
    out = run("invoke", "examples/hello", "--memory", "64")
    assert out.returncode == 2
    assert "InvalidParameterValueError" in out.stderr
    assert "memory_size" in out.stderr


def test_help_reads_well():
    """--help describes the invoke command and its options."""
    out = run("invoke", "--help")
    assert out.returncode == 0
    assert "--event" in out.stdout
    assert "stdout" in out.stdout


def test_run_a_toml_definition():
    """pylambda run executes every invocation of the example definition."""
    out = run("run", "examples/pipeline.toml", "-q")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line.get("status") for line in lines[:3]] == [200, 200, 202]
    assert lines[0]["payload"]["greeting"] == "Hello, Ada!"
    assert lines[3]["condition"] == "Success"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"functions": {}}', ".json", "defines no [functions]"),
        ('{"functions": {"f": {"handler": "a.b", "colour": 1}}}', ".json", "unknown keys"),
        ("x = 1", ".ini", "must end in"),
        ('{"functions": ', ".json", "is not valid JSON"),
        ("functions = [", ".toml", "is not valid TOML"),
        ("[1, 2]", ".json", "must hold a table/object"),
        (None, ".toml", "cannot read"),
    ],
)
def test_run_reports_bad_definitions(tmp_path, content, suffix, message):
    """A bad definition file exits non-zero naming the problem, without a traceback."""
    path = tmp_path / f"def{suffix}"
    if content is not None:
        path.write_text(content)
    out = run("run", str(path))
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("examples/hello", "--event", "@/no/such/event.json"), "cannot read the event file"),
        (("README.md",), "is a file but not a .py or .zip file"),
        (("examples/hello", "--env", "NOEQUALS"), "--env takes KEY=VALUE"),
    ],
)
def test_invoke_reports_bad_arguments(args, message):
    """A bad argument exits non-zero with one line naming it, without a traceback."""
    out = run("invoke", *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_run_a_yaml_definition(tmp_path):
    """pylambda run reads YAML definitions too (with PyYAML installed)."""
    pytest.importorskip("yaml")
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event['x'] + 1\n")
    (tmp_path / "def.yaml").write_text(
        "functions:\n  inc:\n    handler: app.handler\n    code: .\n"
        "invocations:\n  - function: inc\n    event: {x: 41}\n"
    )
    out = run("run", str(tmp_path / "def.yaml"), "-q")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["payload"] == 42


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"app.py": "def lambda_handler(event, context):\n    return 'sam'\n"}, "sam"),
        ({"app.py": "def handler(event, context):\n    return 'plain'\n"}, "plain"),
        ({"lambda_function.py": "def lambda_handler(event, context):\n    return 'console'\n"}, "console"),
        (
            {"app.py": "X = 1\n", "handler.py": "def handler(event, context):\n    return 'other'\n"},
            "other",
        ),
    ],
)
def test_invoke_dir_finds_the_handler(tmp_path, files, expected):
    """pylambda invoke DIR finds app.lambda_handler (sam init's layout) as well as app.handler."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = run("invoke", str(tmp_path), "-q", "--timeout", "30")  # a loaded machine: not the 3 s default
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout) == expected


def test_invoke_dir_without_a_handler_says_so(tmp_path):
    """A directory whose app.py defines neither function exits naming what it looked for."""
    (tmp_path / "app.py").write_text("X = 1\n")
    out = run("invoke", str(tmp_path))
    assert out.returncode != 0
    assert "app.handler, app.lambda_handler" in out.stderr
    assert "Traceback" not in out.stderr


def test_run_prints_the_log_of_asynchronous_invocations():
    """pylambda run shows an Event invocation's START/END/REPORT lines once it ran."""
    out = run("run", "examples/pipeline.toml")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    (async_line,) = [line for line in lines if "async" in line]
    assert f"START RequestId: {async_line['async']}" in out.stderr
    assert f"REPORT RequestId: {async_line['async']}" in out.stderr
    assert "hello, async" in out.stderr
