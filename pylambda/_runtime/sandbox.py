"""The sandbox around each execution environment (child side: runs in the zygote and its children).

Lambda runs every environment in its own microVM: a handler sees no other
function, no caller and no host.  pylambda gets close with what Linux gives
an unprivileged user: namespaces.  Once, at start-up, the zygote moves into a
user + mount namespace of its own (where it may mount), and probes what the
kernel allows; the report goes to the Invoker, which warns once about what is
not enforced.  Then every environment is created by ``fork`` below::

    zygote ──clone(NEWUSER|NEWNS|NEWPID[|NEWNET])──▶ init (pid 1 of the new namespaces)
      │ answers the Invoker at once (the init's pid)    │ uid/gid map, mounts, limits
      ▼                                                  └──fork──▶ runtime (pid 2): the environment
    Invoker ◀── status pipe: -pid of the runtime, later its wait status ── init

* **PID namespace**: the environment sees only its own processes; the
  caller, the zygote and other environments have no pid it can name, so
  ``/proc/<pid>/environ``, ``/proc/<pid>/mem`` and ``kill`` cannot reach
  them.  A fresh ``/proc`` is mounted for it.  The runtime is not pid 1 (pid
  1 ignores the signals it sends itself, so ``os.kill(os.getpid(), 9)`` would
  do nothing): a small init is, reaping orphans and reporting the runtime's
  wait status on the environment's status pipe, as the zygote does for its
  own children.  When the init exits the kernel kills whatever is left, so
  nothing a handler started outlives its environment.
* **Mount namespace**: ``/tmp`` is the environment's own tmpfs, sized by
  ``ephemeral_storage`` (a write past it fails with ENOSPC).  The tmpfs is
  mounted by the zygote, in its own mount namespace, on the directory the
  Invoker made for it: it outlives a crashed runtime (Lambda keeps ``/tmp``
  across a reset) and is freed when the Invoker removes that directory (the
  kernel detaches mounts on a directory removed from another namespace).
  The code root is bind-mounted read-only (writes fail with EROFS, as under
  ``/var/task``), and the Invoker's own directory (other environments'
  ``/tmp``, the code cache) is hidden under an empty read-only tmpfs.
* **User namespace**: the same uid inside as outside (files keep their
  owner); it is what lets an unprivileged user do the above.  The runtime
  then drops every capability (and cannot regain one by ``exec``), so a
  handler cannot undo the mounts.
* **Limits**: 1,024 file descriptors (``RLIMIT_NOFILE``); 1,024 processes
  and threads (``RLIMIT_NPROC``, counted per user namespace since Linux
  5.14; not for root, whom ``RLIMIT_NPROC`` does not bind);
  CPU in proportion to memory (opt-in, a ``cpu`` cgroup quota); no network
  (opt-in, a network namespace with loopback only; a Runtime API
  runtime there reaches its host through a listening socket the init makes
  inside it and hands to the caller: ``runtimes.py``).

Where namespaces are refused, ``fork`` is a plain fork and the environment
makes itself non-dumpable (``PR_SET_DUMPABLE``: its ``/proc/<pid>`` files
then belong to root, out of other environments' reach) and takes the
descriptor limit; the rest is reported as not enforced.

Only the standard library and ctypes: this runs in the zygote, which must
stay small.
"""

from __future__ import annotations

import os
import signal
import struct
import sys

from . import cgroups, runtimes
from .views import _MS_BIND, _MS_NODEV, _MS_NOEXEC, _MS_NOSUID, _MS_RDONLY, _MS_REMOUNT, mount_views, under

__all__ = ["fork", "fork_restored", "release", "setup_zygote"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}  # clone(2); other architectures: no sandbox
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_SECUREBITS = 28
_PR_SET_NO_NEW_PRIVS = 38
_CAP_SETFCAP = 1 << 31
# SECBIT_NOROOT and SECBIT_NO_CAP_AMBIENT_RAISE, each with its lock: uid 0
# inside the namespace gains no capability by exec.
_SECUREBITS = 0x01 | 0x02 | 0x40 | 0x80
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_INT = struct.Struct("<i")

