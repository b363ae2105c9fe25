"""``LambdaEndpoint``: one listening socket serving an Invoker's Lambda API."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .api import MAX_API_BODY, LambdaApi
from .http import HttpServer

if TYPE_CHECKING:
    from .._invoker import Invoker

__all__ = ["LambdaEndpoint", "lambda_api"]


def lambda_api(invoker: Invoker) -> LambdaApi:
    """The Invoker's one ``LambdaApi`` (made on first use)."""
    api = invoker.__dict__.get("_lambda_api")
    if api is None:
        with invoker._lock:
            api = invoker.__dict__.get("_lambda_api")
            if api is None:
                api = invoker._lambda_api = LambdaApi(invoker)
    return api


class LambdaEndpoint:
    """The Lambda REST API of an Invoker, listening on ``url`` until ``close()``.

    Made by ``Invoker.serve()``.  boto3 and the AWS CLI reach it with
    ``endpoint_url=endpoint.url`` (any region and credentials: requests
    are not authenticated).  Closed with the Invoker; after ``close()``
    nothing listens on its port.
    """

    def __init__(self, invoker: Invoker, host: str = "127.0.0.1", port: int = 0) -> None:
        self._invoker = invoker
        self._api = lambda_api(invoker)
        self._server = HttpServer(host, port, self._api.handle, MAX_API_BODY, name="pylambda-api")
        bound, self._port = self._server.address
        self._host = bound
        self._closed = False
        self._api.urls.append(self.url)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no trailing slash, as ``endpoint_url`` takes it)."""
        host = self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    @property
    def local_url(self) -> str:
        """The URL a process on this machine uses (loopback when bound to every address)."""
        try:
            unspecified = ipaddress.ip_address(self._host).is_unspecified
        except ValueError:
            unspecified = False
        return f"http://127.0.0.1:{self._port}" if unspecified else self.url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._port

    def close(self) -> None:
        """Stop listening and end every connection (bounded); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.close()
        try:
            self._api.urls.remove(self.url)
        except ValueError:
            pass

    def __enter__(self) -> LambdaEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LambdaEndpoint {self.url} {'closed' if self._closed else 'open'}>"
