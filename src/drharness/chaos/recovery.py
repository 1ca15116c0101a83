"""Chaos Toolkit actions of drharness: the recoveries under test, each timed from the run's first fault.

Failover, the recovery runbook, a point-in-time restore, serving from the replica, Batch work in the
surviving zones and the isolation of a leaked key: each writes its measurement (RTO against the
tier's objective) as a result record of the run, and returns the figures.
"""

import datetime as dt
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.chaos import runtime
from drharness.errors import ConfigError, MeasurementError
from drharness.faults.live import FIS_FINISHED
from drharness.instruments.timeline import Timeline, TimelineResult
from drharness.results import iso
from drharness.waiting import wait_until

__all__ = [
    "isolate_credentials",
    "restore_table",
    "run_batch_job",
    "run_failover",
    "run_runbook",
    "verify_recovery",
    "wait_for_fis_experiments",
]

NO_FAULT_YET = "no fault was injected in this run: the RTO clock starts at the fault; inject one first"
ALREADY_VERIFIED = "this run's recovery was already verified ({reason}); one recovery is timed per run"


def _recovery_clock(run: runtime.ChaosRun) -> Timeline:
    if run.timeline is None:
        raise MeasurementError(NO_FAULT_YET)
    done = run.timeline.result()
    if done.verified:
        raise MeasurementError(ALREADY_VERIFIED.format(reason=done.reason))
    return run.timeline


def _rto_record(run: runtime.ChaosRun, result: TimelineResult, *, check: str, resource: str, tier: str) -> dict:
    record = run.record(result.to_record(run.objectives(tier).rto, scenario=run.scenario, resource=resource, tier=tier,
                                         target=run.target, check=check, test_id=run.recorder.test_id))
    return {"verdict": record.verdict, "rto_seconds": result.rto_seconds, "objective_seconds": record.objective,
            "verified": result.verified, "reason": record.reason,
            "phases": [{"phase": m.phase, "at": iso(m.at), "note": m.note} for m in result.phases]}


def run_failover(force: bool = False, stack_timeout_s: float = 600.0, configuration: dict = None) -> dict:
    """Run the auto-failover procedure: check the primary, activate the DR stack, notify; timed from the first fault.

    Without a fault in the run the clock starts at the failed health check; `force` fails over a healthy primary.

        {"type": "action", "name": "fail-over",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "run_failover"}}
    """
    from drharness.procedures.failover import run_failover as failover

    run = runtime.current(configuration)
    before = len(run.recorder.records)
    outcome = failover(run.target, run.workload, force=runtime.flag(force), recorder=run.recorder, timeline=run.timeline,
                       stack_timeout_s=float(stack_timeout_s))
    verdicts = [r.verdict for r in run.recorder.records[before:]]
    return {"action": outcome.action, "success": outcome.success, "failover_seconds": outcome.failover_seconds,
            "reason": outcome.reason, "verdicts": verdicts,
            "phases": [p.to_json() for p in outcome.phases]}


def run_runbook(kind: str = "data-only", configuration: dict = None) -> dict:
    """Run the recovery runbook (full, partial or data-only) into the secondary region, step by step.

        {"type": "action", "name": "recover-data",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "run_runbook",
                      "arguments": {"kind": "data-only"}}}
    """
    from drharness.procedures.runbook import Runbook

    run = runtime.current(configuration)
    state_dir = run.settings.reports / "journals" / f"{run.name}.runbook"
    book = Runbook(run.target, run.workload, state_dir=state_dir, sink=run.sink, source=runtime.SOURCE,
                   ledgers=tuple(run.ledgers.values()))
    outcome = book.run(kind)
    run.recorder.records.extend(outcome.records)
    return {"run_id": outcome.run_id, "kind": kind, "completed": outcome.completed,
            "recovery_seconds": outcome.recovery_seconds, "consistency_verdict": outcome.consistency_verdict,
            "steps": [{"name": s.name, "status": s.status, "seconds": s.duration_seconds, "detail": s.detail}
                      for s in outcome.steps]}


def verify_recovery(
    store: str = "dynamodb", region: str = "@secondary_region", detect: bool = True, timeout_s: float = 120.0,
    configuration: dict = None,
) -> dict:
    """Time the recovery from the run's first fault until a write and read-back succeed on `store` in `region`.

    With `detect`, the moment a probe of the primary first fails is marked as the detection.
    Writes the RTO record judged against the store's tier RTO.

        {"type": "action", "name": "serve-from-the-replica",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "verify_recovery",
                      "arguments": {"store": "dynamodb", "region": "@secondary_region"}}}
    """
    from drharness.instruments.timeline import dynamodb_write_read_probe, s3_write_read_probe

    run = runtime.current(configuration)
    clock = _recovery_clock(run)
    workload = run.workload
    region = run.resolve(region, "verify_recovery")

    def probe_in(where: str) -> Any:
        client = run.target.client(runtime.check_store(store), where)
        resource = runtime.store_resource(run, store, where)
        if store == "s3":
            return s3_write_read_probe(client, resource, prefix=f"{workload.spec.bucket.replication.prefix}_verify/")
        spec = workload.spec.table
        return dynamodb_write_read_probe(client, resource, spec.hash_key, spec.range_key)

    interval = run.target.poll_interval_s
    if runtime.flag(detect):
        clock.detect(probe_in(workload.primary_region), min(float(timeout_s), 30.0), interval,
                     what=f"a {store} write/read in the primary {workload.primary_region} to fail")
    result = clock.verify(probe_in(region), float(timeout_s), interval, what=f"a {store} write/read in {region} to succeed")
    tier = workload.spec.table.tier if store == "dynamodb" else workload.spec.bucket.tier
    return _rto_record(run, result, check=f"rto:{store}:{region}", resource=f"{runtime.store_resource(run, store, region)} ({region})",
                       tier=tier)