# Lambda's limits (reference §7.2).
NOFILE = 1024
NPROC = 1024

_state: dict = {}  # the zygote's: what works, cgroup directories
# The signals the zygote routes to its wakeup pipe (``zygote._watch_signals``).
WAKE_SIGNALS = (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM)


class _Libc:
    """The few libc calls needed, loaded once."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        # PyDLL: the GIL stays held across clone, as os.fork holds it.
        self.py = ctypes.PyDLL(None, use_errno=True)
        self.py.syscall.restype = ctypes.c_long
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        # capset's header and data (``_drop_capabilities``): array types made here, in the
        # zygote, are shared by every environment; made in one, each paid ~0.15 ms for it.
        self.cap_header = ctypes.c_uint32 * 2
        self.cap_data = ctypes.c_uint32 * 6
        self.machine = os.uname().machine

    def check(self, rc: int, what: str) -> None:
        if rc != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def mount(self, src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        enc = lambda s: s.encode() if s is not None else None  # noqa: E731
        self.check(self.libc.mount(enc(src), target.encode(), enc(fstype), flags, enc(data)), f"mount {target}")

    def prctl(self, option: int, arg: int) -> int:
        return self.libc.prctl(option, self.ctypes.c_ulong(arg), 0, 0, 0)


_lib: _Libc | None = None


def _libc() -> _Libc:
    global _lib
    if _lib is None:
        _lib = _Libc()
    return _lib


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _map_ids(uid: int, gid: int) -> None:
    """Map the same uid and gid inside the new user namespace as outside."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _clone(flags: int) -> int:
    """fork(), with new namespaces for the child: clone(2), between Python's fork hooks unless alone.

    The child is a sandbox's init (or the zygote's probe): it runs a few
    calls of its own and forks the runtime with ``os.fork``, whose hooks
    do what the runtime needs.  Python's after-fork hooks (threading's,
    logging's, random's reseed) are for code that uses those modules; run
    in a fresh child they are its first writes to hundreds of pages shared
    with the parent, ~0.75 ms of CPU per environment on a 2-vCPU VM.  So
    a single-threaded parent (the zygote) clones without them: no other
    thread can hold a lock the child would inherit, and the interpreter's
    state is the child's as it is.  A parent with threads (a SnapStart
    template whose init started some) goes through the hooks.
    """
    lib = _libc()
    nr = _SYS_CLONE.get(lib.machine)
    if nr is None:
        raise OSError(38, f"clone: no syscall number for {lib.machine}")
    py = lib.ctypes.pythonapi
    hooks = len(os.listdir("/proc/self/task")) > 1
    if hooks:
        py.PyOS_BeforeFork()
    pid = lib.py.syscall(lib.ctypes.c_long(nr), lib.ctypes.c_ulong(flags | signal.SIGCHLD), 0, 0, 0, 0)
    if pid == 0:
        if hooks:
            py.PyOS_AfterFork_Child()
        return 0
    err = lib.ctypes.get_errno()
    if hooks:
        py.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _fork_runtime() -> int:
    """``os.fork()`` for an init forking its runtime: without Python's at-fork hooks (``_clone``), but random's.

    An init has one thread and holds no lock, so what the hooks restore
    (threading's and logging's locks, the interpreter's) is already right
    in the child; run there they were ~0.6 ms of CPU per environment, in
    first writes to pages shared with the zygote.  The one hook whose effect
    the runtime needs is random's: every environment gets a sequence of its
    own (as every Lambda execution environment does), so the child reseeds.
    The zygote's imports register no other (logging, random and threading
    are the modules among them that call ``os.register_at_fork``).
    """
    pid = _clone(0)
    if pid == 0:
        rnd = sys.modules.get("random")
        if rnd is not None:
            rnd.seed()
    return pid


