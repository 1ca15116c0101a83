"""Quarterly and monthly: a credential is compromised. Isolate it, prove it is refused, prove the data intact.

The guide's response to a security breach is isolate, then recover. Here the compromised key first
reads the data (the compromise is real), isolation deactivates the key and denies its user
everything, the time until every one of the attacker's calls is refused is measured, and the data is
compared with its state before the compromise. The drill runs once per bucket and once per table, each
with a key of its own: the attacker goes for that resource, and that resource is judged intact.
"""

from __future__ import annotations

import functools
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
from drtests._support import key_names, list_objects, scan_items, seed_folder, seed_object_keys, wait_limit

# No tier marker here: each test carries the tier of its bucket or table (dr_bucket, dr_table).
pytestmark = [pytest.mark.quarterly, pytest.mark.monthly, pytest.mark.security]

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


def _attacker_calls(target, workload, view, data, fault, store):
    """What the attacker tries with the key: read and list the bucket's seed objects, or read and scan the table.

    `view` is the bucket or table of the drill (`store` "s3" or "dynamodb"). Offline the leaked key reaches
    every bucket and table, and is tried on the drill's own. A live leaked key is a harness-made user allowed
    to read the seed folder of the workload's first bucket and nothing else (docs/live.md): live, that folder
    is what the attacker tries, whichever resource the drill is for.
    """
    credentials = fault.access_key.as_credentials()
    if fault.target != "offline":
        view, store = workload, "s3"
    if store == "s3":
        s3 = target.client("s3", view.primary_region, credentials=credentials)
        bucket, folder, key = view.data_bucket, seed_folder(data, view), seed_object_keys(data, view)[0]
        return {
            "s3:GetObject": lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
            "s3:ListObjectsV2": lambda: s3.list_objects_v2(Bucket=bucket, Prefix=folder, MaxKeys=5),
        }
    ddb = target.client("dynamodb", view.primary_region, credentials=credentials)
    pk, sk = data.item_keys[0]
    spec, table = view.spec.table, view.metadata_table
    item = {spec.hash_key: {"S": pk}, **({spec.range_key: {"S": sk}} if spec.range_key else {})}
    return {
        "dynamodb:GetItem": lambda: ddb.get_item(TableName=table, Key=item),
        "dynamodb:Scan": lambda: ddb.scan(TableName=table, Limit=5),
    }


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


def test_compromised_key_is_isolated_and_bucket_intact(dr_target, dr_workload, dr_bucket, workload_data, dr_fault,
                                                       dr_record, dr_keep):
    """The key reads the bucket, isolation makes every call refused, and the bucket is as it was."""
    w = dr_bucket  # once per bucket of the workload
    s3, prefix = dr_target.client("s3", w.primary_region), w.spec.bucket.replication.prefix
    drilled = f"s3 bucket {w.data_bucket}"
    objects_before = list(list_objects(s3, w.data_bucket, prefix))
    calls = functools.partial(_attacker_calls, dr_target, dr_workload, w, workload_data, store="s3")
    isolation = _compromise_and_isolate(dr_target, w, w.spec.bucket.tier, drilled, calls, dr_fault, dr_record)
    report = compare_bucket_to_expected(s3, w.data_bucket, objects_before, prefix=prefix,
                                        source_label=f"{w.data_bucket} before the compromise")
    intact = dr_keep(report.to_record(target=dr_target.name, scenario=SCENARIO, resource=drilled,
                                      tier=w.spec.bucket.tier, check=INTACT_S3))
    for record in (*isolation, intact):
        assert record.verdict == "pass", record.reason


def test_compromised_key_is_isolated_and_table_intact(dr_target, dr_workload, dr_table, workload_data, dr_fault,
                                                      dr_record, dr_keep):
    """The key reads the table (live: the seed folder, all it reaches), isolation makes every call refused, and the
    table is as it was."""
    w = dr_table  # once per table of the workload
    ddb = dr_target.client("dynamodb", w.primary_region)
    drilled = f"dynamodb table {w.metadata_table}"
    items_before = list(scan_items(ddb, w.metadata_table))
    calls = functools.partial(_attacker_calls, dr_target, dr_workload, w, workload_data, store="dynamodb")
    isolation = _compromise_and_isolate(dr_target, w, w.spec.table.tier, drilled, calls, dr_fault, dr_record)
    report = compare_table_to_expected(ddb, w.metadata_table, items_before, key_names(w), attribute_format="typed",
                                       consistent_read=True, source_label=f"{w.metadata_table} before the compromise")
    intact = dr_keep(report.to_record(target=dr_target.name, scenario=SCENARIO, resource=drilled,
                                      tier=w.spec.table.tier, check=INTACT_DYNAMODB))
    for record in (*isolation, intact):
        assert record.verdict == "pass", record.reason


