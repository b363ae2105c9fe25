"""A spare sandbox, made ahead of the next cold start (child side: runs in the zygote and the spare).

Why: most of a sandboxed cold start is not the handler's.  The zygote
clones an init into new user, mount and PID namespaces, the init maps its
ids, mounts ``/proc``, sets its limits and forks the runtime, which drops
its capabilities: three processes scheduled one after another before the
INIT message is even read (~5 ms of a ~9 ms cold start on a 2-vCPU VM).
None of that depends on the function.  So after each sandboxed fork the
zygote makes one *spare*: an init and a runtime at pid 2, set up that far,
the runtime waiting on a socket of its own, still holding its capabilities
(nothing of a user's has run in it).

A later fork request of the default shape *claims* it instead of cloning::

    zygote: mount the /tmp tmpfs (its own mount namespace, as for any fork),
            open_tree(OPEN_TREE_CLONE) of it ─┐
            send name + sandbox conf + the request's pipes + that tree ─▶ spare runtime
            answer the Invoker: the spare init's pid + its status pipe
    spare runtime: move_mount the tree where the zygote mounted it (so its
            mounts are a cloned environment's), then as a cloned one's init
            does: hide the Invoker's directory, bind that /tmp and the code
            read-only (``views.mount_views``); drop every capability, and
            become the environment (``zygote._child``)

The environment is the same as a cloned one: same namespaces, mounts,
limits and capabilities, and its /tmp is the tmpfs in the zygote's mount
namespace that a reset keeps.  The one difference is that the mounts of
the host it was copied from are those of the moment the spare was made.

*The default shape* is what most environments are: no network namespace,
no CPU quota, no command to exec, not a SnapStart template.  Anything else
(``fits``) is forked as before and leaves the spare for the next one.

Nothing is left behind: a spare is the zygote's child like any
environment's init (killed with the zygote; its init has the zygote's
death signal), and the Invoker learns its pid with the answer to the fork
request that made it, so leak checks count it as the zygote's
(``pylambda.testing``).
"""

from __future__ import annotations

import json
import os
from _socket import AF_UNIX, SOCK_STREAM, socketpair

from . import sandbox
from .protocol import recv_fds, send_fds
from .views import mount_views

__all__ = ["Spares", "attach", "fits", "wait_claim"]

# open_tree(2) and move_mount(2) (Linux 5.2): the same numbers on x86_64
# and aarch64 (the generic syscall table).
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_OPEN_TREE_CLONE = 1
_AT_FDCWD = -100
_MOVE_MOUNT_F_EMPTY_PATH = 4
# The sandbox parts an environment made from a spare may ask for.  Anything
# else (a network namespace, a CPU quota, a template, a listener) shapes the
# namespaces or the init, and is forked as before.
_FITTING = frozenset({"tmp", "tmp_mb", "hide", "views", "network"})


def fits(conf: dict | None, run: dict | None) -> bool:
    """Whether an environment of sandbox ``conf`` (and no ``run`` command) can be made from a spare."""
    return conf is not None and run is None and conf.keys() <= _FITTING and conf.get("network") is not False


def _syscall(nr: int, *args) -> int:
    lib = sandbox._libc()
    ctypes = lib.ctypes
    rc = lib.py.syscall(ctypes.c_long(nr), *args)
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syscall {nr}: {os.strerror(err)}")
    return rc


