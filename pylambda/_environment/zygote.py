"""Parent-side handle on the zygote process that forks environments.

The zygote is started with ``python -I -S`` (no site, no user environment),
given the caller's ``sys.path`` explicitly, in a new session so a Ctrl-C in
the terminal reaches the caller only.  It is started as soon as the Invoker
is created, without waiting, so its ~30 ms of imports overlap with the
caller's own work; the first fork request simply queues on the socket.

Every exchange with the zygote has a deadline.  If the zygote dies (a user's
``kill``, the OOM killer), the next fork request sees EOF and a new zygote is
started transparently.  If it stops answering (SIGSTOP from a debugger, a
frozen cgroup), the wait notices within ``STOPPED_CHECK_S``, kills the zygote
and everything it started (``kill_tree``) and starts a new one; a zygote that
is running but too slow for the deadline is replaced the same way and the
fork raises.

Nothing the zygote started outlives the caller: the zygote exits on EOF or on
its parent-death signal and kills what it started (``_runtime.zygote``), and
an ``atexit`` hook closes every zygote still open when the interpreter exits
without ``Invoker.close()``.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref

from .._errors import InvokerClosedError, PylambdaError
from .ending import read_proc

__all__ = ["BUSY_GRACE_S", "STOPPED_CHECK_S", "Zygote", "kill_tree", "read_status"]

_PID = struct.Struct("<i")
# What the zygote is started with, besides nothing: its environment is what
# an environment's /proc/self/environ shows, so the caller's (secrets
# included) must not be it.  These only decide how it starts and decodes
# (and whether it builds sandboxes: see docs/guide.md#sandbox).
_KEPT_ENV = ("PATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYLAMBDA_SANDBOX")
# The largest fork request the zygote reads (``_runtime/zygote.py``: one
# recvmsg); a runtime's environment variables travel in it (4 KB of the
# function's own at most, as on Lambda).
MAX_REQUEST = 1 << 16
# How long the zygote may take to start and report its sandbox (its imports
# take ~30 ms; the probes ~5 ms more).
HELLO_TIMEOUT_S = 10.0
# Whether zygotes keep a spare sandbox ready for the next cold start
# (``_runtime/spare.py``); ``PYLAMBDA_SPARE=0`` is for comparing without.
SPARES = os.environ.get("PYLAMBDA_SPARE") != "0"
# Changes whenever a zygote process starts, ends or is asked to fork, and is None once one forked an
# environment without a sandbox (its orphans become the zygote's children any time): the pytest
# plugin reuses a walk of the zygotes' children while it stays the same (``fork_generation``).
_GENERATIONS = itertools.count(1)
_generation: int | None = 0
_FORGOTTEN: list[subprocess.Popen] = []  # a forked caller's copies of its parent's zygotes
_BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from pylambda._runtime.zygote import main; main(int(sys.argv[2]), int(sys.argv[3]))"
)
# While waiting for the zygote's answer, how often to check that it is not
# stopped.  Shorter replaces a stopped zygote sooner; each check reads /proc.
STOPPED_CHECK_S = 0.25
# How long past its deadline a fork may still wait for a zygote that is
# using CPU towards its answer (starting up on a loaded machine, or under
# valgrind).  A zygote that is stopped, or idle past the deadline, is
# replaced at once.
BUSY_GRACE_S = 120.0
# Zygotes not yet closed, for the exit hook (registered on the first start).
_OPEN: weakref.WeakSet[Zygote] = weakref.WeakSet()
_hooked = False


def _close_open_zygotes() -> None:
    """The interpreter is exiting without ``close()``: end every zygote still open."""
    for zygote in list(_OPEN):
        zygote.close(timeout=0.5)


def _hook_exit() -> None:
    global _hooked
    if not _hooked:
        _hooked = True
        atexit.register(_close_open_zygotes)


class Zygote:
    """One zygote process and the socket to it; thread-safe."""

    def __init__(self, executable: str | None = None) -> None:
        # Another interpreter (a python3.X runtime) gets only pylambda's root
        # on its path: the caller's site-packages were built for the caller.
        self.executable = executable or sys.executable
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._closed = False
        self._report: dict | None = None
        self.generation = 0
        self._forked: set[int] = set()  # environments it forked (its other children were adopted)
        # The spare sandbox it keeps ready (``_runtime/spare.py``): its init's pid, and
        # whether the zygote's answer naming it is still unread on the socket.
        self._spare = 0
        self._spare_pending = False
        # Whether it ever forked an environment without a sandbox: only then can it have adopted
        # a handler's process (a sandboxed one's orphans stay in its PID namespace, and end with it).
        self._unsandboxed = False

    def start(self) -> None:
        """Start the zygote if it is not running (does not wait for it)."""
        with self._lock:
            if self._proc is None and not self._closed:
                self._spawn()

    def _spawn(self) -> None:
        _next_generation()
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        path = [p for p in sys.path if p] if self.executable == sys.executable else []
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if pkg_root not in path:
            path.insert(0, pkg_root)
        fd = child_sock.fileno()
        try:
            self._proc = subprocess.Popen(
                [self.executable, "-I", "-S", "-c", _BOOT, json.dumps(path), str(fd), str(os.getpid())],
                pass_fds=[fd],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                env={k: os.environ[k] for k in _KEPT_ENV if k in os.environ},
            )
        finally:
            child_sock.close()
        self._sock = parent_sock
        self._report = None
        self._spare, self._spare_pending = 0, False
        self.generation += 1
        _OPEN.add(self)
        _hook_exit()

    @property
    def pid(self) -> int | None:
        """The zygote's pid, or None when not running."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def _read_report_locked(self, deadline: float) -> dict:
        """The zygote's first message: what its sandbox enforces (read once per zygote)."""
        if self._report is None:
            sock = self._sock
            assert sock is not None
            try:
                head = self._answer_locked(deadline, _PID.size)
                report = json.loads(_recv_exact(sock, _PID.unpack(head)[0]))
            except (OSError, EOFError, ValueError):
                # Dead or too slow: its answers can no longer be told from its report.
                self._replace_locked()
                return {"namespaces": "the zygote did not report its sandbox in time"}
            self._report = report
        return self._report

    def sandbox_report(self) -> dict:
        """What the zygote's sandbox enforces: for each part, None or why not (starts it if needed)."""
        with self._lock:
            if self._closed:
                raise InvokerClosedError("the Invoker was closed")
            if self._proc is None:
                self._spawn()
            return self._read_report_locked(time.monotonic() + HELLO_TIMEOUT_S)

    def fork(
        self,
        fds: list[int],
        name: str,
        timeout: float = 10.0,
        sandbox: dict | None = None,
        run: dict | None = None,
        spare: bool = False,
    ) -> tuple[int, int]:
        """Fork an environment that owns ``fds``; return (pid, status pipe read end).

        ``sandbox`` describes the environment's sandbox (its /tmp, what it
        sees; ``pylambda._runtime.sandbox.fork``), None for none.  ``run``
        makes it exec a command (``argv``, ``env``, ``cwd``, and ``listen``:
        a port for the Runtime API inside its network namespace) instead of
        running the Python bootstrap (``_runtime.zygote._exec``).  ``spare``
        (a sandboxed fork): once it has answered, the zygote makes a spare
        sandbox for the next cold start unless one waits (``_runtime/spare.py``),
        while this environment starts; ``PYLAMBDA_SPARE=0`` turns spares off
        (for comparisons).  Its answer naming the spare is read before the
        next request (``_settle_spare_locked``).  Raises
        InvokerClosedError once closed, and PylambdaError when no zygote
        could fork within ``timeout`` seconds.
        """
        spare = spare and SPARES and sandbox is not None
        if sandbox is None:
            self._unsandboxed = True
        _next_generation(adopting=sandbox is None)
        msg = (b"G" if spare else b"F") + name.encode()[:15].replace(b"\0", b"")
        if run is not None:
            msg += b"\0" + json.dumps({"exec": run, "sandbox": sandbox}).encode()
        elif sandbox is not None:
            msg += b"\0" + json.dumps(sandbox).encode()
        if len(msg) > MAX_REQUEST:  # the zygote reads one request of at most this many bytes
            raise PylambdaError(f"an environment's start request is {len(msg)} bytes, over {MAX_REQUEST}")
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            raise PylambdaError(f"no environment could be forked within {timeout:g} s (the zygote is busy)")
        try:
            for _attempt in (1, 2, 3):
                if self._closed:
                    raise InvokerClosedError("the Invoker was closed")
                if self._proc is None:
                    self._spawn()
                self._read_report_locked(deadline)
                if self._proc is None:  # it did not report: replaced, try the next
                    reply, rfds = b"", []
                else:
                    reply, rfds = self._exchange(msg, fds, deadline)
                if len(reply) == _PID.size:
                    pid = _PID.unpack(reply)[0]
                    if pid == self._spare:  # it took the spare
                        self._spare = 0
                    self._spare_pending = spare  # answered a G: it is making a spare now, whatever the fork did
                    if len(rfds) == 1 and pid > 0:
                        self._forked.add(pid)
                        return pid, rfds[0]
                    if pid < 0 and not rfds:  # the zygote is fine; the fork failed (EAGAIN, ENOMEM)
                        raise PylambdaError(f"could not fork an environment: {os.strerror(-pid)}")
                for fd in rfds:
                    os.close(fd)
                if self._closed:
                    raise InvokerClosedError("the Invoker was closed")
                self._replace_locked()  # dead, stopped, confused or too slow: replace it
                if time.monotonic() >= deadline:
                    break
        finally:
            self._lock.release()
            _next_generation()
        raise PylambdaError(f"no zygote process could fork an environment within {timeout:g} s")

    def _exchange(self, msg: bytes, fds: list[int], deadline: float) -> tuple[bytes, list[int]]:
        """Send one request and wait for its answer until ``deadline``; (b"", []) on failure."""
        sock, proc = self._sock, self._proc
        assert sock is not None
        assert proc is not None
        if not self._settle_spare_locked(deadline):
            return b"", []
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            socket.send_fds(sock, [msg], fds)
            if not self._await_answer(deadline):
                return b"", []
            sock.settimeout(STOPPED_CHECK_S)
            reply, rfds, _flags, _addr = socket.recv_fds(sock, _PID.size, 1)
            return reply, rfds
        except OSError:
            return b"", []

    def _answer_locked(self, deadline: float, size: int) -> bytes:
        """The first ``size`` bytes of the zygote's next message; TimeoutError if it does not come by ``deadline``."""
        sock = self._sock
        assert sock is not None
        if not self._await_answer(deadline):
            raise TimeoutError
        sock.settimeout(STOPPED_CHECK_S)
        return _recv_exact(sock, size)

    def _settle_spare_locked(self, deadline: float) -> bool:
        """Read the zygote's pending answer naming its spare sandbox, if any; False if it did not come."""
        if not self._spare_pending:
            return True
        try:
            pid = _PID.unpack(self._answer_locked(deadline, _PID.size))[0]
        except (OSError, EOFError):  # TimeoutError included
            return False
        self._spare_pending = False
        self._spare = max(pid, 0)  # -errno: none could be made
        return True

    def spare_pids(self) -> list[int]:
        """The pid of the spare sandbox's init the zygote keeps ready (its runtime is its child), if any.

        Waits (briefly) for the zygote's answer naming it when that is
        still unread: a leak check must know it from a test's processes.
        """
        with self._lock:
            if self._proc is not None and not self._settle_spare_locked(time.monotonic() + HELLO_TIMEOUT_S):
                self._replace_locked()
            return [self._spare] if self._spare_alive() else []

    def _spare_alive(self) -> bool:
        """Whether the spare known is still the zygote's, waiting (not ended, nor its pid reused by a fork)."""
        spare = self._spare
        if not spare or spare in self._forked:
            return False
        fields = proc_stat(spare)  # one read: alive (not a zombie) and still the zygote's child
        return fields is not None and fields[0] != b"Z" and fields[1] == str(self.pid).encode()

    def _await_answer(self, deadline: float) -> bool:
        """Wait for the zygote's next message; False if it is stopped, or past ``deadline`` and idle.

        Past the deadline, a zygote still using CPU towards its answer (start-up
        on a loaded machine, or under valgrind) is waited for up to
        ``BUSY_GRACE_S`` more.
        """
        sock, proc = self._sock, self._proc
        assert sock is not None
        assert proc is not None
        hard_deadline = deadline + BUSY_GRACE_S
        cpu = -1
        while True:
            left = deadline - time.monotonic()
            if select.select([sock], [], [], STOPPED_CHECK_S if left <= 0 else min(STOPPED_CHECK_S, left))[0]:
                return True
            stopped, now_cpu = _progress(proc.pid)
            now = time.monotonic()
            if stopped or (now >= deadline and (now_cpu == cpu or now >= hard_deadline)):
                return False
            cpu = now_cpu

    def sweep_adopted(self) -> list[int]:
        """SIGKILL the zygote's adopted children: what handlers started and left when their environment ended.

        The zygote is their subreaper, so a process that left its
        environment's group (``setsid``) and outlived the environment is
        its child without being one it forked.  A shared zygote outlives
        any one Invoker (``shared.py``), so each Invoker's backend sweeps
        when it closes.  Only a zygote that forked an environment without a
        sandbox can have adopted one: the orphans of a sandboxed environment
        are its init's, and end with its PID namespace.  So the others skip
        the sweep (the /proc reads and the wait for the zygote's answer
        naming its spare were ~0.3 ms of every Invoker's close()).
        """
        if not self._unsandboxed:
            return []
        with self._lock:  # no fork in flight: every environment is in _forked
            pid = self.pid
            if pid is None or not self._settle_spare_locked(time.monotonic() + HELLO_TIMEOUT_S):
                return []  # not running, or no answer (the next fork replaces it)
            try:
                children = {int(p) for p in read_proc(f"/proc/{pid}/task/{pid}/children").split()}
            except (OSError, ValueError):
                return []
            self._forked &= _alive_of(self._forked)  # the rest were reaped: their pids may be reused
            # A sandboxed environment's process is the grandchild: the zygote's
            # child is its sandbox's init (``_runtime.sandbox``), not adopted;
            # nor is the spare sandbox waiting for the next fork.
            inits = {parent_of(p) for p in self._forked}
            adopted = sorted(children - self._forked - inits - {self._spare})
        for child in adopted:
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return adopted

    def forget(self) -> None:
        """In a forked child of the caller: drop the parent's zygote without stopping it.

        Closing the child's copy of the socket cannot EOF the zygote (the
        parent holds its own), but ``close()`` would: its ``shutdown`` acts
        on the socket both processes share.  So the child leaves it out of
        the exit hook, and keeps the Popen object, unwaited, so that its
        finaliser does not warn about a process that is not the child's.
        """
        _OPEN.discard(self)
        self._lock = threading.Lock()
        sock, self._sock = self._sock, None
        if self._proc is not None:
            _FORGOTTEN.append(self._proc)
            self._proc = None
        if sock is not None:
            sock.close()

    def _replace_locked(self) -> None:
        """End this zygote and everything it started, at once (the next fork starts another)."""
        proc, sock = self._proc, self._sock
        self._proc = self._sock = None
        self._spare, self._spare_pending = 0, False
        _next_generation()
        if sock is not None:
            sock.close()
        if proc is not None:
            kill_tree(proc.pid)
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                pass

    def close(self, timeout: float = 1.0) -> None:
        """Stop the zygote; what it started is killed.  Bounded by about ``timeout`` + 0.5 s.

        EOF lets the zygote end its environments itself; one that has not
        exited by ``timeout`` (stopped, or stuck) is killed with everything it
        started.  Safe to call while another thread waits in ``fork``: the
        socket's shutdown wakes that thread, which raises InvokerClosedError.
        """
        self._closed = True
        _next_generation()
        _OPEN.discard(self)
        proc, sock = self._proc, self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # EOF for the zygote; wakes a thread in fork()
            except OSError:
                pass
        locked = self._lock.acquire(timeout=max(0.0, timeout))
        try:
            if self._proc is proc:
                self._proc = self._sock = None
            if sock is not None and locked:
                sock.close()
            if proc is not None:
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    kill_tree(proc.pid)
                    try:
                        proc.wait(0.5)
                    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                        pass
        finally:
            if locked:
                self._lock.release()


