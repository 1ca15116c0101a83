"""Monthly and quarterly: data corruption of each bucket and each table. Detect it against the known-good
state, restore, verify equal.

Corruption travels the normal write path, so it replicates: the replica is no refuge. S3 objects are
restored from the newest version older than the corruption; the table is restored by point-in-time
recovery to before the fault, and the corrupted items are put back from the restored copy. The object
drill runs once per bucket and the item drill once per table, each striking only its own resource.

Only the harness's own data is corrupted, on either target: this run's seed objects (their folder in
the bucket is the fault's prefix) and the metadata items pointing at seed objects. A fault that
corrupted nothing is an error: a detection of nothing would otherwise pass.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from drharness.instruments.consistency import compare_bucket_to_expected, compare_table_to_expected
from drharness.instruments.restore import RestoreTimer
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.waiting import pause
from drtests._support import key_names, list_objects, restore_limit, scan_items, seed_folder, shown_key

# No tier marker here: each test carries the tier of its bucket or table (dr_bucket, dr_table).
pytestmark = [pytest.mark.monthly, pytest.mark.quarterly, pytest.mark.data_corruption]

SCENARIO = "data_corruption"
S3_DETECTED = "data_corruption:s3-detected"
S3_RESTORE = "restore:s3-object-versions"
DYNAMODB_DETECTED = "data_corruption:dynamodb-detected"
DYNAMODB_RESTORE = "restore:dynamodb-pitr-before-corruption"
DYNAMODB_REPAIRED = "data_corruption:dynamodb-repaired"
CORRUPT = 4
GAP_S = 0.1  # between the known-good moment and the fault, so the restore point is clear of both


def _detection(dr_record, check, resource, tier, report, corrupted, injected, effect):
    """Record what the consistency check found against what the fault says it corrupted.

    Judged on the set, not the count: every corrupted key missed, every key named that was not
    corrupted, and every divergent key beyond those listed counts against zero.
    """
    found = {d.key for d in report.first_differing} | set(report.first_missing) | set(report.first_extra)
    wanted = set(corrupted)
    missed, misnamed = sorted(wanted - found), sorted(found - wanted)
    unlisted = max(0, report.divergent_count - len(found))  # past max_listed: no name to match, so wrong
    wrong = len(missed) + len(misnamed) + unlisted
    took = effect.took and bool(wanted)
    return dr_record.measure(
        check=check, scenario=SCENARIO, resource=resource, tier=tier, metric="corrupted_keys_missed_or_misnamed",
        value=float(wrong) if took else None, unit="keys", verdict=None if took else "error", kind="self-check",
        objective=Objective("corrupted_keys_missed_or_misnamed", 0, "keys", "==", "every corrupted key, and only those"),
        reason=(f"{resource}: {report.summary()}; the fault corrupted {len(wanted)}, "
                f"{len(wanted & found)} detected by name: {missed} missed, {misnamed} misnamed, "
                f"{unlisted} more divergent unlisted" if took else
                f"{resource}: the fault corrupted nothing ({effect.detail}): nothing to detect, nothing measured"),
        evidence={"detected": sorted(found), "corrupted": sorted(wanted), "missed": missed, "misnamed": misnamed,
                  "divergent_count": report.divergent_count, "unlisted_divergent": unlisted, "injected_at": injected},
    )


def test_corrupted_objects_are_detected_and_restored_from_versions(dr_target, dr_bucket, workload_data,
                                                                   dr_fault, fault_took, dr_rng, dr_record, dr_keep):
    """Corrupt the bucket's seed objects; find them by consistency check; copy back the right versions."""
    w = dr_bucket  # once per bucket of the workload
    region, bucket, tier = w.primary_region, w.data_bucket, w.spec.bucket.tier
    prefix = seed_folder(workload_data, w)
    s3 = dr_target.client("s3", region)
    resource = f"s3 bucket {bucket}"
    rto = objectives_for(w, tier).rto
    known_good = list(list_objects(s3, bucket, prefix))
    params = {"bucket": bucket, "prefix": prefix, "count": CORRUPT, "seed": dr_rng.randrange(2**31), "region": region}
    with dr_fault("data-corruption", params) as fault:
        detected = compare_bucket_to_expected(s3, bucket, known_good, prefix=prefix, max_listed=CORRUPT * 4)
        detection = _detection(dr_record, S3_DETECTED, resource, tier, detected, fault.corrupted,
                               fault.injected_at.isoformat(),
                               fault_took(fault, scenario=SCENARIO, tier=tier))
        assert detection.verdict != "error", detection.reason  # nothing corrupted: no restore to time
        started = time.monotonic()
        chosen = {}
        for divergence in detected.first_differing:
            versions = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=divergence.key).get("Versions", [])
                        if v["Key"] == divergence.key]
            current = next((v["VersionId"] for v in versions if v.get("IsLatest")), None)
            older = sorted((v for v in versions if v["VersionId"] != current and v["LastModified"] <= fault.injected_at),
                           key=lambda v: v["LastModified"], reverse=True)
            if older:
                chosen[divergence.key] = older[0]["VersionId"]
                s3.copy_object(Bucket=bucket, Key=divergence.key,
                               CopySource={"Bucket": bucket, "Key": divergence.key, "VersionId": older[0]["VersionId"]})
        after = compare_bucket_to_expected(s3, bucket, known_good, prefix=prefix)
        elapsed = time.monotonic() - started
    restored = dr_record.measure(
        check=S3_RESTORE, scenario=SCENARIO, resource=resource, tier=tier, metric="restore_seconds",
        value=elapsed if after.equal and detected.differing_count else None, unit="s", objective=rto,
        reason=(f"{resource}: {len(chosen)} objects copied back from their versions before "
                f"{fault.injected_at.isoformat()}; {after.summary()}"),
        duration_seconds=elapsed, evidence={"versions_restored": chosen},
    )
    dr_keep(after.to_record(target=dr_target.name, scenario=SCENARIO, resource=resource, tier=tier,
                            check=f"{S3_RESTORE}-consistency"))
    assert detection.verdict == "pass", detection.reason
    assert restored.verdict == "pass", restored.reason


