"""The live credential-compromise fault against the world playing an account: a real IAM user and key."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from drharness import faults
from drharness.faults import Journal
from drharness.faults.live import live_options
from drharness.faults.live.credentials import CREDENTIALS, READ_POLICY, read_seed_policy, user_name

ACCOUNT = "123456789012"


def test_the_compromised_key_is_a_harness_made_user_scoped_to_the_seed_folder_and_deleted_on_revert(
        world, tmp_path, live_account):
    target, workload, backend = live_account
    journal = Journal(tmp_path / "j")
    iam = world.client("iam", "us-east-1")
    fault = faults.inject(backend, "credential-compromise", {"region": "us-east-1"}, journal)
    user = user_name(fault.id)
    # The journal named the user before it existed; the key handed out is the user's.
    assert journal.get(fault.id).refs["mechanism"] == CREDENTIALS and journal.get(fault.id).refs["user"] == user
    assert fault.access_key is not None and fault.access_key.user == user
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert tags["drharness:fault-id"] == fault.id and tags["DRHarness"] == "allowed"
    policy = iam.get_user_policy(UserName=user, PolicyName=READ_POLICY)["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    options = live_options(workload)
    assert policy == read_seed_policy(options)
    assert {s["Action"] for s in policy["Statement"]} == {"s3:GetObject", "s3:ListBucket"}
    assert policy["Statement"][0]["Resource"] == f"arn:aws:s3:::{workload.data_bucket}/{options.seed_prefix}*"
    assert options.seed_prefix.endswith("drharness-seed/")
    assert backend.active_ids() == [fault.id]
    # The fresh key reads the seed folder and nothing else, as in AWS; it is refused once deactivated.
    s3 = target.client("s3", "us-east-1", credentials=fault.access_key.as_credentials())
    admin = world.client("s3", "us-east-1")
    admin.create_bucket(Bucket=workload.data_bucket)
    seed_key = f"{options.seed_prefix}run/0000.json"
    for key in (seed_key, "embeddings/not-the-harness.json"):
        admin.put_object(Bucket=workload.data_bucket, Key=key, Body=b"{}")
    assert s3.get_object(Bucket=workload.data_bucket, Key=seed_key)["Body"].read() == b"{}"
    listed = s3.list_objects_v2(Bucket=workload.data_bucket, Prefix=options.seed_prefix)["Contents"]
    assert [o["Key"] for o in listed] == [seed_key]
    for outside in (lambda: s3.get_object(Bucket=workload.data_bucket, Key="embeddings/not-the-harness.json"),
                    lambda: s3.list_objects_v2(Bucket=workload.data_bucket),
                    lambda: target.client("dynamodb", "us-east-1", credentials=fault.access_key.as_credentials())
                    .scan(TableName=workload.metadata_table)):
        with pytest.raises(ClientError) as refused:
            outside()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    iam.update_access_key(UserName=user, AccessKeyId=fault.access_key.access_key_id, Status="Inactive")
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=workload.data_bucket, Prefix=options.seed_prefix)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    iam.put_user_policy(UserName=user, PolicyName="isolation",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Deny", "Action": "*", "Resource": "*"}]}))
    faults.revert(backend, fault.id, journal)
    faults.revert(backend, fault.id, journal)  # twice is harmless
    assert not journal.get(fault.id).pending and backend.active_ids() == []
    assert [u for u in iam.list_users()["Users"] if u["UserName"] == user] == []


def test_a_credential_fault_reverted_after_a_crash_finds_its_user_by_the_fault_id(world, live_account):
    _, _, backend = live_account
    fault = backend.inject("0123456789ab", "credential-compromise",
                           faults.parse_fault("credential-compromise", {}))
    backend.revert(fault.id, {"mechanism": CREDENTIALS})  # the refs of a record written before the crash
    assert backend.active_ids() == []
    names = [u["UserName"] for u in world.client("iam", "us-east-1").list_users()["Users"]]
    assert user_name(fault.id) not in names


def test_the_plan_names_the_user_and_its_only_permission():
    from drharness.faults import LiveOptions, parse_fault
    from drharness.faults.live import describe_live_change

    options = LiveOptions(role_arn="", region="us-east-1", seed_bucket="b", seed_prefix="p/drharness-seed/")
    said = describe_live_change("credential-compromise", parse_fault("credential-compromise", {}), options, ACCOUNT)
    assert said.startswith("IAM: create user drharness-cc-<fault id>")
    assert '"Resource": "arn:aws:s3:::b/p/drharness-seed/*"' in said
