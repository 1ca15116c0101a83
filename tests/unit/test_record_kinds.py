"""What a result record judges: the workload's objective, the harness itself, or nothing."""

from __future__ import annotations

import pytest

from drharness.results import RECORD_KINDS, SCHEMA_VERSION, ResultRecord, failed_self_checks


def record(verdict: str = "pass", **fields: object) -> ResultRecord:
    base = dict(check="c", scenario="s", resource="r", tier="critical", target="offline", metric="m", value=1.0,
                unit="s", objective=None, comparison=None, verdict=verdict, reason="", started_at="2025-03-01T00:00:00Z",
                duration_seconds=0.0)
    return ResultRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_verdict_judges_an_objective_and_information_judges_nothing_unless_told() -> None:
    assert record("pass").kind == "objective" and record("fail").judges_objective
    assert record("info").kind == "info" and not record("info").judges_objective
    checked = record("pass", kind="self-check")
    assert checked.kind == "self-check" and not checked.judges_objective


def test_an_unknown_kind_is_refused_naming_the_kinds() -> None:
    with pytest.raises(ValueError) as info:
        record(kind="verdict")
    assert all(kind in str(info.value) for kind in RECORD_KINDS)


def test_the_kind_round_trips_and_records_of_schema_1_read_as_before() -> None:
    checked = record("fail", kind="self-check")
    assert ResultRecord.from_json(checked.to_json()) == checked and checked.schema == SCHEMA_VERSION == 2
    old = {k: v for k, v in record("fail").to_json().items() if k != "kind"} | {"schema": 1}
    assert ResultRecord.from_json(old).kind == "objective"
    old_info = {k: v for k, v in record("info").to_json().items() if k != "kind"} | {"schema": 1}
    assert ResultRecord.from_json(old_info).kind == "info"


def test_failed_self_checks_are_the_failed_or_errored_ones_only() -> None:
    records = [record("fail", check="a", kind="self-check"), record("error", check="b", kind="self-check"),
               record("pass", check="c", kind="self-check"), record("fail", check="d")]
    assert [r.check for r in failed_self_checks(records)] == ["a", "b"]
