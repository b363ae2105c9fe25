"""``pylambda local ...``: SAM CLI's ``sam local`` commands, with its flags, without Docker.

::

    pylambda local invoke [-t template.yaml] HelloWorldFunction [-e event.json | -e -] \\
        [--env-vars env.json] [--parameter-overrides Stage=dev Key=Value]
    pylambda local start-api [-t template.yaml] [-p 3000]
    pylambda local start-lambda [-t template.yaml] [-p 3001]
    pylambda local generate-event apigateway aws-proxy --path /orders/1 --method GET

As with ``sam local``, the template defaults to ``template.yaml``/
``template.yml`` in the current directory, the response goes to stdout and
the log to stderr, and ``--parameter-overrides`` takes ``Key=Value`` or
CloudFormation's ``ParameterKey=Key,ParameterValue=Value``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

__all__ = ["add_local_commands"]


def _overrides(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        for token in item.split():
            if token.startswith("ParameterKey="):
                fields = dict(part.split("=", 1) for part in token.split(",") if "=" in part)
                if "ParameterValue" not in fields:
                    raise SystemExit(f"pylambda: --parameter-overrides: {token!r} has no ParameterValue")
                out[fields["ParameterKey"]] = fields["ParameterValue"]
            else:
                key, sep, value = token.partition("=")
                if not sep:
                    raise SystemExit(f"pylambda: --parameter-overrides takes Key=Value, got {token!r}")
                out[key] = value
    return out


def _load(args: argparse.Namespace, unwired_events_ok: bool = False):
    from . import TemplateError, load

    try:
        app = load(args.template, _overrides(args.parameter_overrides), args.env_vars, dependencies=args.dependencies,
                   unwired_events_ok=unwired_events_ok, **({"region": args.region} if args.region else {}))  # fmt: skip
    except TemplateError as e:
        raise SystemExit(f"pylambda: {e}") from None
    for resource, prop, line, why in app.ignored:
        if args.debug or why.endswith("not wired"):
            print(f"pylambda: {resource}.{prop} (line {line}): {why}", file=sys.stderr)
    return app


@contextlib.contextmanager
def _invoker(args: argparse.Namespace):
    """An Invoker, at the endpoint of --aws-endpoint-url, or of moto's server started for --aws-services."""
    from .. import Invoker

    with contextlib.ExitStack() as stack:
        url = args.aws_endpoint_url
        if args.aws_services:
            import pylambda.aws

            url = stack.enter_context(pylambda.aws.services(region=args.region or "us-east-1")).url
            print(f"pylambda: AWS services (moto) at {url}", file=sys.stderr)
        yield stack.enter_context(Invoker(aws_endpoint_url=url) if url else Invoker())