def _tmp_tree(tmp: str) -> int:
    """A detached clone of the tmpfs mounted on ``tmp`` in the zygote's mount namespace (``open_tree``)."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC
    return _syscall(_SYS_OPEN_TREE, _AT_FDCWD, tmp.encode(), sandbox._libc().ctypes.c_uint(flags))


def attach(tree: int, target: str) -> None:
    """Mount the detached tree ``tree`` (``open_tree``) on ``target`` in this mount namespace."""
    _syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH)


class _Spare:
    """The zygote's record of one spare: its init's pid, the socket to its runtime, its status pipe."""

    __slots__ = ("pid", "sock", "status_r")

    def __init__(self, pid: int, sock, status_r: int) -> None:
        self.pid = pid
        self.sock = sock
        self.status_r = status_r

    def close(self) -> None:
        """Drop the zygote's ends (the spare's runtime sees EOF and exits; its init follows)."""
        self.sock.close()
        os.close(self.status_r)


class Spares:
    """The zygote's spare sandbox: at most one, made by ``make`` and taken by ``claim``."""

    def __init__(self) -> None:
        self._spare: _Spare | None = None
        self._refused = 0  # the errno of a kernel without open_tree/move_mount (5.2+): no spares then

    def fds(self) -> list[int]:
        """The zygote's descriptors of the spare (every forked child closes them)."""
        spare = self._spare
        return [spare.sock.fileno(), spare.status_r] if spare is not None else []

    def ready(self, children: dict[int, int]) -> int:
        """The pid of the spare waiting now (0: none); forgets one that died (the zygote reaped it)."""
        spare = self._spare
        if spare is not None and spare.pid not in children:
            self._spare = None
            spare.close()
            return 0
        return spare.pid if spare is not None else 0

    def make(self, children: dict[int, int], private: list[int]) -> tuple[int, tuple | None]:
        """Make a spare unless one is waiting; (its pid or -errno, None) in the zygote.

        In the spare's runtime, once claimed: (0, (fds, name)), the
        environment's pipes and name, with the sandbox complete and no
        capability left.
        """
        pid = self.ready(children)
        if pid or self._refused:
            return pid or -self._refused, None
        mine, theirs = socketpair(AF_UNIX, SOCK_STREAM)
        status_r = status_w = -1
        try:
            status_r, status_w = os.pipe()
            pid, _reap = sandbox.fork({"spare": True}, status_w)
        except OSError as e:
            for fd in (status_r, status_w):
                if fd >= 0:
                    os.close(fd)
            mine.close()
            theirs.close()
            return -(e.errno or 1), None
        if pid == 0:  # detached: the socket object must not close the number again when it is collected
            return 0, wait_claim(theirs, [*private, mine.detach(), status_r, status_w])
        theirs.close()
        children[pid] = status_w
        self._spare = _Spare(pid, mine, status_r)
        return pid, None

    def claim(
        self, conf: dict | None, run: dict | None, fds: list[int], name: bytes, children: dict[int, int]
    ) -> tuple[int, int] | None:
        """Hand the waiting spare a new environment's request; (its init's pid, status pipe) or None.

        None: there is no spare, it does not fit, or it is gone (then
        ``sandbox.fork`` makes the environment as before).  The zygote
        keeps the status pipe's write end in its children, as for a fork.
        """
        if not self.ready(children) or not fits(conf, run):
            return None
        spare = self._spare
        assert spare is not None
        assert conf is not None
        tmp = sandbox.private_tmp(conf)  # an OSError here is this fork's failure, as in sandbox.fork
        try:
            tree = _tmp_tree(tmp) if tmp else -1
        except OSError as e:  # no open_tree here: clone this one, and make no more spares
            self._refused = e.errno or 38
            self._spare = None
            spare.close()
            return None
        self._spare = None
        try:
            _send_claim(spare.sock, name, conf, [*fds, tree] if tree >= 0 else fds)
        except OSError:  # it died meanwhile: the zygote reaps it; fork anew
            spare.close()
            return None
        finally:
            if tree >= 0:
                os.close(tree)
        spare.sock.close()
        return spare.pid, spare.status_r

    def rehearse(self, conf: dict | None, name: bytes) -> None:
        """``claim``'s code on ``conf`` (``zygote._rehearse``), up to the message it would send, to a socket pair."""
        if conf is None or not fits(conf, None):
            return
        tmp = conf.get("tmp")
        if not (tmp and os.path.isdir(tmp) and os.path.ismount(tmp)):
            return
        tree = _tmp_tree(tmp)
        mine, theirs = socketpair(AF_UNIX, SOCK_STREAM)
        try:
            _send_claim(mine, name, conf, [tree])
        finally:
            os.close(tree)
            mine.close()
            theirs.close()


def _send_claim(sock, name: bytes, conf: dict, fds: list[int]) -> None:
    """The claim a spare's runtime waits for: the environment's name and sandbox, its pipes (and /tmp tree)."""
    send_fds(sock, name + b"\0" + json.dumps(conf).encode(), fds)


def wait_claim(sock, private: list[int]) -> tuple[list[int], bytes]:
    """In a spare's runtime: wait for the claim, complete the sandbox, drop capabilities; (fds, name).

    Exits when the zygote is gone or dropped the spare (EOF), and with 71,
    as an init that could not set up, when the sandbox cannot be completed.
    """
    for fd in private:
        try:
            os.close(fd)
        except OSError:
            pass
    _warm(sock)
    try:
        msg, fds = recv_fds(sock, 1 << 16, 4)
    except OSError:
        os._exit(0)
    if not msg:
        os._exit(0)
    sock.close()
    name, _, conf_json = msg.partition(b"\0")
    try:
        conf = json.loads(conf_json)
        if len(fds) > 3:  # the /tmp tmpfs: where a cloned environment finds it (a copy of the zygote's mounts)
            attach(fds[3], conf["tmp"])
            os.close(fds[3])
        mount_views(sandbox._libc(), conf)  # then all as in a cloned one's init
        sandbox._drop_capabilities()
    except BaseException:
        os._exit(71)
    return fds[:3], name


def _warm_completion() -> None:
    """What completing the sandbox runs after the claim, on nothing.

    A message with a descriptor through a socket pair of its own, received
    as a claim is; a mount that fails (no such directory); the views code
    with no view to mount; and what an environment's process sets first
    (``zygote._child``: its signals at their defaults) and the privileges'
    lock (``no_new_privs``, the secure bits), both of which the claim would
    set anyway and neither of which the mounts need.
    """
    import signal

    lib = sandbox._libc()
    mine, theirs = socketpair(AF_UNIX, SOCK_STREAM)
    try:
        _send_claim(mine, b"spare", {}, [theirs.fileno()])
        msg, fds = recv_fds(theirs, 1 << 16, 4)
        json.loads(msg.partition(b"\0")[2])
        for fd in fds:
            os.close(fd)
    finally:
        mine.close()
        theirs.close()
    lib.libc.mount(None, b"/nonexistent/pylambda-spare", None, 0, None)
    mount_views(lib, {})
    sandbox.default_signals(signal.SIGINT)
    sandbox._lock_privileges()