def test_corrupted_items_are_detected_and_restored_by_pitr(dr_target, dr_table, workload_data, dr_fault, fault_took,
                                                           dr_rng, service_now, dr_record, dr_keep):
    """Corrupt the table's items; find them; restore it to before the fault; put the good items back; verify equal."""
    w = dr_table  # once per table of the workload
    region, table, tier = w.primary_region, w.metadata_table, w.spec.table.tier
    ddb = dr_target.client("dynamodb", region)
    resource = f"dynamodb table {table}"
    names = key_names(w)
    rto = objectives_for(w, tier).rto
    known_good = list(scan_items(ddb, table))
    before_fault = service_now()
    pause(GAP_S)
    params = {"table": table, "count": CORRUPT, "seed": dr_rng.randrange(2**31), "region": region}
    with dr_fault("data-corruption", params) as fault:
        corrupted = [shown_key(names, json.loads(k)) for k in fault.corrupted]
        detected = compare_table_to_expected(ddb, table, known_good, names, attribute_format="typed",
                                             consistent_read=True, max_listed=CORRUPT * 4)
        detection = _detection(dr_record, DYNAMODB_DETECTED, resource, tier, detected, corrupted,
                               fault.injected_at.isoformat(),
                               fault_took(fault, scenario=SCENARIO, tier=tier))
        assert detection.verdict != "error", detection.reason  # nothing corrupted: no restore to time
        restored_table = f"{table}-before-corruption-{uuid.uuid4().hex[:8]}"
        timer = RestoreTimer(dr_target, region, timeout_s=restore_limit(dr_target, rto.limit))
        try:
            def verify():
                return compare_table_to_expected(ddb, restored_table, known_good, names, attribute_format="typed",
                                                 consistent_read=True)

            measured = timer.time_pitr(table, restored_table, restore_to=before_fault, verify=verify)
            restore = dr_keep(measured.to_record(rto, scenario=SCENARIO, resource=resource, tier=tier,
                                                 check=DYNAMODB_RESTORE))
            if measured.verified:
                wanted = {shown_key(names, {n: item[n] for n in names}): item for item in scan_items(ddb, restored_table)}
                live = {shown_key(names, {n: item[n] for n in names}): item for item in scan_items(ddb, table)}
                for key in (d.key for d in detected.first_differing):
                    if key in wanted and live.get(key) != wanted[key]:
                        ddb.put_item(TableName=table, Item=wanted[key])
        finally:
            timer.cleanup()
        repaired = compare_table_to_expected(ddb, table, known_good, names, attribute_format="typed", consistent_read=True)
        repair = dr_keep(repaired.to_record(target=dr_target.name, scenario=SCENARIO, resource=resource, tier=tier,
                                            check=DYNAMODB_REPAIRED))
    assert detection.verdict == "pass", detection.reason
    assert restore.verdict == "pass", restore.reason
    assert repair.verdict == "pass", repair.reason
