"""provided.al2023 / provided.al2: any executable ``bootstrap`` speaking the Runtime API.

Three clients: a shell + curl loop (AWS's custom-runtime tutorial), AWS's own
Python runtime client ``awslambdaric`` as the bootstrap (so AWS's code checks
the host), and a Python loop that probes the host's protocol edges (chunked
bodies with trailers, stale and empty ids, unknown routes).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from pylambda import Function

_COUNTER = iter(range(10**6))

SHELL_BOOTSTRAP = """\
#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
echo "shell bootstrap up"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(mktemp)"
  curl -sS -D "$HEADERS" -o "$EVENT" "$API/invocation/next"
  REQUEST_ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $REQUEST_ID"
  if grep -q '"fail"' "$EVENT"; then
    curl -sS -X POST "$API/invocation/$REQUEST_ID/error" -H "Lambda-Runtime-Function-Error-Type: ShellError" \\
      --data-binary '{"errorMessage":"shell failed","errorType":"ShellError"}' > /dev/null
  elif grep -q '"exit"' "$EVENT"; then
    exit 3
  else
    printf '{"echo":%s}' "$(cat "$EVENT")" > "$EVENT.out"
    curl -sS -X POST "$API/invocation/$REQUEST_ID/response" --data-binary "@$EVENT.out" > /dev/null
  fi
  rm -f "$HEADERS" "$EVENT" "$EVENT.out"
done
"""

RIC_BOOTSTRAP = f"""\
#!/bin/sh
cd "$LAMBDA_TASK_ROOT"
exec {sys.executable} -m awslambdaric "$_HANDLER"
"""

RIC_APP = """\
import os

STATE = {"calls": 0}


class CustomErr(Exception):
    pass


def handler(event, context):
    STATE["calls"] += 1
    if event.get("fail"):
        raise CustomErr("custom boom")
    print("ric says hi")
    return {
        "calls": STATE["calls"],
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
        "client_context": context.client_context.custom if context.client_context else None,
        "trace": os.environ.get("_X_AMZN_TRACE_ID", ""),
    }
"""

PROBE_BOOTSTRAP = f"""\
#!{sys.executable}
import http.client, json, os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
base = "/2018-06-01/runtime"


def call(method, path, body=None, headers=None, chunked=False):
    if chunked:
        conn.putrequest(method, base + path)
        for k, v in (headers or {{}}).items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Trailer", "Lambda-Runtime-Function-Error-Type")
        conn.endheaders()
        for i in range(0, len(body), 7):
            piece = body[i : i + 7]
            conn.send(b"%x\\r\\n" % len(piece) + piece + b"\\r\\n")
        conn.send(b"0\\r\\nLambda-Runtime-Function-Error-Type: \\r\\nX-Body-Length: %d\\r\\n\\r\\n" % len(body))
    else:
        conn.request(method, base + path, body=body, headers=headers or {{}})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


while True:
    status, headers, event = call("GET", "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    seen = {{
        "next": status,
        "headers": sorted(k for k in headers if k.startswith("Lambda-Runtime-")),
        "deadline": int(headers["Lambda-Runtime-Deadline-Ms"]),
        "stale": call("POST", "/invocation/not-the-id/response", b"{{}}")[0],
        "empty": call("POST", "/invocation//response", b"{{}}")[0],
        "unknown": call("GET", "/nowhere")[0],
        "init_error_now": call("POST", "/init/error", b"{{}}")[0],
        "event": json.loads(event),
    }}
    status, _, body = call("POST", f"/invocation/{{rid}}/response", json.dumps(seen).encode(), chunked=True)
    again = call("POST", f"/invocation/{{rid}}/response", b"{{}}")[0]  # already answered
    print("posted", status, "then", again, flush=True)