def _warm(sock) -> None:
    """Run, while the spare waits, what every environment's init runs first in a fresh fork; stop at a claim.

    The first run of any code in a forked process pays for it: every page
    whose objects it touches is copied from the zygote's (reference counts
    are writes).  After a claim the environment completes its sandbox,
    then its INIT sets its variables, rewraps the standard streams, sets up
    logging and imports the handler, then the first invocation runs; doing
    each once here, on throw-away values and in that order, moves those
    copies before the claim (the environment's copies after the claim:
    ~164 -> ~54; INIT of a trivial module 1.75 -> ~0.5 ms).  Nothing of it
    is kept: the claim and the INIT set all of it again for the function.

    It costs more CPU than it saves (~3.5 ms against ~1.5 ms on a 2-vCPU
    VM), which is right only while nobody waits: a claim that arrives
    meanwhile (tests back to back) is served after the step in progress,
    not after all of them, and the steps it did not reach are the last
    the environment needs.
    """
    import pickle
    import select
    import sys
    import time

    from . import bootstrap, context

    saved = dict(os.environ)
    names = [f"PYLAMBDA_SPARE_{i}" for i in range(40)]

    def set_some(part: list[str]) -> None:
        os.environ.update(dict.fromkeys(part, "x" * 40))

    def restore() -> None:
        os.environ.clear()
        os.environ.update(saved)

    steps = (  # in the order the environment needs them after a claim; ~0.3 ms each at most: a claim waits for one
        _warm_completion,
        os.environ.clear,
        lambda: set_some(names[:20]),
        lambda: set_some(names[20:]),
        restore,
        time.tzset,
        bootstrap._unbuffered_std_streams,  # onto the zygote's 1 and 2 for now; the INIT makes them again
        lambda: bootstrap._setup_logging(None, False),
        context.load_static_fields,
        lambda: pickle.loads(pickle.dumps({"environ": dict(os.environ), "sys_path": list(sys.path), "n": None}, 5)),
        lambda: _warm_import(0),
        lambda: _warm_import(1),
        _warm_invoke,
    )
    waiting = select.poll()
    waiting.register(sock.fileno(), select.POLLIN | select.POLLHUP)
    for step in steps:
        if waiting.poll(0):
            return
        step()


def _warm_import(part: int) -> None:
    """Import a module as the INIT imports a handler's (``precompiled``, ``resolve_handler``), and forget it.

    The module is this package's ``__init__.py`` (a docstring), imported
    from a path entry of its own, so the path hooks, the finder of a new
    directory, the precompiled loader and the module's creation all run
    once before the claim.  In two parts, each a step of the warm-up: the
    finder of the directory (part 0), then the import (part 1).
    """
    import sys
    from importlib.machinery import PathFinder

    from .faults import resolve_handler
    from .handler_code import compiled_for, precompiled

    here = os.path.dirname(os.path.abspath(__file__))
    if part == 0:
        PathFinder.find_spec("__init__", [here])  # the directory's finder stays cached for part 1
        return
    saved = sys.path[:]
    try:
        sys.path[:] = [here]
        with precompiled(compiled_for(here, "__init__.__doc__")):
            resolve_handler("__init__.__doc__")
    finally:
        sys.path[:] = saved
        sys.modules.pop("__init__", None)
        sys.path_importer_cache.pop(here, None)


def _warm_invoke() -> None:
    """An invocation's code on a throw-away request: parse it, make its context, call a handler, pack the result."""
    import resource
    import sys

    from . import bootstrap
    from .context import LambdaContext
    from .marshal import decoder
    from .protocol import HEADER, INVOKE, INVOKE_HEAD, RESULT, RESULT_FRAME, RESULT_HEAD

    rid, arn = b"spare", b"arn:aws:lambda:us-east-1:000000000000:function:spare"
    body = INVOKE_HEAD.pack(0, 0, len(rid), len(arn), 0, 0, 0) + rid + arn + b'{"id": 1}'
    frame = HEADER.pack(len(body), INVOKE) + body
    decode = decoder()
    deadline_ms, _flags, request_id, arn_s, _trace, cc, cog, pos = bootstrap.parse_invoke(frame, HEADER.size, decode)
    ctx = LambdaContext(request_id, cc, cog, deadline_ms, arn_s)
    status, out, etype = bootstrap.run_handler(
        lambda event, context: {"ok": True, "id": event["id"]}, frame[pos:], ctx, request_id,
        bootstrap._encoder("python3.12"), decode, False, sys.stdout,
    )  # fmt: skip
    RESULT_FRAME.pack(
        RESULT_HEAD.size + len(etype) + len(out), RESULT, status, len(etype), 0.0,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )  # fmt: skip
