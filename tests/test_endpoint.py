"""The Lambda REST API (Invoker.serve) driven by boto3, as a user's code would."""

from __future__ import annotations

import base64
import http.client
import io
import json
import shutil
import socket
import sys
import threading
import zipfile

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from pylambda import Function, Invoker

ARN = "arn:aws:lambda:us-east-1:123456789012:function"
ROLE = "arn:aws:iam::123456789012:role/orders"
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"  # the interpreter running the tests


def echo(event, context):
    """Return the event, plus the client context's custom part when there is one."""
    print("echo was called")
    if context.client_context is not None:
        return {"event": event, "custom": context.client_context.custom}
    return event


def fail(event, context):
    """Raise, so the invocation is a function error."""
    raise ValueError("broken on purpose")


def zipped(source: str) -> bytes:
    """A deployment package with ``app.py`` holding ``source``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def client(url: str, **config):
    """A Lambda client on ``url`` with retries off (one attempt per call)."""
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}, **config),
    )  # fmt: skip


@pytest.fixture
def served():
    """An Invoker with ``echo`` (version 1, alias live) and ``fail``, its endpoint and a boto3 client."""
    with Invoker() as invoker:
        fn = Function("echo", echo)
        v1 = fn.publish_version()
        fn.create_alias("live", v1)
        invoker.register(fn, Function("fail", fail))
        with invoker.serve() as endpoint:
            yield invoker, endpoint, client(endpoint.url)


def _raw(endpoint, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """One raw HTTP request (for what botocore would refuse to send); (status, headers, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), (json.loads(data) if data else None)
    finally:
        conn.close()


