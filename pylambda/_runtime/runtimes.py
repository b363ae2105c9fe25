"""Runtime API runtimes in the sandbox (child side: runs in a sandbox's init).

A Python environment is the init's fork; a Runtime API runtime (Node, a
``provided`` bootstrap) is a command the init spawns instead
(``spawn``), as pid 2 of the same namespaces.  Without a network, the
runtime reaches its Runtime API host (in the caller) through a listening
socket the init makes inside the environment's network namespace and
sends to the caller (``listen_inside``).
"""

from __future__ import annotations

import os
import signal
import struct

__all__ = ["EXEC_FAILED", "listen_inside", "spawn"]

# What an environment that could not exec its runtime writes on its log first.
EXEC_FAILED = "pylambda: cannot exec "
# Signals a spawned runtime gets at their defaults: all (an ignored signal
# stays ignored across exec: the zygote ignores SIGINT, Python SIGPIPE and
# SIGXFSZ).  glibc's two internal ones (32, 33) are not signals Python can
# name, and its posix_spawn leaves them ignored, as for any program it
# spawns; a glibc program sets them up again when it starts.
_DEFAULT_SIGNALS = tuple(set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP})
_INT = struct.Struct("<i")


def listen_inside(channel: int, port: int) -> None:
    """Listen on 127.0.0.1:``port`` in this network namespace and send the socket down ``channel``.

    A Runtime API runtime in an environment without a network reaches its
    host through this socket: the host, in the caller, accepts on it, and
    a socket's connections belong to the namespace it was made in,
    whoever holds it.  Made before the runtime is forked, so its first
    connect finds it listening.
    """
    from _socket import AF_INET, SCM_RIGHTS, SOCK_STREAM, SOL_SOCKET
    from _socket import socket as _Socket

    listener = _Socket(AF_INET, SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        chan = _Socket(fileno=channel)
        try:
            chan.sendmsg([b"L"], [(SOL_SOCKET, SCM_RIGHTS, _INT.pack(listener.fileno()))])
        finally:
            chan.close()
    finally:
        listener.close()


def spawn(run: dict) -> int:
    """Start a Runtime API runtime (``run``: argv, env, cwd, its log's fd) as this process's child; its pid.

    ``posix_spawn`` (vfork and exec: none of the init's Python heap is
    copied, where a fork and exec costs milliseconds of copy-on-write
    faults first).  The runtime gets no capability: the init has set the
    securebits and ``no_new_privs`` it inherits, so its exec grants none
    (uid 0 gains none under ``SECBIT_NOROOT``).  Descriptors other than
    stdin (/dev/null), stdout and stderr (the log) are close-on-exec;
    signals are at their defaults; a process group of its own.  A command
    that cannot be exec'd says why on the log, and the error propagates
    (the environment ends as one whose sandbox could not be set up).
    """
    try:
        for fd in os.listdir("/proc/self/fd"):
            if int(fd) > 2:
                try:
                    os.set_inheritable(int(fd), False)
                except OSError:
                    pass  # the listing's own descriptor, closed by now
        os.chdir(run["cwd"])
        log = run["log"]
        return os.posix_spawn(
            run["argv"][0],
            run["argv"],
            run["env"],
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setpgroup=0,
            setsigmask=(),
            setsigdef=_DEFAULT_SIGNALS,
        )
    except OSError as e:
        os.write(run["log"], f"{EXEC_FAILED}{run['argv'][0]}: {e.strerror or e}\n".encode())
        raise
