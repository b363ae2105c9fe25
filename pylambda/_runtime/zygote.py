"""The zygote: a small, single-threaded process that forks execution environments.

Why: forking the caller is unsafe (it has threads and may be huge) and starting
an interpreter per environment costs ~90 ms.  The Invoker starts one zygote
(``python -I -S``), which imports the runtime once, freezes its objects out of
the garbage collector's reach (so children do not copy pages on their first
collection) and then forks one child per environment in about a millisecond.

Requests arrive on a Unix socket, with the new environment's three pipe ends
attached as SCM_RIGHTS: ``F<name>`` with fds (request read end, response write
end, log write end).  The reply is the child's pid (``<i``) with one fd
attached: the read end of a *status pipe*.  When the zygote reaps the child it
writes the raw wait status (``<i``) to that pipe and closes it, so the Invoker
learns exit codes and signals without being the parent.  A reply without a
descriptor carries ``-errno``: the fork itself failed (too many processes),
and the zygote carries on.  A request whose JSON holds ``exec`` (a Runtime
API runtime: Node, a ``provided`` bootstrap) makes an environment that
execs that command, in the same sandbox, instead of running the Python
bootstrap; its fds are its log pipe and, without a network, a socket for
its Runtime API listener (``_exec``, ``runtimes.py``).

Faults must not spread, so the loop is built to survive anything an
environment does and to leave nothing behind when it ends:

- No work happens in a signal handler.  SIGCHLD, SIGHUP and SIGTERM have
  empty handlers and ``signal.set_wakeup_fd`` turns each into a byte on a
  pipe; the loop selects on the socket and that pipe and reaps there, so a
  burst of deaths (an environment and everything its handler forked) is one
  pass of ``_reap``, never a handler re-entered in the middle of itself.
- Each environment leads a process group of its own, and when one ends the
  zygote kills that group before reaping it: whatever a handler forked dies
  with its environment, instead of holding the environment's pipes open.
- The zygote is the child subreaper of its environments' descendants, so a
  process that left its environment's group (``setsid()``) is adopted by the
  zygote when its environment ends, not by init.
- The loop ends only when the Invoker is gone: EOF on the socket, a failed
  write to it, a SIGHUP (the caller's ``PR_SET_PDEATHSIG``) while the parent
  is no longer the caller's pid (the signal also fires when merely the thread
  that started the zygote ends), or a SIGTERM.  Then ``_end`` kills every
  environment's group and, until none remain, whatever the zygote adopted.

The zygote and its environments stay in the caller's PID namespace: the pids
the Invoker sees (``kill``, ``/proc/<pid>/statm``) are the environments' own.
``_spawn_environment`` is the one place an environment process is created:
whatever an environment gets at birth goes there, through ``sandbox.fork``
(namespaces, a private /tmp, read-only code, limits).  With a sandbox, the
zygote's child is the sandbox's init and the environment its child: the
reply names the environment, the zygote reaps the init, and the init writes
the environment's wait status to the status pipe (the zygote's later write
finds the pipe read or closed).  Before anything else the zygote sends one
message: the length (``<i``) and JSON of what its sandbox enforces.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import struct
import sys
import time
from _socket import AF_UNIX, SOCK_STREAM, socketpair
from _socket import socket as _Socket

from . import runtimes, sandbox
from .protocol import recv_fds, send_fds
from .spare import Spares

__all__ = ["main"]

_PID = struct.Struct("<i")
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
# The signals the loop wakes up for; SIGHUP is the caller's death signal.
_WAKE_SIGNALS = sandbox.WAKE_SIGNALS
# How long ``_end`` keeps killing what the zygote adopted.  A process forking
# as fast as it can is outrun within a few rounds; the bound is for a kernel
# that does not answer.
END_DEADLINE_S = 1.5


def _prctl():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError, ImportError):  # not Linux: no prctl
        return None


def _preload() -> None:
    """Import what every environment needs, once, before any fork."""
    import json  # noqa: F401
    import logging  # noqa: F401
    import pickle  # noqa: F401
    import traceback  # noqa: F401

    from . import bootstrap  # noqa: F401

    try:
        import cloudpickle  # noqa: F401  (callable handlers unpickle with it)
    except ImportError:
        pass


def _preload_later() -> None:
    """Import what handlers commonly use, once the zygote has nothing to do.

    ``tempfile`` (with shutil and random) and ``decimal`` are a seventh of the
    zygote's imports, and an environment needs them only if its handler
    does: importing them after the first fork takes them off the first
    invocation of every Invoker.  Environments forked before this import
    them themselves if they need them.
    """
    import decimal  # noqa: F401
    import tempfile  # noqa: F401


def main(sock_fd: int, caller_pid: int = 0) -> None:
    """Serve fork requests until the Invoker (process ``caller_pid``) is gone; never raises."""
    children: dict[int, int] = {}  # pid -> write end of its status pipe
    try:
        report = sandbox.setup_zygote()
        _preload()
        prctl = _prctl()
        sock = _Socket(fileno=sock_fd)
        hello = json.dumps(report).encode()
        sock.sendall(_PID.pack(len(hello)) + hello)  # the Invoker reads it before its first request
        wake = _watch_signals(prctl)
        gc.freeze()
        if not caller_pid or os.getppid() == caller_pid:  # else it died before PDEATHSIG was set
            _serve(sock, wake, children, caller_pid, prctl, Spares())
    finally:
        try:
            _end(children)
            sandbox.release()
        finally:
            os._exit(0)


def _watch_signals(prctl) -> tuple[int, int]:
    """Route SIGCHLD, SIGHUP and SIGTERM to a pipe the loop selects on; return (read end, write end).

    Also: the caller's death sends SIGHUP, and the zygote adopts its
    environments' orphans.  SIGINT is ignored: a Ctrl-C is the caller's.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    for signum in _WAKE_SIGNALS:
        signal.signal(signum, _ignore)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    if prctl is not None:
        prctl(_PR_SET_CHILD_SUBREAPER, 1)
        prctl(_PR_SET_PDEATHSIG, signal.SIGHUP)
    return wake_r, wake_w


