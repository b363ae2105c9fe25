"""The greetings-http example: an HTTP API whose functions import a layer's package."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import pylambda.sam
from pylambda import events

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


@pytest.fixture
def app(lambda_invoker):
    """The template loaded and attached to this test's Invoker."""
    return pylambda.sam.load(TEMPLATE).attach(lambda_invoker)


def test_layer_is_on_the_path(app, lambda_invoker):
    """The function imports `greetings` from CommonLayer (isolated: the layer is the only place it exists)."""
    assert app.functions["GreetFunction"].config.layers == (app.layers["CommonLayer"],)
    event = events.http_api_event("GET", "/greet/Ada", query="lang=fr", route_key="GET /greet/{name}",
                                  path_parameters={"name": "Ada"})  # fmt: skip
    result = lambda_invoker.invoke(app.functions["GreetFunction"], event)
    assert json.loads(result.payload["body"])["greeting"] == "Bonjour, Ada !"


def test_over_http(app, lambda_invoker):
    """Routes, query strings, stage variables, cookies, a plain return value and the $default route over HTTP."""
    with app.start_api(lambda_invoker) as api:
        with urllib.request.urlopen(api.url + "greet/Grace?lang=es", timeout=30) as response:
            body = json.loads(response.read())
            assert body == {"greeting": "¡Hola, Grace!", "owner": "docs-team"}
            assert response.headers["set-cookie"] == "last_greeted=Grace"
        with urllib.request.urlopen(api.url + "languages", timeout=30) as response:
            assert json.loads(response.read()) == ["en", "es", "fr"]
        for path, status in (("greet/Bob?lang=xx", 400), ("somewhere/else", 404)):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(api.url + path, timeout=30)
            info.value.close()
            assert info.value.code == status
