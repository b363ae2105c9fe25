"""A process environment: a worker process forked by a zygote, one pipe pair each (``process_backend`` starts them).

It speaks the wire (``_runtime/protocol``): it packs each request into an
INVOKE frame and decides, from the request's concurrency hints, whether
the caller spins for the reply and whether its pipe I/O holds the GIL
(``held``).  A ``ProcessEnvironment`` is checked out by exactly one caller thread at a time, so
its methods take no locks.  Every wait is a ``poll`` on the response and log
pipes with the deadline as the timeout, so there are three outcomes and no
busy loop: a reply, a death (EOF on the response pipe), or the deadline.
While an invocation runs longer than ``MEMORY_SAMPLE_S`` the wait wakes up to
sample the process's RSS, so a handler that grows past ``memory_size`` is
killed while it runs; a faster burst is caught exactly after the fact by the
peak RSS (``getrusage``) the environment reports with every result.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import select
import signal
import struct
import threading
import time

from .._runtime import protocol
from .._runtime.protocol import (
    FLAG_SPIN,
    FLAG_TIMEOUT,
    HEADER,
    INIT,
    INIT_DONE,
    INIT_FAILED,
    INVOKE,
    INVOKE_HEAD,
    RESULT,
    RESULT_FRAME,
    RESULT_HEAD,
    read_exact,
    write_all,
)
from . import backend, held
from .backend import Environment, Outcome, Request
from .cpus import usable_cpus
from .ending import kill_sandbox, read_proc
from .zygote import Zygote, host_pid, read_status

__all__ = ["ProcessEnvironment", "waiting"]

# The wire's statuses are the contract's: replies pass through untranslated.
assert (protocol.STATUS_JSON, protocol.STATUS_BYTES, protocol.STATUS_ERROR) == (
    backend.STATUS_JSON,
    backend.STATUS_BYTES,
    backend.STATUS_ERROR,
)

# How often a running invocation's RSS is sampled.  Smaller catches a runaway
# allocation sooner and costs a /proc read per period; the exact peak check
# after each invocation catches anything a sample misses.
MEMORY_SAMPLE_S = 0.01
MARK_WAIT_S = 0.2  # how long a cold start's log mark is awaited after INIT_DONE (``_split_at_mark``)
# How long an idle environment may take to exit by itself after EOF before it
# is killed.  Longer lets a slow coverage save finish; shorter bounds close().
SHUTDOWN_GRACE_S = 1.0
# Pipes are enlarged so a 1 MB payload crosses in one write (fewer wakeups).
PIPE_SIZE = 1 << 20
_PIPE_MIN = 1 << 16  # what any pipe holds (Linux's default capacity)
_F_SETPIPE_SZ = 1031
_PAGE = os.sysconf("SC_PAGE_SIZE")
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR
# CPUs this process can use.  With one, nothing spins: a spinning caller
# would hold the CPU its environment needs to answer.
_CORES = usable_cpus()
# A reply frame's kind, as an outcome's.
_FRAME_KINDS = {RESULT: "result", INIT_DONE: "ready", INIT_FAILED: "init_error"}
# The frame header and the INVOKE head packed in one call.
_pack_frame = struct.Struct("<IB" + INVOKE_HEAD.format[1:]).pack
_INVOKE_HEAD_SIZE = INVOKE_HEAD.size

_RESULT_HEAD_END = HEADER.size + RESULT_HEAD.size


def waiting(spin_s: float, concurrency: int, concurrent: bool) -> tuple[float, int, bool]:
    """(how long the caller spins for the reply, the INVOKE flags, whether its pipe I/O holds the GIL).

    The caller spins only when sequential: alone now and not concurrent
    lately (between two concurrent calls a thread is briefly alone, and
    spinning then holds the GIL the other call needs).  The environment
    spins for the next request while invocations do not outnumber the
    cores: its spin yields its CPU to anything runnable there, so it costs
    only idle time, and it spares the wakeup of a halted CPU, which is most
    of a warm invocation on a VM.  While concurrent, the caller writes and
    reads its environment's pipes without releasing the GIL (see ``held``).
    With one CPU nothing spins: a spinning caller would hold the CPU its
    environment needs to answer.
    """
    hold = concurrent and held.bind()
    if not spin_s or _CORES < 2:
        return 0.0, 0, hold
    return (0.0 if concurrent else spin_s), (FLAG_SPIN if concurrency <= _CORES else 0), hold


class ProcessEnvironment(Environment):
    """One worker process acting as a Lambda execution environment."""

    __slots__ = (
        "_ahead",
        "_alone",
        "_carry",
        "_graceful",
        "_held_buf",
        "_hold",
        "_init_pid",
        "_log_r",
        "_mark",
        "_nested",
        "_pid_pending",
        "_poll",
        "_reap_lock",
        "_req_w",
        "_resp_r",
        "_rest",
        "_spin_s",
        "_status",
        "_status_r",
        "_wait_spin_s",
    )

    def __init__(
        self, zygote: Zygote, key, env_id: str, name: str, init_spec: dict, memory_mb: int, spin_s: float = 0.0
    ) -> None:
        req_r, req_w, resp_r, resp_w = self._channel()
        log_r, log_w = os.pipe()
        for fd in (req_w, resp_r, log_r):
            os.set_inheritable(fd, False)
        body = pickle.dumps(init_spec, protocol=5)
        frame = HEADER.pack(len(body), INIT) + body
        # Written ahead when it fits an empty pipe (64 KB at least): the environment
        # reads it as soon as it exists, without waiting for this thread to be scheduled.
        ahead = len(frame) <= _PIPE_MIN
        if ahead:
            os.write(req_w, frame)
        try:
            sandbox = init_spec.get("sandbox")
            if isinstance(zygote, Zygote):  # the spare for the next cold start is made while this one starts
                pid, self._status_r = zygote.fork([req_r, resp_w, log_w], name, sandbox=sandbox, spare=True)
            else:  # a SnapStart template: restores are forked ahead by the template itself
                pid, self._status_r = zygote.fork([req_r, resp_w, log_w], name, sandbox=sandbox)
        except BaseException:
            for fd in (req_r, req_w, resp_r, resp_w, log_r, log_w):
                os.close(fd)
            raise
        for fd in (req_r, resp_w, log_w):
            os.close(fd)
        self._books(key, env_id, init_spec, memory_mb, pid)
        # In a sandbox, ``pid`` is its init's until the init writes the
        # environment's own (negated) on the status pipe: see ``_learn_pid``.
        self._pid_pending = self.sandboxed
        # Restored from a sandboxed SnapStart template: the init reports the
        # pid in the template's PID namespace, translated here (``_learn_pid``).
        self._nested = getattr(zygote, "nests_pid_namespaces", False)
        # Its sandbox's init, unless restored (the template answers with pids of its own
        # namespace): SIGKILL to the init ends the whole environment (``end_now``).
        self._init_pid = pid if self.sandboxed and not self._nested else 0
        # Measured by coverage: it saves its data when it exits by itself (EOF), not when killed;
        # under a CPU quota: its init removes its cgroup when the runtime has exited.
        self._graceful = bool(init_spec.get("coverage") or (init_spec.get("sandbox") or {}).get("cpus"))
        self._req_w, self._resp_r, self._log_r = req_w, resp_r, log_r
        self._status = None
        # An INVOKE sent with the INIT (``send_ahead``): the request, until ``send`` takes it;
        # the mark the runtime writes between INIT's logs and the invocation's, and what
        # the invocation logged before its reply was awaited.
        self._ahead: Request | None = None
        self._mark: bytes | None = init_spec.get("log_mark")
        self._carry = b""
        self._rest = b""  # read past INIT_DONE: the start of that invocation's reply
        self._held_buf = None
        self._spin_s = spin_s
        self._alone = waiting(spin_s, 1, False)
        self._wait_spin_s = 0.0
        self._hold = False
        self._reap_lock = threading.Lock()
        # The status pipe too: it reports the exit even when something the
        # handler started still holds the response pipe open.
        poller = select.poll()
        poller.register(resp_r, _POLLIN)
        poller.register(log_r, _POLLIN)
        poller.register(self._status_r, _POLLIN)
        self._poll = poller.poll
        if not ahead:
            try:
                write_all(req_w, frame)
            except OSError:
                pass  # died already; the wait for INIT_DONE will see EOF

    @staticmethod
    def _channel() -> tuple[int, int, int, int]:
        """(request read, request write, response read, response write): two pipes, enlarged."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        for fd in (req_w, resp_w):
            try:
                fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass
        return req_r, req_w, resp_r, resp_w

    # -- exchanges -------------------------------------------------------------
    def wait_init(self, timeout_s: float) -> Outcome:
        """Wait for the init phase to finish (``INIT_DONE``/``INIT_FAILED``)."""
        deadline = time.monotonic() + timeout_s
        if self._pid_pending and not self._learn_pid(deadline):
            return self._died(b"")
        outcome = self._wait(deadline)
        if outcome.kind == "ready":
            self.state = "IDLE"
            if self._mark:  # INIT's logs end at the mark; what follows it is the invocation's
                outcome.logs, self._carry, found = self._split_at_mark(outcome.logs, self._mark)
                self._mark = None if found else self._mark  # a late one is taken out of the invocation's logs
        elif outcome.kind == "init_error":
            self.reap()
        return outcome

    def _split_at_mark(self, logs: bytes, mark: bytes) -> tuple[bytes, bytes, bool]:
        """(INIT's logs, the invocation's so far, found): ``logs`` and the log pipe's bytes, split at ``mark``.

        The runtime writes the mark just after INIT_DONE (written before, it woke this thread once more):
        awaited until the invocation's reply or the environment's end (each comes after it), or for
        ``MARK_WAIT_S`` (a stdout redirected at init: it never comes); without it, all is INIT's (and a
        late one is removed from the invocation's logs, ``_resume``).
        """
        buf, seen, log_r, waiter = bytearray(logs), 0, self._log_r, select.poll()
        for fd in (log_r, self._resp_r, self._status_r):
            waiter.register(fd, _POLLIN)
        until = time.monotonic() + (0.0 if self._rest else MARK_WAIT_S)  # a reply read: the mark is in
        while (at := buf.find(mark, seen)) < 0:
            seen = max(0, len(buf) - len(mark) + 1)
            left = until - time.monotonic()
            ready = dict(waiter.poll(int(left * 1000) + 1)) if left > 0 else {}
            if not (chunk := os.read(log_r, 1 << 16) if log_r in ready else b""):  # none to come: what is there
                buf += b"".join(self._drain_logs([]))
                at = buf.find(mark, seen)
                break
            buf += chunk
        return (bytes(buf[:at]), bytes(buf[at + len(mark) :]), True) if at >= 0 else (bytes(buf), b"", False)

    def _learn_pid(self, deadline: float) -> bool:
        """Read the sandboxed environment's pid from its status pipe; False if it ended first.

        The zygote answers a fork request as soon as the sandbox's init
        exists, so the caller's INIT message and the init's setup overlap;
        the init then writes ``-pid`` of the environment (or -1: its setup
        failed), ahead of the wait status the pipe carries at the end.
        """
        if not select.select([self._status_r], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return True  # not yet by the deadline: the wait times out and kills the init (and all in it)
        data = os.read(self._status_r, 4)
        value = int.from_bytes(data, "little", signed=True) if len(data) == 4 else -1
        self._pid_pending = False
        if value < -1:
            # Restored from a template: failing the translation (it ended at
            # once), the init's own pid is the one to kill and sample.
            self.pid = (host_pid(self.pid, -value) or self.pid) if self._nested else -value
            return True
        if value >= 0:  # the init's own wait status: it died before the environment was made
            self._status = value
        return False

    def send(self, request: Request) -> bool:
        """Send one INVOKE frame; False if the process was dead before anything was sent.

        Only the first write can tell: a request pipe with no reader fails it
        with EPIPE.  How to wait is decided here, from the request's hints
        (``waiting``).
        """
        self.state = "BUSY"
        self.invocations += 1
        if request.concurrent:
            self._wait_spin_s, flags, hold = waiting(self._spin_s, request.concurrency, True)
        else:  # alone: the policy's answer does not change
            self._wait_spin_s, flags, hold = self._alone
        self._hold = hold
        ahead, self._ahead = self._ahead, None
        if ahead is request:  # sent with the INIT (``send_ahead``), and running already
            return True
        if ahead is not None:  # another one is running: never mix two replies; nothing of this one ran
            self.kill()
            self.reap()
            return False
        data = _invoke_frame(request, request.deadline_ms, flags)
        try:
            sent = -1
            if hold and len(data) <= held.MAX_WRITE:
                sent = held.write(self._req_w, data, len(data))
            if sent < 0:  # not held, or the held write failed: os.write says how
                sent = os.write(self._req_w, data)
        except BrokenPipeError:
            self.reap()
            return False
        if sent < len(data):  # a large body may go in several writes
            try:
                write_all(self._req_w, data[sent:])
            except OSError:
                pass  # it died: receive() sees EOF and reports the exit
        return True

    def send_ahead(self, request: Request, timeout_s: float) -> None:
        """Send the INVOKE of ``request`` now, behind the INIT, for the environment to start when INIT is done.

        Why: otherwise the environment reports INIT_DONE and sleeps, the caller wakes and sends the INVOKE,
        and the environment wakes again (0.2-0.4 ms each on a 2-vCPU VM), where Lambda's runtime just asks
        for the next event.  The frame carries the timeout (``FLAG_TIMEOUT``), counted from the invocation's
        start, as Lambda counts it.  The runtime writes the INIT message's ``log_mark`` between INIT's logs
        and the invocation's (``wait_init``).  ``send`` then takes it without writing; if INIT fails, the
        frame dies with the environment, unread.
        """
        flags = waiting(self._spin_s, request.concurrency, True)[1] if request.concurrent else self._alone[1]
        try:
            write_all(self._req_w, _invoke_frame(request, int(timeout_s * 1000), flags | FLAG_TIMEOUT))
        except OSError:
            return  # it died: the wait for INIT_DONE sees EOF
        self._ahead = request

    def receive(self, deadline: float) -> Outcome:
        """Wait for the reply to the frame ``send`` sent, a death or the deadline (monotonic).

        When ``send`` chose to spin, poll without blocking for that long
        first: a reply that comes within it is picked up without the thread
        going to sleep and being woken again, which on a VM costs more than
        the reply itself.  The common case (the reply alone, no log output)
        is parsed here directly; anything else goes through ``_wait``.
        """
        if self._carry or self._rest or self._mark:  # sent with the INIT: part of it read, or its mark late
            outcome = self._resume(deadline)
            if outcome.kind == "result":
                self.state = "IDLE"
            return outcome
        poll = self._poll
        spin_s = self._wait_spin_s
        if spin_s:
            events = poll(0)
            if not events:
                clock = time.perf_counter
                until = clock() + spin_s
                while not events and clock() < until:
                    events = poll(0)
        else:
            remaining = deadline - time.monotonic()
            events = poll(max(1, int(min(remaining, MEMORY_SAMPLE_S) * 1000) + 1)) if remaining > 0 else []
        if len(events) == 1 and events[0][0] == self._resp_r:
            if self._hold:
                buf = self._held_buf
                if buf is None:
                    buf = self._held_buf = held.buffer()
                n = held.read(self._resp_r, buf, held.READ_SIZE)
                # A failed read (-1) is retried as os.read, which raises or answers.
                chunk = buf[:n] if n >= 0 else os.read(self._resp_r, 1 << 16)
            else:
                chunk = os.read(self._resp_r, 1 << 16)
            if not chunk:
                return self._died(b"")
            outcome = self._reply(chunk, None)
        else:
            outcome = self._wait(deadline, events)
        if outcome.kind == "result":
            self.state = "IDLE"
        return outcome

    def _resume(self, deadline: float) -> Outcome:
        """The reply of an invocation sent with the INIT, from what was read with its INIT_DONE on."""
        logs = [self._carry] if self._carry else []
        rest, late = self._rest, self._mark
        self._carry = self._rest = b""
        self._mark = None
        # What it logged was written before its reply.
        outcome = self._reply(rest, self._drain_logs(logs)) if rest else self._wait(deadline, None, logs)
        if late:  # written after its wait for it: not the invocation's
            outcome.logs = outcome.logs.replace(late, b"", 1)
        return outcome

    def _wait(self, deadline: float, events: list | None = None, logs: list[bytes] | None = None) -> Outcome:
        """Wait for a frame, a death or the deadline (``events``: what a first poll found; ``logs``: logged so far)."""
        resp_r, log_r, poll = self._resp_r, self._log_r, self._poll
        logs = logs if logs is not None else []
        log_seen = bool(logs)
        sampled_kib = 0
        while True:
            if not events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    self._drain_logs(logs)
                    return Outcome(
                        "timeout",
                        logs=b"".join(logs),
                        rss_kib=max(sampled_kib, self.max_rss_kib),
                        exit_status=self.reap(),
                    )
                events = poll(max(1, int(min(remaining, MEMORY_SAMPLE_S) * 1000) + 1))
            if not events:
                sampled_kib = self._rss_kib()
                if sampled_kib > self.memory_limit_kib:
                    self.kill()
                    self._drain_logs(logs)
                    return Outcome("oom", logs=b"".join(logs), rss_kib=sampled_kib, exit_status=self.reap())
                continue
            reply_ready = exited = False
            ready, events = events, None
            for fd, _ev in ready:
                if fd == log_r:
                    log_seen = True
                    chunk = os.read(log_r, 1 << 16)
                    if chunk:
                        logs.append(chunk)
                    else:
                        poll = self._poll_unregister_log()
                elif fd == resp_r:
                    reply_ready = True
                else:  # the zygote reaped it
                    exited = True
            if exited and not reply_ready:
                # A reply written before the exit is in the pipe by now.
                if not select.select([resp_r], [], [], 0)[0]:
                    self._drain_logs(logs)
                    return self._died(b"".join(logs))
                reply_ready = True
            if not reply_ready:
                continue
            chunk = os.read(resp_r, 1 << 16)
            if log_seen:
                self._drain_logs(logs)
            if not chunk:
                return self._died(b"".join(logs))
            return self._reply(chunk, logs)

    def _reply(self, chunk: bytes, logs: list[bytes] | None) -> Outcome:
        """The outcome of a frame whose first bytes are ``chunk`` (the rest is read as needed)."""
        resp_r = self._resp_r
        head_end = _RESULT_HEAD_END
        try:
            if len(chunk) < head_end:
                chunk = read_exact(resp_r, head_end, chunk)
            size, kind, status, n_type, duration_ms, rss_kib = RESULT_FRAME.unpack_from(chunk)
            total = HEADER.size + size
            body_start = head_end + n_type
            if len(chunk) < body_start:
                chunk = read_exact(resp_r, body_start, chunk)
            error_type = chunk[head_end:body_start].decode() if n_type else ""
            if len(chunk) >= total:
                payload = chunk[body_start:total]
                if len(chunk) > total:  # INIT_DONE, then the start of an invocation sent with the INIT
                    self._rest = bytes(chunk[total:])
            else:  # a large reply: read the rest straight into one buffer
                payload = read_exact(resp_r, total - body_start, chunk[body_start:])
        except EOFError:
            return self._died(b"".join(logs) if logs else b"")
        if rss_kib > self.max_rss_kib:
            self.max_rss_kib = rss_kib
        outcome = Outcome(
            _FRAME_KINDS[kind], status, error_type, payload, duration_ms, rss_kib, b"".join(logs) if logs else b""
        )
        if rss_kib > self.memory_limit_kib:  # the peak passed the limit between samples: Lambda would have killed it
            self.kill()
            outcome.kind = "oom"
            outcome.exit_status = self.reap()
        return outcome

    def _poll_unregister_log(self):
        # The log pipe closed (the process is exiting): keep waiting on the
        # response pipe only, or poll would spin on the hung-up log fd.
        poller = select.poll()
        poller.register(self._resp_r, _POLLIN)
        poller.register(self._status_r, _POLLIN)
        self._poll = poller.poll
        return self._poll

    def _died(self, logs: bytes) -> Outcome:
        status = self.reap()
        return Outcome("exit", logs=logs, rss_kib=self.max_rss_kib, exit_status=status)

    def _drain_logs(self, logs: list[bytes]) -> list[bytes]:
        """Read what the log pipe holds now, without waiting for more (into ``logs``, returned)."""
        log_r = self._log_r
        waiter = select.poll()
        waiter.register(log_r, _POLLIN)
        while waiter.poll(0) and (chunk := os.read(log_r, 1 << 16)):
            logs.append(chunk)
        return logs

    def _rss_kib(self) -> int:
        try:
            return int(read_proc(f"/proc/{self.pid}/statm").split()[1]) * _PAGE // 1024
        except (OSError, IndexError, ValueError):
            return 0

    # -- ending ----------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL the process unless the zygote already reaped it."""
        with self._reap_lock:
            if self._pid_pending:  # the init's pid: killing it ends its PID namespace
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            if self.state == "DEAD" or select.select([self._status_r], [], [], 0)[0]:
                return
            try:  # the group: it and whatever its handler started
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                try:  # not (yet) a group leader
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reap(self, timeout: float = 5.0) -> int | None:
        """Wait (bounded) for the zygote's report of the exit status; close pipes.

        Idempotent and safe against a concurrent ``close()`` of the Invoker.
        """
        with self._reap_lock:
            if self.state == "DEAD":
                return self._status
            return self._reap_locked(timeout)

    def _reap_locked(self, timeout: float) -> int | None:
        status = self._status  # known already if a sandbox's init died early
        if status is None:  # past a sandbox's -pid, if still unread, to the wait status
            status = read_status(self._status_r, time.monotonic() + timeout, skip_pid=True)
        self._pid_pending = False  # ended: kill() has nothing left to do
        if status is None and not select.select([self._status_r], [], [], 0)[0]:
            try:  # still alive after the bound: make sure it is not
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._status = status
        self._release_locked()
        return status

    def _release_locked(self) -> None:
        """It has ended (or is bound to): mark it DEAD, EOF its request pipe, close our ends."""
        self.state = "DEAD"
        self.stop()
        for fd in (self._resp_r, self._log_r, self._status_r):
            os.close(fd)

    def end_now(self) -> bool:
        """End a sandboxed idle environment at once: SIGKILL its init and its group, close our ends.

        Why: waiting for an idle environment to exit after EOF is most of
        an Invoker's ``close()`` (the runtime's exit, then its init's, then
        the zygote's report: ~1.5 ms), and a test suite closes an Invoker
        per test.  Nothing is lost by not waiting: SIGKILL to the init of
        a PID namespace ends every process in it, so from this moment no
        code of the environment runs again, and the zygote reaps what is
        left.  Leak checks count a process with SIGKILL pending as ended
        (``ending.ended``).  Not for an environment measured by coverage
        (it saves its data on a clean exit), nor one under a CPU quota (its
        init removes its cgroup then), nor one without a sandbox (a process
        its handler moved out of its group would outlive it), nor one whose
        init's pid is not known yet: those get EOF and are reaped.
        """
        with self._reap_lock:
            if self.state == "DEAD":
                return True
            if not self._init_pid or self._pid_pending or self._graceful:
                return False
            kill_sandbox(self._init_pid, self.pid, self._status_r)
            self._release_locked()
            return True

    def shut_down(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """End an idle environment: EOF on its request pipe, then SIGKILL after ``grace``.

        An idle environment exits by itself on EOF within a millisecond or
        two; letting it do so lets it save coverage data.  ``reap`` kills it
        if it has not exited by then.
        """
        Environment.shut_down(self, grace)

    def stop(self) -> None:
        """Signal EOF on the request pipe (the environment exits by itself when idle)."""
        if self._req_w >= 0:
            os.close(self._req_w)
            self._req_w = -1


def _invoke_frame(request: Request, deadline_ms: int, flags: int) -> bytes:
    """The INVOKE frame of ``request`` (``deadline_ms``: epoch ms, or the timeout with ``FLAG_TIMEOUT``)."""
    request_id, arn, cc, body = request.request_id, request.invoked_arn, request.client_context, request.body
    strings = f"{request_id}{arn}{request.trace}".encode()  # a caller's trace may be non-ASCII: count bytes
    n_id, n_arn, n_strings = len(request_id), len(arn), len(strings)
    return (
        _pack_frame(_INVOKE_HEAD_SIZE + n_strings + len(cc) + len(body), INVOKE, deadline_ms, flags,
                    n_id, n_arn, n_strings - n_id - n_arn, len(cc), 0)
        + strings
        + (cc + body if cc else body)
    )  # fmt: skip
