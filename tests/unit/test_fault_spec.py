"""The fault vocabulary, the revert journal and the live backend's FIS templates (no world needed)."""

from __future__ import annotations

import json
import os

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from drharness.cli.fault import NOT_AN_ASSIGNMENT, parse_assignments, parse_value
from drharness.errors import FaultError, TargetError, UnknownFaultError
from drharness.faults import FAULTS, UNKNOWN_FAULT, BackendRef, Journal, parse_fault
from drharness.faults.journal import JOURNAL_ENV, RevertRecord
from drharness.faults.live import (
    FAULT_ID_TAG,
    LIVE_NEEDS_AWS,
    NO_LIVE_BACKEND,
    LiveFaultBackend,
    LiveOptions,
    experiment_region,
    experiment_template,
)

ACCOUNT = "123456789012"
OPTIONS = LiveOptions(
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/fis", region="us-east-1", duration="PT10M",
    api_fault_role_arns=(f"arn:aws:iam::{ACCOUNT}:role/workload",),
    stop_alarm_arns=(f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:dr-stop",),
)
EXAMPLES: dict[str, dict[str, object]] = {
    "region-outage": {"region": "us-west-2"},
    "az-outage": {"region": "us-east-1", "az": "b"},
    "service-fault": {"service": "ec2", "operation": "RunInstances", "mode": "throttle", "rate": 0.25},
    "replication-pause": {"bucket": "embeddings-data", "region": "us-west-2"},
    "data-corruption": {"bucket": "embeddings-data", "count": 2},
    "credential-compromise": {},
}


# -- the vocabulary ----------------------------------------------------------------------------------


def test_every_fault_has_an_example_and_a_one_line_summary():
    assert set(EXAMPLES) == set(FAULTS)
    for name, params in EXAMPLES.items():
        summary = parse_fault(name, params).summary()
        assert summary and "\n" not in summary
    assert parse_fault("az-outage", {"region": "us-east-1", "az": "b"}).zone == "us-east-1b"
    assert "25%" in parse_fault("service-fault", EXAMPLES["service-fault"]).summary()


def test_unknown_fault_lists_the_known_ones():
    with pytest.raises(UnknownFaultError) as err:
        parse_fault("meteor", {})
    assert str(err.value) == UNKNOWN_FAULT.format(name="meteor", known=", ".join(sorted(FAULTS)))


@pytest.mark.parametrize(
    ("name", "params", "parameter"),
    [
        ("service-fault", {"service": "s3", "rate": 2}, "rate"),
        ("service-fault", {"service": "s3", "mode": "latency"}, "(parameters)"),
        ("az-outage", {"region": "us-east-1"}, "az"),
        ("region-outage", {"region": "us-east-1", "zone": "a"}, "zone"),
        ("data-corruption", {"bucket": "b", "table": "t"}, "(parameters)"),
    ],
)
def test_bad_parameters_are_named(name, params, parameter):
    with pytest.raises(FaultError) as err:
        parse_fault(name, params)
    assert f"parameter '{parameter}'" in str(err.value) and name in str(err.value)


def test_command_line_values_are_typed():
    assert [parse_value(v) for v in ("3", "-2", "0.5", "1e3", "true", "FALSE", "us-east-1", "a", "")] == [
        3, -2, 0.5, 1000.0, True, False, "us-east-1", "a", ""
    ]
    assert parse_assignments(["service=s3", "rate=0.5"]) == {"service": "s3", "rate": 0.5}
    with pytest.raises(FaultError) as err:
        parse_assignments(["region"])
    assert str(err.value) == NOT_AN_ASSIGNMENT.format(item="region")


# -- the journal ----------------------------------------------------------------------------------------


def test_journal_records_round_trip_and_only_reverted_ones_stop_being_pending(tmp_path):
    journal = Journal(tmp_path / "j")
    ref = BackendRef("offline", endpoint="http://127.0.0.1:1")
    spec = parse_fault("az-outage", EXAMPLES["az-outage"])
    first = journal.begin("aaa111", "az-outage", spec, ref)
    journal.begin("bbb222", "region-outage", parse_fault("region-outage", {"region": "us-west-2"}), ref)
    assert first.status == "injecting" and first.pid == os.getpid() and first.created_at.tzinfo is not None
    assert [r.id for r in journal.pending()] == ["bbb222", "aaa111"]  # newest first

    journal.mark("aaa111", "active", {"experiment_id": "EXP1"})
    again = Journal(tmp_path / "j").get("aaa111")
    assert again is not None and again.status == "active" and again.refs == {"experiment_id": "EXP1"}
    assert again.params == spec and again.backend == ref

    journal.mark("aaa111", "reverted")
    journal.mark("aaa111", "reverted")  # twice is harmless
    assert [r.id for r in journal.pending()] == ["bbb222"]
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["aaa111.json", "bbb222.json"]  # no temp files left
    with pytest.raises(FaultError):
        journal.begin("aaa111", "az-outage", spec, ref)


def test_journal_location_precedence_and_bad_records(tmp_path, monkeypatch):
    monkeypatch.setenv(JOURNAL_ENV, str(tmp_path / "from-env"))
    assert Journal().directory == tmp_path / "from-env"
    assert Journal(tmp_path / "arg").directory == tmp_path / "arg"
    monkeypatch.delenv(JOURNAL_ENV)
    monkeypatch.chdir(tmp_path)
    assert Journal().directory == tmp_path / ".drharness" / "journal"

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{not json")
    with pytest.raises(FaultError, match="unreadable"):
        Journal(tmp_path / "bad").pending()
    with pytest.raises(FaultError, match="not valid"):
        Journal(tmp_path / "bad").get("../escape")


def test_record_json_is_what_a_person_can_read(tmp_path):
    journal = Journal(tmp_path)
    journal.begin("ccc333", "replication-pause", parse_fault("replication-pause", {"bucket": "data"}),
                  BackendRef("aws", account_id=ACCOUNT, region="us-east-1"), {"region": "us-east-1"})
    raw = json.loads((tmp_path / "ccc333.json").read_text())
    assert raw["params"] == {"bucket": "data"} and raw["target"] == "aws" and raw["status"] == "injecting"
    assert RevertRecord.from_json(json.dumps(raw), "test").backend.account_id == ACCOUNT


# -- live: FIS templates ---------------------------------------------------------------------------------


def _valid_for_fis(template: dict) -> dict:
    """Check a template against botocore's model of CreateExperimentTemplate, as the SDK would."""
    shape = botocore.session.get_session().get_service_model("fis").operation_model("CreateExperimentTemplate").input_shape
    validate_parameters(template, shape)
    return template


def _template(name: str, **overrides: object) -> dict:
    params = parse_fault(name, {**EXAMPLES[name], **overrides})
    return _valid_for_fis(experiment_template("f1", name, params, OPTIONS, ACCOUNT))


def test_bucket_replication_pause_template():
    t = _template("replication-pause")
    assert t["clientToken"] == "f1" and t["roleArn"] == OPTIONS.role_arn
    assert t["targets"]["buckets"]["resourceArns"] == ["arn:aws:s3:::embeddings-data"]
    action = t["actions"]["pause-bucket-replication"]
    assert action["actionId"] == "aws:s3:bucket-pause-replication"
    assert action["parameters"] == {"duration": "PT10M", "region": "us-west-2"}
    assert action["targets"] == {"Buckets": "buckets"}
    assert t["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": OPTIONS.stop_alarm_arns[0]}]
    assert t["tags"][FAULT_ID_TAG] == "f1" and t["experimentOptions"]["emptyTargetResolutionMode"] == "fail"


def test_table_replication_pause_template():
    spec = parse_fault("replication-pause", {"table": "meta", "region": "us-west-2"})
    t = _valid_for_fis(experiment_template("f2", "replication-pause", spec, OPTIONS, ACCOUNT))
    assert t["targets"]["tables"]["resourceType"] == "aws:dynamodb:global-table"
    assert t["targets"]["tables"]["resourceArns"] == [f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/meta"]
    assert t["actions"]["pause-table-replication"]["actionId"] == "aws:dynamodb:global-table-pause-replication"
    assert experiment_region(spec, OPTIONS) == "us-west-2"


def test_service_fault_template():
    t = _template("service-fault")
    action = t["actions"]["inject-api-fault"]
    assert action["actionId"] == "aws:fis:inject-api-throttle-error"
    assert action["parameters"] == {"duration": "PT10M", "service": "ec2", "operations": "RunInstances", "percentage": "25"}
    assert t["targets"]["roles"] == {"resourceType": "aws:iam:role", "resourceArns": list(OPTIONS.api_fault_role_arns),
                                     "selectionMode": "ALL"}
    assert _template("service-fault", mode="unavailable")["actions"]["inject-api-fault"]["actionId"].endswith("unavailable-error")
    assert _template("service-fault", mode="error")["actions"]["inject-api-fault"]["actionId"].endswith("internal-error")


def test_az_outage_template_cuts_only_tagged_subnets_of_the_zone():
    t = _template("az-outage")
    assert experiment_region(parse_fault("az-outage", EXAMPLES["az-outage"]), OPTIONS) == "us-east-1"
    assert t["targets"]["subnets"] == {
        "resourceType": "aws:ec2:subnet", "resourceTags": {"DRHarness": "allowed"},
        "parameters": {"availabilityZoneIdentifier": "us-east-1b"}, "selectionMode": "ALL",
    }
    assert t["actions"]["disrupt-zone"]["actionId"] == "aws:network:disrupt-connectivity"
    assert t["actions"]["disrupt-zone"]["parameters"] == {"duration": "PT10M", "scope": "all"}


@pytest.mark.parametrize("name", ["region-outage", "data-corruption", "credential-compromise"])
def test_faults_without_a_live_backend_say_so(name):
    with pytest.raises(FaultError) as err:
        _template(name)
    assert str(err.value).startswith(NO_LIVE_BACKEND.split("{name}")[0] + name)


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"service": "s3"}, "only into ec2"),
        ({"mode": "latency", "latency_ms": 100}, "mode=latency"),
        ({"operation": None}, "operation"),
        ({"error_code": "Boom"}, "error_code"),
        ({"max_hits": 3}, "max_hits"),
    ],
)
def test_service_faults_fis_cannot_do_are_refused(overrides, why):
    with pytest.raises(FaultError, match=why):
        _template("service-fault", **overrides)


