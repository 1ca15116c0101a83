"""Which resources an AWS Backup selection assigns: one rule for the offline world and the coverage check."""

from __future__ import annotations

import pytest

from drharness.compliance.selection import arn_like, condition_holds, selection_selects, tag_key
from drharness.world.services.backup.records import Selection

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/metadata"


def _like(value: str) -> dict:
    return {"Resources": ["*"], "Conditions": {"StringLike": [{"ConditionKey": "aws:ResourceTag/Tier", "ConditionValue": value}]}}


def test_star_matches_any_run_of_characters():
    assert arn_like("arn:aws:dynamodb:*:table/*", TABLE)
    assert arn_like("*", TABLE)
    assert condition_holds("StringLike", "production", "prod*")
    assert condition_holds("StringLike", "production", "*rod*")
    assert not condition_holds("StringLike", "staging", "prod*")
    assert condition_holds("StringNotLike", "staging", "prod*")


def test_question_mark_and_bracket_are_literal_as_aws_documents_only_star():
    assert not condition_holds("StringLike", "tier1", "tier?")
    assert condition_holds("StringLike", "tier?", "tier?")
    assert condition_holds("StringNotLike", "tier1", "tier?")
    assert not arn_like("arn:aws:dynamodb:us-east-1:123456789012:table/metadat?", TABLE)
    assert arn_like("arn:aws:s3:::data[1]", "arn:aws:s3:::data[1]")
    assert not arn_like("arn:aws:s3:::data[1]", "arn:aws:s3:::data1")


def test_condition_on_a_missing_tag():
    assert not condition_holds("StringLike", None, "*")
    assert condition_holds("StringNotLike", None, "prod*")
    assert condition_holds("StringNotEquals", None, "true")
    assert not condition_holds("StringEquals", None, "true")


def test_tag_key_drops_the_resource_tag_prefix():
    assert tag_key("aws:ResourceTag/BackupRequired") == "BackupRequired"
    assert tag_key("BackupRequired") == "BackupRequired"


def test_resources_or_tags_and_conditions_and_not_resources():
    document = {
        "Resources": ["arn:aws:s3:::*"],
        "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "Purpose", "ConditionValue": "DR"}],
        "NotResources": ["arn:aws:s3:::scratch-*"],
        "Conditions": {"StringNotEquals": [{"ConditionKey": "aws:ResourceTag/Opt", "ConditionValue": "out"}]},
    }
    assert selection_selects(document, "arn:aws:s3:::data", {})
    assert selection_selects(document, TABLE, {"Purpose": "DR"})
    assert not selection_selects(document, TABLE, {})
    assert not selection_selects(document, "arn:aws:s3:::scratch-1", {"Purpose": "DR"})
    assert not selection_selects(document, "arn:aws:s3:::data", {"Opt": "out"})


@pytest.mark.parametrize(("pattern", "tier", "expected"), [
    ("tier*", "tier1", True), ("tier?", "tier1", False), ("tier?", "tier?", True), ("*1", "tier1", True),
])
def test_the_world_selection_picks_what_the_coverage_check_picks(pattern, tier, expected):
    document = _like(pattern)
    selection = Selection("id", "plan", "us-east-1", "s", "role", document, 0.0, "req")
    assert selection_selects(document, TABLE, {"Tier": tier}) is expected
    assert selection.selects(TABLE, {"Tier": tier}) is expected
