"""Chaos Toolkit probes of drharness: measured replication lag, consistency, data loss, RTO/RPO verdicts, health.

Each probe measures, writes its result record (source "chaos") and returns a JSON object with a
`verdict` ("pass" or "fail") beside the figures, so a steady-state hypothesis holds a probe with

    "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"}

Objectives come from the tier of the resource (drharness.results.objectives); `max_seconds` > 0 replaces
the tier's limit (e.g. from `--var max_lag_seconds:float=2`) and says so in the record.
"""

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.chaos import runtime
from drharness.errors import ConfigError, MeasurementError
from drharness.instruments.timeline import FAULT_INJECTED
from drharness.results import Objective, ResultRecord, utc_now
from drharness.waiting import wait_until

__all__ = [
    "active_faults",
    "canary_ledger_status",
    "compromised_key_works",
    "mechanism_healthy",
    "objectives_met",
    "primary_healthy",
    "replicas_consistent",
    "replication_lag_within_objective",
    "rpo_within_objective",
    "rto_within_objective",
]

MECHANISMS = ("kms", "s3", "dynamodb", "batch", "fsx", "backup", "notifications", "events", "cloudformation")
RTO_METRICS = ("rto", "failover_seconds", "restore_seconds", "recovery_seconds")
RPO_METRICS = ("rpo", "data_loss_window")
NOTHING_MEASURED = "no {what} measured yet in this run: no objective missed"
NOT_MEASURED_REQUIRED = "no {what} measured in this run, and one is required"
NOT_MEASURED_AFTER_FAULT = "a fault was injected in this run, but no {what} measured: nothing shows the objectives held"
OVERRIDE_SOURCE = "experiment configuration (tier {tier}: {limit:g} s)"
# What compromised_key_works(expect=...) holds the keys to.
KEY_EXPECTED = {"works": "every compromised key to read the data bucket", "refused": "every compromised key refused"}


def _override(objective: Objective, max_seconds: float, tier: str) -> Objective:
    if not max_seconds or max_seconds <= 0:
        return objective
    return Objective(objective.metric, float(max_seconds), objective.unit, objective.comparison,
                     OVERRIDE_SOURCE.format(tier=tier, limit=objective.limit))


def _summary(record: ResultRecord) -> dict:
    return {"verdict": "pass" if record.verdict == "pass" else "fail", "record_verdict": record.verdict,
            "value": record.value, "unit": record.unit, "objective": record.objective, "reason": record.reason}


def replication_lag_within_objective(
    store: str = "s3", max_seconds: float = 0.0, probes: int = 5, timeout_s: float = 0.0, configuration: dict = None,
) -> dict:
    """Measure replication lag (p99 of `probes` writes) from the primary to the secondary and judge it.

    Objective: the tier's replication lag (S3 RTC's window where the rule enables it, else the RPO),
    or `max_seconds`. A probe not seen within `timeout_s` (default: the objective) fails the verdict.

        {"type": "probe", "name": "bucket-replication-lag",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "replication_lag_within_objective",
                      "arguments": {"store": "s3", "max_seconds": "${max_lag_seconds}"}}}
    """
    from drharness.instruments.lag import LagProbe
    from drharness.results.objectives import objectives_for

    run = runtime.current(configuration)
    workload = run.workload
    primary, secondary = workload.primary_region, workload.secondary_region
    runtime.check_store(store)
    spec = workload.spec
    tier = spec.bucket.tier if store == "s3" else spec.table.tier
    rtc = spec.bucket.replication.rtc_minutes if store == "s3" else None
    objective = _override(objectives_for(workload, tier, rtc_minutes=rtc).replication_lag, float(max_seconds or 0), tier)
    source, replica = run.target.client(store, primary), run.target.client(store, secondary)
    if store == "s3":
        probe = LagProbe.s3(source, workload.data_bucket, replica, workload.backup_bucket,
                            prefix=f"{spec.bucket.replication.prefix}_lagprobe/")
    else:
        probe = LagProbe.dynamodb(source, replica, workload.metadata_table, hash_key=spec.table.hash_key,
                                  range_key=spec.table.range_key)
    distribution = probe.run(count=max(1, int(probes)), timeout_s=float(timeout_s) or objective.limit,
                             interval_s=run.target.probe_interval_s)
    record = run.record(distribution.to_record(objective, scenario=run.scenario, tier=tier, target=run.target,
                                               check=f"replication-lag:{store}", test_id=run.recorder.test_id))
    return {**_summary(record), "store": store, "source": distribution.source, "replica": distribution.replica,
            "lag_p99_seconds": distribution.lag_p99_seconds, "lag_max_seconds": distribution.lag_max_seconds,
            "objective_seconds": objective.limit, "objective_source": objective.source,
            "measured": distribution.measured, "timeouts": distribution.timeouts}


