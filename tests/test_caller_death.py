"""Nothing pylambda or a handler started outlives the caller, however the caller ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import psutil
import pytest

# How long the processes may take to go (the goal is 2 s; a loaded CI machine gets slack).
GONE_WITHIN_S = 5.0

CALLER = textwrap.dedent(
    """
    import os, sys, threading, time
    sys.path.insert(0, {cwd!r})
    from pylambda import Function, Invoker

    MARKER = {marker!r}

    def spawn(event, context):
        import os, subprocess, sys
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)", MARKER]
        subprocess.Popen(sleeper)                           # in the environment's group
        subprocess.Popen(sleeper, start_new_session=True)   # a session of its own
        if os.fork() == 0:                                  # a daemon: double fork, setsid
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, sleeper)
            os._exit(0)
        os.wait()
        return "spawned"

    def nap(event, context):
        import time
        time.sleep(60)

    inv = Invoker()
    assert inv.invoke(Function("spawner", spawn)).payload == "spawned"
    threading.Thread(target=inv.invoke, args=(Function("nap", nap, timeout=60),), daemon=True).start()
    while len(inv.environments()) < 2:
        time.sleep(0.01)
    time.sleep(0.2)
    print(" ".join(map(str, [inv.zygote_pid] + [e.pid for e in inv.environments()])), flush=True)
    if {how!r} == "exit":
        sys.stdin.readline()
        sys.exit(0)                                         # no close(): the exit hook must do it
    time.sleep(120)
    """
)


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if marker in (p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "exit"])
def test_nothing_outlives_the_caller(tmp_path, how):
    """After the caller is killed or exits without close(), no process it or its handlers started is left."""
    marker = f"pylambda-marker-{uuid.uuid4().hex}"
    script = tmp_path / "caller.py"
    script.write_text(CALLER.format(cwd=os.getcwd(), marker=marker, how=how))
    caller = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = caller.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, line
        deadline = time.monotonic() + 10
        while len(_marked(marker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(_marked(marker)) == 3
        if how == "exit":
            caller.stdin.write("go\n")
            caller.stdin.flush()
        else:
            caller.send_signal(getattr(signal, how))
        caller.wait(30)
        deadline = time.monotonic() + GONE_WITHIN_S
        while (_marked(marker) or _alive(pids)) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = [p.pid for p in _marked(marker)] + _alive(pids)
    finally:
        caller.kill()
        caller.wait()
        caller.stdout.close()
        caller.stdin.close()
        for p in _marked(marker):
            p.kill()
        for pid in _alive(locals().get("pids", [])):
            os.kill(pid, signal.SIGKILL)
    assert left == []
