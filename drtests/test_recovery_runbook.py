"""Quarterly: the recovery runbook after a region outage. Each type completes and ends with a consistency verdict.

The primary's replicated objects and table items are listed while it is up (the source listing), then
the primary region goes down for the whole module. `full`, `partial` and `data-only` each run against
the secondary region; every step is timed and recorded, and the verification step compares what now
serves with the listing, since the primary cannot answer. The outage is reverted at the end,
replication is left caught up and the DR stack is put back to pilot light.

Live, the outage is the IAM deny on the workload's role (`[live].api_fault_roles`): whether the primary
still answers is asked as that role (the runbook's observer), while the recovery itself runs with the
harness's permissions in the secondary region.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from drharness.errors import ProcedureError
from drharness.faults import InjectedFault, Journal, injected, revert_pending
from drharness.procedures.health import DEFAULT_TIMEOUT_S
from drharness.results.objectives import objectives_for
from drharness.procedures import KINDS, Runbook, SourceListing, capture_source_listing
from drharness.results import ResultSink
from drtests._support import restore_limit, wait_limit
from drharness.pytest_plugin.fixtures import SETTLE_STORES

pytestmark = [pytest.mark.quarterly, pytest.mark.critical, pytest.mark.recovery]

RUN = "recover-{kind}"
# The runbook probes the primary before it falls back on the listing; a dead region answers nothing.
PRIMARY_TIMEOUT_S = 1.0
SETTLE_LIMIT_S = 600.0  # live: how long replication may take to catch up (offline the world caps it)


class _TestSink(ResultSink):
    """The session's sink, stamping this test's id on what a procedure writes and listing it in the test's report."""

    def __init__(self, recorder):
        inner = recorder.sink
        super().__init__(inner.directory.parent.parent, run=inner.run_id, source=inner.source)
        self._recorder = recorder

    def write_record(self, record):
        path, stamped = self._recorder.sink.write_record(replace(record, test_id=record.test_id or self._recorder.test_id))
        self._recorder.records.append(stamped)
        return path, stamped


@dataclass(frozen=True)
class Outage:
    """The primary region down, and what was known of it before."""

    fault: InjectedFault
    listing: SourceListing
    directory: Path


@pytest.fixture(scope="module")
def primary_down(dr_target, dr_workload, fault_backend, fault_effect, settle_replication, workload_data, pilot_light,
                 tmp_path_factory):
    """The primary region down for the module, listed first while it was up; reverted, and replication settled, at the end.

    `workload_data` is the session's seed batch: a fresh world holds no workload data to recover.
    """
    w = dr_workload
    directory = tmp_path_factory.mktemp("recovery-runbook")
    limit = wait_limit(dr_target, SETTLE_LIMIT_S)
    # Every write applied to the replicas first: the listing is then exactly what the replicas must hold.
    assert all(settle_replication(limit, store) for store in SETTLE_STORES), f"replication did not settle within {limit:g} s"
    listing = capture_source_listing(dr_target, w, directory / "listings")
    assert listing.object_count and listing.item_count, listing.describe()
    journal = Journal(directory / "fault-journal")
    try:
        with injected(fault_backend, "region-outage", {"region": w.primary_region}, journal) as fault:
            effect = fault_effect(fault)
            assert effect.took, f"region-outage {fault.id} did not take: {effect.detail}; no recovery was run"
            yield Outage(fault, listing, directory)
    finally:
        revert_pending(journal, live_backend=lambda ref: fault_backend)
        for store in SETTLE_STORES:
            settle_replication(limit, store)


@pytest.mark.parametrize("kind", list(KINDS))
def test_runbook_recovers_from_a_region_outage(kind, primary_down, dr_target, dr_workload, workload_target, dr_record):
    """Run one recovery type with the primary down: every step done and timed, the consistency verdict a pass."""
    w = dr_workload
    rto = objectives_for(w, w.spec.compute.tier).rto
    runbook = Runbook(
        dr_target, w, state_dir=primary_down.directory / "runbook", listing=primary_down.listing,
        listing_dir=primary_down.directory / "listings", sink=_TestSink(dr_record), source="pytest",
        stack_timeout_s=wait_limit(dr_target, rto.limit), services_timeout_s=wait_limit(dr_target, rto.limit),
        restore_timeout_s=restore_limit(dr_target, rto.limit),
        primary_timeout_s=PRIMARY_TIMEOUT_S if dr_target.name == "offline" else DEFAULT_TIMEOUT_S,
        observer=workload_target,
    )
    try:
        outcome = runbook.run(kind)
    except ProcedureError as exc:
        record = dr_record.error(check=RUN.format(kind=kind), resource=f"workload {w.spec.project}-{w.spec.environment}",
                                 reason=f"recovery {kind} with {w.primary_region} down: {exc}")
        pytest.fail(record.reason)
    records = outcome.records
    steps = {r.evidence["step"]: r for r in records if r.metric == "step_seconds"}
    run = next(r for r in records if r.check == RUN.format(kind=kind))
    consistency = [r for r in records if r.metric == "divergent_keys"]

    assert outcome.completed, [(s.name, s.status, s.error) for s in outcome.steps]
    assert [s.name for s in outcome.steps] == list(KINDS[kind])
    assert all(not s.skipped and s.duration_seconds is not None for s in outcome.steps), outcome.steps
    assert list(steps) == list(KINDS[kind]) and all(r.value is not None for r in steps.values()), list(steps)
    assert outcome.verification is not None and outcome.verification.reference == "listing", (
        f"verified against {outcome.verification.reference if outcome.verification else 'nothing'}, not the source "
        f"listing, though {w.primary_region} is down")
    assert outcome.consistency_verdict == "pass", outcome.verification.reason
    assert sorted(r.evidence["store"] for r in consistency) == ["dynamodb", "s3"], [r.check for r in consistency]
    assert all(r.verdict == "pass" for r in consistency), [r.reason for r in consistency if r.verdict != "pass"]
    assert run.verdict == "pass", run.reason
    assert not [r for r in records if r.verdict in ("fail", "error")], [r.reason for r in records if r.verdict != "pass"]
