"""Pipe writes and reads that keep the GIL, for callers that share it.

``os.write`` and ``os.read`` release the GIL around the system call, so that
other threads run while this one is in the kernel.  For a small write to a
pipe with room, or a read of a pipe that ``poll`` has just found ready, the
call never waits, and the release is pure cost: when another caller thread
is waiting for the GIL it takes it, and this thread, back from the kernel in
a microsecond, sleeps until that thread releases it in turn, then pays a
wakeup.  With two caller threads and two environments, each invocation made
three such handoffs (write, poll, read); measured on 2 vCPUs, the caller spent
58-78 µs of CPU per invocation against 37-64 µs for one thread, and two
threads were slower than one.

``ctypes.PyDLL`` calls a C function *without* releasing the GIL.  Through it,
libc's ``write`` and ``read`` leave one handoff per invocation: the ``poll``
that really waits.  A ctypes call costs about 2,000 more instructions than the
``os`` function (valgrind: a write and a read of 300 bytes, 7,850 against
3,790), so only concurrent invocations use it (the Invoker passes ``hold``),
and only where the call cannot block with the GIL held:

- a request of at most ``PIPE_BUF`` bytes to an idle environment: its request
  pipe is empty, since an environment reads the whole request before it
  replies, and a write of up to ``PIPE_BUF`` bytes to a pipe with that much
  room is atomic and immediate;
- a read of the response pipe after ``poll`` reported it readable.

Two caller threads went from a median of 14,400 to 18,000 invocations/s in
alternating runs, async events from 5,100-5,900 to 6,500-8,300/s
(docs/performance.md, fifth round).

ctypes is imported on the first concurrent invocation, not at start-up
(it costs ~3 ms to import).  Where it cannot be loaded, ``bind()`` says so
and the ``os`` functions stay in use.
"""

from __future__ import annotations

import select

__all__ = ["MAX_WRITE", "READ_SIZE", "bind", "buffer", "read", "write"]

# The largest request written with the GIL held: writes up to PIPE_BUF bytes
# are atomic, so into an empty pipe they never wait.
MAX_WRITE = select.PIPE_BUF
# The most one held read takes; a longer reply's rest is read with os.read.
READ_SIZE = 4096

# write(fd, bytes, n) -> n or -1, read(fd, buffer, n) -> n or -1: libc's,
# bound by bind().
write = read = None
_bound: bool | None = None


def bind() -> bool:
    """Load libc's ``write`` and ``read`` through ``ctypes.PyDLL`` once; whether they are usable."""
    global write, read, _bound
    if _bound is None:
        try:
            import ctypes

            libc = ctypes.PyDLL(None)
            write, read = libc.write, libc.read
            _bound = True
        except (ImportError, OSError, AttributeError):  # no _ctypes, or no dlopen(NULL)
            _bound = False
    return _bound


def buffer():
    """A buffer for ``read``, one per environment (only its caller thread reads into it)."""
    import ctypes

    return ctypes.create_string_buffer(READ_SIZE)
