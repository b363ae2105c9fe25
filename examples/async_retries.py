"""Asynchronous invocation with retries, destinations and a dead-letter target.

A handler fails on odd order ids.  Each event is invoked asynchronously;
Lambda retries a failure after 1 and then 2 minutes, which a ManualClock
skips, so the whole run takes well under a second.

    python examples/async_retries.py
"""

from pylambda import Function, Invoker, ManualClock


def process_order(event, context):
    if event["order"] % 2:
        raise ValueError(f"order {event['order']} is odd")
    return {"order": event["order"], "status": "processed"}


def main() -> None:
    succeeded, failed, dead = [], [], []
    fn = Function(
        "orders",
        process_order,
        dead_letter_target=lambda event, attributes: dead.append((event, attributes)),
    )
    with Invoker(clock=ManualClock()) as invoker:
        invoker.put_function_event_invoke_config(
            fn, maximum_retry_attempts=2, on_success=succeeded.append, on_failure=failed.append
        )
        for order in range(4):
            assert invoker.invoke(fn, {"order": order}, invocation_type="Event").status_code == 202
        invoker.wait_for_idle(timeout=30)  # fast-forwards the clock over the retry delays
        for outcome in invoker.async_outcomes:
            where = ", ".join(outcome.delivered_to)
            print(f"{outcome.request_id}  {outcome.condition:17s} attempts={outcome.attempts} -> {where}")
        print(f"on_success got {len(succeeded)} records, on_failure {len(failed)}, dead letters {len(dead)}")
        print("a failure record:", failed[0]["requestContext"])
        print("virtual time spent:", round(invoker.clock.now() - invoker.history[0].timestamp), "seconds")


if __name__ == "__main__":
    main()
