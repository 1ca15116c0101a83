"""The live region-outage fault against the world playing an account: an explicit deny on the workload's roles."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from drharness import faults
from drharness.errors import FaultError
from drharness.faults import Journal
from drharness.faults.live.iam_deny import IAM_DENY, NO_ROLES, region_deny_policy
from drharness.faults.live import live_options
from drharness.safety import live_fault_backend
from drharness.world.faults.policies import denying_statement
from drharness.world.wire import AwsRequest

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                  "Action": "sts:AssumeRole"}]}


def _role(world, name="embedding-worker"):
    iam = world.client("iam", "us-east-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST),
                          Tags=[{"Key": "DRHarness", "Value": "allowed"}])["Role"]["Arn"]
    creds = world.client("sts", "us-east-1").assume_role(RoleArn=arn, RoleSessionName="worker")["Credentials"]
    return arn, {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                 "aws_session_token": creds["SessionToken"]}


def test_the_region_is_denied_to_the_workloads_role_only_and_given_back_on_revert(world, tmp_path, live_account):
    target, workload, _ = live_account
    arn, creds = _role(world)
    options = replace(live_options(workload), api_fault_role_arns=(arn,))
    backend = live_fault_backend(target, workload, options)
    session = boto3.session.Session(region_name="us-east-1", **creds)
    worker = {r: session.client("s3", region_name=r, endpoint_url=world.endpoint) for r in ("us-east-1", "us-west-2")}
    journal = Journal(tmp_path / "j")
    with faults.injected(backend, "region-outage", {"region": "us-east-1"}, journal) as fault:
        assert journal.get(fault.id).refs["mechanism"] == IAM_DENY
        with pytest.raises(ClientError) as err:
            worker["us-east-1"].list_buckets()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert err.value.response["Error"]["Code"] == "AccessDenied"
        worker["us-west-2"].list_buckets()  # the other region: untouched
        target.client("s3", "us-east-1").list_buckets()  # another principal (the harness): untouched
        assert backend.active_ids() == [fault.id]
    worker["us-east-1"].list_buckets()
    assert world.client("iam", "us-east-1").list_role_policies(RoleName="embedding-worker")["PolicyNames"] == []
    faults.revert(backend, fault.id, journal)  # again: harmless


def test_without_roles_in_scope_the_fault_is_refused_before_anything_is_journalled(world, tmp_path, live_account):
    _, _, backend = live_account
    journal = Journal(tmp_path / "j")
    with pytest.raises(FaultError) as err:
        faults.inject(backend, "region-outage", {"region": "us-east-1"}, journal)
    assert str(err.value) == NO_ROLES and journal.pending() == []


def _request(region, operation="ListBuckets"):
    return AwsRequest(method="GET", path="/", query={}, headers={}, service="s3", region=region,
                      access_key_id="k", operation=operation)


def test_the_deny_ends_by_itself_at_its_cap_and_names_only_its_region():
    now = datetime.now(timezone.utc)
    policy = [json.dumps(region_deny_policy("us-east-1", now + timedelta(minutes=5)))]
    assert denying_statement(policy, _request("us-east-1"), now) is not None
    assert denying_statement(policy, _request("us-west-2"), now) is None
    assert denying_statement(policy, _request("us-east-1"), now + timedelta(minutes=6)) is None
    unknown = [json.dumps({"Statement": [{"Effect": "Deny", "Action": "*",
                                          "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})]
    assert denying_statement(unknown, _request("us-east-1"), now) is None  # a key the world does not evaluate