def test_invoke_returns_payload_version_and_request_id(served):
    """A synchronous Invoke answers 200 with the handler's JSON, the version that ran and the request id."""
    invoker, _endpoint, c = served
    r = c.invoke(FunctionName="echo", Payload=b'{"a": 1}')
    assert r["StatusCode"] == 200
    assert json.loads(r["Payload"].read()) == {"a": 1}
    assert r["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in r
    assert r["ResponseMetadata"]["RequestId"] == invoker.history[-1].request_id


def test_invoke_without_payload_sends_empty_object(served):
    """No Payload reaches the handler as {} (SAM's test_invoke_with_no_data)."""
    r = served[2].invoke(FunctionName="echo")
    assert r["Payload"].read() == b"{}"


@pytest.mark.parametrize(
    ("invocation_type", "status", "runs"),
    [("RequestResponse", 200, 1), ("Event", 202, 1), ("DryRun", 204, 0)],
)
def test_invocation_types_answer_lambdas_status(served, invocation_type, status, runs):
    """RequestResponse, Event and DryRun answer 200, 202 and 204; DryRun runs nothing (SAM refuses DryRun)."""
    invoker, _endpoint, c = served
    r = c.invoke(FunctionName="echo", InvocationType=invocation_type, Payload=b'"x"')
    assert r["StatusCode"] == status
    invoker.wait_for_idle(10)
    assert len(invoker.history) == runs


def test_log_type_tail_returns_the_log(served):
    """LogType=Tail answers the base64 log: START, the handler's output, END, REPORT (SAM refuses Tail)."""
    r = served[2].invoke(FunctionName="echo", LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    assert "START RequestId:" in log
    assert "echo was called" in log
    assert "REPORT RequestId:" in log


def test_log_type_none_returns_no_log(served):
    """LogType=None is accepted and answers no LogResult."""
    r = served[2].invoke(FunctionName="echo", LogType="None")
    assert "LogResult" not in r


def test_function_error_is_200_with_unhandled(served):
    """A handler exception is a 200 with FunctionError=Unhandled and Lambda's error document."""
    r = served[2].invoke(FunctionName="fail")
    assert r["StatusCode"] == 200
    assert r["FunctionError"] == "Unhandled"
    doc = json.loads(r["Payload"].read())
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "broken on purpose"


def test_client_context_reaches_the_handler(served):
    """X-Amz-Client-Context (base64 JSON) is the handler's context.client_context."""
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    r = served[2].invoke(FunctionName="echo", ClientContext=cc)
    assert json.loads(r["Payload"].read())["custom"] == {"k": "v"}


@pytest.mark.parametrize(
    ("name", "qualifier", "executed"),
    [
        ("echo", None, "$LATEST"),
        ("echo:$LATEST", None, "$LATEST"),
        ("echo:1", None, "1"),
        ("echo:live", None, "1"),
        ("echo", "live", "1"),
        ("echo:live", "live", "1"),
        ("123456789012:function:echo", None, "$LATEST"),
        ("123456789012:function:echo:1", None, "1"),
        (f"{ARN}:echo", None, "$LATEST"),
        (f"{ARN}:echo:live", None, "1"),
        (f"{ARN}:echo", "1", "1"),
    ],
)
def test_function_name_forms(served, name, qualifier, executed):
    """Names, name:qualifier, partial and full ARNs, with or without Qualifier, reach the right version."""
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    r = served[2].invoke(FunctionName=name, **kwargs)
    assert r["ExecutedVersion"] == executed


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"FunctionName": "nope"}, "ResourceNotFoundException", r"Function not found: .*:function:nope:\$LATEST"),
        ({"FunctionName": "echo:nope"}, "ResourceNotFoundException", "Function not found"),
        ({"FunctionName": "echo:7"}, "ResourceNotFoundException", "Function not found"),
        ({"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:echo"}, "ResourceNotFoundException",
         r"Functions from 'eu-west-1' are not reachable in this region \('us-east-1'\)"),
        ({"FunctionName": "999999999999:function:echo"}, "ResourceNotFoundException", "Function not found"),
        ({"FunctionName": "echo:1", "Qualifier": "live"}, "InvalidParameterValueException",
         "derived qualifier from the function name does not match"),
        ({"FunctionName": "echo", "Payload": b"notat:asdfasdf"}, "InvalidRequestContentException",
         "Could not parse request body into json"),
        ({"FunctionName": "echo", "Payload": b"notat:asdfasdf", "InvocationType": "Event"},
         "InvalidRequestContentException", "Could not parse request body into json"),
        ({"FunctionName": "echo", "Payload": b'"' + b"x" * 6_291_456 + b'"'}, "RequestTooLargeException",
         "6291456 bytes"),
        ({"FunctionName": "echo", "Payload": b'"' + b"x" * 1_100_000 + b'"', "InvocationType": "Event"},
         "RequestTooLargeException", "Event invocation type"),
        ({"FunctionName": "echo", "ClientContext": "not base64!"}, "InvalidRequestContentException",
         "Client context"),
    ],
)  # fmt: skip
def test_invoke_errors_are_modelled_exceptions(served, kwargs, error, match):
    """Every refused Invoke raises boto3's modelled class with Lambda's message, and nothing runs."""
    invoker, _endpoint, c = served
    with pytest.raises(getattr(c.exceptions, error), match=match):
        c.invoke(**kwargs)
    assert len(invoker.history) == 0


def test_throttle_is_429_with_reason(served):
    """Reserved concurrency 0 throttles: TooManyRequestsException with Lambda's Reason, recorded."""
    invoker, _endpoint, c = served
    c.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    with pytest.raises(c.exceptions.TooManyRequestsException) as e:
        c.invoke(FunctionName="echo")
    assert e.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert invoker.throttles


