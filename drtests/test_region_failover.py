"""Monthly and quarterly: the primary region goes down; RTO and RPO are measured, not declared.

Canary ledgers write into every data bucket (under its replicated prefix) and every metadata table of
the workload at a steady rate, as the workload's own principal. The primary region is taken out; the
outage is detected by the primary's health check seen by that principal, the auto-failover raises every
DR stack and delivers its notice to every DR notice topic, and a write/read on the secondary side
verifies the recovery. RTO runs from the fault to that verification. RPO is the data-loss window each
survivor shows (each backup bucket and each table's replica in the secondary region), with the exact
canaries lost: one record per bucket and table. A second test pauses replication of the first bucket and
table before the outage and proves that the measurement sees the loss it causes.

The same drill runs offline and live. Offline the world takes the region away for every caller and
its ground truth (which canaries it accepted and never replicated) is an extra check on the ledger.
Live, region-outage denies the region to the workload's role (`[live].api_fault_roles`, assumed for
the canaries and the health check) and replication-pause is FIS's; the verdicts come from the
ledgers, the health check, the failover and the probes alone. Every DR stack is put back to pilot
light after the drill (its DR resources off), as it was found.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from drharness.instruments import (
    FAILED_OVER,
    FAULT_INJECTED,
    CanaryLedger,
    Timeline,
    dynamodb_write_read_probe,
    s3_write_read_probe,
)
from drharness.results.objectives import objectives_for
from drharness.procedures import check_primary_health, run_failover
from drharness.procedures.health import DEFAULT_TIMEOUT_S
from drharness.results import Objective, utc_now
from drharness.waiting import wait_until
from drtests._support import wait_limit
from drharness.pytest_plugin.fixtures import SETTLE_STORES

pytestmark = [pytest.mark.monthly, pytest.mark.quarterly, pytest.mark.critical, pytest.mark.region]

SCENARIO = "region"
RTO = "region:rto"
RPO = "region:rpo-{store}"
DETECTS_LOSS = "region:rpo-detects-loss-{store}"
STEADY_STATE = "region:steady-state"
CANARY_FOLDER = "drharness-canary/"  # under the replicated prefix, so canaries replicate as the workload's data
CANARY_INTERVAL_S = 0.05
WARM_UP_CANARIES = 5  # acknowledged before the fault, so the survivors have something to show
PAUSED_CANARIES = 10  # acknowledged while replication is paused, before the outage
HEALTH_TIMEOUT_S = 1.0
# Well below the window a pause of PAUSED_CANARIES canaries loses (>= 0.5 s at one canary per 0.05 s).
TIGHT_RPO_S = 0.25
VERIFY_PREFIX = "_drharness/verify/"  # outside the replicated prefix: the probe's objects are not workload data


OUTAGE_DID_NOT_TAKE = ("the outage did not take ({detail}): the workload's view of {region} never went down, so no "
                       "failover was timed")


def _health_timeout(target):
    return HEALTH_TIMEOUT_S if target.name == "offline" else DEFAULT_TIMEOUT_S


def _ledgers(target, workload, *, every=True):
    """(view, ledger): one ledger per replicated store, writing into the primary: every bucket and every table
    of the workload (`every`), or the first of each."""
    region = workload.primary_region
    buckets = workload.each_bucket() if every else (workload,)
    tables = workload.each_table() if every else (workload,)
    return [
        *((view, CanaryLedger.s3(target.client("s3", region), view.data_bucket,
                                 prefix=f"{view.spec.bucket.replication.prefix}{CANARY_FOLDER}",
                                 interval_s=CANARY_INTERVAL_S)) for view in buckets),
        *((view, CanaryLedger.dynamodb(target.client("dynamodb", region), view.metadata_table,
                                       hash_key=view.spec.table.hash_key, range_key=view.spec.table.range_key,
                                       interval_s=CANARY_INTERVAL_S)) for view in tables),
    ]


def _survivor(target, view, ledger):
    """(client, resource, tier) of the copy in the secondary region that a ledger's canaries replicate to."""
    region = view.secondary_region
    if ledger.store.store == "s3":
        return target.client("s3", region), view.backup_bucket, view.spec.bucket.tier
    return target.client("dynamodb", region), view.metadata_table, view.spec.table.tier


def _label(ledger):
    """A ledger's name in the evidence: its store and the resource it writes into."""
    return f"{ledger.store.store} {ledger.store.resource}"


def _acknowledged(ledger, after_monotonic=0.0):
    return sum(1 for c in ledger.canaries() if c.acknowledged and c.written_monotonic > after_monotonic)


def _warm_up(ledgers):
    outcome = wait_until(lambda: all(_acknowledged(ledger) >= WARM_UP_CANARIES for ledger in ledgers), 10.0, 0.02,
                         what=f"{WARM_UP_CANARIES} acknowledged canaries per store")
    errors = [c.error for ledger in ledgers for c in ledger.canaries() if c.error]
    assert outcome.ok, f"{outcome.reason}; last canary errors: {errors[-2:]}"


