"""API Gateway emulation: REST (1.0) and HTTP (2.0) APIs from a template, served on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import textwrap

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, APIGatewayProxyEventV2Model

import pylambda.sam

HANDLER = textwrap.dedent(
    """
    import base64, json
    def echo(event, context):
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
    def raw(event, context):
        return {"hello": "world"}
    def broken(event, context):
        raise RuntimeError("boom")
    def malformed(event, context):
        return {"statusCode": 200, "body": {"not": "a string"}}
    def image(event, context):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG-bytes").decode(), "multiValueHeaders": {"X-Many": ["a", "b"]}}
    def cookies(event, context):
        return {"statusCode": 201, "cookies": ["a=1", "b=2"], "body": "made"}
    """
)

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: src/
    Runtime: python3.11
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      BinaryMediaTypes: ["image~1png", "application/octet-stream"]
      Variables: {color: blue}
      Cors:
        AllowOrigin: "'https://shop.example'"
        AllowMethods: "'GET,POST'"
        AllowHeaders: "'Content-Type'"
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageVariables: {tier: gold}
      CorsConfiguration:
        AllowOrigins: ["*"]
        AllowMethods: [GET]
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        Order: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: "/orders/{id}", Method: get}}
        Proxy: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: "/files/{proxy+}", Method: any}}
        Upload: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /upload, Method: post}}
        V2: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: "/v2/items/{item}", Method: GET}}
        Default: {Type: HttpApi, Properties: {ApiId: !Ref Http}}
  Raw:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.raw
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /raw, Method: GET}}
        Rest: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /raw, Method: GET}}
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.broken
      Events:
        Rest: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /broken, Method: GET}}
        Http: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /broken, Method: GET}}
  Malformed:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.malformed
      Events:
        Rest: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /malformed, Method: GET}}
  Image:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.image
      Events:
        Rest: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /image, Method: GET}}
  Cookies:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.cookies
      Events:
        Http: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /cookies, Method: POST}}
"""


@pytest.fixture
def app(tmp_path, lambda_invoker):
    """The template above loaded and attached."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return pylambda.sam.load(tmp_path / "template.yaml").attach(lambda_invoker)


def _request(server, api, method, path, body=None, headers=None):
    """(status, headers, body) of one request to the REST API's or the HTTP API's server."""
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.fixture
def servers(app, lambda_invoker):
    """One server for the REST API and one for the HTTP API (each as `sam local start-api` mounts them)."""
    with app.start_api(lambda_invoker, apis=["Rest"]) as rest, app.start_api(lambda_invoker, apis=["Http"]) as http:
        yield rest, http


def test_rest_event_has_payload_1_0_shape(servers):
    """A REST request becomes a 1.0 event powertools accepts: resource, path parameters, multi-value views, stage."""
    rest, _ = servers
    status, headers, body = _request(rest, "Rest", "GET", "/orders/42?a=1&a=2&b=x", headers={"X-Trace": "t1"})
    assert status == 200
    event = json.loads(body)
    model = APIGatewayProxyEventModel(**event)
    assert model.resource == "/orders/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["stageVariables"] == {"color": "blue"}
    context = event["requestContext"]
    assert (context["stage"], context["resourcePath"], context["httpMethod"]) == ("v1", "/orders/{id}", "GET")
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert headers["x-amzn-RequestId"] == context["requestId"]


def test_rest_greedy_proxy_and_binary_body(servers):
    """{proxy+} takes the rest of the path; a body of a binary media type arrives base64-encoded."""
    rest, _ = servers
    _, _, body = _request(rest, "Rest", "PUT", "/files/a/b/c.txt")
    assert json.loads(body)["pathParameters"] == {"proxy": "a/b/c.txt"}
    _, _, body = _request(rest, "Rest", "POST", "/upload", body=b"\x00\xff", headers={"Content-Type": "image/png"})
    event = json.loads(body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    _, _, body = _request(rest, "Rest", "POST", "/upload", body=b"plain", headers={"Content-Type": "text/plain"})
    assert json.loads(body)["body"] == "plain"


def test_http_event_has_payload_2_0_shape(servers):
    """An HTTP API request becomes a 2.0 event powertools accepts, with routeKey, pathParameters and stage."""
    _, http = servers
    status, _, body = _request(http, "Http", "GET", "/v2/items/7?q=1&q=2", headers={"Cookie": "s=1"})
    assert status == 200
    event = json.loads(body)
    model = APIGatewayProxyEventV2Model(**event)
    assert model.routeKey == "GET /v2/items/{item}"
    assert event["pathParameters"] == {"item": "7"}
    assert event["queryStringParameters"] == {"q": "1,2"}
    assert event["cookies"] == ["s=1"]
    assert event["stageVariables"] == {"tier": "gold"}
    assert event["requestContext"]["stage"] == "$default"
    _, _, body = _request(http, "Http", "DELETE", "/anything/else")
    assert json.loads(body)["routeKey"] == "$default"


# fmt: off
RESPONSES = [
    ("rest-raw-return-is-malformed", 0, "GET", "/raw", 502, b'{"message": "Internal server error"}'),
    ("rest-function-error", 0, "GET", "/broken", 502, b'{"message": "Internal server error"}'),
    ("rest-body-not-string", 0, "GET", "/malformed", 502, b'{"message": "Internal server error"}'),
    ("rest-unknown-route", 0, "GET", "/nope", 403, b'{"message":"Missing Authentication Token"}'),
    ("rest-wrong-method", 0, "DELETE", "/orders/1", 403, b'{"message":"Missing Authentication Token"}'),
    ("http-raw-return-is-json", 1, "GET", "/raw", 200, b'{"hello": "world"}'),
    ("http-function-error", 1, "GET", "/broken", 502, b'{"message":"Internal Server Error"}'),
]
# fmt: on


@pytest.mark.parametrize(
    ("case", "which", "method", "path", "status", "body"), RESPONSES, ids=[r[0] for r in RESPONSES]
)
def test_response_mapping_and_gateway_errors(servers, case, which, method, path, status, body):
    """Each format maps a function's return (or error) to the status and body API Gateway gives."""
    got_status, _, got_body = _request(servers[which], "", method, path)
    assert (got_status, got_body) == (status, body)


def test_binary_response_multi_value_headers_and_cookies(servers):
    """A base64 body of a binary media type is decoded; multiValueHeaders repeat; 2.0 cookies become set-cookie."""
    rest, http = servers
    status, headers, body = _request(rest, "Rest", "GET", "/image", headers={"Accept": "image/png"})
    assert (status, body) == (200, b"\x89PNG-bytes")
    assert headers.get_all("X-Many") == ["a", "b"]
    status, headers, body = _request(http, "Http", "POST", "/cookies")
    assert (status, body) == (201, b"made")
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]


def test_cors_preflight_and_headers(servers):
    """With CORS configured, OPTIONS is answered by the gateway and responses carry Access-Control-* headers."""
    rest, http = servers
    status, headers, _ = _request(rest, "Rest", "OPTIONS", "/orders/1", headers={"Origin": "https://shop.example"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    _, headers, _ = _request(rest, "Rest", "GET", "/orders/1", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers
    _, headers, _ = _request(http, "Http", "GET", "/raw", headers={"Origin": "https://any.example"})
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_apis_listing(app):
    """app.apis holds both APIs with their kinds, stages and routes."""
    assert {name: api.kind for name, api in app.apis.items()} == {"Rest": "REST", "Http": "HTTP"}
    assert app.apis["Rest"].stage == "v1"
    assert [r.route_key for r in app.apis["Http"].routes][:2] == ["GET /v2/items/{item}", "$default"]
