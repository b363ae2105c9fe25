"""AWS services for handlers, on 127.0.0.1: moto's server, started and stopped for you.

A test's ``@mock_aws`` patches botocore in the *test's* process; handlers run
in other processes (the execution environments), so their SDK calls would go
to real AWS.  What reaches them is a real HTTP endpoint and
``AWS_ENDPOINT_URL`` in their environment (botocore >= 1.28 and the AWS CLI
honour it)::

    import pylambda.aws
    from pylambda import Invoker

    with pylambda.aws.services() as aws:                 # moto's server on 127.0.0.1
        aws.client("dynamodb").create_table(...)
        with Invoker(aws_endpoint_url=aws.url) as invoker:
            invoker.invoke(fn, {...})                    # the handler's boto3 reaches moto

The backend is moto (the ``aws`` extra: ``pip install -e '.[aws]'`` in the checkout), imported only when
``services()`` starts it.  moto keeps its state per Python process, not per
server: two ``services()`` open at once in one process share their
resources, and the state is reset when the last one closes, so the next
``services()`` starts empty.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._errors import PylambdaError

__all__ = ["FAKE_CREDENTIALS", "Services", "services"]

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account, and pylambda's

# Credentials for clients of a local endpoint: moto accepts any, and explicit
# ones keep botocore from searching the host (env, ~/.aws, instance metadata).
FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

_open_lock = threading.Lock()
_open_count = 0  # services() open in this process: moto's state is reset when the last closes


class Services:
    """A running moto server: ``url``, ``region``, ``client(service)``; ``close()`` stops it.

    Stopping closes the listening socket too, so nothing answers on the port
    afterwards (moto's ``ThreadedMotoServer.stop`` leaves it bound).
    """

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        # Port 0: the OS picks a free port at bind time, so two servers never race for one.
        self._server = _quiet_server_class()(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self._closed = False

    def client(self, service: str, region: str | None = None, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` at this endpoint (this region unless given; fake credentials)."""
        import boto3

        options: dict[str, Any] = {"endpoint_url": self.url, "region_name": region or self.region}
        options.update(FAKE_CREDENTIALS)
        options.update(kwargs)
        return boto3.session.Session().client(service, **options)

    def environ(self) -> dict[str, str]:
        """Variables that point SDK clients of a process at this endpoint (endpoint, region, credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": FAKE_CREDENTIALS["aws_session_token"],
        }

    def reset(self) -> None:
        """Forget every resource (moto's ``/moto-api/reset``): shared by all servers of this process."""
        import urllib.request  # here: it costs 30 ms, most of this module's import time

        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def close(self) -> None:
        """Stop the server and close its socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.stop()
        inner = getattr(self._server, "_server", None)
        if inner is not None:
            inner.server_close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Services {self.url} region={self.region}{' closed' if self._closed else ''}>"


def _quiet_server_class() -> type:
    """moto's ``ThreadedMotoServer`` without a stderr line per request (werkzeug's access log)."""
    try:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server
    except ImportError as e:
        raise PylambdaError(
            f"pylambda.aws.services() needs moto with its server: pip install 'moto[server]' boto3, "
            f"or pip install -e '.[aws]' in the pylambda checkout ({e})"
        ) from e
    try:  # newer moto has its own handler (it keeps headers with underscores); older ones use werkzeug's
        from moto.moto_server.werkzeug_app import MotoRequestHandler as Handler
    except ImportError:
        Handler = WSGIRequestHandler

    class QuietHandler(Handler):  # type: ignore[valid-type,misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # errors still reach werkzeug's logger through log_error

    class QuietMotoServer(ThreadedMotoServer):
        # As moto's own _server_entry (moto 5.x), with the quiet request handler.
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=QuietHandler)
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)  # stop() waits one interval: 0.5 s by default

    return QuietMotoServer


@contextmanager
def services(region: str = DEFAULT_REGION) -> Iterator[Services]:
    """Start moto's server on 127.0.0.1 on a free port; yield it (``.url``); stop it on exit.

    The last ``services()`` of the process to close resets moto's state, so
    each test that opens its own starts from nothing.
    """
    global _open_count
    server = Services(region)
    with _open_lock:
        _open_count += 1
    try:
        yield server
    finally:
        with _open_lock:
            _open_count -= 1
            last = _open_count == 0
        try:
            if last:
                server.reset()
        finally:
            server.close()