def read_status(fd: int, deadline: float, skip_pid: bool = False) -> int | None:
    """The next value on an environment's status pipe by ``deadline`` (monotonic); None: none came.

    A sandboxed environment's pipe carries ``-pid`` of its runtime (-1: its
    sandbox could not be set up) before the wait status; ``skip_pid`` reads
    past it to the wait status.
    """
    while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        data = os.read(fd, 4)
        if len(data) != 4:
            return None
        value = _PID.unpack(data)[0]
        if value >= 0 or not skip_pid:
            return value
    return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the zygote closed its socket")
        data += chunk
    return data


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...); None when it is gone.

    The command name is skipped up to its last ``)``: it may hold spaces and parentheses.
    """
    try:
        stat = read_proc(f"/proc/{pid}/stat")
        return stat[stat.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (0 when it is gone)."""
    fields = proc_stat(pid)
    try:
        return int(fields[1]) if fields else 0
    except (ValueError, IndexError):
        return 0


def host_pid(parent: int, inner: int) -> int | None:
    """The pid (in ours) of ``parent``'s child whose pid one PID namespace down is ``inner``; None if none.

    A SnapStart template's restored environments live in PID namespaces
    nested in the template's own: the template and their inits know them by
    pids of the template's namespace, which ``NSpid`` in
    ``/proc/<pid>/status`` lists next to ours.  The newest child is looked
    at first.
    """
    try:
        children = [int(p) for p in read_proc(f"/proc/{parent}/task/{parent}/children").split()]
    except (OSError, ValueError):
        return None
    for child in reversed(children):
        try:
            with open(f"/proc/{child}/status") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        ids = line.split()
                        if len(ids) > 2 and int(ids[2]) == inner:
                            return child
                        break
        except (OSError, ValueError):
            continue
    return None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != b"Z"


