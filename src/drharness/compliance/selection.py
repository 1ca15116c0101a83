"""Which resources an AWS Backup selection assigns, as AWS Backup decides it.

Shared by the offline world's backup engine (which starts the jobs) and the compliance checks (which
judge coverage), so the emulator and the coverage check always pick the same resources. AWS documents
`*` as the only wildcard of selection ARNs and of StringLike / StringNotLike: `?` and `[` are literal.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

TAG_CONDITION_PREFIX = "aws:ResourceTag/"


def arn_like(pattern: str, value: str) -> bool:
    """Whether `value` matches `pattern`, with `*` as the only wildcard (selection ARNs and StringLike)."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]").replace("?", "[?]"))


def condition_holds(operator: str, actual: str | None, expected: str) -> bool:
    """Whether one Conditions entry holds for a tag value (None: the resource lacks the tag)."""
    if operator == "StringEquals":
        return actual == expected
    if operator == "StringNotEquals":
        return actual != expected
    if operator == "StringLike":
        return actual is not None and arn_like(expected, actual)
    if operator == "StringNotLike":
        return actual is None or not arn_like(expected, actual)
    return False


def tag_key(condition_key: str) -> str:
    """The tag key a condition names, without its `aws:ResourceTag/` prefix."""
    return condition_key[len(TAG_CONDITION_PREFIX):] if condition_key.startswith(TAG_CONDITION_PREFIX) else condition_key


def selection_selects(selection: Mapping[str, Any], arn: str, tags: Mapping[str, str]) -> bool:
    """(Resources OR ListOfTags) AND every Condition AND NOT NotResources: how AWS Backup assigns a resource.

    `selection` is a BackupSelection document as CreateBackupSelection takes and GetBackupSelection returns it.
    """
    resources = list(selection.get("Resources") or [])
    list_of_tags = list(selection.get("ListOfTags") or [])
    if resources or list_of_tags:
        by_arn = any(arn_like(str(p), arn) for p in resources)
        by_tag = any(
            str(c.get("ConditionType", "STRINGEQUALS")).upper() == "STRINGEQUALS"
            and tags.get(tag_key(str(c.get("ConditionKey", "")))) == c.get("ConditionValue")
            for c in list_of_tags
        )
        if not (by_arn or by_tag):
            return False
    if any(arn_like(str(p), arn) for p in selection.get("NotResources") or []):
        return False
    for operator, conditions in (selection.get("Conditions") or {}).items():
        for condition in conditions or []:
            key = tag_key(str(condition.get("ConditionKey", "")))
            if not condition_holds(operator, tags.get(key), str(condition.get("ConditionValue", ""))):
                return False
    return True