"""


def _code(tmp_path: Path, files: dict[str, str]) -> str:
    root = tmp_path / f"code{next(_COUNTER)}"
    root.mkdir()
    for name, text in files.items():
        path = root / name
        path.write_text(text)
        if name == "bootstrap":
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(root)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_shell_and_curl_bootstrap(invoker, tmp_path):
    """AWS's tutorial runtime: echo, a posted error, a large event (curl's Expect: 100-continue), an exit."""
    fn = Function("shell", "function.handler", code=_code(tmp_path, {"bootstrap": SHELL_BOOTSTRAP}),
                  runtime="provided.al2023")  # fmt: skip
    r = invoker.invoke(fn, {"x": 1})
    assert r.payload == {"echo": {"x": 1}}
    assert "shell bootstrap up" in r.logs
    assert f"handling {r.request_id}" in r.logs
    assert "INIT_START Runtime Version: provided:al2023." in r.logs
    big = {"blob": "y" * 1_100_000}
    assert invoker.invoke(fn, big).payload == {"echo": big}
    failed = invoker.invoke(fn, {"fail": True})
    assert failed.error_type == "ShellError"
    assert json.loads(failed.raw_payload) == {"errorMessage": "shell failed", "errorType": "ShellError"}
    assert not failed.cold_start
    gone = invoker.invoke(fn, {"exit": True})
    assert gone.error_type == "Runtime.ExitError"
    assert json.loads(gone.raw_payload)["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_awslambdaric_as_the_bootstrap(invoker, tmp_path):
    """AWS's Python runtime client runs unchanged against the host: context, errors, warm reuse."""
    pytest.importorskip("awslambdaric", reason="awslambdaric is not installed (the test extra has it)")
    code = _code(tmp_path, {"bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP})
    fn = Function("ric", "app.handler", code=code, runtime="provided.al2023", memory_size=256)
    r = invoker.invoke(fn, {"k": "v"}, client_context={"custom": {"a": 1}})
    r.raise_for_error()
    assert r.payload == {
        "calls": 1,
        "request_id": r.request_id,
        "function_name": "ric",
        "memory": "256",
        "remaining_ok": True,
        "client_context": {"a": 1},
        "trace": r.payload["trace"],
    }
    assert r.payload["trace"].startswith("Root=1-")
    assert "ric says hi" in r.logs
    failed = invoker.invoke(fn, {"fail": True})
    doc = json.loads(failed.raw_payload)
    assert (failed.error_type, doc["errorType"], doc["errorMessage"]) == ("CustomErr", "CustomErr", "custom boom")
    assert doc["requestId"] == failed.request_id
    assert invoker.invoke(fn, {}).payload["calls"] == 3  # the same environment throughout


def test_awslambdaric_init_error(invoker, tmp_path):
    """An import failure reaches the caller as the document awslambdaric posted to /init/error."""
    pytest.importorskip("awslambdaric", reason="awslambdaric is not installed (the test extra has it)")
    code = _code(tmp_path, {"bootstrap": RIC_BOOTSTRAP, "app.py": "import nope_xyz\n"})
    r = invoker.invoke(Function("ricbad", "app.handler", code=code, runtime="provided.al2"), {})
    assert r.error_type == "Runtime.ImportModuleError"
    doc = json.loads(r.raw_payload)
    assert doc["errorMessage"] == "Unable to import module 'app': No module named 'nope_xyz'"
    assert "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError" in r.logs


def test_the_hosts_protocol_edges(invoker, tmp_path):
    """Headers on next, 400 for stale/empty/answered ids, 404, 403 for a late init error, chunked posts."""
    fn = Function("probe", "x.y", code=_code(tmp_path, {"bootstrap": PROBE_BOOTSTRAP}), runtime="provided.al2023")
    r = invoker.invoke(fn, {"n": 1})
    seen = r.payload
    assert seen["next"] == 200
    assert seen["headers"] == [
        "Lambda-Runtime-Aws-Request-Id",
        "Lambda-Runtime-Deadline-Ms",
        "Lambda-Runtime-Invoked-Function-Arn",
        "Lambda-Runtime-Trace-Id",
    ]
    assert seen["stale"] == seen["empty"] == 400
    assert seen["unknown"] == 404
    assert seen["init_error_now"] == 403
    assert seen["event"] == {"n": 1}
    assert invoker.invoke(fn, {"n": 2}).payload["event"] == {"n": 2}
    assert "posted 202 then 400" in invoker.invoke(fn, {"n": 3}).logs


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README": "no bootstrap"}, "Couldn't find valid bootstrap(s)"),
        ({"bootstrap": "#!/nonexistent/interpreter\n"}, "bootstrap: No such file or directory"),
    ],
    ids=["missing", "missing interpreter"],
)
def test_a_bootstrap_that_cannot_start_is_an_init_error(invoker, tmp_path, files, message):
    """No executable bootstrap, or one whose #! interpreter is missing: Runtime.InvalidEntrypoint, as on Lambda."""
    r = invoker.invoke(Function("noboot", "x.y", code=_code(tmp_path, files), runtime="provided.al2023"), {})
    assert r.error_type == "Runtime.InvalidEntrypoint"
    assert message in json.loads(r.raw_payload)["errorMessage"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_zipped_bootstrap_keeps_its_mode(invoker, tmp_path):
    """A .zip's executable bit survives extraction (SAM and zip deployments ship bootstrap that way)."""
    archive = tmp_path / "fn.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = (0o755 | stat.S_IFREG) << 16
        zf.writestr(info, SHELL_BOOTSTRAP)
    r = invoker.invoke(Function("zipped", "x.y", code=str(archive), runtime="provided.al2023"), {"z": 1})
    assert r.payload == {"echo": {"z": 1}}
    assert os.path.exists(archive)


def test_no_execution_env_for_provided(invoker, tmp_path):
    """AWS_EXECUTION_ENV is not set for the provided family; the Runtime API address is."""
    script = f"#!{sys.executable}\n" + textwrap.dedent(
        """\
        import http.client, json, os
        host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
        c = http.client.HTTPConnection(host, int(port))
        while True:
            c.request("GET", "/2018-06-01/runtime/invocation/next")
            r = c.getresponse(); r.read()
            rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
            env = {k: os.environ.get(k) for k in ("AWS_EXECUTION_ENV", "_HANDLER", "LAMBDA_TASK_ROOT", "TZ")}
            c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", json.dumps(env))
            c.getresponse().read()
        """
    )
    code = _code(tmp_path, {"bootstrap": script})
    r = invoker.invoke(Function("envs", "my.handler", code=code, runtime="provided.al2"), {})
    assert r.payload == {"AWS_EXECUTION_ENV": None, "_HANDLER": "my.handler", "LAMBDA_TASK_ROOT": code, "TZ": ":UTC"}