def _alive_of(pids: set[int]) -> set[int]:
    """The pids among ``pids`` that still exist."""
    return {p for p in pids if os.path.exists(f"/proc/{p}")}


def _progress(pid: int) -> tuple[bool, int]:
    """(whether process ``pid`` is stopped, the CPU time it has used in clock ticks)."""
    fields = proc_stat(pid)
    try:
        state, cpu = fields[0], int(fields[11]) + int(fields[12])  # state, utime + stime
    except (TypeError, ValueError, IndexError):  # gone (None) or unreadable
        return False, -1
    return state in (b"T", b"t") or _frozen(pid), cpu


def _frozen(pid: int) -> bool:
    """Whether process ``pid``'s cgroup (v2) is frozen."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as f:
            cgroup = f.read().split(b"::", 1)[-1].strip().decode()
        with open(f"/sys/fs/cgroup{cgroup}/cgroup.freeze", "rb") as f:
            return f.read().strip() == b"1"
    except (OSError, UnicodeDecodeError):
        return False


def _descendants(root: int) -> list[int]:
    """Every descendant of ``root``, parents before children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        ppid = parent_of(int(entry))
        if ppid:
            children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        kids = children.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def fork_generation() -> int | None:
    """What ``_generation`` holds: equal at two moments only if no zygote forked, started or ended between."""
    return _generation


def _next_generation(adopting: bool = False) -> None:
    """A new generation (each ``next`` is unique, so a later write never brings back an earlier value)."""
    global _generation
    _generation = None if adopting or _generation is None else next(_GENERATIONS)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it, the whole tree at once (stopped ones too).

    The tree is read before anything is killed, so nothing is reparented
    away from it first; the descendants die before ``pid``, so the ones a
    subreaper adopted are not handed to init while it dies.
    """
    try:
        os.kill(pid, signal.SIGSTOP)  # freeze the tree's root: it forks and adopts no more
    except (ProcessLookupError, PermissionError):
        pass
    for victim in reversed(_descendants(pid)):
        for kill in (os.killpg, os.kill):
            try:
                kill(victim, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