def _ignore(_signum, _frame) -> None:
    """The Python-level handler of the watched signals: the wakeup pipe does the work."""


def _serve(sock: _Socket, wake: tuple[int, int], children: dict[int, int], caller_pid: int, prctl, spares) -> None:
    """The loop: fork on request, reap on SIGCHLD; return when the Invoker is gone.

    ``G`` is ``F`` followed, once it is answered, by making a spare sandbox
    for the next fork unless one waits (``spare``): a second answer carries
    the spare's pid, or -errno.  The Invoker reads it before its next
    request, so the spare is made while this environment starts.
    """
    wake_r = wake[0]
    later = True
    while True:
        ready = select.select([sock, wake_r], [], [], 0 if later else None)[0]
        if not ready:  # idle for the first time: the rest of the imports
            later = False
            _preload_later()
            gc.freeze()
            continue
        if wake_r in ready:
            woken = _drain(wake_r)
            _reap(children)
            if signal.SIGTERM in woken or (caller_pid and os.getppid() != caller_pid):
                return
        if sock in ready:
            try:
                msg, fds = recv_fds(sock, 1 << 16, 3)
            except OSError:
                return
            if not msg:
                return
            private = [sock.fileno(), *wake, *children.values()]
            if not _fork_request(sock, msg[1:], fds, children, private, prctl, spares):
                return
            private = [sock.fileno(), *wake, *children.values()]
            if msg[:1] == b"G":  # the next one's spare
                if not _keep_spare(sock, children, private, prctl, spares):
                    return
                _rehearse(msg[1:], spares)


def _drain(fd: int) -> set[int]:
    """Empty the wakeup pipe; the signal numbers it held."""
    seen: set[int] = set()
    while True:
        try:
            data = os.read(fd, 512)
        except BlockingIOError:
            return seen
        if not data:
            return seen
        seen.update(data)