def test_bucket_pause_needs_the_destination_region():
    with pytest.raises(FaultError, match="destination region"):
        experiment_template("f", "replication-pause", parse_fault("replication-pause", {"bucket": "b"}), OPTIONS, ACCOUNT)


# -- live: the backend against moto's FIS ----------------------------------------------------------------


class _AwsLikeTarget:
    """Stands in for an AwsTarget inside moto's in-process mock."""

    name = "aws"
    account_id = ACCOUNT
    endpoint_url = None

    def client(self, service, region):
        return boto3.client(service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


def test_live_backend_refuses_anything_but_the_aws_target():
    from drharness.target import OfflineTarget

    with pytest.raises(TargetError) as err:
        LiveFaultBackend(OfflineTarget("http://127.0.0.1:1"), OPTIONS)
    assert str(err.value) == LIVE_NEEDS_AWS.format(got="offline")


@mock_aws
def test_live_backend_starts_and_stops_one_experiment_per_fault():
    backend = LiveFaultBackend(_AwsLikeTarget(), LiveOptions(**{**OPTIONS.__dict__, "stop_timeout_s": 5.0}))
    spec = parse_fault("replication-pause", EXAMPLES["replication-pause"])
    fault = backend.inject("f-live-1", "replication-pause", spec)
    again = backend.inject("f-live-1", "replication-pause", spec)  # same id: the same experiment
    assert again.refs["experiment_id"] == fault.refs["experiment_id"]
    assert backend.active_ids() == ["f-live-1"] and backend.active()[0].params == spec

    fis = _AwsLikeTarget().client("fis", "us-east-1")
    backend.revert("f-live-1", {})  # as after a crash: found by its tag
    status = fis.get_experiment(id=fault.refs["experiment_id"])["experiment"]["state"]["status"]
    assert status in ("stopped", "completed") and backend.active_ids() == []
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    backend.revert("f-live-1", fault.refs)  # twice is harmless