def test_concurrent_requests_run_in_parallel():
    """Ten requests at once run in ten environments: the endpoint does not queue them (SAM's test)."""

    def slow(event, context):
        import time

        time.sleep(0.3)
        return "slept"

    with Invoker() as invoker, invoker.serve() as endpoint:
        invoker.register(Function("slow", slow))
        c = client(endpoint.url, max_pool_connections=10)
        results = []

        def call():
            results.append(c.invoke(FunctionName="slow")["Payload"].read())

        threads = [threading.Thread(target=call) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [b'"slept"'] * 10
        assert len({r.environment_id for r in invoker.history}) == 10


def test_unsigned_client_as_sam_configures_it(served):
    """A client with signature_version=UNSIGNED (SAM's test client) is served the same."""
    c = client(served[1].url, signature_version=UNSIGNED)
    assert c.invoke(FunctionName="echo", Payload=b'"hi"')["Payload"].read() == b'"hi"'


def test_create_invoke_update_delete_a_zip_function():
    """CreateFunction with a zip, Invoke, UpdateFunctionCode/Configuration, waiters, DeleteFunction."""
    with Invoker() as invoker, invoker.serve() as endpoint:
        c = client(endpoint.url)
        conf = c.create_function(
            FunctionName="greeter", Runtime=RUNTIME, Role=ROLE, Handler="app.handler", MemorySize=256,
            Timeout=5, Environment={"Variables": {"GREETING": "hello"}}, Description="greets",
            Code={"ZipFile": zipped("import os\ndef handler(e, c):\n    return os.environ['GREETING'] + ' ' + e\n")},
        )  # fmt: skip
        assert conf["State"] == "Active"
        assert conf["LastUpdateStatus"] == "Successful"
        assert conf["FunctionArn"] == f"{ARN}:greeter"
        assert conf["Role"] == ROLE
        assert len(conf["CodeSha256"]) == 44
        assert (conf["MemorySize"], conf["Timeout"], conf["Version"]) == (256, 5, "$LATEST")
        c.get_waiter("function_active_v2").wait(FunctionName="greeter")
        assert c.invoke(FunctionName="greeter", Payload=b'"you"')["Payload"].read() == b'"hello you"'

        c.update_function_configuration(FunctionName="greeter", Environment={"Variables": {"GREETING": "hi"}})
        c.get_waiter("function_updated_v2").wait(FunctionName="greeter")
        assert c.invoke(FunctionName="greeter", Payload=b'"you"')["Payload"].read() == b'"hi you"'

        new = c.update_function_code(
            FunctionName="greeter", ZipFile=zipped("def handler(e, c):\n    return 'v2 ' + e\n")
        )
        assert new["CodeSha256"] != conf["CodeSha256"]
        assert c.invoke(FunctionName="greeter", Payload=b'"you"')["Payload"].read() == b'"v2 you"'

        got = c.get_function(FunctionName="greeter")
        assert got["Configuration"]["Environment"] == {"Variables": {"GREETING": "hi"}}
        with urllib_open(got["Code"]["Location"]) as package:
            assert zipfile.ZipFile(io.BytesIO(package)).read("app.py").startswith(b"def handler")

        c.delete_function(FunctionName="greeter")
        assert "greeter" not in invoker.functions
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.get_function(FunctionName="greeter")


def urllib_open(url: str):
    """GET ``url`` and return a context manager over its bytes."""
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def opened():
        with urllib.request.urlopen(url, timeout=10) as resp:
            yield resp.read()

    return opened()


def test_create_function_with_publish_and_duplicate_conflict(served):
    """CreateFunction(Publish=True) makes version 1; creating an existing name is a 409 that changes nothing."""
    _invoker, _endpoint, c = served
    code = {"ZipFile": zipped("def handler(e, c):\n    return 1\n")}
    conf = c.create_function(FunctionName="pub", Role=ROLE, Handler="app.handler", Runtime=RUNTIME,
                             Code=code, Publish=True)  # fmt: skip
    assert conf["Version"] == "1"
    with pytest.raises(c.exceptions.ResourceConflictException, match="already exist"):
        c.create_function(FunctionName="pub", Role=ROLE, Handler="app.handler", Runtime=RUNTIME, Code=code)
    assert [v["Version"] for v in c.list_versions_by_function(FunctionName="pub")["Versions"]] == ["$LATEST", "1"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"MemorySize": 20_000}, "memory_size must be an integer from 128 to 10240"),
        ({"Timeout": 901}, "timeout must be an integer from 1 to 900"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "reserved"),
        ({"Role": "not-a-role"}, "role must be an IAM role ARN"),
        ({"Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"]}, "Layers is not supported"),
        ({"Code": {"ZipFile": b"not a zip"}}, "not a valid zip file"),
        ({"Code": {"S3Bucket": "bucket", "S3Key": "key"}}, "Code.S3Bucket is not supported"),
    ],
)
def test_create_function_refusals(served, changes, match):
    """Values Lambda refuses (or pylambda cannot honour) are InvalidParameterValueException; nothing is created."""
    invoker, _endpoint, c = served
    kwargs = {"FunctionName": "bad", "Role": ROLE, "Handler": "app.handler", "Runtime": RUNTIME,
              "Code": {"ZipFile": zipped("def handler(e, c):\n    return 1\n")}, **changes}  # fmt: skip
    with pytest.raises(c.exceptions.InvalidParameterValueException, match=match):
        c.create_function(**kwargs)
    assert "bad" not in invoker.functions