def replicas_consistent(store: str = "s3", settle_timeout_s: float = 30.0, configuration: dict = None) -> dict:
    """Compare the primary bucket (replicated prefix) or table with its replica; judge against zero divergence.

    Replication in flight is waited for, up to `settle_timeout_s`; what still differs then is divergence.

        {"type": "probe", "name": "table-replica-consistent",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "replicas_consistent",
                      "arguments": {"store": "dynamodb"}}}
    """
    from drharness.instruments.consistency import BucketSide, TableSide, compare_buckets, compare_tables

    run = runtime.current(configuration)
    workload = run.workload
    primary, secondary = workload.primary_region, workload.secondary_region
    if runtime.check_store(store) == "s3":
        prefix = workload.spec.bucket.replication.prefix
        sides = (BucketSide.of(run.target, primary, workload.data_bucket, prefix),
                 BucketSide.of(run.target, secondary, workload.backup_bucket, prefix))
        compare: Any = compare_buckets
        tier = workload.spec.bucket.tier
    else:
        sides = (TableSide.of(run.target, primary, workload.metadata_table),
                 TableSide.of(run.target, secondary, workload.metadata_table))
        compare = compare_tables
        tier = workload.spec.table.tier
    reports: list[Any] = []

    def equal() -> bool:
        reports.append(compare(*sides))
        return bool(reports[-1].equal)

    started = time.monotonic()
    wait_until(equal, float(settle_timeout_s), run.target.poll_interval_s, what=f"{store} replica to match the primary")
    report = reports[-1]
    record = run.record(report.to_record(target=run.target.name, scenario=run.scenario, tier=tier,
                                         check=f"consistency:{store}", test_id=run.recorder.test_id))
    return {**_summary(record), "store": store, "divergent_keys": report.divergent_count, "missing": report.missing_count,
            "extra": report.extra_count, "differing": report.differing_count, "compared": report.compared_count,
            "summary": report.summary(), "waited_seconds": round(time.monotonic() - started, 3)}


def canary_ledger_status(store: str = "dynamodb", max_seconds: float = 0.0, configuration: dict = None) -> dict:
    """Stop the run's canary ledger and measure the data-loss window in the secondary at the run's first fault.

    Judged against the store tier's RPO (or `max_seconds`); lists exactly which acknowledged writes were lost.

        {"type": "probe", "name": "data-loss-window",
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "canary_ledger_status",
                      "arguments": {"store": "dynamodb"}}}
    """
    run = runtime.current(configuration)
    ledger = run.ledgers.get(runtime.check_store(store))
    if ledger is None:
        raise ConfigError(f"no {store} canary ledger in this run: start one with start_canary_ledger first")
    ledger.stop()
    workload = run.workload
    tier = workload.spec.bucket.tier if store == "s3" else workload.spec.table.tier
    mark = run.timeline.marked(FAULT_INJECTED) if run.timeline else None
    fault_time = mark if mark is not None else utc_now()
    survivor = run.target.client(store, workload.secondary_region)
    resource = workload.backup_bucket if store == "s3" else workload.metadata_table
    assessment = ledger.assess(survivor, fault_time, resource=resource)
    objective = _override(run.objectives(tier).rpo, float(max_seconds or 0), tier)
    record = run.record(assessment.to_record(objective, scenario=run.scenario, tier=tier, target=run.target,
                                             check=f"rpo:{store}", test_id=run.recorder.test_id))
    return {**_summary(record), "store": store, "data_loss_window_seconds": assessment.data_loss_window_seconds,
            "lost_writes": assessment.lost_writes, "newest_present_seq": assessment.newest_present_seq,
            "canaries_written": assessment.canaries_written, "canaries_before_fault": assessment.canaries_before_fault,
            "fault_marked": mark is not None}


def _verdicts(configuration: dict | None, metrics: tuple[str, ...] | None, what: str, required: bool) -> dict:
    run = runtime.current(configuration)
    judged = [r for r in run.records if r.objective is not None and (metrics is None or r.metric in metrics)]
    missed = [r for r in judged if r.verdict in ("fail", "error")]
    if not judged:
        # Before any fault, nothing measured is nothing missed; once one went in, it is a recovery nobody measured.
        if runtime.flag(required):
            reason = NOT_MEASURED_REQUIRED
        elif run.timeline is not None:
            reason = NOT_MEASURED_AFTER_FAULT
        else:
            return {"verdict": "pass", "measured": 0, "missed": [], "reason": NOTHING_MEASURED.format(what=what)}
        return {"verdict": "fail", "measured": 0, "missed": [], "reason": reason.format(what=what)}
    return {
        "verdict": "fail" if missed else "pass",
        "measured": len(judged),
        "missed": [{"check": r.check, "value": r.value, "objective": r.objective, "reason": r.reason} for r in missed],
        "results": [{"check": r.check, "metric": r.metric, "value": r.value, "unit": r.unit, "objective": r.objective,
                     "verdict": r.verdict} for r in judged],
        "reason": "; ".join(r.reason for r in missed) or f"all {len(judged)} {what} within their objectives",
    }


def objectives_met(required: bool = False, configuration: dict = None) -> dict:
    """Judge every measurement of this run that has an objective (RTO, RPO, lag, divergence): all must pass.

    Before anything is measured nothing has missed its objective (unless `required`); once the run
    injected a fault, nothing measured fails.

        {"type": "probe", "name": "recovery-objectives-met",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "objectives_met"}}
    """
    return _verdicts(configuration, None, "measurements", required)


