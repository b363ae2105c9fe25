"""Handler output kept on disk, not in the caller's memory.

An Invoker remembers its last ``history_size`` invocations (10,000 by
default) and each one's log text, which CloudWatch would hold for it.  Held
as strings, a chatty handler's logs cost the caller their whole size in RSS
(200 MB of prints, 210 MB of RSS), and more once rendered.  So any piece of
an invocation's log longer than ``SPILL_BYTES`` is written to a *spill file*
and the result keeps only where it is (``Spilled``); reading ``result.logs``
reads it back, without keeping the text.  The memory held for logs is then
at most ``history_size`` × ``SPILL_BYTES`` (40 MB at the defaults), whatever
the handlers print.

A spill file is a temporary file in the Invoker's working directory,
unlinked as soon as it is created: nothing is left on disk even if the
caller is killed.  Its descriptor stays open while any result points into
it (results may outlive the Invoker and be read after ``close()``); a file
is rotated at ``ROTATE_BYTES``, so the disk used follows the history window
instead of growing for the Invoker's whole life.  If the file cannot be
written (no space, the directory gone after ``close()``), the text stays in
memory: logs are never lost for a disk problem.
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref

__all__ = ["ROTATE_BYTES", "SPILL_BYTES", "LogSpill", "Spilled", "text_of"]

# Longer pieces of log text go to disk.  Smaller bounds the memory held for
# logs (history_size × this); larger keeps more reads off the disk.
SPILL_BYTES = 4096
# A spill file is replaced by a new one at this size; the old one is freed
# when the last result pointing into it is forgotten.  Smaller frees disk
# sooner; larger means fewer files.
ROTATE_BYTES = 256 << 20


class _File:
    """An unlinked temporary file, closed when the last ``Spilled`` in it is collected."""

    __slots__ = ("__weakref__", "fd", "size")

    def __init__(self, directory: str) -> None:
        with tempfile.TemporaryFile(dir=directory, prefix="logs-") as f:
            self.fd = os.dup(f.fileno())
        self.size = 0
        weakref.finalize(self, os.close, self.fd)


class Spilled:
    """A piece of log text in a spill file; ``read()`` returns it."""

    __slots__ = ("_file", "length", "offset")

    def __init__(self, file: _File, offset: int, length: int) -> None:
        self._file = file
        self.offset = offset
        self.length = length

    def read(self) -> str:
        """The text, read back from disk."""
        fd, parts, offset, left = self._file.fd, [], self.offset, self.length
        while left > 0:
            chunk = os.pread(fd, left, offset)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
            left -= len(chunk)
        return b"".join(parts).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Spilled {self.length} bytes>"


def text_of(piece: str | Spilled) -> str:
    """A piece of log text, read back if it was spilled."""
    return piece if type(piece) is str else piece.read()


class LogSpill:
    """The spill files of one Invoker; thread-safe."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._file: _File | None = None
        self._lock = threading.Lock()

    def keep(self, text: str) -> str | Spilled:
        """``text`` itself when short, else where it was written on disk."""
        if len(text) <= SPILL_BYTES:
            return text
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= SPILL_BYTES:
            return text
        with self._lock:
            try:
                file = self._file
                if file is None or file.size >= ROTATE_BYTES:
                    file = self._file = _File(self._directory)
                offset = file.size
                written = 0
                while written < len(data):
                    written += os.pwrite(file.fd, data[written:], offset + written)
                file.size += len(data)
            except OSError:  # no space, or the directory is gone: keep it in memory
                return text
        return Spilled(file, offset, len(data))
