"""The IAM policy shipped in live/iam-policy.json covers every call the live fault backends make.

The calls are recorded, not listed: a live backend injects and reverts an FIS fault and a client-side
fault against the world playing an account, every API call its clients make is written down, and each
must be allowed by the shipped policy. A backend that starts calling something new fails here until
the policy (and the live documentation) says so.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from drharness import faults
from drharness.config import load_workload
from drharness.faults import Journal
from drharness.faults.effect import confirm_effect
from drharness.faults.live import live_options
from drharness.safety import live_fault_backend, open_live_target
from drharness.settings import RunSettings
from drharness.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
FIS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/drharness-fis"
# IAM prefixes where the SDK's endpoint prefix differs; STS GetCallerIdentity needs no permission.
_IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag"}
_ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}
# Operations whose IAM action has another name.
_IAM_ACTION = {"s3:ListObjectsV2": "s3:ListBucket"}


def shipped_actions() -> list[str]:
    policy = json.loads((ROOT / "live" / "iam-policy.json").read_text(encoding="utf-8"))
    actions: list[str] = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions += [listed] if isinstance(listed, str) else listed
    return actions


def allowed(action: str, actions: list[str]) -> bool:
    return action in _ALWAYS_ALLOWED or any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)


def test_the_fis_role_trust_lets_only_fis_assume_it():
    trust = json.loads((ROOT / "live" / "fis-role-trust.json").read_text(encoding="utf-8"))
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "fis.amazonaws.com"}]


def _replicated_bucket(world) -> None:
    primary, secondary = world.client("s3", "us-east-1"), world.client("s3", "us-west-2")
    primary.create_bucket(Bucket="policy-src")
    secondary.create_bucket(Bucket="policy-dst", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for client, bucket in ((primary, "policy-src"), (secondary, "policy-dst")):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rule = {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::policy-dst"}}
    primary.put_bucket_replication(Bucket="policy-src", ReplicationConfiguration={"Role": FIS_ROLE, "Rules": [rule]})
    primary.put_bucket_tagging(Bucket="policy-src", Tagging={"TagSet": [{"Key": "DRHarness", "Value": "allowed"}]})


def test_every_call_the_live_backends_make_is_in_the_shipped_policy(world, tmp_path, live_env):
    config = tmp_path / "live.toml"
    config.write_text(f"""
[live]
allowed_accounts = ["{ACCOUNT}"]
allowed_regions = ["us-east-1", "us-west-2"]
fis_role_arn = "{FIS_ROLE}"
fis_duration = "PT5M"
""", encoding="utf-8")
    _replicated_bucket(world)
    session = boto3.session.Session()
    calls: set[str] = set()

    def record(model, **_):
        prefix = model.service_model.endpoint_prefix
        call = f"{_IAM_PREFIX.get(prefix, prefix)}:{model.name}"
        calls.add(_IAM_ACTION.get(call, call))

    session.events.register("before-call", record)
    workload = load_workload(config)
    target = open_live_target(RunSettings(target="aws", config=config, live_flag=True), workload, session,
                              endpoint_url=world.endpoint)
    workload = workload.with_account(target.account_id)
    backend = live_fault_backend(target, workload, live_options(workload))
    journal = Journal(tmp_path / "j")
    pause = {"bucket": "policy-src", "region": "us-west-2"}
    with faults.injected(backend, "replication-pause", pause, journal) as paused:
        # The drills confirm a fault took before they time anything: those calls are the backends' too.
        assert confirm_effect(backend, target, paused, 10.0).took
        # The world's FIS starts the experiment's action a moment after StartExperiment answers.
        assert wait_until(lambda: [f.name for f in world.faults.active()] == ["replication-pause"], 10.0, 0.05,
                          what="the replication pause in effect").ok, [f.name for f in world.faults.active()]
    throttle = {"service": "dynamodb", "operation": "PutItem", "mode": "throttle", "rate": 1.0}
    with faults.injected(backend, "service-fault", throttle, journal):
        pass
    with faults.injected(backend, "credential-compromise", {"region": "us-east-1"}, journal) as leaked:
        assert confirm_effect(backend, target, leaked, 10.0).took
    seeded = world.client("s3", "us-east-1")
    seeded.create_bucket(Bucket=workload.data_bucket)
    seeded.put_bucket_tagging(Bucket=workload.data_bucket, Tagging={"TagSet": [{"Key": "DRHarness", "Value": "allowed"}]})
    seeded.put_object(Bucket=workload.data_bucket, Key=f"{live_options(workload).seed_prefix}r/0.json", Body=b"{}")
    with faults.injected(backend, "data-corruption", {"bucket": workload.data_bucket, "region": "us-east-1"}, journal):
        pass
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = world.client("iam", "us-east-1").create_role(
        RoleName="policy-worker", AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "DRHarness", "Value": "allowed"}])["Role"]["Arn"]
    denying = live_fault_backend(target, workload, replace(live_options(workload), api_fault_role_arns=(role,)))
    with faults.injected(denying, "region-outage", {"region": "us-east-1"}, journal):
        assert denying.active_ids() != []
    faults.revert_pending(journal, live_backend=lambda ref: backend)
    assert world.faults.active() == []
    assert {"fis:CreateExperimentTemplate", "fis:StartExperiment", "fis:ListExperimentResolvedTargets",
            "fis:StopExperiment"} <= calls
    actions = shipped_actions()
    missing = sorted(c for c in calls if not allowed(c, actions))
    assert missing == [], f"live/iam-policy.json does not allow {missing}: add them (and say why in docs/live.md)"
    if "fis:CreateExperimentTemplate" in calls:
        assert "iam:PassRole" in actions, "FIS templates carry a role: the harness must be allowed to pass it"


@pytest.mark.parametrize("action", ["fis:StartExperiment", "s3:GetBucketTagging", "iam:PassRole"])
def test_the_policy_check_itself_tells_allowed_from_not(action):
    assert allowed(action, shipped_actions())
    assert not allowed(action.replace(":", ":Delete"), shipped_actions())
