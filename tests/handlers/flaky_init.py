"""Init fails once (the first environment), then works: tests init retry."""

import os

_marker = os.path.join(os.environ["TMPDIR"], "flaky-init-ran")
if not os.path.exists(_marker):
    open(_marker, "w").close()
    raise RuntimeError("first init fails")


def handler(event, context):
    return "recovered"