def rto_within_objective(required: bool = False, configuration: dict = None) -> dict:
    """Judge this run's recovery-time measurements (RTO, failover, restore, runbook) against the tier RTO.

        {"type": "probe", "name": "rto-met",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "rto_within_objective"}}
    """
    return _verdicts(configuration, RTO_METRICS, "recovery times", required)


def rpo_within_objective(required: bool = False, configuration: dict = None) -> dict:
    """Judge this run's data-loss windows (canary ledgers) against the tier RPO.

        {"type": "probe", "name": "rpo-met",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "rpo_within_objective",
                      "arguments": {"required": true}}}
    """
    return _verdicts(configuration, RPO_METRICS, "data-loss windows", required)


def mechanism_healthy(mechanism: str = "s3", configuration: dict = None) -> dict:
    """Read one DR mechanism's settings back (as the deploy verifies them) and judge them against the config.

    mechanism: kms, s3, dynamodb, batch, fsx, backup, notifications, events or cloudformation.

        {"type": "probe", "name": "multi-az-compute-healthy",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "mechanism_healthy",
                      "arguments": {"mechanism": "batch"}}}
    """
    import importlib

    from drharness.deploy.common import Checker

    if mechanism not in MECHANISMS:
        raise ConfigError(f"mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    run = runtime.current(configuration)
    module = importlib.import_module(f"drharness.deploy.{mechanism}")
    check = Checker()
    module.verify(run.target, run.workload, check)
    findings = [str(f) for f in check.findings]
    record = run.recorder.compliance(
        check=f"mechanism:{mechanism}", resource=f"{mechanism} DR settings of {run.workload.spec.project}",
        ok=not findings, expected=f"{check.checked} DR properties as configured",
        actual="; ".join(findings) or "as configured", tier=run.tier, scenario=run.scenario,
    )
    return {"verdict": record.verdict, "mechanism": mechanism, "checked": check.checked, "findings": findings,
            "unverified": [str(u) for u in check.unverified]}


def primary_healthy(timeout_s: float = 5.0, configuration: dict = None) -> dict:
    """Check the primary as the failover function does: compute VALID/ENABLED, bucket and table readable.

        {"type": "probe", "name": "primary-healthy",
         "tolerance": {"type": "regex", "target": "verdict", "pattern": "^pass$"},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "primary_healthy"}}
    """
    from drharness.procedures.health import check_primary_health

    run = runtime.current(configuration)
    health = check_primary_health(run.target, run.workload, float(timeout_s))
    return {"verdict": "pass" if health.healthy else "fail", "summary": health.summary(), **health.to_json()}


def active_faults(configuration: dict = None) -> dict:
    """List the faults in place on the target now (the whole world offline; drharness FIS experiments live).

        {"type": "probe", "name": "no-fault-left",
         "tolerance": {"type": "range", "target": "count", "range": [0, 0]},
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "active_faults"}}
    """
    run = runtime.current(configuration)
    found = run.backend.active()
    return {"count": len(found), "faults": [{"id": f.id, "name": f.name, "summary": f.describe()} for f in found]}


def compromised_key_works(expect: str = "", configuration: dict = None) -> dict:
    """Try each key this run's credential-compromise handed out (a read); report whether any still works.

    With `expect` the answer is judged and recorded, so `objectives_met` holds the run to it:
    "works" (the compromise is real: every key reads the data bucket) or "refused" (none does).

        {"type": "probe", "name": "attacker-key-works",
         "provider": {"type": "python", "module": "drharness.chaos.probes", "func": "compromised_key_works",
                      "arguments": {"expect": "works"}}}
    """
    if expect and expect not in KEY_EXPECTED:
        raise ConfigError(f"expect={expect!r} is not one of {', '.join(KEY_EXPECTED)} (or empty: only report)")
    run = runtime.current(configuration)
    if not run.compromised:
        raise MeasurementError("no compromised credential in this run: run compromise_credentials first")
    results = []
    for key in run.compromised.values():
        client = run.target.client("s3", run.workload.primary_region, credentials=key.as_credentials())
        try:
            client.list_objects_v2(Bucket=run.workload.data_bucket, MaxKeys=5)
            results.append({"access_key": runtime.masked_key(key.access_key_id), "works": True, "error": ""})
        except (ClientError, BotoCoreError) as exc:
            results.append({"access_key": runtime.masked_key(key.access_key_id), "works": False, "error": str(exc)})
    found = {"works": any(r["works"] for r in results), "keys": results}
    if expect:
        working = sum(r["works"] for r in results)
        ok = working == len(results) if expect == "works" else working == 0
        users = sorted({k.user for k in run.compromised.values()})
        record = run.recorder.compliance(
            check=f"credential:key-{expect}", resource=f"access keys of IAM user {', '.join(users)}", ok=ok,
            expected=KEY_EXPECTED[expect], actual=f"{working} of {len(results)} key(s) read the data bucket",
            tier=run.tier, scenario=run.scenario,
        )
        found["verdict"] = record.verdict
    return found