def _stop(ledgers):
    for ledger in ledgers:
        ledger.stop()


def _canary_seq(store, truth_key):
    """The sequence number of a canary from the key the world's ground truth names a write by (None: not a canary)."""
    if store.store == "s3":
        tail = truth_key[len(store.folder):] if truth_key.startswith(store.folder) else ""
    else:
        key = json.loads(truth_key)
        hashed = key.get(store.hash_key, {}).get("S", "")
        if store.range_key is None:  # a table with no sort key: each canary is partition#seq
            tail = hashed.rsplit("#", 1)[-1] if hashed.startswith(f"{store.partition}#") else ""
        else:
            tail = key.get(store.range_key, {}).get("S", "") if hashed == store.partition else ""
    return int(tail) if tail.isdigit() else None


def _unreplicated(world, workload, ledger):
    """Ground truth (offline only, else None): the ledger's canaries the world accepted in the primary and never replicated."""
    if world is None:
        return None
    found = set()
    for write in world.writes(ledger.store.store, ledger.store.resource):
        seq = _canary_seq(ledger.store, write["key"])
        if (seq is not None and write["region"] == workload.primary_region and write["kind"] == "put"
                and workload.secondary_region not in write["replicated_at"]):
            found.add(seq)
    return found


def _truth_evidence(assessment, truth):
    if truth is None:
        return {"ground_truth": "none: live, the ledger alone judges"}
    lost = set(assessment.lost_sequences)
    return {"ground_truth_unreplicated": sorted(truth)[:500], "matches_ground_truth": lost == truth,
            "lost_not_in_truth": sorted(lost - truth)[:50], "truth_not_in_lost": sorted(truth - lost)[:50]}


def _settled(settle_replication, limit_s, pairs):
    """Replication caught up for every store a ledger wrote into (each bucket and table of `pairs`)."""
    return all(settle_replication(limit_s, ledger.store.store, view) for view, ledger in pairs
               if ledger.store.store in SETTLE_STORES)


def _why_not_taken(effect, failover, seen) -> str:
    """What showed the outage did not hold: the fault's own check, the failover, or the health check."""
    if not effect.took:
        return effect.detail
    if failover is not None:
        return f"the failover found it healthy: {failover.reason}"
    return seen.reason if seen is not None else "no detection"


