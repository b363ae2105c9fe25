"""The process's one accept thread serves every Lambda API endpoint (``_endpoint/accept.py``)."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from pylambda import Function, Invoker


def _functions(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/2015-03-31/functions", timeout=10) as response:
        return sorted(f["FunctionName"] for f in json.loads(response.read())["Functions"])


def test_endpoints_of_several_invokers_are_served_and_closed_independently():
    """Three Invokers' endpoints answer for their own Invoker; closing one leaves the others listening."""
    invokers = [Invoker() for _ in range(3)]
    try:
        endpoints = []
        for i, invoker in enumerate(invokers):
            invoker.register(Function(f"only-{i}", lambda e, c: None))
            endpoints.append(invoker.serve())
        assert [_functions(e.url) for e in endpoints] == [["only-0"], ["only-1"], ["only-2"]]
        closed = endpoints[1].port
        endpoints[1].close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed), timeout=2).close()
        assert _functions(endpoints[0].url) == ["only-0"]
        assert _functions(endpoints[2].url) == ["only-2"]
    finally:
        for invoker in invokers:
            invoker.close()


def test_a_connection_that_goes_away_before_it_is_accepted_does_not_stop_accepting():
    """A client that connects and resets at once is dropped; the next request is served."""
    with Invoker() as invoker:
        invoker.register(Function("f", lambda e, c: None))
        endpoint = invoker.serve()
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", endpoint.port), timeout=2)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
            s.close()
        assert _functions(endpoint.url) == ["f"]
