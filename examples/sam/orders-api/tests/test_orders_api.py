"""The orders-api example: its handler through the template, directly and over the local REST API."""

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


def test_get_order_event(app, lambda_invoker):
    """A GET event with a path parameter returns the order, with the template's environment."""
    event = events.api_gateway_event("GET", "/orders/7", resource="/orders/{id}", path_parameters={"id": "7"})
    result = lambda_invoker.invoke(app.functions["OrdersFunction"], event)
    body = json.loads(result.payload["body"])
    assert result.payload["statusCode"] == 200
    assert body == {"id": "7", "stage": "dev", "greeting": "orders-dev-us-east-1"}


def test_orders_over_http(app, lambda_invoker):
    """Over the local API: POST creates, a bad POST is a 400, an unknown path is API Gateway's 403."""
    with app.start_api(lambda_invoker) as api:
        request = urllib.request.Request(api.url + "orders", data=b'{"item": "pen"}', method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            assert json.loads(response.read())["table"] == "OrdersTable"
        for path, data, status in (("orders", b"{}", 400), ("nowhere", None, 403)):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(urllib.request.Request(api.url + path, data=data), timeout=30)
            info.value.close()
            assert info.value.code == status


def test_prod_stage_override(lambda_invoker):
    """With Stage=prod the function sees the prod stage."""
    app = pylambda.sam.load(TEMPLATE, parameter_overrides={"Stage": "prod"}).attach(lambda_invoker)
    assert app.functions["OrdersFunction"].config.environment["LOG_LEVEL"] == "WARNING"
