"""Request ids and X-Ray trace headers for invocations."""

from __future__ import annotations

import os
import random
import time

__all__ = ["new_id_parts", "new_ids", "trace_root"]

# Request ids need uniqueness, not secrecy: a PRNG seeded from os.urandom
# (re-seeded in forked children) saves a syscall per invocation.
_random = random.Random()
_getrandbits = _random.getrandbits
os.register_at_fork(after_in_child=_random.seed)


# The UUID variant nibble (8, 9, a or b) for any hex digit.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


# (epoch second, "Root=1-<that second in hex>-"): the trace id's time part
# changes once a second, and formatting it was a fifth of new_ids().
_root = (0, "")


def new_ids() -> tuple[str, str]:
    """A UUID4-shaped request id and an X-Ray trace header (``Sampled=0``) for a request made now."""
    request_id, rest = new_id_parts()
    return request_id, trace_root(time.time()) + rest


def new_id_parts() -> tuple[str, str]:
    """A request id and the random rest of a trace header, to be completed by ``trace_root``.

    Split so that ids drawn ahead of time (while a handler runs) still carry
    the time of the request that uses them.  One draw of random bits as hex,
    then slices: formatting the int with ``:0Nx`` cost twice as much as the
    rest together.
    """
    h = _getrandbits(288).to_bytes(36, "little").hex()
    return (
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}",
        f"{h[32:56]};Parent={h[56:72]};Sampled=0",
    )


def trace_root(now: float) -> str:
    """``Root=1-<epoch second of now, 8 hex digits>-``: the start of a trace header."""
    global _root
    second = int(now)
    root = _root
    if root[0] != second:  # one tuple, swapped whole: threads never pair a second with another's text
        root = _root = (second, f"Root=1-{second:08x}-")
    return root[1]
