"""The process's shared zygote: started once, kept across Invokers, never a test's leak."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

from pylambda import Invoker
from pylambda.testing import leftover_processes, shared_zygote_pids, zygote_children


def test_invokers_share_one_zygote_and_close_keeps_it(make_fn):
    """Two Invokers fork from the same zygote; closing one ends its environments, not the zygote."""
    fn = make_fn("faults.echo")
    with Invoker() as first:
        assert first.invoke(fn, {"a": 1}).payload == {"a": 1}
        zygote = first.zygote_pid
        env = first.environments()[0].pid
        assert env in zygote_children()
    assert zygote in shared_zygote_pids()
    assert leftover_processes([env]) == []
    with Invoker() as second:
        r = second.invoke(make_fn("faults.echo"), {"b": 2})
        assert r.payload == {"b": 2}
        assert r.cold_start
        assert second.zygote_pid == zygote


def test_the_zygote_ends_with_the_process(tmp_path):
    """A process that used Invokers and exits normally leaves neither its zygote, nor environments, nor a spare."""
    script = tmp_path / "user.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {os.getcwd()!r})
            from pylambda import Function, Invoker
            from pylambda.testing import spare_pids
            inv = Invoker()
            inv.invoke(Function("quick", lambda e, c: 1))
            print(inv.zygote_pid, *(e.pid for e in inv.environments()), *spare_pids(), flush=True)
            """  # no close(): the atexit hook and the zygote's EOF handling end everything
        )
    )
    out = subprocess.run([sys.executable, "-W", "ignore", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert leftover_processes([int(p) for p in out.stdout.split()], timeout=5) == []


def test_a_forked_caller_starts_its_own_zygote(make_fn):
    """A child forked from the caller does not talk to its parent's zygote; it starts its own."""
    fn = make_fn("faults.echo")
    with Invoker() as inv:
        inv.invoke(fn, {})
        parent_zygote = inv.zygote_pid
        r, w = os.pipe()
        with warnings.catch_warnings():  # 3.12+: "multi-threaded, fork() may deadlock"; the child only execs pylambda
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: a new Invoker, a new zygote, then out without running the parent's atexit
            code = 1
            try:
                with Invoker() as child:
                    ok = child.invoke(fn, {"c": 1}).payload == {"c": 1}
                    os.write(w, f"{child.zygote_pid}".encode())
                    code = 0 if ok else 1
                from pylambda._environment.shared import stop_shared_zygotes

                stop_shared_zygotes()
            finally:
                os._exit(code)
        os.close(w)
        _pid, status = os.waitpid(pid, 0)
        child_zygote = int(os.read(r, 32) or 0)
        os.close(r)
        assert os.waitstatus_to_exitcode(status) == 0
        assert child_zygote not in (0, parent_zygote)
        assert inv.invoke(fn, {"after": 1}).payload == {"after": 1}