def test_list_functions_pages_with_marker(served):
    """ListFunctions pages with MaxItems/NextMarker; the paginator sees every function once."""
    invoker, _endpoint, c = served
    for i in range(5):
        invoker.register(Function(f"extra-{i}", echo))
    first = c.list_functions(MaxItems=3)
    assert len(first["Functions"]) == 3
    assert "NextMarker" in first
    names = [f["FunctionName"] for p in c.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
             for f in p["Functions"]]  # fmt: skip
    assert names == sorted(["echo", "fail"] + [f"extra-{i}" for i in range(5)])
    every = c.list_functions(FunctionVersion="ALL")["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in every if f["FunctionName"] == "echo"] == [
        ("echo", "$LATEST"), ("echo", "1")]  # fmt: skip


def test_versions_and_aliases_with_routing(served):
    """PublishVersion, CreateAlias with weights, UpdateAlias clearing them, GetAlias, ListAliases, DeleteAlias."""
    invoker, _endpoint, c = served
    invoker.functions["echo"].update_configuration(description="second")
    v2 = c.publish_version(FunctionName="echo")
    assert v2["Version"] == "2"
    assert v2["FunctionArn"] == f"{ARN}:echo:2"
    assert c.publish_version(FunctionName="echo")["Version"] == "2"  # nothing changed: the same version
    alias = c.create_alias(FunctionName="echo", Name="canary", FunctionVersion="1",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})  # fmt: skip
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    ran = {c.invoke(FunctionName="echo:canary")["ExecutedVersion"] for _ in range(30)}
    assert ran == {"1", "2"}
    updated = c.update_alias(FunctionName="echo", Name="canary", FunctionVersion="2",
                             RoutingConfig={"AdditionalVersionWeights": {}})  # fmt: skip
    assert "RoutingConfig" not in updated
    assert updated["RevisionId"] != alias["RevisionId"]
    assert c.get_alias(FunctionName="echo", Name="canary")["FunctionVersion"] == "2"
    assert sorted(a["Name"] for a in c.list_aliases(FunctionName="echo")["Aliases"]) == ["canary", "live"]
    with pytest.raises(c.exceptions.ResourceConflictException, match="Alias already exists"):
        c.create_alias(FunctionName="echo", Name="canary", FunctionVersion="1")
    with pytest.raises(c.exceptions.ResourceConflictException, match="aliases reference it"):
        c.delete_function(FunctionName="echo", Qualifier="2")
    c.delete_alias(FunctionName="echo", Name="canary")
    with pytest.raises(c.exceptions.ResourceNotFoundException, match="Cannot find alias"):
        c.get_alias(FunctionName="echo", Name="canary")
    c.delete_function(FunctionName="echo", Qualifier="2")
    assert [v["Version"] for v in c.list_versions_by_function(FunctionName="echo")["Versions"]] == ["$LATEST", "1"]


@pytest.mark.parametrize(
    ("routing", "error", "match"),
    [
        ({"1": 0.5}, "InvalidParameterValueException", "already included in routing"),
        ({"9": 0.5}, "ResourceNotFoundException", "Function not found"),
        ({"1": 0.1, "2": 0.1}, "InvalidParameterValueException", "cannot be greater than 1"),
    ],
)
def test_alias_routing_refusals(served, routing, error, match):
    """Routing Lambda refuses is refused with its message, and the alias is not created."""
    c = served[2]
    with pytest.raises(getattr(c.exceptions, error), match=match):
        c.create_alias(FunctionName="echo", Name="bad", FunctionVersion="1",
                       RoutingConfig={"AdditionalVersionWeights": routing})  # fmt: skip
    assert "bad" not in served[0].functions["echo"].aliases