def test_region_outage_rto_and_rpo_within_the_tier(dr_target, dr_workload, workload_target, dr_fault, fault_took,
                                                   fault_backend, dr_world_client, settle_replication, pilot_light,
                                                   dr_record, dr_keep):
    """Lose the primary region: detect, fail over, verify; RTO and the survivors' data-loss window meet the tier."""
    w = dr_workload
    primary, secondary, tier = w.primary_region, w.secondary_region, w.spec.compute.tier
    objectives = objectives_for(w, tier)
    limit = wait_limit(dr_target, objectives.rto.limit)
    health_timeout = _health_timeout(dr_target)
    pairs = _ledgers(workload_target, w)  # every bucket and table: each one's data-loss window is measured
    ledgers = [ledger for _, ledger in pairs]
    timeline = Timeline.start(f"region outage {primary}")
    health = []

    def primary_healthy():
        health.append(check_primary_health(workload_target, w, health_timeout))
        return health[-1].healthy

    s3_probe = s3_write_read_probe(dr_target.client("s3", secondary), w.backup_bucket, VERIFY_PREFIX)
    table_probe = dynamodb_write_read_probe(dr_target.client("dynamodb", secondary), w.metadata_table,
                                            w.spec.table.hash_key, w.spec.table.range_key)
    failover = None
    for ledger in ledgers:
        ledger.start()
    try:
        _warm_up(ledgers)
        with dr_fault("region-outage", {"region": primary}) as fault:
            fault_mark = timeline.mark(FAULT_INJECTED, f"{fault.id}: {fault.params.summary()}")
            effect = fault_took(fault, scenario=SCENARIO, tier=tier)
            # The fault took only if the workload sees its region gone: its health check must fail.
            seen = timeline.detect(primary_healthy, limit, dr_target.probe_interval_s,
                                   what=f"the health check of {primary} to fail") if effect.took else None
            took = bool(effect.took and seen is not None and seen.ok)
            if took:
                failover = run_failover(dr_target, w, recorder=dr_record, health_timeout_s=health_timeout,
                                        stack_timeout_s=limit, notice_timeout_s=limit, observer=workload_target)
                # The failover looks again: a primary it finds healthy was never down, whatever one check saw
                # (a probe timing out on a loaded host): the outage did not hold and nothing is timed.
                took = failover.action != "no_action_required"
            if failover is not None and failover.success and failover.notice_verified:
                stacks = "; ".join(stack.detail for stack in failover.stacks)
                sent = ", ".join(notice.message_id for notice in failover.sent_notices)
                timeline.mark(FAILED_OVER, f"{stacks}; notice {sent} delivered")
                what = f"a write/read of s3://{w.backup_bucket} and table {w.metadata_table} in {secondary}"
                result = timeline.verify(lambda: s3_probe() and table_probe(), limit, dr_target.probe_interval_s,
                                         what=what)
            else:
                if failover is not None:
                    timeline.note_problem(f"failover {failover.action}: {failover.reason}")
                result = timeline.result()
            _stop(ledgers)
            # Read while the outage still holds: what the survivors hold is what a failover serves.
            survivors = [_survivor(dr_target, view, ledger) for view, ledger in pairs]
            assessments = [ledger.assess(client, fault_mark, resource=resource)
                           for ledger, (client, resource, _) in zip(ledgers, survivors)]
            truths = [_unreplicated(dr_world_client, view, ledger) for view, ledger in pairs]
    finally:
        _stop(ledgers)

    phases = [m.to_json() for m in result.phases]
    canaries = {_label(ledger): dict(ledger.evidence()) for ledger in ledgers}
    workload_name = f"workload {w.spec.project}-{w.spec.environment} ({primary} -> {secondary})"
    record = result.to_record(
        objectives.rto, scenario=SCENARIO, resource=workload_name, tier=tier, target=dr_target, check=RTO,
        evidence={"fault": fault.id, "effect": effect.evidence(), "canaries": canaries,
                  "observer": getattr(workload_target, "principal", "the workload's clients"),
                  "detected_by": health[-1].to_json() if health else None,
                  "failover": None if failover is None else {
                      "run_id": failover.run_id, "action": failover.action, "success": failover.success,
                      "stack_action": failover.stack.action if failover.stack else None,
                      "stack_actions": {stack.stack: stack.action for stack in failover.stacks},
                      "notice_verified": failover.notice_verified, "failover_seconds": failover.failover_seconds}},
    )
    if not took:
        record = replace(record, verdict="error", reason=OUTAGE_DID_NOT_TAKE.format(
            detail=_why_not_taken(effect, failover, seen), region=primary))
    rto = dr_keep(record)
    assert took, rto.reason
    rpos = []
    for ledger, assessment, truth, (_, _, store_tier) in zip(ledgers, assessments, truths, survivors):
        record = assessment.to_record(objectives_for(w, store_tier).rpo, scenario=SCENARIO, tier=store_tier,
                                      target=dr_target, check=RPO.format(store=ledger.store.store))
        evidence = {**record.evidence, "phases": phases, "canaries": canaries[_label(ledger)],
                    **_truth_evidence(assessment, truth)}
        rpos.append(dr_keep(replace(record, evidence=evidence)))

    settled = _settled(settle_replication, limit, pairs)
    still = fault.id in fault_backend.active_ids()
    after = check_primary_health(workload_target, w, health_timeout)
    caught_up = {ledger.store.store: ledger.assess(client, utc_now(), resource=resource).lost_writes
                 for ledger, (client, resource, _) in zip(ledgers, survivors)}
    steady = dr_record.compliance(
        check=STEADY_STATE, resource=f"region {primary}", tier=tier, scenario=SCENARIO, kind="self-check",
        ok=not still and settled and after.healthy and not any(caught_up.values()),
        expected="outage reverted, primary healthy for the workload, every acknowledged canary replicated",
        actual=(f"fault {'still injected' if still else 'reverted'}, "
                f"replication {'settled' if settled else 'not settled'}, {after.summary()}, "
                f"canaries missing from the survivors: {caught_up}"),
    )

    assert failover.action == "failover_initiated" and failover.success, failover.reason
    assert rto.verdict == "pass", rto.reason
    for record, assessment, truth in zip(rpos, assessments, truths):
        assert record.verdict == "pass", record.reason
        if truth is not None:
            assert set(assessment.lost_sequences) == truth, (
                f"{record.resource}: lost canaries {assessment.lost_sequences} differ from the world's unreplicated "
                f"{sorted(truth)}")
        assert not assessment.unacknowledged_present, f"{record.resource}: canaries present though their write failed"
    assert steady.verdict == "pass", steady.reason


