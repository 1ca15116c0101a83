"""Allure reporting from result records: labels, severity, parameters, steps, attachments, categories, scrubbing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from drharness.config import load_workload
from drharness.results.objectives import objectives_for
from drharness.reporting.allure import (
    BLOCKER,
    EPIC,
    SEVERITY_BY_TIER,
    Step,
    attachments_for,
    labels_for_test,
    parameters_for,
    severity_for,
    status_for,
    steps_for,
    write_allure_results,
)
from drharness.reporting.allure_report import (
    CATEGORIES,
    HARNESS_ERROR,
    OBJECTIVE_MISSED,
    OBJECTIVE_NOT_MEASURED,
    OTHER_BROKEN,
    OTHER_FAILURE,
    categories_json,
    category_of,
    critical_misses,
    environment_properties,
    executor,
)
from drharness.reporting.evidence import phases_of
from drharness.reporting.scrub import KEY_MASK, SECRET_MASK, TOKEN_MASK, Scrubber, scan_text, scan_tree
from drharness.results import Objective, ResultRecord, iso, judge

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
KEY_ID = "AKIA" + "Q3EXAMPLEKEY7ZZ2"  # split so the repository itself holds no key-shaped literal
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjE" + "A" * 60
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
CRITICAL = objectives_for(load_workload(), "critical")


def record(**overrides) -> ResultRecord:
    """A judged record: RPO of a critical bucket, 120 s against 1 h unless overridden."""
    objective: Objective | None = overrides.pop("objective_", CRITICAL.rpo)
    value = overrides.pop("value", 120.0)
    verdict, reason = judge(value, objective, reason_if_missing=overrides.pop("reason_if_missing", ""))
    fields = dict(
        check="rpo:s3", scenario="region", resource=f"embedding-batch-workload-production-data-{ACCOUNT}",
        tier="critical", target="offline", metric="rpo", value=value, unit="s",
        objective=objective.limit if objective else None, comparison=objective.comparison if objective else None,
        verdict=verdict, reason=reason, started_at=iso(T0), duration_seconds=3.0, evidence={},
    )
    fields.update(overrides)
    return ResultRecord(**fields)


def phases(*offsets: tuple[str, float]) -> list[dict]:
    return [{"phase": name, "at": iso(T0 + dt.timedelta(seconds=s)), "note": ""} for name, s in offsets]


# ---- labels and severity ----------------------------------------------------------------------------


def test_labels_follow_the_dr_model():
    rec = record(evidence={"phases": phases(("fault_injected", 0), ("verified", 5))})
    labels = labels_for_test(["monthly", "critical", "region"], [rec])
    assert ("epic", EPIC) in labels
    assert ("feature", "Region outage") in labels
    assert ("story", "rpo:s3") in labels
    assert ("severity", SEVERITY_BY_TIER["critical"]) in labels
    assert ("tag", "monthly") in labels and ("tag", "offline") in labels
    assert ("tier", "critical") in labels


@pytest.mark.parametrize(("tier", "severity"), [("critical", "critical"), ("important", "normal"), ("standard", "minor")])
def test_severity_comes_from_the_tier(tier, severity):
    assert severity_for([], [record(tier=tier)]) == severity
    assert severity_for([tier], []) == severity


def test_missed_critical_objective_is_a_blocker_and_a_missed_lower_tier_is_not():
    missed = record(value=7200.0)
    assert missed.verdict == "fail"
    assert severity_for([], [record(), missed]) == BLOCKER
    assert severity_for([], [record(value=7200.0, tier="important")]) == "normal"


def test_labels_without_records_come_from_markers():
    labels = labels_for_test(["weekly", "backup", "important"], [])
    assert ("feature", "Backup and restore") in labels
    assert ("severity", "normal") in labels
    assert ("tag", "weekly") in labels
    assert not any(name == "story" for name, _ in labels)


def test_several_records_give_several_stories_and_prefixed_parameters():
    recs = [record(), record(check="rto:region", metric="rto", objective_=CRITICAL.rto, value=30.0)]
    stories = [value for name, value in labels_for_test([], recs) if name == "story"]
    assert stories == ["rpo:s3", "rto:region"]
    names = [p.name for p in parameters_for(recs)]
    assert "rpo:s3: objective" in names and "rto:region: measured" in names


def test_parameters_carry_objective_and_measured_value_with_units_and_stay_out_of_the_history_id():
    params = {p.name: p for p in parameters_for([record(value=5400.0)])}
    assert params["objective"].value == "rpo <= 3600 s (1 h)"
    assert params["measured"].value == "rpo 5400 s (1.5 h)"
    assert params["verdict"].value == "fail"
    assert all(p.excluded for p in params.values())


# ---- steps ------------------------------------------------------------------------------------------


def test_timeline_phases_become_timed_steps_under_the_record_step():
    rec = record(evidence={"phases": phases(("fault_injected", 0), ("detected", 2.5), ("verified", 10))})
    (step,) = steps_for([rec])
    assert step.status == "passed"
    assert [s.name for s in step.steps] == ["fault_injected at +0.000 s", "detected at +2.500 s", "verified at +10.000 s"]
    assert step.steps[1].start == T0 + dt.timedelta(seconds=2.5)
    assert step.steps[1].stop == T0 + dt.timedelta(seconds=10)


def test_phases_with_offsets_only_and_malformed_phases_are_tolerated():
    rec = record(evidence={"phases": [{"phase": "fault_injected", "offset_seconds": 0}, {"phase": "verified", "offset_seconds": 4},
                                      {"no": "phase"}, "junk", {"phase": "detected"}]})
    assert [(p.phase, p.offset_seconds) for p in phases_of(rec)] == [("fault_injected", 0.0), ("verified", 4.0)]
    assert phases_of(record(evidence={"phases": "not a list"})) == ()


def test_failed_and_error_records_give_failed_and_broken_steps_with_their_reason():
    missed = record(value=7200.0)
    error = record(check="failover", verdict="error", value=None, reason="EndpointConnectionError: cannot connect")
    steps = steps_for([missed, error])
    assert [s.status for s in steps] == ["failed", "broken"]
    assert "misses the objective" in steps[0].message
    assert status_for([record(), missed]) == "failed"
    assert status_for([record(), missed, error]) == "broken"
    assert status_for([record()]) == "passed"


# ---- attachments ------------------------------------------------------------------------------------


def test_a_record_without_evidence_attaches_only_its_json():
    (only,) = attachments_for([record()], Scrubber((ACCOUNT,)))
    assert only.mime == "application/json"
    data = json.loads(only.body)
    assert data["check"] == "rpo:s3"
    assert ACCOUNT not in only.body.decode()


def test_charts_and_tables_follow_the_evidence():
    rto = record(check="rto:region", metric="rto", objective_=CRITICAL.rto, value=10.0,
                 evidence={"phases": phases(("fault_injected", 0), ("detected", 2), ("verified", 10))})
    lag = record(check="lag:s3", metric="replication_lag_p99", objective_=CRITICAL.replication_lag, value=2.0,
                 evidence={"lags_seconds": [0.5, 1.0, 1.5, 2.0], "p50_seconds": 1.2, "p99_seconds": 2.0})
    lag_percentiles_only = record(check="lag:ddb", metric="replication_lag_p99", value=3.0,
                                  objective_=CRITICAL.replication_lag, evidence={"p50_seconds": 1.0, "max_seconds": 3.0})
    canary = record(evidence={"canaries_written": 20, "lost_sequences": [19, 20], "lost_writes": 2})
    ledger = record(check="rpo:ddb", evidence={"fault_time": iso(T0 + dt.timedelta(seconds=3)), "canaries": [
        {"seq": 1, "written_at": iso(T0), "present": True},
        {"seq": 2, "written_at": iso(T0 + dt.timedelta(seconds=2)), "present": False},
        {"seq": 3, "written_at": iso(T0 + dt.timedelta(seconds=4)), "acknowledged": False}]})
    consistency = record(check="consistency-s3", metric="divergent_keys", objective_=CRITICAL.divergence, value=3.0,
                         evidence={"first_missing": ["a"], "first_extra": ["b"], "missing_count": 1, "extra_count": 1,
                                   "differing_count": 1, "compared_count": 10,
                                   "first_differing": [{"key": "c", "source": "e1", "replica": "e2"}]})
    got = {a.name: a for a in attachments_for([rto, lag, lag_percentiles_only, canary, ledger, consistency], Scrubber())}
    for name in ("timeline rto:region", "lag distribution lag:s3", "lag distribution lag:ddb",
                 "canary ledger rpo:s3", "canary ledger rpo:ddb"):
        assert got[name].body.startswith(PNG_MAGIC), name
    assert "timeline lag:s3" not in got and "lag distribution rto:region" not in got
    table = got["differences consistency-s3"].body.decode()
    assert "<td>missing</td><td>a</td>" in table and "<td>e2</td>" in table
    assert got["differences consistency-s3 (csv)"].body.decode().splitlines() == [
        "kind,key,source,replica", "missing,a,,", "extra,b,,", "differing,c,e1,e2"]


# ---- categories -------------------------------------------------------------------------------------


def test_a_missed_objective_falls_in_its_category():
    missed = record(value=7200.0)
    assert category_of("failed", f"{missed.check}: {missed.reason}") == OBJECTIVE_MISSED


def test_an_unmeasured_objective_is_its_own_category():
    timed_out = record(value=None, reason_if_missing="timeout after 30 s waiting for the replica")
    assert timed_out.verdict == "fail"
    assert category_of("failed", timed_out.reason) == OBJECTIVE_NOT_MEASURED


@pytest.mark.parametrize("message", [
    "botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: \"http://127.0.0.1:1/\"",
    "ReadTimeoutError: Read timeout on endpoint URL",
    "drharness.errors.WorldError: the offline world did not answer",
    "ConnectionRefusedError: [Errno 111] Connection refused",
])
def test_harness_and_infrastructure_errors_are_separated_from_missed_objectives(message):
    assert category_of("broken", message) == HARNESS_ERROR
    assert category_of("failed", "AssertionError: 3 == 4") == OTHER_FAILURE
    assert category_of("broken", "KeyError: 'x'") == OTHER_BROKEN


def test_categories_file_lists_every_category_in_order():
    data = json.loads(categories_json())
    assert [c["name"] for c in data] == [c.name for c in CATEGORIES]
    assert data[0]["matchedStatuses"] == ["failed"] and "misses the objective" in data[0]["messageRegex"]


# ---- report files -----------------------------------------------------------------------------------


def test_environment_masks_the_account_and_names_versions():
    text = environment_properties([record(run_id="r1")], ("us-east-1", "us-west-2"), (ACCOUNT,))
    assert ACCOUNT not in text
    assert "account=********9012" in text
    assert "target=offline" in text and "regions=us-east-1, us-west-2" in text
    for name in ("drharness", "boto3", "moto", "python"):
        assert f"\n{name}=" in text


def test_executor_links_the_ci_run_or_says_local():
    github = executor({"GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "o/r",
                       "GITHUB_RUN_ID": "77", "GITHUB_RUN_NUMBER": "5"}, previous_runs=3)
    assert github["buildUrl"] == "https://github.example/o/r/actions/runs/77" and github["buildOrder"] == 5
    gitlab = executor({"CI_JOB_URL": "https://gitlab.example/o/r/-/jobs/9"}, previous_runs=1)
    assert gitlab["buildUrl"] == "https://gitlab.example/o/r/-/jobs/9" and gitlab["buildOrder"] == 2
    local = executor({}, previous_runs=1)
    assert local["type"] == "local" and local["buildOrder"] == 2


def test_the_gate_picks_missed_critical_objectives_only():
    missed = record(value=7200.0)
    recs = [record(), missed, record(value=7200.0, tier="important"), record(verdict="error", value=None)]
    assert critical_misses(recs) == [missed]


# ---- non-pytest producer ----------------------------------------------------------------------------


def test_write_allure_results_writes_an_allure_2_result_with_attachments(tmp_path):
    missed = record(value=7200.0, evidence={"phases": phases(("fault_injected", 0), ("verified", 7200))})
    path = write_allure_results([record(check="lag:s3"), missed], tmp_path, "region outage game day",
                                steps=[Step("inject region-outage", start=T0, stop=T0)], markers=["quarterly"],
                                source="chaos", scrubber=Scrubber((ACCOUNT,)))
    data = json.loads(path.read_text())
    assert data["status"] == "failed"
    assert "misses the objective" in data["statusDetails"]["message"]
    labels = {(label["name"], label["value"]) for label in data["labels"]}
    assert {("epic", EPIC), ("severity", BLOCKER), ("tag", "quarterly"), ("parentSuite", "Game days")} <= labels
    assert [s["name"] for s in data["steps"]][0] == "inject region-outage"
    assert data["steps"][2]["steps"][1]["name"].startswith("verified at +7200")
    assert data["start"] == int(T0.timestamp() * 1000)
    for attachment in data["attachments"]:
        assert (tmp_path / attachment["source"]).is_file()
    assert any(a["type"] == "image/png" for a in data["attachments"])
    again = json.loads(write_allure_results([missed], tmp_path, "region outage game day", source="chaos").read_text())
    assert again["historyId"] == data["historyId"]  # trends follow the same game day run over run
    assert scan_tree(tmp_path, [ACCOUNT]) == []


# ---- scrubbing --------------------------------------------------------------------------------------


def test_scrubber_masks_accounts_and_credentials():
    scrub = Scrubber((ACCOUNT,))
    text = (f"bucket data-{ACCOUNT} arn:aws:iam::{OTHER_ACCOUNT}:role/x key {KEY_ID} "
            f"aws_secret_access_key={SECRET} \"SessionToken\": \"{TOKEN}\" bare {SECRET[::-1]}")
    clean = scrub.text(text)
    for secret in (ACCOUNT, OTHER_ACCOUNT, KEY_ID, SECRET, TOKEN, SECRET[::-1]):
        assert secret not in clean
    assert "data-********9012" in clean
    assert KEY_MASK in clean and SECRET_MASK in clean and TOKEN_MASK in clean
    assert list(scan_text(clean, [ACCOUNT])) == []
    assert {kind for _, kind, _ in scan_text(text, [ACCOUNT])} == {
        "account id", "arn account id", "access key id", "secret access key", "session token"}


def test_scrubber_leaves_digests_timestamps_and_ordinary_text_alone():
    text = ("historyId 3f786850e387550fdab836ed7e6dc881de23001b start 1740830400000 "
            "key embeddings/part-00001.npy rto 12.5 s")
    assert Scrubber((ACCOUNT,)).text(text) == text
    assert list(scan_text(text, [ACCOUNT])) == []


def test_every_account_like_masks_any_twelve_digit_number_for_drawn_text():
    assert Scrubber(every_account_like=True).text(f"data-{OTHER_ACCOUNT} 1740830400000") == \
        "data-********4321 1740830400000"


def test_scan_tree_reports_files_and_lines(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"resource": f"data-{ACCOUNT}"}) + "\nok\n" + KEY_ID)
    (tmp_path / "image.png").write_bytes(PNG_MAGIC + ACCOUNT.encode())
    findings = scan_tree(tmp_path, [ACCOUNT])
    assert [(f.path.name, f.line, f.kind) for f in findings] == [("a.json", 1, "account id"), ("a.json", 3, "access key id")]
    assert ACCOUNT not in str(findings[0]) and KEY_ID not in str(findings[1])
    Scrubber((ACCOUNT,)).tree(tmp_path)
    assert scan_tree(tmp_path, [ACCOUNT]) == []
