"""Writes to the log every way a handler can (test fixture)."""

import logging
import os
import sys

print("init output")


def handler(event, context):
    print("from print")
    sys.stderr.write("from stderr\n")
    os.write(1, b"from fd 1\n")
    logging.info("info is dropped by default")
    logging.warning("a warning")
    context.log("via context.log\n")
    return "done"