def _invoke(args: argparse.Namespace) -> int:
    from .. import PylambdaError

    app = _load(args, unwired_events_ok=True)  # as sam local invoke: the event is the one given here
    name = args.function_id
    if name is None:
        if len(app.functions) != 1:
            raise SystemExit(f"pylambda: the template has several functions; name one of {sorted(app.functions)}")
        name = next(iter(app.functions))
    fn = app.functions.get(name)
    if fn is None:
        by_name = {f.name: f for f in app.functions.values()}
        fn = by_name.get(name)
    if fn is None:
        raise SystemExit(f"pylambda: no function {name!r} in {app.template.path.name}; have {sorted(app.functions)}")
    if args.event == "-":
        payload = sys.stdin.buffer.read()
    elif args.event:
        try:
            with open(args.event, "rb") as f:
                payload = f.read()
        except OSError as e:
            raise SystemExit(f"pylambda: cannot read the event file {args.event!r}: {e.strerror}") from None
    else:
        payload = b"{}"
    try:
        with _invoker(args) as invoker:
            app.attach(invoker)
            result = invoker.invoke(fn, payload=payload)
    except PylambdaError as e:
        print(f"pylambda: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    sys.stderr.write(result.logs)
    sys.stderr.flush()
    if result.payload_is_bytes:
        sys.stdout.buffer.write(result.raw_payload + b"\n")
    else:
        print(result.raw_payload.decode("utf-8", "replace"))
    return 1 if result.function_error else 0


def _start_api(args: argparse.Namespace) -> int:
    app = _load(args)
    if not any(api.routes for api in app.apis.values()):
        raise SystemExit(f"pylambda: {app.template.path.name} has no Api or HttpApi events to serve")
    with _invoker(args) as invoker:
        app.attach(invoker)
        with app.start_api(invoker, host=args.host, port=args.port) as server:
            for api in app.apis.values():
                for route in api.routes:
                    fn = getattr(route.function, "function", route.function)
                    where = server.url.rstrip("/") + ("" if route.path == "$default" else route.path)
                    print(f"Mounting {fn.name} at {where} [{route.method}] ({api.kind} API {api.name})",
                          file=sys.stderr)  # fmt: skip
            print(f"pylambda: serving on {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            _serve_until_stopped()
    return 0


def _serve_until_stopped() -> None:
    """Block until Ctrl-C or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def _start_lambda(args: argparse.Namespace) -> int:
    app = _load(args)
    with _invoker(args) as invoker:
        app.attach(invoker)
        with invoker.serve(host=args.host, port=args.port) as endpoint:
            for logical_id, fn in app.functions.items():
                print(f"Serving {logical_id} as {fn.name}", file=sys.stderr)
            print(f"pylambda: the Lambda API on {endpoint.url} (Ctrl-C to stop); "
                  f"boto3.client('lambda', endpoint_url='{endpoint.url}')", file=sys.stderr, flush=True)  # fmt: skip
            _serve_until_stopped()
    return 0


_GENERATORS: dict[tuple[str, str], str] = {
    ("apigateway", "aws-proxy"): "REST API proxy event (payload 1.0): --method --path --resource --body --query",
    ("apigateway", "http-api-proxy"): "HTTP API event (payload 2.0): --method --path --body --query",
    ("s3", "put"): "S3 ObjectCreated:Put notification: --bucket --key --size",
    ("s3", "delete"): "S3 ObjectRemoved:Delete notification: --bucket --key",
    ("sqs", "receive-message"): "SQS batch of one message: --body",
    ("kinesis", "get-records"): "Kinesis batch of one record: --body --partition-key",
    ("dynamodb", "update"): "DynamoDB stream batch with one MODIFY record: --key",
    ("cloudwatch", "scheduled-event"): "EventBridge Scheduled Event: --region",
}


def _generate(args: argparse.Namespace) -> int:
    from .. import events

    key = (args.service, args.event)
    if key not in _GENERATORS:
        listing = "\n".join(f"  {s} {e}: {what}" for (s, e), what in _GENERATORS.items())
        raise SystemExit(f"pylambda: no generator for {args.service} {args.event}; available:\n{listing}")
    body = args.body
    if key == ("apigateway", "aws-proxy"):
        event: Any = events.api_gateway_event(args.method, args.path, resource=args.resource, query=args.query,
                                              body=body, region=args.region)  # fmt: skip
    elif key == ("apigateway", "http-api-proxy"):
        event = events.http_api_event(args.method, args.path, query=args.query, body=body,
                                      route_key=f"{args.method.upper()} {args.resource or args.path}")  # fmt: skip
    elif args.service == "s3":
        name = "ObjectCreated:Put" if args.event == "put" else "ObjectRemoved:Delete"
        event = events.s3_event(args.bucket, args.key, event_name=name, size=args.size, region=args.region)
    elif args.service == "sqs":
        event = events.sqs_event(events.sqs_message(body or "Hello from SQS!"))
    elif args.service == "kinesis":
        event = events.kinesis_event(events.kinesis_record(body or "Hello, this is a test 123.",
                                                           partition_key=args.partition_key))  # fmt: skip
    elif args.service == "dynamodb":
        keys = {"Id": {"N": args.key or "101"}}
        new_image = {**keys, "Message": {"S": body or "New item!"}}
        event = events.dynamodb_event(events.dynamodb_record("MODIFY", keys=keys, new_image=new_image))
    else:
        event = events.scheduled_event(region=args.region)
    print(json.dumps(event, indent=2))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--template", "--template-file", default=None,
                   help="the SAM template (default: template.yaml or template.yml here)")  # fmt: skip
    p.add_argument("-n", "--env-vars", default=None,
                   help='JSON file of {"LogicalId": {"VAR": "value"}, "Parameters": {...}}')  # fmt: skip
    p.add_argument("--parameter-overrides", nargs="+", default=None, metavar="KEY=VALUE",
                   help="template parameter values: Key=Value or ParameterKey=Key,ParameterValue=Value")  # fmt: skip
    p.add_argument("--region", default=None, help="AWS_REGION of the functions (default us-east-1)")
    p.add_argument("--dependencies", choices=("isolated", "caller"), default="isolated",
                   help="isolated (default): only the code, its requirements.txt, layers, boto3 and the stdlib; "
                        "caller: also whatever this Python can import")  # fmt: skip
    p.add_argument("--debug", action="store_true", help="also list what in the template has no local effect")
    aws = p.add_mutually_exclusive_group()
    aws.add_argument("--aws-services", action="store_true",
                     help="start moto's AWS services for the run: the template's queues, tables, streams and "
                          "buckets are created there and the handlers' boto3 calls reach them")  # fmt: skip
    aws.add_argument("--aws-endpoint-url", default=None, metavar="URL",
                     help="an AWS services endpoint already running (AWS_ENDPOINT_URL of the handlers)")  # fmt: skip


def add_local_commands(sub: Any) -> None:
    """Add ``local invoke|start-api|start-lambda|generate-event`` to the ``pylambda`` parser's sub-commands."""
    local = sub.add_parser("local", help="run a SAM project's functions and APIs (sam local's commands)",
                           description="SAM CLI's `sam local` commands, run without Docker.")  # fmt: skip
    commands = local.add_subparsers(dest="local_command", required=True)
    inv = commands.add_parser("invoke", help="invoke one function of the template once",
                              description="Invoke a function of the template once: the response goes to stdout, "
                                          "the log to stderr. Exits 1 on a function error.")  # fmt: skip
    inv.add_argument("function_id", nargs="?", help="the function's logical id (optional with one function)")
    inv.add_argument("-e", "--event", help="a JSON event file, or - for stdin (default {})")
    _common(inv)
    inv.set_defaults(func=_invoke)
    api = commands.add_parser("start-api", help="serve the template's Api/HttpApi events on 127.0.0.1",
                              description="Serve the template's REST and HTTP APIs until Ctrl-C.")  # fmt: skip
    api.add_argument("-p", "--port", type=int, default=3000, help="port (default 3000)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    _common(api)
    api.set_defaults(func=_start_api)
    lam = commands.add_parser(
        "start-lambda",
        help="serve the template's functions on the Lambda API (boto3, AWS CLI)",
        description="Serve the Lambda REST API for the template's functions until Ctrl-C: "
        "boto3.client('lambda', endpoint_url=...).invoke(FunctionName=...).",
    )
    lam.add_argument("-p", "--port", type=int, default=3001, help="port (default 3001)")
    lam.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    _common(lam)
    lam.set_defaults(func=_start_lambda)
    gen = commands.add_parser("generate-event", help="print a sample event of a service",
                              description="Print a sample event; SERVICE EVENT is one of: "
                                          + "; ".join(f"{s} {e}" for s, e in _GENERATORS))  # fmt: skip
    gen.add_argument("service")
    gen.add_argument("event")
    gen.add_argument("--method", default="GET")
    gen.add_argument("--path", default="/")
    gen.add_argument("--resource", default=None)
    gen.add_argument("--query", default="")
    gen.add_argument("--body", default=None)
    gen.add_argument("--bucket", default="example-bucket")
    gen.add_argument("--key", default="test/key")
    gen.add_argument("--size", type=int, default=1024)
    gen.add_argument("--partition-key", default="partitionKey-03")
    gen.add_argument("--region", default="us-east-1")
    gen.set_defaults(func=_generate)
