"""A caller whose interpreter lives under /tmp (a CI job's venv) keeps it inside the sandbox.

Each environment gets a ``/tmp`` of its own, which covers everything the
caller had there; the interpreter's installation must stay visible, or a
handler that starts ``sys.executable`` (and a ``provided`` bootstrap that
``exec``s it) fails with "No such file or directory".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import venv
from pathlib import Path

CALLER = textwrap.dedent(
    """
    import json, warnings
    from pylambda import Function, Invoker

    def handler(event, context):
        import subprocess, sys
        done = subprocess.run([sys.executable, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
        return {"rc": done.returncode, "prefix": done.stdout.strip(), "err": done.stderr[-300:]}

    warnings.simplefilter("ignore")
    with Invoker() as invoker:
        print(json.dumps(invoker.invoke(Function("spawner", handler), {}).payload))
    """
)


def test_a_venv_under_tmp_is_seen_by_handlers_that_start_the_interpreter(tmp_path):
    """A handler runs the caller's sys.executable from a venv under /tmp: it starts, with that venv's prefix."""
    script = tmp_path / "caller.py"  # not beside the venv: the handler's own directory is shown anyway
    script.write_text(CALLER)
    with tempfile.TemporaryDirectory(prefix="pylambda-venv-", dir="/tmp") as where:
        env_dir = Path(where) / "venv"
        venv.EnvBuilder(system_site_packages=True, symlinks=True, with_pip=False).create(env_dir)
        python = env_dir / "bin" / "python"
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([str(python), str(script)], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen == {"rc": 0, "prefix": str(env_dir), "err": ""}
        assert sys.prefix != str(env_dir)  # the check ran on the venv's interpreter, not the suite's