def run_batch_job(timeout_s: float = 120.0, configuration: dict = None) -> dict:
    """Submit a job to the workload's queue and time the recovery from the fault until it SUCCEEDED.

        {"type": "action", "name": "batch-work-completes",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "run_batch_job",
                      "arguments": {"timeout_s": 120}}}
    """
    from drharness.deploy import names

    run = runtime.current(configuration)
    clock = _recovery_clock(run)
    workload = run.workload
    batch = run.target.client("batch", workload.primary_region)
    job = batch.submit_job(jobName=f"drharness-verify-{uuid.uuid4().hex[:8]}", jobQueue=workload.job_queue,
                           jobDefinition=names.job_definition(workload))
    seen: dict[str, str] = {}

    def succeeded() -> bool:
        found = batch.describe_jobs(jobs=[job["jobId"]])["jobs"]
        seen["status"] = found[0]["status"] if found else "missing"
        seen["reason"] = str(found[0].get("statusReason") or "") if found else ""
        return seen["status"] == "SUCCEEDED"

    result = clock.verify(succeeded, float(timeout_s), run.target.poll_interval_s,
                          what=f"batch job {job['jobId']} on {workload.job_queue} to succeed")
    out = _rto_record(run, result, check="rto:batch-job", resource=f"batch job queue {workload.job_queue}",
                      tier=workload.spec.compute.tier)
    out.update(job_id=job["jobId"], job_status=seen.get("status"), job_reason=seen.get("reason"))
    return out


def isolate_credentials(timeout_s: float = 60.0, configuration: dict = None) -> dict:
    """Deactivate every access key this run's credential-compromise handed out; time it until the key is refused.

        {"type": "action", "name": "isolate-the-key",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "isolate_credentials"}}
    """
    run = runtime.current(configuration)
    if not run.compromised:
        raise ConfigError("no compromised credential in this run: run compromise_credentials first")
    clock = _recovery_clock(run)
    region = run.workload.primary_region
    iam = run.target.client("iam", region)
    for key in run.compromised.values():
        iam.update_access_key(UserName=key.user, AccessKeyId=key.access_key_id, Status="Inactive")

    def refused() -> bool:
        for key in run.compromised.values():
            client = run.target.client("s3", region, credentials=key.as_credentials())
            try:
                client.list_buckets()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("InvalidAccessKeyId", "AccessDenied", "InvalidClientTokenId"):
                    raise
                continue
            return False  # the key still works
        return True

    result = clock.verify(refused, float(timeout_s), run.target.poll_interval_s, what="every compromised key to be refused",
                          swallow=(BotoCoreError,))
    users = sorted({k.user for k in run.compromised.values()})
    return _rto_record(run, result, check="rto:credential-isolation", resource=f"IAM user {', '.join(users)}",
                       tier=run.tier or "critical")