def _fork_request(sock, name: bytes, fds: list[int], children: dict[int, int], private, prctl, spares) -> bool:
    """Fork one environment (or hand it the spare sandbox) and answer; False when the answer cannot reach it."""
    status_r = status_w = -1
    name, _, conf = name.partition(b"\0")
    try:
        conf = json.loads(conf) if conf else None
        run = conf.get("exec") if conf else None  # a command to exec: {"exec": {...}, "sandbox": conf or None}
        if run is not None:
            conf = conf.get("sandbox")
        claimed = spares.claim(conf, run, fds, name, children)
        if claimed is not None:  # the spare's init has its status pipe's write end (in children already)
            pid, status_r = claimed
            reap_pid = pid
        else:
            status_r, status_w = os.pipe()
            private = [*private, *spares.fds(), status_r, status_w]
            pid, reap_pid = _spawn_environment(fds, name, private, prctl, conf, status_w, run)
    except OSError as e:  # EAGAIN, ENOMEM, a sandbox refused: this fork failed, the zygote did not
        for fd in (status_r, status_w):
            if fd >= 0:
                os.close(fd)
        reply, attached = _PID.pack(-(e.errno or 1)), []
    else:
        if status_w >= 0:
            children[reap_pid] = status_w
        reply, attached = _PID.pack(pid), [status_r]
    finally:
        for fd in fds:
            os.close(fd)
    try:
        send_fds(sock, reply, attached)
    except OSError:
        return False
    finally:
        for fd in attached:
            os.close(fd)
    return True


def _keep_spare(sock, children: dict[int, int], private: list[int], prctl, spares) -> bool:
    """Make a spare sandbox unless one waits, and send its pid (or -errno); False when the Invoker is gone."""
    pid, claimed = spares.make(children, private)
    if claimed is not None:  # in the spare's runtime, claimed: become the environment
        fds, name = claimed
        _child(fds, name, [], prctl, 1)
    try:
        sock.sendall(_PID.pack(pid))
    except OSError:
        return False
    return True


def _rehearse(request: bytes, spares) -> None:
    """Run the next claim's code once, on a throw-away copy of this request, while nobody waits.

    Why: every page the zygote writes after making a spare is copied, the
    spare sharing it; the next claim's Python (parsing the request, the
    /tmp checks, the spare's message, the answer) wrote ~95 of them, ~0.35
    ms of copies on the critical path of the next cold start (2-vCPU VM).
    Run here, just after the spare is made, those copies are made now;
    until the next fork the pages stay the zygote's own.  Nothing is
    mounted, and nothing is sent to anyone: the message goes to a socket
    pair of its own.
    """
    a = b = None
    try:
        name, _, conf = request.partition(b"\0")
        spares.rehearse(json.loads(conf) if conf else None, name)
        a, b = socketpair(AF_UNIX, SOCK_STREAM)
        send_fds(a, _PID.pack(0), [b.fileno()])
        for fd in recv_fds(b, _PID.size, 1)[1]:
            os.close(fd)
    except (OSError, ValueError):
        pass
    finally:
        for end in (a, b):
            if end is not None:
                end.close()


def _spawn_environment(
    fds: list[int], name: bytes, private: list[int], prctl, conf, status_w, run: dict | None = None
) -> tuple[int, int]:
    """Create the process of one environment (the one place one is created); (its pid, the pid to reap).

    ``fds`` become its request, response and log pipes; ``private`` are the
    zygote's descriptors, which the child closes.  ``conf`` describes its
    sandbox (None: none): then the zygote's child is the sandbox's init,
    which reports the environment's wait status on ``status_w`` itself.

    ``run`` (a Runtime API runtime: Node, a ``provided`` bootstrap) is a
    command the environment execs instead of running the Python bootstrap;
    ``fds`` are then its log pipe and, for a runtime without a network, a
    socket on which the sandbox's init sends the Runtime API's listening
    socket, made inside the environment's network namespace.  In a sandbox
    its init spawns it (``runtimes.spawn``); without one the zygote's child
    execs it (``_exec``).
    """
    if run is not None and conf is not None:  # the sandbox's init spawns it (``sandbox._spawn``)
        conf = dict(conf, exec=dict(run, log=fds[0]))
        if run.get("listen"):
            conf["listen"] = [fds[1], run["listen"]]
    pid, reap_pid = sandbox.fork(conf, status_w)
    if pid == 0:
        if run is not None:
            _exec(fds[0], private, prctl, reap_pid, run)
        _child(fds, name, private, prctl, reap_pid)
    return pid, reap_pid


