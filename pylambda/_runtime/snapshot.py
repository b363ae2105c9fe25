"""SnapStart inside the sandbox: a template process that environments are restored from (the child side).

Lambda's SnapStart initialises a published version once, runs the
``register_before_snapshot`` hooks, snapshots the microVM, and later
resumes each new execution environment from that snapshot, running the
``register_after_restore`` hooks before the first invocation.  Here the
snapshot is a live process, the *template*: it ran the init phase (with
``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) and the before-snapshot
hooks, then serves fork requests.  Each fork is a restored environment: the
whole initialised heap, module globals and all, copy-on-write.

::

    zygote ─fork─▶ template: INIT (import handler) ─▶ before-snapshot hooks ─▶ INIT_DONE
                      │  serve(): fork requests on its socket, as the zygote's
                      └─fork─▶ environment: per-environment INIT (TMPDIR, stream)
                                 ─▶ after-restore hooks ─▶ INIT_DONE (restore ms) ─▶ invoke loop

What is captured at the snapshot is shared by every restored environment,
as on Lambda: random state seeded at init, ids drawn at init, open sockets
and connections (one file description, now held by many processes).  Hooks
are how a function re-seeds or reconnects.

The hooks come from ``snapshot_restore_py`` (the ``snapshot-restore-py``
package, part of Lambda's Python runtime).  When it is not installed, a
module of that name with the same two functions is provided, so a handler
that imports it runs either way.  Hooks run in registration order.

The fork requests and replies are the zygote's (``zygote.py``): ``F<name>``
(and the sandbox's description) with three descriptors attached, answered
with the pid and the read end of a status pipe, which the template writes
when it reaps the environment.  With a sandbox, each restored environment
is pid 2 under an init of its own, in namespaces nested in the template's
(``sandbox.fork_restored``); that costs a second fork of the heap and some
mounts, so the template forks (and sandboxes) the next environment ahead,
while idle, and a request hands it its descriptors over a socket pair.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import types

from .protocol import HEADER, INIT_DONE, INIT_FAILED, RESULT_HEAD, STATUS_ERROR, STATUS_JSON, read_exact

__all__ = ["after_restore", "before_snapshot", "install_hooks_module", "serve"]

_MODULE = "snapshot_restore_py"
# How long the template waits, idle after a restore, before it prepares the
# next restored environment.  Longer keeps the preparation out of the way of
# a burst of restores (which then fork one by one); shorter has it ready
# for a restore that follows soon.
SPARE_AFTER_S = 0.02


def install_hooks_module() -> None:
    """Make ``import snapshot_restore_py`` work when the package is not installed (as on Lambda's runtime)."""
    if _MODULE in sys.modules:
        return
    sys.meta_path.append(_HooksFinder())  # last: an installed package wins


class _HooksFinder:
    """Finds ``snapshot_restore_py`` only when nothing else did: the fallback below."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname != _MODULE:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(_MODULE, _HooksLoader(), origin="pylambda")


class _HooksLoader:
    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module: types.ModuleType) -> None:
        before: list = []
        after: list = []

        def register_before_snapshot(func, *args, **kwargs):
            """Run ``func(*args, **kwargs)`` before the snapshot is taken; returns ``func`` (a decorator too)."""
            before.append((func, args, kwargs))
            return func

        def register_after_restore(func, *args, **kwargs):
            """Run ``func(*args, **kwargs)`` after an environment is restored; returns ``func`` (a decorator too)."""
            after.append((func, args, kwargs))
            return func

        module.__dict__.update(
            register_before_snapshot=register_before_snapshot,
            register_after_restore=register_after_restore,
            get_before_snapshot=lambda: before,
            get_after_restore=lambda: after,
            __all__=["register_before_snapshot", "register_after_restore"],
            __doc__="pylambda's stand-in for the snapshot-restore-py package (same functions).",
        )


def _run_hooks(getter: str) -> None:
    module = sys.modules.get(_MODULE)
    if module is None:
        return
    for func, args, kwargs in list(getattr(module, getter)()):
        func(*args, **kwargs)


def before_snapshot() -> None:
    """Run the registered before-snapshot hooks (the end of the template's init phase)."""
    _run_hooks("get_before_snapshot")


def after_restore() -> None:
    """Run the registered after-restore hooks (in a restored environment, before its first invocation)."""
    _run_hooks("get_after_restore")


def _hide_log_names() -> None:
    """SnapStart functions do not get the log group and stream variables (Lambda's SnapStart docs)."""
    os.environ.pop("AWS_LAMBDA_LOG_GROUP_NAME", None)
    os.environ.pop("AWS_LAMBDA_LOG_STREAM_NAME", None)


def serve(sock_fd: int, resp_w: int) -> tuple[int, int]:
    """Become the template: fork environments on request until EOF, then end them and exit.

    Returns only in a forked environment, restored and ready: its own
    (request read end, response write end).
    """
    import gc
    import json
    import select
    from _socket import AF_UNIX, SOCK_STREAM, socketpair
    from _socket import socket as _Socket

    from . import sandbox
    from .protocol import recv_fds, send_fds
    from .zygote import _PID, _PR_SET_NAME, _PR_SET_PDEATHSIG, _kill_group, _prctl

    os.close(resp_w)  # a duplicate of the socket: replies go on the socket itself
    _hide_log_names()
    sock = _Socket(fileno=sock_fd)
    prctl = _prctl()
    children: dict[int, int] = {}  # pid -> write end of its status pipe

    def reap(_signum=None, _frame=None) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            _kill_group(info.si_pid)  # what a handler left running dies with its environment
            pid, status = os.waitpid(info.si_pid, 0)
            w = children.pop(pid, None)
            if w is not None:
                try:
                    os.write(w, _PID.pack(status))
                except OSError:  # the Invoker stopped listening (EPIPE): nothing to report to
                    pass
                finally:
                    os.close(w)

    def prepare(conf: bytes):
        """Fork (in its sandbox) the next restored environment, which waits for its descriptors.

        Returns (pid, status pipe read end, channel) in the template; in
        the environment, once it got its descriptors and is restored,
        (None, what ``serve`` returns).
        """
        status_r, status_w = os.pipe()
        chan, theirs = socketpair(AF_UNIX, SOCK_STREAM)
        try:
            pid, parent = sandbox.fork_restored(json.loads(conf) if conf else None, status_w)
        except OSError:
            for fd in (status_r, status_w):
                os.close(fd)
            chan.close()
            theirs.close()
            raise
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                os.setpgid(0, 0)
                sock.close()
                chan.close()
                for fd in (status_r, status_w, *children.values()):
                    os.close(fd)
                children.clear()
                if prctl is not None:
                    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a restored environment dies with its template
                if os.getppid() != parent:  # the template (or the sandbox's init) died before PDEATHSIG was set
                    os._exit(1)
                msg, fds = recv_fds(theirs, 64, 3)  # the invocation that restores it
                if len(fds) != 3:  # EOF: the template ended, or no longer needs it
                    os._exit(0)
                theirs.close()
                if prctl is not None:
                    prctl(_PR_SET_NAME, msg[1:16])
                req_r, resp_w, log_w = fds
                os.dup2(log_w, 1)
                os.dup2(log_w, 2)
                os.close(log_w)
                return None, (_restore(req_r, resp_w), resp_w)
            except BaseException:
                os._exit(70)
        theirs.close()
        children[pid] = status_w
        return pid, status_r, chan

    signal.signal(signal.SIGCHLD, reap)
    gc.freeze()  # restored environments share the initialised heap without copying it on their first collection
    # One restored environment is forked, and its sandbox built, ahead of the
    # request that takes it, once the template has been idle SPARE_AFTER_S
    # since a request (for the next one like it, so not in the way of the
    # restore it just started): a restore then costs the caller the hooks,
    # not two forks of the whole heap and the sandbox's mounts.
    spare = None  # (pid, status pipe read end, channel, settings)
    wanted: bytes | None = None  # the settings of the last request, until a spare has them
    while True:
        if spare is None and wanted is not None and not select.select([sock], [], [], SPARE_AFTER_S)[0]:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
            try:
                made = prepare(wanted)
            except OSError:
                made = None  # the next request makes its own
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            if made is not None and made[0] is None:
                return made[1]
            spare = None if made is None else (*made, _spare_key(wanted))
            wanted = None
            continue
        try:
            msg, fds = recv_fds(sock, 1024, 3)
        except OSError:
            msg, fds = b"", []
        if not msg:
            for pid in list(children):
                _kill_group(pid)
            os._exit(0)
        name, _, conf = msg[1:].partition(b"\0")
        key = _spare_key(conf)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            if spare is not None and (spare[3] != key or spare[0] not in children):  # other settings, or dead
                os.close(spare[1])
                spare[2].close()  # EOF: it exits
                spare = None
            if spare is None:
                try:
                    made = prepare(conf)
                except OSError as e:  # refused (a namespace, a process): this restore failed, not the template
                    for fd in fds:
                        os.close(fd)
                    send_fds(sock, _PID.pack(-(e.errno or 1)), [])
                    continue
                if made[0] is None:
                    return made[1]
                spare = (*made, key)
            pid, status_r, chan, _key = spare
            spare = None
            wanted = conf
            try:
                send_fds(chan, b"R" + name, fds)
            except OSError:
                pass  # it died: its status pipe says so
            finally:
                chan.close()
                for fd in fds:
                    os.close(fd)
            try:
                send_fds(sock, _PID.pack(pid), [status_r])
            finally:
                os.close(status_r)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _spare_key(conf: bytes) -> str:
    """What a request's sandbox must match to take the environment prepared ahead (its /tmp directory aside)."""
    import json

    if not conf:
        return ""
    return json.dumps({k: v for k, v in json.loads(conf).items() if k != "tmp"}, sort_keys=True)


def _restore(req_r: int, resp_w: int) -> int:
    """Take this environment's own settings, run the after-restore hooks, report ready; return ``req_r``.

    The Invoker sends every environment an INIT message; a restored one
    keeps the template's initialised state and takes only what is its own
    (``TMPDIR`` and the other per-environment variables).  The reported
    duration is what Lambda bills as ``Billed Restore Duration``: the
    runtime's resumption and the hooks.
    """
    import pickle

    start = time.perf_counter()
    head = read_exact(req_r, HEADER.size)
    size, _kind = HEADER.unpack(head)
    spec = pickle.loads(read_exact(req_r, size))
    os.environ.update(spec["environ"])
    _hide_log_names()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # TMPDIR is this environment's own
    try:
        after_restore()
    except BaseException as e:
        from .bootstrap import _peak_rss_kib, report_init_error

        error_type, body = report_init_error(e, os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON", sys.stdout)
        etype = error_type.encode()
        elapsed = (time.perf_counter() - start) * 1000.0
        data = RESULT_HEAD.pack(STATUS_ERROR, len(etype), elapsed, _peak_rss_kib()) + etype + body
        os.write(resp_w, HEADER.pack(len(data), INIT_FAILED) + data)
        os._exit(1)
    from .bootstrap import _peak_rss_kib

    elapsed = (time.perf_counter() - start) * 1000.0
    data = RESULT_HEAD.pack(STATUS_JSON, 0, elapsed, _peak_rss_kib())
    os.write(resp_w, HEADER.pack(len(data), INIT_DONE) + data)
    return req_r
