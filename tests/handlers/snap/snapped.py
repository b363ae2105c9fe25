"""A SnapStart handler: state drawn at init, hooks that record when they ran."""

import os
import random
import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

SEED = random.random()  # drawn once, at init: every restored environment shares it
INIT_PID = os.getpid()
HOOKS = []


@register_before_snapshot
def _before():
    HOOKS.append(("before", os.getpid()))
    print("before-snapshot hook")


RESTORE_ID = None  # drawn after each restore: one per environment


def _after(label):
    global RESTORE_ID
    RESTORE_ID = os.urandom(8).hex()
    HOOKS.append((label, os.getpid()))
    print("after-restore hook")


register_after_restore(_after, "after")


def handler(event, context):
    time.sleep(event.get("sleep", 0))  # concurrent calls overlap: each needs its own environment
    marker = os.path.join(os.environ["TMPDIR"], "seen")
    seen = os.path.exists(marker)  # written by an earlier invocation of this environment only
    with open(marker, "w") as f:
        f.write("seen")
    return {
        "restore_id": RESTORE_ID,
        "seen": seen,
        "seed": SEED,
        "hooks": HOOKS,
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "stream_var": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    }