def test_concurrency_provisioned_and_event_invoke_configs(served):
    """Reserved and provisioned concurrency and event-invoke configs round-trip in Lambda's shapes."""
    invoker, _endpoint, c = served
    assert "ReservedConcurrentExecutions" not in c.get_function_concurrency(FunctionName="echo")
    c.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=5)
    assert c.get_function_concurrency(FunctionName="echo")["ReservedConcurrentExecutions"] == 5
    assert c.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 995
    c.delete_function_concurrency(FunctionName="echo")
    assert invoker.functions["echo"].reserved_concurrency is None

    with pytest.raises(c.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        c.get_provisioned_concurrency_config(FunctionName="echo", Qualifier="1")
    put = c.put_provisioned_concurrency_config(FunctionName="echo", Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    got = c.get_provisioned_concurrency_config(FunctionName="echo", Qualifier="1")
    assert (got["RequestedProvisionedConcurrentExecutions"], got["Status"]) == (1, "READY")
    with pytest.raises(c.exceptions.InvalidParameterValueException, match="unpublished"):
        c.put_provisioned_concurrency_config(FunctionName="echo", Qualifier="$LATEST",
                                             ProvisionedConcurrentExecutions=1)  # fmt: skip
    c.delete_provisioned_concurrency_config(FunctionName="echo", Qualifier="1")

    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function_event_invoke_config(FunctionName="echo")
    c.put_function_event_invoke_config(FunctionName="echo", MaximumRetryAttempts=0,
                                       DestinationConfig={"OnFailure": {"Destination": f"{ARN}:fail"}})  # fmt: skip
    updated = c.update_function_event_invoke_config(FunctionName="echo", MaximumEventAgeInSeconds=60)
    assert updated["MaximumRetryAttempts"] == 0
    assert updated["MaximumEventAgeInSeconds"] == 60
    assert updated["DestinationConfig"] == {"OnFailure": {"Destination": f"{ARN}:fail"}}
    assert invoker.get_function_event_invoke_config("echo").maximum_retry_attempts == 0
    c.delete_function_event_invoke_config(FunctionName="echo")
    with pytest.raises(c.exceptions.InvalidParameterValueException, match="maximum_retry_attempts must be an integer"):
        c.put_function_event_invoke_config(FunctionName="echo", MaximumRetryAttempts=5)


def test_resource_policies_per_qualifier(served):
    """AddPermission/GetPolicy/RemovePermission: one document per function and qualifier, Lambda's shape."""
    c = served[2]
    with pytest.raises(c.exceptions.ResourceNotFoundException, match="does not exist"):
        c.get_policy(FunctionName="echo")
    added = c.add_permission(FunctionName="echo", StatementId="s3-invoke", Action="lambda:InvokeFunction",
                             Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::inbox",
                             SourceAccount="123456789012")  # fmt: skip
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": f"{ARN}:echo",
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::inbox"},
                      "StringEquals": {"AWS:SourceAccount": "123456789012"}},
    }  # fmt: skip
    c.add_permission(FunctionName="echo", Qualifier="live", StatementId="acct", Action="lambda:*",
                     Principal="210987654321")  # fmt: skip
    policy = json.loads(c.get_policy(FunctionName="echo")["Policy"])
    assert (policy["Version"], [s["Sid"] for s in policy["Statement"]]) == ("2012-10-17", ["s3-invoke"])
    live = json.loads(c.get_policy(FunctionName="echo", Qualifier="live")["Policy"])["Statement"]
    assert live[0]["Resource"] == f"{ARN}:echo:live"
    assert live[0]["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    with pytest.raises(c.exceptions.ResourceConflictException, match="already exists"):
        c.add_permission(FunctionName="echo", StatementId="s3-invoke", Action="lambda:InvokeFunction",
                         Principal="s3.amazonaws.com")  # fmt: skip
    c.remove_permission(FunctionName="echo", StatementId="s3-invoke")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.remove_permission(FunctionName="echo", StatementId="s3-invoke")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName="echo")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/2015-03-31/functions", b"{not json", 400, "InvalidRequestContentException"),
        ("POST", "/2015-03-31/functions", b"[1, 2]", 400, "InvalidRequestContentException"),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": "x", "Bogus": 1}', 400,
         "InvalidRequestContentException"),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": "x", "Role": "' + ROLE.encode()
         + b'", "Code": {}, "MemorySize": "big"}', 400, "InvalidRequestContentException"),
        ("POST", "/2015-03-31/functions", b'{"FunctionName": "x"}', 400, "InvalidParameterValueException"),
        ("PUT", "/2017-10-31/functions/echo/concurrency", b'{"ReservedConcurrentExecutions": true}', 400,
         "InvalidRequestContentException"),
        ("POST", "/2015-03-31/functions/echo/aliases", b'{"Name": 5, "FunctionVersion": "1"}', 400,
         "InvalidRequestContentException"),
        ("GET", "/2015-03-31/functions?MaxItems=zero", b"", 400, "InvalidParameterValueException"),
        ("GET", "/2015-03-31/functions/bad%20name", b"", 400, "InvalidParameterValueException"),
        ("POST", "/2017-03-31/tags/x", b"{}", 400, "UnsupportedOperationException"),
        ("GET", "/2099-01-01/nothing", b"", 400, "UnsupportedOperationException"),
        ("PATCH", "/2015-03-31/functions/echo", b"", 400, "UnsupportedOperationException"),
    ],
)  # fmt: skip
def test_malformed_requests_get_a_4xx_and_change_nothing(served, method, path, body, status, error):
    """Bad JSON, wrong types, unknown members, unknown operations: a 4xx naming the problem; nothing changes."""
    invoker, endpoint, _c = served
    before = (sorted(invoker.functions), invoker.functions["echo"].reserved_concurrency)
    got_status, headers, doc = _raw(endpoint, method, path, body)
    assert (got_status, headers["x-amzn-ErrorType"], doc["__type"]) == (status, error, error)
    assert doc.get("message") or doc.get("Message")
    assert (sorted(invoker.functions), invoker.functions["echo"].reserved_concurrency) == before


