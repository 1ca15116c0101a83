"""A caller's inline policies, honoured as AWS honours them: explicit denies, and an IAM user's allow-list.

Explicit denies are what the region-outage live fault makes; an allow-list is what the
credential-compromise live fault gives its harness-made user (read the seed folder, nothing else).

Only what a deny needs is evaluated: `Effect: Deny` statements whose `Action` matches the call
(`service:Operation`, wildcards allowed) and whose `Condition` uses only `StringEquals`/`StringLike`
on `aws:RequestedRegion` and `DateLessThan` on `aws:CurrentTime`. A statement with any other
condition key is not applied (the world does not guess), and `Resource` is taken as `*`. Allow
statements are evaluated for IAM users whose inline policies hold at least one: such a user may make
only the calls an `Allow` statement matches by action, resource (`arn:aws:s3:::bucket/key`, the bucket
for a listing, `arn:aws:dynamodb:region:account:table/name`, `*` for the rest) and condition
(`StringEquals`/`StringLike` on `aws:RequestedRegion` and `s3:prefix`; a statement with any other
condition key allows nothing here). Every other caller (assumed roles, users without an allow
statement, the world's own keys) stays allow-by-default, as the world is.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID
from drharness.world.moto.iam import caller_inline_policies, is_user_key
from drharness.world.wire import AwsRequest, CapturedResponse, error_response

DENIED = "User is not authorized to perform {action} with an explicit deny in an identity-based policy"
NOT_ALLOWED = "User is not authorized to perform {action} because no identity-based policy allows the {action} action"
# Calls whose IAM action is named otherwise than the operation.
_IAM_ACTIONS = {"s3:ListObjectsV2": "s3:ListBucket", "s3:ListObjects": "s3:ListBucket", "s3:HeadObject": "s3:GetObject",
                "s3:HeadBucket": "s3:ListBucket", "s3:ListObjectVersions": "s3:ListBucketVersions"}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringLike": lambda value, wanted: fnmatch.fnmatchcase(value, wanted),
}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _condition_holds(condition: dict[str, Any], request: AwsRequest, now: datetime) -> bool | None:
    """True/False: the condition holds or not for this call; None: it uses a key the world does not evaluate."""
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            if operator in _STRING_TESTS and key == "aws:RequestedRegion":
                if not any(_STRING_TESTS[operator](request.region, w) for w in _listed(wanted)):
                    return False
            elif operator == "DateLessThan" and key == "aws:CurrentTime":
                until = datetime.fromisoformat(str(_listed(wanted)[0]).replace("Z", "+00:00"))
                if now >= until:
                    return False
            else:
                return None
    return True


def _documents(texts: list[str]) -> list[dict[str, Any]]:
    found = []
    for text in texts:
        try:
            document = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            continue
        found.append(document)
    return found


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def denying_statement(documents: list[str], request: AwsRequest, now: datetime | None = None) -> dict[str, Any] | None:
    """The first explicit-deny statement of `documents` that applies to the call, or None."""
    action = f"{request.service}:{request.operation}".lower()
    now = now or datetime.now(timezone.utc)
    for document in _documents(documents):
        for statement in _statements(document):
            if statement.get("Effect") != "Deny":
                continue
            if not any(fnmatch.fnmatchcase(action, a.lower()) for a in _listed(statement.get("Action"))):
                continue
            if _condition_holds(statement.get("Condition") or {}, request, now):
                return statement
    return None


def iam_action(request: AwsRequest) -> str:
    call = f"{request.service}:{request.operation}"
    return _IAM_ACTIONS.get(call, call)


def request_resource(request: AwsRequest, account_id: str) -> str:
    """The resource ARN IAM checks a call against (where the world can tell; `*` otherwise)."""
    if request.service == "s3" and request.s3_bucket:
        listing = iam_action(request) in ("s3:ListBucket", "s3:ListBucketVersions")
        key = request.s3_key
        return f"arn:aws:s3:::{request.s3_bucket}" + (f"/{key}" if key and not listing else "")
    table = request.json_body.get("TableName") if request.service == "dynamodb" else None
    if table:
        return f"arn:aws:dynamodb:{request.region}:{account_id}:table/{table}"
    return "*"


def _allow_condition_holds(condition: dict[str, Any], request: AwsRequest) -> bool:
    values = {"aws:requestedregion": request.region}
    if request.service == "s3":
        values["s3:prefix"] = (request.query.get("prefix") or [""])[0]
    return _context_condition_holds(condition, values) is True  # a key the world does not evaluate allows nothing


def allow_list(documents: list[str]) -> list[dict[str, Any]]:
    """The `Allow` statements of `documents`."""
    return [st for d in _documents(documents) for st in _statements(d) if st.get("Effect") == "Allow"]


def allowed_by(statements: list[dict[str, Any]], request: AwsRequest, account_id: str) -> bool:
    """Whether an `Allow` statement matches the call by action, resource and condition."""
    action, resource = iam_action(request).lower(), request_resource(request, account_id)
    return any(_matches(statement, action, resource) and _allow_condition_holds(statement.get("Condition") or {}, request)
               for statement in statements)


def deny_response(request: AwsRequest, message: str = DENIED) -> CapturedResponse:
    """The answer AWS gives a call a policy refuses."""
    code = "AccessDeniedException" if request.service in ("dynamodb", "fis", "kinesis") else "AccessDenied"
    return error_response(request.service, 403, code, message.format(action=iam_action(request)))


class InlineDenies:
    """Refuse a call an explicit deny in its caller's inline policies applies to (user or assumed role), or
    one an IAM user with an allow-list is not allowed."""

    def __init__(self, policies_of: Callable[[str], list[str]] = caller_inline_policies,
                 is_user: Callable[[str], bool] = is_user_key, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self._policies_of = policies_of
        self._is_user = is_user
        self._account_id = account_id

    def deny(self, request: AwsRequest) -> CapturedResponse | None:
        documents = self._policies_of(request.access_key_id)
        if not documents:
            return None
        if denying_statement(documents, request) is not None:
            return deny_response(request)
        allows = allow_list(documents)
        if allows and self._is_user(request.access_key_id) and not allowed_by(allows, request, self._account_id):
            return deny_response(request, NOT_ALLOWED)
        return None


def _context_condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool | None:
    """True/False: the condition holds or not in `context` (lower-case keys); None: a key the context lacks."""
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if operator not in _STRING_TESTS or value is None:
                return None
            if not any(_STRING_TESTS[operator](value, w) for w in _listed(wanted)):
                return False
    return True


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    return (any(fnmatch.fnmatchcase(action, a.lower()) for a in _listed(statement.get("Action")))
            and any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement.get("Resource") or "*")))


def principal_may(documents: list[str], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether identity policies `documents` let their principal do `action` on `resource`, as IAM decides.

    An explicit deny that applies wins; else an allow that applies is needed. A statement whose condition
    uses a key absent from `context` (string tests only) is not applied: a deny does not deny, an allow
    does not allow. `NotAction`/`NotResource` statements are not evaluated (they apply to nothing here).
    """
    action, context = action.lower(), {k.lower(): v for k, v in (context or {}).items()}
    statements = [st for d in _documents(documents) for st in _statements(d)]
    for statement in statements:
        if (statement.get("Effect") == "Deny" and _matches(statement, action, resource)
                and _context_condition_holds(statement.get("Condition") or {}, context)):
            return False
    return any(statement.get("Effect") == "Allow" and _matches(statement, action, resource)
               and _context_condition_holds(statement.get("Condition") or {}, context) is True
               for statement in statements)


def trusts_service(trust: str, service: str) -> bool:
    """Whether a role's trust policy lets `service` (for example s3.amazonaws.com) assume it."""
    for document in _documents([trust]):
        for statement in _statements(document):
            principals = _listed((statement.get("Principal") or {}).get("Service")) if isinstance(
                statement.get("Principal"), dict) else []
            if (statement.get("Effect") == "Allow" and service in principals
                    and any(fnmatch.fnmatchcase("sts:assumerole", a.lower()) for a in _listed(statement.get("Action")))):
                return True
    return False
