"""Resource-based policies: AddPermission, RemovePermission and GetPolicy.

One policy document per function and qualifier, as on Lambda: the
unqualified function's, and each version's or alias's apart, a qualified
statement's ``Resource`` being the qualified ARN.  Statements are built in
Lambda's shape: a service principal (``s3.amazonaws.com``) becomes
``{"Service": ...}``, an account id ``{"AWS": "arn:aws:iam::ID:root"}``;
``SourceArn`` an ``ArnLike`` condition on ``AWS:SourceArn``,
``SourceAccount`` a ``StringEquals`` on ``AWS:SourceAccount``.  AddPermission
answers the statement and GetPolicy the document as JSON *strings*, as
Lambda does.

Policies are stored and returned, not enforced: pylambda's Invoker answers
every caller (there is no identity to check a principal against), as the
docs say.
"""

from __future__ import annotations

import json
import re

from .api import LambdaApi
from .errors import ApiError, conflict, invalid, not_found
from .http import Request
from .params import BOOL, STR, json_body, parse_function
from .shapes import revision_id

__all__ = ["ROUTES"]

_ACTION = re.compile(r"(lambda:[*]|lambda:[a-zA-Z]+|[*])")
_SID = re.compile(r"[a-zA-Z0-9-_]{1,100}")
_MEMBERS = {
    "StatementId": STR, "Action": STR, "Principal": STR, "SourceArn": STR, "SourceAccount": STR,
    "EventSourceToken": STR, "RevisionId": STR, "PrincipalOrgID": STR, "FunctionUrlAuthType": STR,
    "InvokedViaFunctionUrl": BOOL,
}  # fmt: skip


def _principal(value: str) -> dict | str:
    if value == "*":
        return "*"
    if re.fullmatch(r"\d{12}", value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    return {"Service": value}


def _policy_key(api: LambdaApi, req: Request, fn: str) -> tuple[tuple[str, str | None], str]:
    """((function name, qualifier), the ARN statements name as Resource); the qualifier must exist."""
    ref = parse_function(fn, req.query.get("Qualifier"))
    function, _version, arn, _alias = api.lookup(ref)
    return (function.name, ref.qualifier), arn


def _revision(key: tuple, statements: list[dict]) -> str:
    return revision_id("policy", key, json.dumps(statements, sort_keys=True))


def _check_revision(key: tuple, statements: list[dict], given: str | None) -> None:
    if given is not None and given != _revision(key, statements):
        raise ApiError(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetPolicy API to retrieve the latest Revision Id",
        )


def add_permission(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """AddPermission (201): the new statement, as a JSON string."""
    body = json_body(req, _MEMBERS, ("StatementId", "Action", "Principal"))
    key, arn = _policy_key(api, req, fn)
    sid = body["StatementId"]
    if not _SID.fullmatch(sid):
        raise invalid(f"StatementId must be 1-100 characters of letters, digits, '-' or '_', got {sid!r}")
    if not _ACTION.fullmatch(body["Action"]):
        raise invalid(f"Action must be lambda:ACTION, lambda:* or *, got {body['Action']!r}")
    statement: dict = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": _principal(body["Principal"]),
        "Action": body["Action"],
        "Resource": arn,
    }
    condition: dict = {}
    if "SourceArn" in body:
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = body["SourceArn"]
    equals = {
        "AWS:SourceAccount": body.get("SourceAccount"),
        "aws:PrincipalOrgID": body.get("PrincipalOrgID"),
        "lambda:FunctionUrlAuthType": body.get("FunctionUrlAuthType"),
        "lambda:EventSourceToken": body.get("EventSourceToken"),
    }
    equals = {k: v for k, v in equals.items() if v is not None}
    if equals:
        condition["StringEquals"] = equals
    if body.get("InvokedViaFunctionUrl"):
        condition.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    if condition:
        statement["Condition"] = condition
    with api.lock:
        statements = api.policies.setdefault(key, [])
        _check_revision(key, statements, body.get("RevisionId"))
        if any(s["Sid"] == sid for s in statements):
            raise conflict(
                "The statement id (sid) provided already exists. Please choose a new statement id, "
                "or remove the existing statement."
            )
        statements.append(statement)
    return 201, {"Statement": json.dumps(statement)}


def get_policy(api: LambdaApi, req: Request, fn: str) -> tuple[int, dict]:
    """GetPolicy: the document as a JSON string (404 when it has no statement)."""
    key, _arn = _policy_key(api, req, fn)
    with api.lock:
        statements = list(api.policies.get(key) or [])
    if not statements:
        raise not_found("The resource you requested does not exist.")
    document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
    return 200, {"Policy": json.dumps(document), "RevisionId": _revision(key, statements)}


def remove_permission(api: LambdaApi, req: Request, fn: str, sid: str) -> tuple[int, None]:
    """RemovePermission (204; 404 for an unknown statement)."""
    key, _arn = _policy_key(api, req, fn)
    with api.lock:
        statements = api.policies.get(key) or []
        _check_revision(key, statements, req.query.get("RevisionId") or None)
        kept = [s for s in statements if s["Sid"] != sid]
        if len(kept) == len(statements):
            raise not_found("Statement sid is not found in resource policy.")
        if kept:
            api.policies[key] = kept
        else:
            api.policies.pop(key, None)
    return 204, None


ROUTES = [
    ("POST", "/2015-03-31/functions/{fn}/policy", "AddPermission", add_permission),
    ("GET", "/2015-03-31/functions/{fn}/policy", "GetPolicy", get_policy),
    ("DELETE", "/2015-03-31/functions/{fn}/policy/{sid}", "RemovePermission", remove_permission),
]