def _exec(log_w: int, private: list[int], prctl, parent_pid: int, run: dict) -> None:
    """Become a Runtime API runtime without a sandbox: exec ``run["argv"]`` with its environment; never returns.

    What it gets is what ``subprocess.Popen`` would give it (default signal
    dispositions, stdin on /dev/null, stdout and stderr on the log pipe, no
    other descriptor), plus the environment's group and death signal.  An
    exec that fails says why on the log and exits 127, as a shell does.
    """
    try:
        sandbox.default_signals(signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ)  # SIG_IGN would survive the exec
        os.setpgid(0, 0)
        for fd in private:
            os.close(fd)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        os.closerange(3, 1 << 16)
        os.chdir(run["cwd"])
        os.execve(run["argv"][0], run["argv"], run["env"])
    except BaseException as e:
        try:
            why = e.strerror if isinstance(e, OSError) and e.strerror else e
            os.write(2, f"{runtimes.EXEC_FAILED}{run['argv'][0]}: {why}\n".encode())
        finally:
            os._exit(127)


def _child(fds: list[int], name: bytes, private: list[int], prctl, parent_pid: int) -> None:
    """Become an execution environment; never returns."""
    try:
        sandbox.default_signals(signal.SIGINT)
        os.setpgid(0, 0)  # its own group: the zygote ends it with the environment
        for fd in private:
            os.close(fd)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            prctl(_PR_SET_NAME, name[:15])
        if os.getppid() != parent_pid:  # the parent died before PDEATHSIG was set
            os._exit(1)
        req_r, resp_w, log_w = fds
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        os.close(log_w)
        from .bootstrap import main as run

        run(req_r, resp_w)
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(70)
    os._exit(0)


def _reap(children: dict[int, int]) -> None:
    """Reap every child that has ended, killing its group first; report environments' statuses."""
    while True:
        try:  # look, without reaping: while it is a zombie its group id cannot be reused
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or not info.si_pid:
            return
        pid = info.si_pid
        _kill_group(pid)  # what a handler left running dies with its environment
        try:
            status = os.waitpid(pid, 0)[1]
        except ChildProcessError:  # nothing else reaps; kept for safety
            status = None
        w = children.pop(pid, None)
        if w is not None:
            _report(w, status)


def _report(w: int, status: int | None) -> None:
    """Write an environment's wait status to its status pipe (the Invoker may be gone) and close it."""
    try:
        if status is not None:
            os.write(w, _PID.pack(status))
    except OSError:
        pass
    finally:
        os.close(w)


def _end(children: dict[int, int]) -> None:
    """Kill every environment's group, then what the zygote adopted, until nothing is left."""
    for pid in children:
        _kill_group(pid)
        _kill(pid)
    deadline = time.monotonic() + END_DEADLINE_S
    while time.monotonic() < deadline:
        pids = _child_pids()
        if not pids:
            return
        for pid in pids:
            _kill_group(pid)  # a process that called setsid() leads a group of its own
            _kill(pid)
        _reap_killed(pids, deadline)


def _reap_killed(pids: list[int], deadline: float) -> None:
    """Reap ``pids`` (killed) as they end, until the deadline."""
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return
        if info is None or not info.si_pid:
            time.sleep(0.001)
            continue
        waiting.discard(info.si_pid)


def _child_pids() -> list[int]:
    """The zygote's children (environments and adopted processes), from /proc."""
    me = os.getpid()
    try:
        with open(f"/proc/self/task/{me}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        pass
    pids = []  # a kernel without CONFIG_PROC_CHILDREN: scan every process's parent
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == me:
                pids.append(int(entry))
    return pids


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` (an environment's), if it exists."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":  # pragma: no cover - started by pylambda itself
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