def default_signals(*extra: int) -> None:
    """In a child of the zygote: no wakeup pipe; the signals the zygote watches (and ``extra``) at their defaults."""
    signal.set_wakeup_fd(-1)
    for signum in (*WAKE_SIGNALS, *extra):
        signal.signal(signum, signal.SIG_DFL)


def _lock_privileges() -> None:
    """No exec of this process or its children grants a capability (``SECBIT_NOROOT``, ``no_new_privs``)."""
    lib = _libc()
    lib.prctl(_PR_SET_SECUREBITS, _SECUREBITS)
    lib.prctl(_PR_SET_NO_NEW_PRIVS, 1)


def _drop_capabilities(keep: int = 0) -> None:
    """Give up every capability held in the user namespace (but ``keep``: a mask of caps 0-31), for good."""
    lib = _libc()
    ctypes = lib.ctypes
    _lock_privileges()
    header = lib.cap_header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = lib.cap_data(keep, keep)  # effective, permitted (low words); nothing inheritable
    lib.check(lib.py.syscall(ctypes.c_long(_SYS_CAPSET[lib.machine]), header, data), "capset")


def _loopback_up() -> None:
    """Bring up ``lo`` in a new network namespace (it starts down)."""
    from _socket import AF_INET, SOCK_DGRAM
    from _socket import socket as _Socket

    lib = _libc()
    sock = _Socket(AF_INET, SOCK_DGRAM)
    try:
        ifreq = lib.ctypes.create_string_buffer(b"lo", 40)
        lib.check(lib.libc.ioctl(sock.fileno(), _SIOCGIFFLAGS, ifreq), "SIOCGIFFLAGS lo")
        flags = struct.unpack_from("H", ifreq, 16)[0] | _IFF_UP
        struct.pack_into("H", ifreq, 16, flags)
        lib.check(lib.libc.ioctl(sock.fileno(), _SIOCSIFFLAGS, ifreq), "SIOCSIFFLAGS lo")
    finally:
        sock.close()


# -- the zygote's side ---------------------------------------------------------------


def release() -> None:
    """The zygote is ending (its environments are gone): remove its cgroups."""
    base = _state.pop("cpu", None)
    if base:
        cgroups.remove(base)


