"""Explicit denies in a caller's inline policies, honoured as AWS honours them (the region-outage live fault).

Only what a deny needs is evaluated: `Effect: Deny` statements whose `Action` matches the call
(`service:Operation`, wildcards allowed) and whose `Condition` uses only `StringEquals`/`StringLike`
on `aws:RequestedRegion` and `DateLessThan` on `aws:CurrentTime`. A statement with any other
condition key is not applied (the world does not guess), and `Resource` is taken as `*`. Allow
statements are not evaluated: the world is allow-by-default.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from drharness.world.moto.iam import caller_inline_policies
from drharness.world.wire import AwsRequest, CapturedResponse, error_response

DENIED = "User is not authorized to perform {action} with an explicit deny in an identity-based policy"
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


def denying_statement(documents: list[str], request: AwsRequest, now: datetime | None = None) -> dict[str, Any] | None:
    """The first explicit-deny statement of `documents` that applies to the call, or None."""
    action = f"{request.service}:{request.operation}".lower()
    now = now or datetime.now(timezone.utc)
    for text in documents:
        try:
            document = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            continue
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement.get("Effect") != "Deny":
                continue
            if not any(fnmatch.fnmatchcase(action, a.lower()) for a in _listed(statement.get("Action"))):
                continue
            if _condition_holds(statement.get("Condition") or {}, request, now):
                return statement
    return None


def deny_response(request: AwsRequest) -> CapturedResponse:
    """The answer AWS gives a call an explicit deny refuses."""
    code = "AccessDeniedException" if request.service in ("dynamodb", "fis", "kinesis") else "AccessDenied"
    action = f"{request.service}:{request.operation}"
    return error_response(request.service, 403, code, DENIED.format(action=action))


class InlineDenies:
    """Refuse a call an explicit deny in its caller's inline policies applies to (user or assumed role)."""

    def __init__(self, policies_of: Callable[[str], list[str]] = caller_inline_policies) -> None:
        self._policies_of = policies_of

    def deny(self, request: AwsRequest) -> CapturedResponse | None:
        documents = self._policies_of(request.access_key_id)
        if not documents or denying_statement(documents, request) is None:
            return None
        return deny_response(request)