def restore_table(point: str = "before-fault", repair: bool = True, timeout_s: float = 0.0, configuration: dict = None) -> dict:
    """Restore the table to a point in time into a new table, check it, and (with `repair`) put its items back.

    point: "before-fault" (the run's data-corruption, else its first fault) or "latest". The restore is
    checked against the items kept just before `corrupt_data`; the restore time is judged against the
    table tier's RTO; with `repair`, the live table is then judged against those items too (zero
    divergence); the restored table is deleted afterwards.

        {"type": "action", "name": "restore-the-table",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "restore_table",
                      "arguments": {"point": "before-fault"}}}
    """
    from drharness.instruments.consistency import compare_table_to_expected
    from drharness.instruments.restore import RestoreTimer

    run = runtime.current(configuration)
    workload = run.workload
    table, region, tier = workload.metadata_table, workload.primary_region, workload.spec.table.tier
    restore_to = _restore_point(run, point)
    rto = run.objectives(tier).rto
    timer = RestoreTimer(run.target, region, timeout_s=float(timeout_s) or None, objective=rto)
    restored = f"{table}-restore-{uuid.uuid4().hex[:6]}"
    client = run.target.client("dynamodb", region)
    expected = run.snapshots.get("dynamodb")
    spec = workload.spec.table
    keys = [spec.hash_key] + ([spec.range_key] if spec.range_key else [])
    reports = []

    def verify() -> Any:
        if expected is None:
            return True  # nothing kept to compare with: ACTIVE is all that can be checked
        report = compare_table_to_expected(client, restored, expected, keys, attribute_format="typed", region=region)
        reports.append(report)
        return report

    try:
        measurement = timer.time_pitr(table, restored, verify=verify, restore_to=restore_to)
        record = run.record(measurement.to_record(rto, scenario=run.scenario, resource=table, tier=tier,
                                                  check="restore:dynamodb-pitr", test_id=run.recorder.test_id))
        if reports:
            run.record(reports[-1].to_record(target=run.target.name, scenario=run.scenario, resource=restored, tier=tier,
                                             check="consistency:restore-vs-before-fault", test_id=run.recorder.test_id))
        repaired = _repair(client, restored, table) if runtime.flag(repair) and measurement.ok else 0
        repaired_verdict = None
        if runtime.flag(repair) and expected is not None:
            # The live table itself is judged: a restore that checks out proves nothing if the repair missed items.
            after = compare_table_to_expected(client, table, expected, keys, attribute_format="typed", region=region,
                                              consistent_read=True)
            repaired_verdict = run.record(after.to_record(
                target=run.target.name, scenario=run.scenario, resource=table, tier=tier,
                check="consistency:repaired-vs-before-fault", test_id=run.recorder.test_id)).verdict
    finally:
        cleanup = timer.cleanup()
    return {"verdict": record.verdict, "restore_seconds": measurement.restore_seconds, "verified": measurement.verified,
            "objective_seconds": record.objective, "restore_point": measurement.restore_point, "reason": record.reason,
            "repaired_items": repaired, "repaired_table_verdict": repaired_verdict,
            "cleaned_up": list(cleanup.deleted), "cleanup_failed": list(cleanup.failed)}


def _restore_point(run: runtime.ChaosRun, point: str) -> dt.datetime | None:
    """The time to restore to: just before the run's data corruption (else its first fault), or None for latest."""
    if point not in ("before-fault", "latest"):
        raise ConfigError(f"restore point {point!r} is not before-fault or latest")
    if point == "latest":
        return None
    corrupted = [r for r in run.journal.records() if r.name == "data-corruption"]
    fault_id = corrupted[-1].id if corrupted else next(iter(run.fault_times), None)
    if fault_id is None or fault_id not in run.fault_times:
        raise MeasurementError(NO_FAULT_YET)
    return run.fault_times[fault_id] - dt.timedelta(milliseconds=1)


def _repair(client: Any, restored: str, table: str) -> int:
    """Put every item of the restored table that differs in the live table back into it; the count."""
    key_names = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    repaired = 0
    for page in client.get_paginator("scan").paginate(TableName=restored, ConsistentRead=True):
        for item in page["Items"]:
            live = client.get_item(TableName=table, Key={k: item[k] for k in key_names}, ConsistentRead=True).get("Item")
            if live != item:
                client.put_item(TableName=table, Item=item)
                repaired += 1
    return repaired


def wait_for_fis_experiments(
    tags: dict, state: str = "running", region: str = "@primary_region", timeout_s: float = 120.0,
    configuration: dict = None,
) -> dict:
    """Wait until every FIS experiment of this run carrying `tags` has reached `state` (or finished); there must be one.

        {"type": "action", "name": "pause-is-running",
         "provider": {"type": "python", "module": "drharness.chaos.recovery", "func": "wait_for_fis_experiments",
                      "arguments": {"tags": {"drharness:experiment": "replication-pause"}, "state": "running"}}}
    """
    run = runtime.current(configuration)
    fis = run.target.client("fis", run.resolve(region, "wait_for_fis_experiments"))
    wanted = {str(k): str(v) for k, v in (tags or {}).items()}
    order = ("pending", "initiating", "running", "stopping", *FIS_FINISHED)
    if state not in order:
        raise ConfigError(f"FIS experiment state {state!r} is not one of {', '.join(order)}")
    seen: dict[str, str] = {}
    broken: dict[str, str] = {}

    def reached() -> bool:
        seen.clear()
        for page in fis.get_paginator("list_experiments").paginate():
            for item in page.get("experiments", []):
                created = item.get("creationTime")
                earlier = isinstance(created, dt.datetime) and created < run.started_at - dt.timedelta(seconds=5)
                if wanted.items() <= (item.get("tags") or {}).items() and not earlier:  # this run's, not an older one
                    status = item["state"]["status"]
                    seen[item["id"]] = status
                    if status in ("failed", "cancelled") and state not in ("failed", "cancelled"):
                        broken[item["id"]] = str(item["state"].get("reason") or status)
        return bool(broken) or (bool(seen) and all(order.index(s) >= order.index(state) for s in seen.values() if s in order))

    outcome = wait_until(reached, float(timeout_s), run.target.poll_interval_s, what=f"FIS experiments tagged {wanted} to be {state}")
    if broken:
        raise MeasurementError("FIS experiment(s) " + "; ".join(f"{i} failed: {why}" for i, why in broken.items()))
    if not outcome.ok:
        raise MeasurementError(f"{outcome.reason}; found {seen or 'none'}")
    return {"experiments": dict(seen), "waited_seconds": round(outcome.elapsed_seconds, 3)}
