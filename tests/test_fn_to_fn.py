"""Functions invoking functions with a plain boto3 Lambda client, through AWS_ENDPOINT_URL_LAMBDA."""

from __future__ import annotations

import json

from pylambda import Function, Invoker


def billing(event, context):
    """The callee: charge an order."""
    print(f"billing {event['order']}")
    return {"charged": event["order"], "by": context.function_name}


def orders(event, context):
    """The caller: a handler as written for AWS, with an unconfigured boto3 client."""
    import boto3

    client = boto3.client("lambda")
    kind = event.get("type", "RequestResponse")
    r = client.invoke(FunctionName="billing", InvocationType=kind, Payload=json.dumps({"order": event["order"]}))
    body = r["Payload"].read()
    return {"status": r["StatusCode"], "billing": json.loads(body) if body else None}


def endpoint_url(event, context):
    """Report the Lambda endpoint the environment was given."""
    import os

    return os.environ.get("AWS_ENDPOINT_URL_LAMBDA")


def chain(event, context):
    """Call ``chain`` again while this call still holds its environment (concurrency 1: throttled)."""
    import boto3
    from botocore.config import Config

    client = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    try:
        client.invoke(FunctionName="chain", Payload=b"{}")
    except client.exceptions.TooManyRequestsException as e:
        return {"throttled": e.response["Reason"]}
    return {"throttled": None}


def test_handler_invokes_another_function_sync_and_event():
    """boto3.client("lambda").invoke in a handler runs the other function in the same Invoker, in its history."""
    with Invoker() as invoker:
        invoker.register(Function("orders", orders), Function("billing", billing))
        sync = invoker.invoke("orders", {"order": 7})
        assert sync.function_error is None, sync.payload
        assert sync.payload == {"status": 200, "billing": {"charged": 7, "by": "billing"}}
        event = invoker.invoke("orders", {"order": 8, "type": "Event"})
        assert event.payload == {"status": 202, "billing": None}
        assert invoker.wait_for_idle(30)
        assert [r.function_name for r in invoker.history].count("billing") == 2
        assert invoker.logs("billing").filter("billing 7")
        assert invoker.logs("billing").filter("billing 8")
        assert any(row.function_name == "billing" for row in invoker.bill().rows)


def _get(url: str) -> tuple[int, dict]:
    """GET ``url``: (status, JSON body)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_environment_gets_the_invokers_endpoint_unless_the_function_sets_one():
    """AWS_ENDPOINT_URL_LAMBDA is the Invoker's endpoint (loopback, a path of its own), served until it closes.

    A function's own value wins.  Two Invokers get different paths on the process's one server, and a
    closed Invoker's path answers 404: nothing of it is served any more.
    """
    with Invoker() as invoker, Invoker() as other:
        mine = invoker.invoke(Function("a", endpoint_url)).payload
        theirs = other.invoke(Function("c", endpoint_url)).payload
        assert mine.startswith("http://127.0.0.1:")
        assert mine != theirs
        assert mine.rsplit("/", 1)[0] == theirs.rsplit("/", 1)[0]
        own = Function("b", endpoint_url, environment={"AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:1"})
        assert invoker.invoke(own).payload == "http://127.0.0.1:1"
        status, body = _get(f"{mine}/2015-03-31/functions/")
        assert status == 200
        assert {f["FunctionName"] for f in body["Functions"]} == {"a", "b"}
        assert {f["FunctionName"] for f in _get(f"{theirs}/2015-03-31/functions/")[1]["Functions"]} == {"c"}
    status, body = _get(f"{mine}/2015-03-31/functions/")
    assert status == 404
    assert body["__type"] == "ResourceNotFoundException"
    assert _get(mine.rsplit("/", 1)[0] + "/no-such-token/2015-03-31/functions/")[0] == 404


def test_exhausted_concurrency_is_429_not_a_deadlock():
    """A chain that needs more concurrency than there is gets TooManyRequestsException at once, not a hang."""
    with Invoker(concurrency_limit=1) as invoker:
        result = invoker.invoke(Function("chain", chain))
        assert result.function_error is None, result.payload
        assert result.payload == {"throttled": "ConcurrentInvocationLimitExceeded"}
        assert invoker.throttles


def test_invoker_without_environments_starts_no_endpoint():
    """An Invoker that never starts an environment never binds the endpoint (it starts on first need)."""
    with Invoker() as invoker:
        invoker.register(Function("quiet", billing))
        assert "_internal_endpoint" not in vars(invoker)


def test_lambda_api_example_runs(capsys):
    """examples/lambda_api.py deploys two zip functions through boto3 and chains them (orders -> billing:live)."""
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "lambda_api.py"
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "orders answered: {'order': 42, 'billing': {'charged': 12.0}, 'ran': '1'}" in out
    assert "history: [('billing', '1'), ('orders', '$LATEST')]" in out
