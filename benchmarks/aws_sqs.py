"""An SQS event source mapping on moto: messages per second, end to end.

Run:  pip install -e '.[aws]' && python benchmarks/aws_sqs.py [--messages 200] [--rounds 3]

Each round sends ``--messages`` messages to a fresh queue on moto's server
(``pylambda.aws.services()``, 127.0.0.1), starts a mapping on the queue's ARN
and measures from the mapping's creation until the queue is empty and every
message was delivered to the function (a warm no-op handler; one cold start
per round, included).  Beside it, in the same run and on the same server, the
floor: a bare boto3 consumer doing what the poller must do per batch
(``ReceiveMessage`` of 10, ``DeleteMessageBatch``) with no invocation.  The
ratio says what the mapping adds to the service's own cost.

moto's ``ReceiveMessage`` costs time in proportion to the queue's depth (it
checks every message's visibility, converting timestamps each time), so the
absolute rate falls as ``--messages`` grows; the ratio to the floor is the
figure that says what pylambda adds.

The figures go to docs/benchmarks.md (its "SQS mapping on moto" section) by
hand: ``benchmarks/run.py --out`` rewrites the rest of that page.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import pylambda.aws
from pylambda import Function, Invoker


def noop(event, context):
    """Count the batch (the mapping deletes it on success)."""
    return None


def fill(sqs, url: str, n: int) -> None:
    """Send ``n`` small messages, 10 per request."""
    for start in range(0, n, 10):
        entries = [{"Id": str(i), "MessageBody": f"message {start + i}"} for i in range(min(10, n - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def floor_round(aws, n: int, name: str) -> float:
    """Messages/s of a bare receive-10 + delete-batch consumer."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    fill(sqs, url, n)
    done = 0
    t0 = time.perf_counter()
    while done < n:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            done += len(messages)
    elapsed = time.perf_counter() - t0
    sqs.close()
    return n / elapsed


def mapping_round(aws, n: int, name: str, batch_size: int, window: float) -> tuple[float, int]:
    """Messages/s through a mapping on the queue's ARN, and how many invocations it took."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    fill(sqs, url, n)
    arn = f"arn:aws:sqs:{aws.region}:{aws.account_id}:{name}"
    with Invoker(aws_endpoint_url=aws.url) as invoker:
        fn = Function(f"{name}-fn", noop)
        invoker.register(fn)
        t0 = time.perf_counter()
        mapping = invoker.create_event_source_mapping(arn, fn, batch_size=batch_size, maximum_batching_window=window)
        if not invoker.wait_for_idle(600):
            raise SystemExit(f"the mapping did not drain the queue: {invoker.pending_work()}")
        elapsed = time.perf_counter() - t0
        invocations = mapping.invocations
    sqs.close()
    return n / elapsed, invocations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.messages
    cases = [("batch_size=10", 10, 0.0), ("batch_size=100, window 1 s", 100, 1.0)]
    floors: list[float] = []
    results: dict[str, list[tuple[float, int]]] = {label: [] for label, _b, _w in cases}
    with pylambda.aws.services() as aws:
        for r in range(args.rounds):  # interleaved, so drift hits every case alike
            floors.append(floor_round(aws, n, f"floor-{r}"))
            for i, (label, batch, window) in enumerate(cases):
                results[label].append(mapping_round(aws, n, f"mapped-{r}-{i}", batch, window))
    floor = statistics.median(floors)
    print(f"# SQS mapping on moto: {n} messages per round, {args.rounds} rounds, medians")
    print(f"# {platform.python_implementation()} {platform.python_version()}, {sys.platform}")
    print()
    print("| consumer | messages/s | invocations per round | / floor |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| bare boto3 receive(10) + delete_batch (floor) | {floor:,.0f} |  | 1.00 |")
    for label, rows in results.items():
        rate = statistics.median(r for r, _i in rows)
        invocations = statistics.median(i for _r, i in rows)
        print(f"| mapping on the queue ARN, {label} | {rate:,.0f} | {invocations:.0f} | {rate / floor:.2f} |")


if __name__ == "__main__":
    main()
