"""Reports what a handler can see of its environment (test fixture)."""

import os
import tempfile

INIT_PID = os.getpid()


def handler(event, context):
    return {
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
        "tempdir": tempfile.gettempdir(),
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "types": {
                "memory_limit_in_mb": type(context.memory_limit_in_mb).__name__,
                "remaining": type(context.get_remaining_time_in_millis()).__name__,
            },
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client_context": None
            if context.client_context is None
            else {"custom": context.client_context.custom, "env": context.client_context.env},
            "repr": repr(context),
        },
    }
