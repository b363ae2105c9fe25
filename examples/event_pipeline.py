"""Every event source in one run: a bucket, a queue, a table's stream and a schedule.

    python examples/event_pipeline.py

Sources live in this process; handlers run in real environments and report
what they did through their results (``invoker.history``, metrics).  A
ManualClock drives time, so a day of schedules and queue retries passes in
well under a second of real time.
"""

from pylambda import Bucket, Function, Invoker, ManualClock, Queue, Schedule, Table


def count_rows(event, context):
    """S3 notification: how many rows the uploaded CSV announces (from its key)."""
    return event["Records"][0]["s3"]["object"]["key"]


def process_jobs(event, context):
    """SQS batch: jobs named 'bad...' fail individually (partial batch response)."""
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("bad")]
    return {"batchItemFailures": failures}


def audit(event, context):
    """DynamoDB stream: what changed."""
    return [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in event["Records"]]


def report(event, context):
    """Nightly schedule."""
    return event["time"]


def main() -> None:
    clock = ManualClock(start=1_800_000_000.0)  # 2027-01-15T08:00:00Z
    # No clock= on the sources: attached to the Invoker, each follows its clock.
    uploads = Bucket("uploads")
    dead = Queue("jobs-dlq")  # a dead-letter queue follows the clock of the queue it serves
    jobs = Queue("jobs", visibility_timeout=60, dead_letter_queue=dead, max_receive_count=2)
    orders = Table("orders", key="id")
    with Invoker(clock=clock) as invoker:
        invoker.create_event_source_mapping(uploads, Function("uploads", count_rows), prefix="incoming/", suffix=".csv")
        invoker.create_event_source_mapping(
            jobs, Function("jobs", process_jobs), function_response_types=["ReportBatchItemFailures"]
        )
        invoker.create_event_source_mapping(orders, Function("audit", audit), starting_position="TRIM_HORIZON")
        invoker.create_event_source_mapping(Schedule("cron(0 2 * * ? *)", name="nightly"), Function("report", report))

        uploads.put("incoming/a.csv", "1,2\n3,4\n")
        uploads.put("notes/readme.txt", "not under incoming/: no notification")
        for name in ("job-1", "bad-job", "job-2"):
            jobs.send(name)
        orders.put({"id": "o1", "total": 10})
        orders.update({"id": "o1"}, {"total": 12})
        orders.delete({"id": "o1"})
        clock.advance(24 * 3600)  # a day: the nightly report fires once
        invoker.wait_for_idle(timeout=60)

        def results(name):
            return [h.result.payload for h in invoker.history if h.function_name == name]

        print("uploads seen:", results("uploads"))
        print("jobs left in the queue:", jobs.bodies(), "dead letters:", dead.bodies())
        print("audit:", [change for batch in results("audit") for change in batch])
        print("reports:", results("report"))
        print(
            "invocations:",
            {f: int(invoker.metrics(f).get("Invocations")) for f in ("uploads", "jobs", "audit", "report")},
        )


if __name__ == "__main__":
    main()
