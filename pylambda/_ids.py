"""Request ids and X-Ray trace headers for invocations."""

from __future__ import annotations

import os
import random
import time

__all__ = ["new_ids"]

# Request ids need uniqueness, not secrecy: a PRNG seeded from os.urandom
# (re-seeded in forked children) saves a syscall per invocation.
_random = random.Random()
_getrandbits = _random.getrandbits
os.register_at_fork(after_in_child=_random.seed)


# The UUID variant nibble (8, 9, a or b) for any hex digit.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def new_ids() -> tuple[str, str]:
    """A UUID4-shaped request id and an X-Ray trace header (``Sampled=0``).

    One draw of random bits as hex, then slices: formatting the int
    with ``:0Nx`` cost twice as much as the rest together.
    """
    h = _getrandbits(288).to_bytes(36, "little").hex()
    return (
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}",
        f"Root=1-{int(time.time()):08x}-{h[32:56]};Parent={h[56:72]};Sampled=0",
    )
