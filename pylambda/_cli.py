"""The ``pylambda`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]

# Tried in order; ``app.lambda_handler`` is ``sam init``'s default layout.
_DEFAULT_HANDLERS = (
    "app.handler", "app.lambda_handler", "lambda_function.lambda_handler", "handler.handler", "main.handler",
)  # fmt: skip


def _defines(source: Path, name: str) -> bool | None:
    """Whether ``source`` defines ``name`` at top level (None: it cannot be parsed, so we cannot tell)."""
    import ast

    try:
        tree = ast.parse(source.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == name for a in node.names
        ):
            return True
    return False


def _target(spec: str, handler: str | None) -> tuple[str, str]:
    """(code directory, handler) from a directory, a .py file or ``dir/module.function``."""
    path = Path(spec)
    if path.is_dir():
        if handler:
            return str(path), handler
        present = [c for c in _DEFAULT_HANDLERS if (path / (c.split(".")[0] + ".py")).is_file()]
        for candidate in present:  # the first module that defines its function ...
            module, attr = candidate.split(".")
            if _defines(path / f"{module}.py", attr):
                return str(path), candidate
        for candidate in present:  # ... else the first that could (its error then names the problem)
            module, attr = candidate.split(".")
            if _defines(path / f"{module}.py", attr) is None:
                return str(path), candidate
        if present:
            names = ", ".join(present)
            raise SystemExit(f"pylambda: none of {names} is defined in {spec}; pass --handler module.function")
        raise SystemExit(f"pylambda: no handler found in {spec}; pass --handler module.function")
    if path.suffix == ".py" and path.is_file():
        return str(path.parent), f"{path.stem}.{handler or 'handler'}"
    if path.suffix == ".zip" and path.is_file():
        return str(path), handler or "lambda_function.lambda_handler"
    if path.is_file():  # README.md would otherwise read as module README, function md
        raise SystemExit(f"pylambda: {spec!r} is a file but not a .py or .zip file")
    directory, _, module_fn = spec.rpartition("/")
    if "." in module_fn and (directory == "" or Path(directory).is_dir()):
        return directory or ".", module_fn
    raise SystemExit(f"pylambda: {spec!r} is not a directory, a .py/.zip file or dir/module.function")


def _event_bytes(value: str | None) -> bytes:
    if value is None:
        return b"{}"
    if value == "-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as e:
            raise SystemExit(f"pylambda: cannot read the event file {value[1:]!r}: {e.strerror}") from None
    return value.encode()


def _invoke(args: argparse.Namespace) -> int:
    from . import Function, Invoker, PylambdaError

    args.tail = args.tail or args.log_type == "Tail"
    code, handler = _target(args.target, args.handler)
    env = {}
    for item in args.env or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"pylambda: --env takes KEY=VALUE, got {item!r}")
        env[key] = value
    name = args.name or Path(code).stem.replace(".", "-") or "function"
    try:
        fn = Function(name, handler, code=code, memory_size=args.memory, timeout=args.timeout, environment=env)
        with Invoker() as invoker:
            result = invoker.invoke(fn, payload=_event_bytes(args.event), log_type="Tail" if args.tail else None)
    except PylambdaError as e:
        print(f"pylambda: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        sys.stderr.write(result.logs)
        sys.stderr.flush()
    if result.payload_is_bytes:
        sys.stdout.buffer.write(result.raw_payload + b"\n")
    else:
        payload = json.loads(result.raw_payload) if result.raw_payload else None
        print(json.dumps(payload, indent=2 if sys.stdout.isatty() else None, ensure_ascii=False))
    if args.tail:
        print(result.log_result, file=sys.stderr)
    return 1 if result.function_error else 0


def _load_definition(path: Path) -> dict:
    """The definition file's contents, or a one-line exit naming what is wrong with it."""
    if path.suffix not in (".json", ".toml", ".yaml", ".yml"):
        raise SystemExit(f"pylambda: {path} must end in .json, .toml, .yaml or .yml")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(f"pylambda: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if path.suffix == ".json":
        parse, errors = json.loads, (ValueError,)
    elif path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError:
                raise SystemExit("pylambda: TOML needs Python 3.11+ or 'pip install tomli'") from None
        parse, errors = tomllib.loads, (tomllib.TOMLDecodeError,)
    else:
        try:
            import yaml
        except ImportError:
            raise SystemExit("pylambda: YAML needs PyYAML: pip install PyYAML") from None
        parse, errors = yaml.safe_load, (yaml.YAMLError,)
    try:
        spec = parse(text)
    except errors as e:
        raise SystemExit(f"pylambda: {path} is not valid {path.suffix[1:].upper()}: {e}") from None
    if not isinstance(spec, dict):
        raise SystemExit(f"pylambda: {path} must hold a table/object with [functions], got {type(spec).__name__}")
    return spec


_FUNCTION_KEYS = {
    "handler", "code", "runtime", "memory_size", "timeout", "ephemeral_storage", "environment", "architecture",
    "reserved_concurrency", "description", "log_format", "application_log_level", "system_log_level",
    "log_group", "tracing", "role",
}  # fmt: skip


def _functions(spec: dict, base: Path) -> dict:
    """The [functions] of a definition file as Function objects (paths relative to the file)."""
    from . import Function

    functions = {}
    for name, conf in (spec.get("functions") or {}).items():
        unknown = set(conf) - _FUNCTION_KEYS
        if unknown:
            raise SystemExit(f"pylambda: function {name!r}: unknown keys {sorted(unknown)}")
        conf = dict(conf)
        if "code" in conf:
            conf["code"] = str((base / conf["code"]).resolve())
        functions[name] = Function(name, conf.pop("handler"), **conf)
    return functions


def _run(args: argparse.Namespace) -> int:
    from . import Invoker, PylambdaError

    path = Path(args.definition)
    spec = _load_definition(path)
    base = path.parent
    invocations = spec.get("invocations") or []
    if not spec.get("functions"):
        raise SystemExit(f"pylambda: {path} defines no [functions]")
    status = 0
    try:
        functions = _functions(spec, base)
        with Invoker() as invoker:
            invoker.register(*functions.values())
            for i, call in enumerate(invocations, 1):
                target = call.get("function")
                if target is None:
                    raise SystemExit(f"pylambda: invocation {i} names no function")
                if "event_file" in call:
                    payload = (base / call["event_file"]).read_bytes()
                else:
                    payload = json.dumps(call.get("event", {})).encode()
                kind = call.get("invocation_type", "RequestResponse")
                result = invoker.invoke(target, payload=payload, invocation_type=kind)
                logs = result.logs
                if kind == "Event":  # its attempts' logs (each START ... REPORT), once they ran
                    if not invoker.wait_for_idle(float(call.get("wait", 60))):
                        for line in invoker.pending_work():
                            print(f"pylambda: still pending: {line}", file=sys.stderr)
                    logs = "".join(r.result.logs for r in invoker.history.where(request_id=result.request_id))
                if not args.quiet:
                    sys.stderr.write(logs)
                shown = result.payload if not result.payload_is_bytes else result.raw_payload.decode("latin-1")
                print(json.dumps({"invocation": i, "function": target, "status": result.status_code,
                                  "error": result.error_type, "payload": shown}))  # fmt: skip
                if result.function_error:
                    status = 1
            for outcome in invoker.async_outcomes:
                print(json.dumps({"async": outcome.request_id, "condition": outcome.condition,
                                  "attempts": outcome.attempts}))  # fmt: skip
    except PylambdaError as e:
        print(f"pylambda: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return status


def _serve(args: argparse.Namespace) -> int:
    """Serve the Lambda API until interrupted (Ctrl-C or SIGTERM)."""
    import ipaddress
    import signal
    import threading

    from . import Invoker, PylambdaError

    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        print(
            f"pylambda: WARNING: serving on {args.host}, not loopback: anyone who can reach this machine can "
            "create, change and run functions here (the endpoint authenticates no one)",
            file=sys.stderr,
        )
    functions = {}
    if args.definition:
        path = Path(args.definition)
        try:
            functions = _functions(_load_definition(path), path.parent)
        except PylambdaError as e:
            print(f"pylambda: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Invoker() as invoker:
            invoker.register(*functions.values())
            try:
                endpoint = invoker.serve(host=args.host, port=args.port)
            except OSError as e:
                print(f"pylambda: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
                return 2
            names = ", ".join(sorted(functions)) or "none yet: create them with CreateFunction"
            print(endpoint.url, flush=True)
            print(f"pylambda: the Lambda API is at {endpoint.url} (functions: {names}); Ctrl-C stops",
                  file=sys.stderr, flush=True)  # fmt: skip
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pylambda",
        description="AWS Lambda on your machine: run handlers in real execution environments.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inv = sub.add_parser(
        "invoke",
        help="invoke a handler once and print its response (stdout) and log (stderr)",
        description=(
            "Invoke a handler once, as Lambda would: the response goes to stdout, the log "
            "(START, output, END, REPORT) to stderr. Exits 1 on a function error."
        ),
    )
    inv.add_argument(
        "target",
        help="a code directory (handler found or given with --handler), a .py file, "
        "a .zip package, or dir/module.function",
    )
    inv.add_argument("--handler", help="module.function inside the code directory (default: found)")
    inv.add_argument("--event", "-e", help="the event: JSON text, @file, or - for stdin (default {})")
    inv.add_argument("--name", help="the function name (default: the directory name)")
    inv.add_argument("--memory", type=int, default=128, help="memory size in MB (128-10240, default 128)")
    inv.add_argument("--timeout", type=int, default=3, help="timeout in seconds (1-900, default 3)")
    inv.add_argument("--env", action="append", metavar="KEY=VALUE", help="an environment variable (repeatable)")
    inv.add_argument("--tail", action="store_true", help="also print the base64 LogResult, as LogType=Tail")
    inv.add_argument("--log-type", choices=("None", "Tail"), help="Lambda's LogType; Tail is the same as --tail")
    inv.add_argument("--quiet", "-q", action="store_true", help="do not print the log")
    inv.set_defaults(func=_invoke)
    run = sub.add_parser(
        "run",
        help="define several functions and run a list of invocations from a JSON/TOML/YAML file",
        description=(
            "Run the invocations listed in a definition file: [functions.NAME] tables (handler, code, "
            "memory_size, timeout, environment, ...) and [[invocations]] (function, event or event_file, "
            "invocation_type). Paths are relative to the file. Prints one JSON line per invocation; "
            "exits 1 if any had a function error."
        ),
    )
    run.add_argument("definition", help="a .json, .toml, .yaml or .yml file")
    run.add_argument("--quiet", "-q", action="store_true", help="do not print the logs")
    run.set_defaults(func=_run)
    serve = sub.add_parser(
        "serve",
        help="serve the Lambda REST API (boto3, the AWS CLI) for the functions of a definition file",
        description=(
            "Serve the Lambda API on HOST:PORT until Ctrl-C: boto3 and the AWS CLI reach it with "
            "--endpoint-url (Invoke, CreateFunction, versions, aliases, ...; see docs/lambda-api.md). "
            "FILE is a definition file as 'pylambda run' reads ([functions] only). Prints the URL on stdout."
        ),
    )
    serve.add_argument("definition", nargs="?", metavar="FILE", help="a .json, .toml, .yaml or .yml file")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others warn)")
    serve.add_argument("--port", type=int, default=3001, help="port to bind (default 3001; 0 picks a free one)")
    serve.set_defaults(func=_serve)
    from .sam._cli import add_local_commands

    add_local_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pylambda`` console script."""
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