def _probe(flags: int, network: bool) -> str | None:
    """Create throw-away namespaces and try everything an environment needs; None or why not."""
    r, w = os.pipe()
    uid, gid = os.getuid(), os.getgid()
    try:
        pid = _clone(flags | (_CLONE_NEWNET if network else 0))
    except OSError as e:
        os.close(r)
        os.close(w)
        return str(e)
    if pid == 0:
        os.close(r)
        try:
            lib = _libc()
            _map_ids(uid, gid)
            lib.mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
            lib.mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=1777")
            lib.mount("/tmp", "/tmp", None, _MS_BIND)
            lib.mount(None, "/tmp", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
            if network:
                _loopback_up()
            _drop_capabilities()
        except BaseException as e:  # reported, whatever it is
            os.write(w, str(e).encode()[:500])
        os._exit(0)
    os.close(w)
    try:
        why = b""
        while chunk := os.read(r, 512):
            why += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return why.decode() or None


def setup_zygote() -> dict:
    """Move the zygote into namespaces of its own and find out what environments can have.

    Returns the report the Invoker turns into its warning: for each part of
    the sandbox, None (enforced) or why not.  Called once, first thing.
    """
    report: dict = {"uid": os.getuid()}
    if os.environ.get("PYLAMBDA_SANDBOX") == "0":
        off = "turned off (PYLAMBDA_SANDBOX=0)"
        return dict(report, disabled=True, namespaces=off, network=off, nproc=off, cpu=off)
    flags = _CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID
    try:
        lib = _libc()
        uid, gid = os.getuid(), os.getgid()
        lib.check(lib.libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        _map_ids(uid, gid)
        why = _probe(flags, network=False)
    except OSError as e:
        why = str(e)
    report["namespaces"] = why
    if why is None:
        report["network"] = _probe(flags, network=True)
    else:
        report["network"] = why
    if why is None and os.getuid() != 0 and _kernel_at_least(5, 14):
        report["nproc"] = None  # RLIMIT_NPROC, counted in each environment's own user namespace
        _state["nproc"] = "rlimit"
    else:
        # Root is exempt from RLIMIT_NPROC.  A pids cgroup per environment
        # would do, but moving a process into a cgroup waits for an RCU grace
        # period: 0.1 ms on an idle machine, 10-80 ms on a loaded one, on
        # every cold start.  Not worth it for a limit tests rarely meet.
        report["nproc"] = (
            "RLIMIT_NPROC does not bind root (a pids cgroup per environment would cost 10-80 ms "
            "per cold start on a busy machine)"
            if os.getuid() == 0
            else "RLIMIT_NPROC counts every process of the user before Linux 5.14"
        )
    _state["cpu"] = cgroups.base("cpu") if why is None else None
    report["cpu"] = None if _state["cpu"] else "no writable cpu cgroup (cgroup v1 cpu or v2 cpu.max)"
    _state["flags"] = flags if why is None else 0
    _state["alone"] = why is not None  # environments harden themselves as they can
    return report


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split(".")
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def fork(conf: dict | None, status_fd: int) -> tuple[int, int]:
    """Create one environment; return (pid to report, pid to reap) in the zygote, (0, ppid) in the environment.

    ``status_fd`` is the write end of the environment's status pipe: with
    namespaces, the environment's init writes the runtime's wait status there.

    ``conf`` says what this environment gets: ``tmp`` (the directory the
    Invoker made for its /tmp) and ``tmp_mb``, ``hide`` (directories to
    hide), ``views`` (directories to show, see ``views.mount_views``), ``network``
    (False: none) and ``cpus`` (a CPU quota, or None).  Without namespaces
    (or ``conf``), this is ``os.fork`` plus what an environment can do by
    itself.
    """
    flags = _state.get("flags", 0)
    if conf is not None and not flags:  # asked of a zygote that reported no sandbox
        raise OSError(1, "this zygote cannot build sandboxes")
    if conf is None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            if _state.get("alone"):
                _harden_alone()
            return 0, parent
        return pid, pid
    private_tmp(conf)
    if conf.get("network") is False:
        flags |= _CLONE_NEWNET
    uid, gid = os.getuid(), os.getgid()
    pid = _clone(flags)
    if pid == 0:
        try:
            return _init(conf, uid, gid, status_fd)  # returns in the runtime only
        except BaseException:
            # Never into the caller's code: an init (or a runtime that could
            # not drop its capabilities) that raised would otherwise run the
            # zygote's error path and loop as a second zygote.
            os._exit(71)
    # Answered now, with the init's pid: the init's setup overlaps the
    # Invoker's INIT message, and the init tells the Invoker the
    # environment's pid itself, on the status pipe (negated, before the
    # wait status).
    return pid, pid


def fork_restored(conf: dict | None, status_fd: int) -> tuple[int, int]:
    """In a SnapStart template: fork one environment restored from it (as ``fork``, which it calls).

    The template lives in a sandbox of its own (``fresh_tmp``: a /tmp of its
    own mount namespace), without capabilities; creating a user namespace
    needs none.  So the restored environment's init gets user, mount and PID
    (and network) namespaces nested in the template's: the restored runtime
    is pid 2 under it, sees neither the template nor other environments, and
    keeps the template's memory (it is a fork of a fork of it).  It inherits
    the template's mounts (code read-only, the Invoker's directory hidden)
    and covers /tmp with a tmpfs of its own, which starts as a copy of the
    template's (Lambda's snapshot holds the disk too) and goes with the
    environment's mount namespace; the views under /tmp are mounted again.
    """
    if conf is not None:
        views = [v for v in conf.get("views", ()) if under(v[0], ["/tmp"])]
        conf = dict(conf, tmp=None, fresh_tmp=True, restored=True, template=False, hide=[], views=views)
    return fork(conf, status_fd)


def private_tmp(conf: dict) -> str | None:
    """Mount the environment's /tmp tmpfs on ``conf["tmp"]`` unless it is (None: no such directory).

    In the zygote's mount namespace, so it outlives the environment (a reset keeps /tmp).
    """
    tmp = conf.get("tmp")
    if tmp and not os.path.isdir(tmp):
        tmp = conf["tmp"] = None
    if tmp and not os.path.ismount(tmp):
        _libc().mount("tmpfs", tmp, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={int(conf['tmp_mb'])}m,mode=1777")
    return tmp


def _harden_alone() -> None:
    """What an environment can do for itself without namespaces."""
    import resource

    try:
        _libc().prctl(_PR_SET_DUMPABLE, 0)
    except OSError:
        pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        pass


def _init(conf: dict, uid: int, gid: int, status_fd: int) -> tuple[int, int]:
    """In the new namespaces: set them up, fork the runtime (which returns) and serve as its init."""
    import resource

    default_signals()  # the zygote's signal handling is not the init's
    lib = _libc()
    lib.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        _map_ids(uid, gid)
        host_proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
        me = int(os.readlink("self", dir_fd=host_proc))
        joined = cgroups.join(conf.get("cpus"), _state.get("cpu"), me)
        mount_views(lib, conf)
        lib.mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        if conf.get("network") is False:
            _loopback_up()
        if conf.get("listen"):
            runtimes.listen_inside(*conf["listen"])
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        if _state.get("nproc") == "rlimit":
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        run = conf.get("exec")
        if run is not None:  # a Runtime API runtime: spawned with no capability (``runtimes.spawn``)
            _lock_privileges()
            runtime = runtimes.spawn(run)
        else:
            runtime = _fork_runtime()
    except BaseException:
        _failed(status_fd)
    if runtime == 0:
        os.close(host_proc)
        # A SnapStart template keeps CAP_SETFCAP (in its own user namespace):
        # without it, since Linux 5.12, the user namespace it creates for
        # each restored environment may not map uid 0 (the caller's, as
        # root).  Harmless otherwise: a file capability it could set is
        # inert under no_new_privs.
        if not conf.get("spare"):  # a spare's runtime drops them once claimed and complete (spare.wait_claim)
            _drop_capabilities(_CAP_SETFCAP if conf.get("template") else 0)
        return 0, 1
    try:
        fd = os.open(f"{me}/task/{me}/children", os.O_RDONLY, dir_fd=host_proc)
        try:
            host_pid = int(os.read(fd, 64).split()[0])
        finally:
            os.close(fd)
        os.write(status_fd, _INT.pack(-host_pid))
    except BaseException:
        _failed(status_fd)
    _serve_as_init(runtime, joined, keep=status_fd)
    return 0, 0  # not reached


def _failed(status_fd: int) -> None:
    """The sandbox could not be set up: say so on the status pipe (-1) and end (the runtime with it)."""
    try:
        os.write(status_fd, _INT.pack(-1))
    finally:
        os._exit(71)


def _serve_as_init(runtime: int, joined: list[str], keep: int) -> None:
    """Reap orphans; when the runtime ends, report its wait status, end the rest, and exit."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if info is not None and info.si_pid == runtime:
            break
        if info is not None:
            os.waitpid(info.si_pid, 0)
    if info.si_code == os.CLD_EXITED:
        status = (info.si_status & 0xFF) << 8
    else:
        status = info.si_status | (0x80 if info.si_code == os.CLD_DUMPED else 0)
    # Written before the runtime is reaped: its pid cannot be reused while
    # the Invoker may still signal it.  EPIPE: the Invoker stopped listening
    # (it gave up waiting, or closed); the namespace is ended all the same.
    try:
        os.write(keep, _INT.pack(status))
    except OSError:
        pass
    try:
        os.kill(-1, signal.SIGKILL)  # everything else in this PID namespace
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    cgroups.leave(joined)
    os._exit(0)
