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


def new_ids() -> tuple[str, str]:
    """A UUID4-shaped request id and an X-Ray trace header (``Sampled=0``)."""
    h = f"{_getrandbits(240):060x}"
    request_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"
    trace = f"Root=1-{int(time.time()):08x}-{h[32:56]};Parent={h[44:60]};Sampled=0"
    return request_id, trace
