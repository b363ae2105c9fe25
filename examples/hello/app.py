"""A minimal Lambda handler: greets the caller and shows what Lambda tells it."""

import logging
import os

logger = logging.getLogger()
COLD = True  # module globals survive warm invocations, as on Lambda


def handler(event, context):
    global COLD
    was_cold, COLD = COLD, False
    name = event.get("name", "world")
    print(f"hello, {name}")
    logger.warning("remaining %d ms", context.get_remaining_time_in_millis())
    return {
        "greeting": f"Hello, {name}!",
        "cold": was_cold,
        "function": context.function_name,
        "version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "region": os.environ["AWS_REGION"],
    }