def test_rpo_measurement_detects_the_loss_of_paused_replication(dr_target, dr_workload, workload_target, dr_fault,
                                                               fault_took, dr_world_client, settle_replication,
                                                               dr_record):
    """Pause replication, then lose the region: the data-loss window covers the pause and misses a tightened RPO."""
    w = dr_workload
    primary, secondary = w.primary_region, w.secondary_region
    pairs = _ledgers(workload_target, w, every=False)  # the pause names one bucket and one table: the first's
    ledgers = [ledger for _, ledger in pairs]
    timeline = Timeline.start(f"region outage {primary} after a replication pause")
    for ledger in ledgers:
        ledger.start()
    try:
        _warm_up(ledgers)
        with dr_fault("replication-pause", {"bucket": w.data_bucket, "table": w.metadata_table,
                                           "region": secondary}) as paused:
            pause = fault_took(paused, scenario=SCENARIO, tier=w.spec.bucket.tier)
            assert pause.took, f"replication-pause {paused.id} did not take: {pause.detail}; nothing measured"
            paused_at = time.monotonic()  # from the moment the pause is known to hold, not from the request
            held = wait_until(lambda: all(_acknowledged(ledger, paused_at) >= PAUSED_CANARIES for ledger in ledgers),
                              wait_limit(dr_target, 600.0, 10.0), 0.02,
                              what=f"{PAUSED_CANARIES} canaries per store written while replication is paused")
            assert held.ok, held.reason
            with dr_fault("region-outage", {"region": primary}) as outage:
                fault_mark = timeline.mark(FAULT_INJECTED, f"{outage.id}: {outage.params.summary()}")
                down = fault_took(outage, scenario=SCENARIO, tier=w.spec.bucket.tier)
                assert down.took, f"region-outage {outage.id} did not take: {down.detail}; nothing measured"
                _stop(ledgers)
                survivors = [_survivor(dr_target, view, ledger) for view, ledger in pairs]
                assessments = [ledger.assess(client, fault_mark, resource=resource)
                               for ledger, (client, resource, _) in zip(ledgers, survivors)]
                truths = [_unreplicated(dr_world_client, w, ledger) for ledger in ledgers]
    finally:
        _stop(ledgers)
    limit = wait_limit(dr_target, objectives_for(w, w.spec.bucket.tier).rpo.limit)
    settled = _settled(settle_replication, limit, pairs)

    injected_s = fault_mark.monotonic_seconds - paused_at
    for ledger, assessment, truth, (_, resource, store_tier) in zip(ledgers, assessments, truths, survivors):
        store = ledger.store.store
        tightened = replace(objectives_for(w, store_tier).rpo, limit=TIGHT_RPO_S, source=(
            f"tier {store_tier} RPO tightened to {TIGHT_RPO_S:g} s, below the {injected_s:.3f} s pause"))
        # The record the suite would write under that objective; it is kept as evidence, not written, because a
        # failing verdict is the expected outcome here.
        would_be = assessment.to_record(tightened, scenario=SCENARIO, tier=store_tier, target=dr_target,
                                        check=RPO.format(store=store))
        failing_reason = f"{store} {resource} ({secondary}): {would_be.reason}"
        lost = set(assessment.lost_sequences)
        window = assessment.data_loss_window_seconds
        # Live there is no ground truth: every canary acknowledged during the pause must be among the lost.
        expected = truth if truth is not None else {c.seq for c in ledger.canaries()
                                                    if c.acknowledged and paused_at < c.written_monotonic
                                                    < fault_mark.monotonic_seconds}
        covers = lost == truth if truth is not None else expected <= lost
        detected = (would_be.verdict == "fail" and window is not None and window >= injected_s and covers
                    and len(lost) >= PAUSED_CANARIES)
        record = dr_record.measure(
            check=DETECTS_LOSS.format(store=store), scenario=SCENARIO, resource=f"{store} {resource} ({secondary})",
            tier=store_tier, metric="data_loss_window", value=window, unit="s", kind="self-check",
            objective=Objective("data_loss_window", injected_s, "s", ">=", "the replication pause held before the outage"),
            verdict="pass" if detected else "fail",
            reason=(f"{'detected' if detected else 'missed'}: {assessment.lost_writes} canaries lost "
                    f"({'the world held ' + str(len(truth)) if truth is not None else str(len(expected)) + ' acknowledged during the pause'}), "
                    f"window {window if window is None else f'{window:.3f}'} s over a "
                    f"{injected_s:.3f} s pause; under the tightened objective: {failing_reason}"),
            evidence={**would_be.evidence, "pause_fault": paused.id, "outage_fault": outage.id,
                      "pause_effect": pause.evidence(), "outage_effect": down.evidence(),
                      "injected_window_seconds": injected_s, "tightened_objective_seconds": TIGHT_RPO_S,
                      "tightened_verdict": would_be.verdict, "tightened_reason": failing_reason,
                      **_truth_evidence(assessment, truth)},
        )
        assert would_be.verdict == "fail", f"a {injected_s:.3f} s pause passed a {TIGHT_RPO_S:g} s RPO: {would_be.reason}"
        assert resource in failing_reason and "misses the objective" in failing_reason, failing_reason
        assert record.verdict == "pass", record.reason
    assert settled, f"replication did not catch up within {limit:g} s after the faults were reverted"