def test_oversized_body_is_413_after_reading_it(served):
    """A body over the endpoint's limit is read and answered 413 (not a reset); nothing is created."""
    invoker, endpoint, _c = served
    huge = b'{"FunctionName": "x", "pad": "' + b"x" * (73 * 1024 * 1024) + b'"}'
    status, headers, _doc = _raw(endpoint, "POST", "/2015-03-31/functions", huge)
    assert (status, headers["x-amzn-ErrorType"]) == (413, "RequestTooLargeException")
    assert "x" not in invoker.functions


def test_unsupported_operation_is_named(served):
    """An operation pylambda does not serve raises at once, naming it (not a hang or a 500)."""
    c = served[2]
    with pytest.raises(c.exceptions.ClientError, match="does not implement the ListLayers operation") as e:
        c.list_layers()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_nothing_listens_after_close():
    """close() stops listening and ends kept-alive connections; closing the Invoker closes its endpoints."""
    with Invoker() as invoker:
        invoker.register(Function("echo", echo))
        endpoint = invoker.serve()
        c = client(endpoint.url)
        c.invoke(FunctionName="echo")  # leaves a kept-alive connection open
        port = endpoint.port
        endpoint.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        second = invoker.serve()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", second.port), timeout=2).close()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_create_function_on_a_node_runtime(served):
    """CreateFunction with Runtime nodejs20.x and a zipped index.js runs on Node (the Runtime API backend)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.js", "exports.handler = async (event) => ({node: true, got: event});\n")
    c = served[2]
    c.create_function(FunctionName="nodefn", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                      Code={"ZipFile": buf.getvalue()})  # fmt: skip
    r = c.invoke(FunctionName="nodefn", Payload=b'{"a": 1}')
    assert json.loads(r["Payload"].read()) == {"node": True, "got": {"a": 1}}
    assert c.get_function_configuration(FunctionName="nodefn")["Runtime"] == "nodejs20.x"
