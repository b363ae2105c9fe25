"""The sandbox's fallback where the kernel refuses namespaces, on a kernel that allows them.

A user namespace of our own with ``user.max_user_namespaces`` set to 0
inside it refuses every further user namespace (ENOSPC), as a kernel with
``kernel.unprivileged_userns_clone=0`` or a container's seccomp profile
would; the setting is the child namespace's own, so nothing else on the
machine sees it.  A caller started in there gets pylambda's fallback
(plain forks, non-dumpable, 1,024 fds): this checks that the fallback says
once what it does not enforce and still keeps every promise that does not
need namespaces (timeouts, SnapStart, nothing outliving ``close()``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

CALLER = textwrap.dedent(
    """
    import json, os, time, warnings
    import psutil
    from pylambda import Function, Invoker

    def probe(event, context):
        import ctypes, resource, subprocess
        spawned = [subprocess.Popen(["sleep", "60"], start_new_session=True).pid,
                   subprocess.Popen(["sleep", "61"]).pid]
        return {"nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), "spawned": spawned}

    def slow(event, context):
        time.sleep(30)

    def running(pid):
        try:
            return psutil.Process(pid).status() != "zombie"
        except psutil.NoSuchProcess:
            return False

    def kind(event, context):
        return os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Invoker() as invoker:
            fn = Function("probe", probe)
            first = invoker.invoke(fn, {})
            timed_out = invoker.invoke(Function("slow", slow, timeout=1), {})
            after = invoker.invoke(fn, {})
            restored = invoker.invoke(Function("snap", kind, snap_start=True).publish_version(), {})
    deadline = time.monotonic() + 5
    spawned = first.payload["spawned"] + after.payload["spawned"]
    while time.monotonic() < deadline:
        alive = [p for p in spawned if running(p)]
        if not alive:
            break
        time.sleep(0.05)
    print(json.dumps({
        "payload": first.payload, "timed_out": timed_out.error_type, "after": after.function_error,
        "restored": [restored.payload, restored.restore_duration_ms is not None],
        "alive": alive, "warnings": [str(w.message) for w in caught if "sandbox" in str(w.message)],
    }))
    """
)


def test_a_kernel_refusing_namespaces_gets_one_warning_and_the_promises_that_remain(tmp_path, refusing_namespaces):
    """One warning names the namespaces and the kernel's reason; limits, timeouts and cleanup still hold."""
    script = tmp_path / "caller.py"
    script.write_text(CALLER)
    env = {k: v for k, v in os.environ.items() if k != "PYLAMBDA_SANDBOX"}
    done = subprocess.run(
        [*refusing_namespaces, sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["warnings"]) == 1, seen["warnings"]
    assert "per-environment PID, mount and user namespaces" in seen["warnings"][0]
    assert "No space left on device" in seen["warnings"][0]  # the kernel's own reason, passed on
    assert seen["payload"]["nofile"] == 1024
    assert seen["payload"]["dumpable"] == 0  # no other process of this uid can read its memory
    assert seen["timed_out"] == "Sandbox.Timedout"
    assert seen["after"] is None  # the timed-out environment's neighbour still runs
    assert seen["restored"] == ["snap-start", True]  # SnapStart restores without nested namespaces too
    assert seen["alive"] == []  # setsid'd and plain grandchildren alike end with their environments


def test_a_killed_zygotes_cgroup_is_removed_by_the_next_zygote():
    """A ``pylambda-<pid>`` cpu cgroup whose zygote died without cleaning up is removed when another starts."""
    from pylambda._runtime import cgroups

    make = "from pylambda._runtime import cgroups; print(cgroups.base('cpu'))"
    leftover = subprocess.run([sys.executable, "-c", make], capture_output=True, text=True, timeout=60).stdout.strip()
    if leftover in ("", "None"):
        pytest.skip("no writable cpu cgroup on this machine: zygotes make no cgroup to leave behind")
    assert os.path.isdir(leftover)  # as a zygote ended by SIGKILL leaves it
    cgroups.sweep(os.path.dirname(leftover), most=10**6)  # older leftovers first, so the next start reaches it
    assert os.path.isdir(leftover) is False
    leftover = subprocess.run([sys.executable, "-c", make], capture_output=True, text=True, timeout=60).stdout.strip()
    assert os.path.isdir(leftover)
    start = "from pylambda import Function, Invoker\nwith Invoker() as i: i.invoke(Function('f', lambda e, c: 1))"
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", start], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(leftover)
