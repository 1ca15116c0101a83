"""Quarterly and monthly: a credential is compromised. Isolate it, prove it is refused, prove the data intact.

The guide's response to a security breach is isolate, then recover. Here the compromised key first
reads the data (the compromise is real), isolation deactivates the key and denies its user
everything, the time until every one of the attacker's calls is refused is measured, and the bucket
and table are compared with their state before the compromise.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from drharness.deploy.iam import GLOBAL_REGION
from drharness.instruments.consistency import compare_bucket_to_expected, compare_table_to_expected
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.waiting import wait_until
from drtests._support import key_names, list_objects, scan_items, wait_limit

pytestmark = [pytest.mark.quarterly, pytest.mark.monthly, pytest.mark.security, pytest.mark.critical]

SCENARIO = "security"
COMPROMISE_REAL = "security:compromised-key-reads-data"
ISOLATED = "security:compromised-key-refused"
ISOLATION_TIME = "security:isolation-seconds"
INTACT_S3 = "security:data-intact-s3"
INTACT_DYNAMODB = "security:data-intact-dynamodb"
ISOLATION_POLICY = "drharness-isolation-deny-all"
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
REFUSED_STATUS = 403
FRESH_KEY_S = 60.0  # live: how long a new access key may take to be accepted everywhere


def _attacker_calls(target, workload, data, fault):
    """What the attacker tries with the key: read and list the seed objects, and read the table where the key reaches it.

    A live leaked key is a harness-made user allowed to read the harness's seed folder and nothing else
    (docs/live.md), so live the attacker's reach is that folder; the offline world's leaked key reaches the
    table too, and is tried on it.
    """
    region, credentials = workload.primary_region, fault.access_key.as_credentials()
    s3 = target.client("s3", region, credentials=credentials)
    calls = {
        "s3:GetObject": lambda: s3.get_object(Bucket=workload.data_bucket, Key=data.object_keys[0])["Body"].read(),
        "s3:ListObjectsV2": lambda: s3.list_objects_v2(Bucket=workload.data_bucket, Prefix=data.folder, MaxKeys=5),
    }
    if fault.target == "offline":
        ddb = target.client("dynamodb", region, credentials=credentials)
        pk, sk = data.item_keys[0]
        spec = workload.spec.table
        key = {spec.hash_key: {"S": pk}, **({spec.range_key: {"S": sk}} if spec.range_key else {})}
        calls["dynamodb:GetItem"] = lambda: ddb.get_item(TableName=workload.metadata_table, Key=key)
        calls["dynamodb:Scan"] = lambda: ddb.scan(TableName=workload.metadata_table, Limit=5)
    return calls


def _try(calls):
    """Each call's outcome: "accepted", or the error code it was refused with."""
    outcome = {}
    for name, call in calls.items():
        try:
            call()
            outcome[name] = "accepted"
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", "?")
            outcome[name] = f"refused {code}" if status == REFUSED_STATUS else f"error {code}"
        except BotoCoreError as exc:
            outcome[name] = f"error {type(exc).__name__}"
    return outcome


def test_compromised_key_is_isolated_and_data_intact(dr_target, dr_workload, workload_data, dr_fault, dr_record, dr_keep):
    """The key reads the data, isolation makes every call refused, and the data is as it was."""
    w = dr_workload
    region, tier = w.primary_region, w.spec.table.tier
    s3, ddb = dr_target.client("s3", region), dr_target.client("dynamodb", region)
    iam = dr_target.client("iam", GLOBAL_REGION)
    rto = objectives_for(w, tier).rto
    objects_before = list(list_objects(s3, w.data_bucket, w.spec.bucket.replication.prefix))
    items_before = list(scan_items(ddb, w.metadata_table))
    user = f"drharness-compromised-{uuid.uuid4().hex[:8]}"
    with dr_fault("credential-compromise", {"user": user, "region": region}) as fault:
        key = fault.access_key
        assert key is not None, f"credential-compromise {fault.id} handed out no access key"
        resource = f"iam access key {key.access_key_id} of {key.user}"
        calls = _attacker_calls(dr_target, w, workload_data, fault)
        before: dict = {}

        def all_accepted():
            before.update(_try(calls))
            return all(v == "accepted" for v in before.values())

        # IAM is eventually consistent: a fresh key can take seconds before AWS accepts it.
        wait_until(all_accepted, FRESH_KEY_S if dr_target.name == "aws" else 0.0, dr_target.poll_interval_s,
                   what=f"every call with {resource} accepted")
        accepted = sum(1 for v in before.values() if v == "accepted")
        real = dr_record.measure(
            check=COMPROMISE_REAL, scenario=SCENARIO, resource=resource, tier=tier, metric="attacker_calls_accepted",
            value=float(accepted), unit="calls", kind="self-check",
            objective=Objective("attacker_calls_accepted", len(calls), "calls", ">=",
                                "the compromise is real before isolation"),
            reason=f"{resource} before isolation: " + ", ".join(f"{k} {v}" for k, v in before.items()),
            evidence={"calls": before},
        )
        started = time.monotonic()
        iam.update_access_key(UserName=key.user, AccessKeyId=key.access_key_id, Status="Inactive")
        iam.put_user_policy(UserName=key.user, PolicyName=ISOLATION_POLICY, PolicyDocument=json.dumps(DENY_ALL))
        last: dict = {}

        def all_refused():
            last.update(_try(calls))
            return all(v.startswith("refused") for v in last.values())

        refused = wait_until(all_refused, wait_limit(dr_target, rto.limit), dr_target.poll_interval_s,
                             what=f"every call with {resource} refused")
        isolation_seconds = time.monotonic() - started
        still = sum(1 for v in last.values() if not v.startswith("refused"))
        isolated = dr_record.measure(
            check=ISOLATED, scenario=SCENARIO, resource=resource, tier=tier, metric="attacker_calls_not_refused",
            value=float(still), unit="calls",
            objective=Objective("attacker_calls_not_refused", 0, "calls", "==", "key Inactive and user denied everything"),
            reason=f"{resource} after isolation: " + ", ".join(f"{k} {v}" for k, v in last.items()),
            duration_seconds=isolation_seconds, evidence={"calls": dict(last)},
        )
        timing = dr_record.measure(
            check=ISOLATION_TIME, scenario=SCENARIO, resource=resource, tier=tier, metric="isolation_seconds",
            value=isolation_seconds if refused.ok else None, unit="s", objective=rto,
            reason=f"{resource}: {'refused everywhere' if refused.ok else refused.reason} "
                   f"{isolation_seconds:.3f} s after UpdateAccessKey Inactive + {ISOLATION_POLICY}",
            duration_seconds=isolation_seconds,
        )
    bucket_report = compare_bucket_to_expected(s3, w.data_bucket, objects_before, prefix=w.spec.bucket.replication.prefix,
                                               source_label=f"{w.data_bucket} before the compromise")
    table_report = compare_table_to_expected(ddb, w.metadata_table, items_before, key_names(w), attribute_format="typed",
                                             consistent_read=True, source_label=f"{w.metadata_table} before the compromise")
    intact = [
        dr_keep(bucket_report.to_record(target=dr_target.name, scenario=SCENARIO, resource=f"s3 bucket {w.data_bucket}",
                                        tier=w.spec.bucket.tier, check=INTACT_S3)),
        dr_keep(table_report.to_record(target=dr_target.name, scenario=SCENARIO,
                                       resource=f"dynamodb table {w.metadata_table}", tier=tier, check=INTACT_DYNAMODB)),
    ]
    for record in (real, isolated, timing, *intact):
        assert record.verdict == "pass", record.reason
