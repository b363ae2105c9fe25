"""The Invoker's lock (pylambda._lock.Lock): mutual exclusion, and waiting behind a holder that blocks."""

from __future__ import annotations

import threading
import time

import pytest

from pylambda._lock import Lock


@pytest.mark.parametrize("use_with", [True, False])
def test_sections_exclude_each_other_even_when_a_holder_gives_up_the_gil(use_with):
    """Four threads increment a counter non-atomically; a sleep inside the section invites a switch there."""
    lock = Lock()
    state = {"n": 0, "inside": 0, "overlaps": 0}

    def section():
        state["inside"] += 1
        if state["inside"] > 1:
            state["overlaps"] += 1
        n = state["n"]
        if n % 50 == 0:
            time.sleep(0)  # the GIL goes to another thread mid-section
        state["n"] = n + 1
        state["inside"] -= 1

    def work():
        for _ in range(2_000):
            if use_with:
                with lock:
                    section()
            else:
                if not lock.try_acquire():
                    lock.acquire_contended()
                try:
                    section()
                finally:
                    lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state == {"n": 8_000, "inside": 0, "overlaps": 0}
    assert not lock.locked()


def test_a_taker_waits_out_a_holder_that_blocks():
    """Past its polite tries, a taker sleeps on the lock until the holder lets go."""
    lock = Lock()
    events = []
    lock.acquire()
    assert lock.locked()
    assert not lock.try_acquire()

    def taker():
        with lock:
            events.append("taken")

    t = threading.Thread(target=taker)
    t.start()
    time.sleep(0.2)  # far longer than the polite tries take
    events.append("released")
    lock.release()
    t.join(5)
    assert events == ["released", "taken"]
    assert not lock.locked()