def _shown(outcome):
    return ", ".join(f"{call} {result}" for call, result in outcome.items())


def _until_all(calls, outcome, wanted):
    """A predicate for wait_until: try every call, keep the outcomes in `outcome`, true when each is `wanted`."""

    def check():
        outcome.update(_try(calls))
        return all(v.startswith(wanted) for v in outcome.values())

    return check


def _compromise_and_isolate(dr_target, w, tier, drilled, calls_of, dr_fault, dr_record):
    """Compromise a key, prove it reaches the data, isolate it and time until every call is refused.

    `drilled` names the bucket or table the drill is for; `calls_of(fault)` gives the attacker's calls.
    Returns the records of the compromise, the isolation and its timing.
    """
    iam, rto = dr_target.client("iam", GLOBAL_REGION), objectives_for(w, tier).rto
    user = f"drharness-compromised-{uuid.uuid4().hex[:8]}"
    with dr_fault("credential-compromise", {"user": user, "region": w.primary_region}) as fault:
        key = fault.access_key
        assert key is not None, f"credential-compromise {fault.id} handed out no access key"
        resource = f"iam access key {key.access_key_id} of {key.user}"
        calls, before, last = calls_of(fault), {}, {}
        # IAM is eventually consistent: a fresh key can take seconds before AWS accepts it.
        wait_until(_until_all(calls, before, "accepted"), FRESH_KEY_S if dr_target.name == "aws" else 0.0,
                   dr_target.poll_interval_s, what=f"every call with {resource} accepted")
        accepted = sum(1 for v in before.values() if v == "accepted")
        real = dr_record.measure(
            check=COMPROMISE_REAL, scenario=SCENARIO, resource=resource, tier=tier, metric="attacker_calls_accepted",
            value=float(accepted), unit="calls", kind="self-check",
            objective=Objective("attacker_calls_accepted", len(calls), "calls", ">=",
                                "the compromise is real before isolation"),
            reason=f"{resource} before isolation, drilled for {drilled}: {_shown(before)}",
            evidence={"calls": before, "drilled": drilled},
        )
        started = time.monotonic()
        iam.update_access_key(UserName=key.user, AccessKeyId=key.access_key_id, Status="Inactive")
        iam.put_user_policy(UserName=key.user, PolicyName=ISOLATION_POLICY, PolicyDocument=json.dumps(DENY_ALL))
        refused = wait_until(_until_all(calls, last, "refused"), wait_limit(dr_target, rto.limit),
                             dr_target.poll_interval_s, what=f"every call with {resource} refused")
        isolation_seconds = time.monotonic() - started
    still = sum(1 for v in last.values() if not v.startswith("refused"))
    isolated = dr_record.measure(
        check=ISOLATED, scenario=SCENARIO, resource=resource, tier=tier, metric="attacker_calls_not_refused",
        value=float(still), unit="calls",
        objective=Objective("attacker_calls_not_refused", 0, "calls", "==", "key Inactive and user denied everything"),
        reason=f"{resource} after isolation, drilled for {drilled}: {_shown(last)}",
        duration_seconds=isolation_seconds, evidence={"calls": dict(last), "drilled": drilled},
    )
    timing = dr_record.measure(
        check=ISOLATION_TIME, scenario=SCENARIO, resource=resource, tier=tier, metric="isolation_seconds",
        value=isolation_seconds if refused.ok else None, unit="s", objective=rto,
        reason=f"{resource}: {'refused everywhere' if refused.ok else refused.reason} "
               f"{isolation_seconds:.3f} s after UpdateAccessKey Inactive + {ISOLATION_POLICY}",
        duration_seconds=isolation_seconds, evidence={"drilled": drilled},
    )
    return real, isolated, timing
