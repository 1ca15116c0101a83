"""The recovery runbook against the offline world: each type after a region outage, resumable, refused when it must be."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drharness.cli import main
from drharness.config import Workload, load_workload
from drharness.deploy import deploy_workload
from drharness.errors import ProcedureError
from drharness.results.objectives import objectives_for
from drharness.procedures import recovery
from drharness.procedures.listing import SourceListing, capture_source_listing, read_listing
from drharness.procedures.recovery import BACKUP_BUCKET_MISSING, SERVING_BUCKET, TABLE_UNRECOVERABLE
from drharness.procedures.runbook import KIND_MISMATCH, KINDS, REFUSED, Runbook
from drharness.procedures.stack import TEMPLATE_MISSING, read_dr_stack, template_location
from drharness.procedures.steps import StepOutcome
from drharness.procedures.verification import NO_REFERENCE
from drharness.results import ResultSink
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World, WorldClient

pytestmark = pytest.mark.xdist_group("procedures-runbook")

# A backup bucket and a DR stack that were never deployed (and no template for the stack).
UNDEPLOYED = """
[bucket]
backup_name = "${project}-${environment}-backup-nowhere"
[backup]
selection = "${project}-${environment}-selection"
[table]
name = "${project}-${environment}-metadata-elsewhere"
[dr_stack]
name = "${project}-${environment}-dr-elsewhere"
template_key = "no-such-template.yaml"
"""
OBJECTS, ITEMS = 6, 4


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    control: WorldClient
    config: Path


@pytest.fixture(scope="module")
def module_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("runbook")
    config = tmp / "workload.toml"
    config.write_text("", encoding="utf-8")  # the defaults
    workload = load_workload(config)
    with World(workload.spec.offline, seed=23) as world:
        workload = workload.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        deploy_workload(target, workload)
        prefix = workload.spec.bucket.replication.prefix
        s3, ddb = target.client("s3", workload.primary_region), target.client("dynamodb", workload.primary_region)
        for i in range(OBJECTS):
            s3.put_object(Bucket=workload.data_bucket, Key=f"{prefix}doc-{i:03d}.npy", Body=f"vector {i}".encode())
        for i in range(ITEMS):
            ddb.put_item(TableName=workload.metadata_table,
                         Item={"pk": {"S": f"doc#{i}"}, "sk": {"S": "meta"}, "dims": {"N": "768"}, "raw": {"B": bytes([i, 255])}})
        yield Deployed(world, target, workload, WorldClient(world.endpoint), config)


@dataclass
class Case:
    d: Deployed
    tmp: Path
    listing: SourceListing

    @property
    def state_dir(self) -> Path:
        return self.tmp / "runbook"

    @property
    def listing_dir(self) -> Path:
        return self.tmp / "listings"

    def runbook(self, workload: Workload | None = None, **options: Any) -> Runbook:
        options = {"state_dir": self.state_dir, "listing_dir": self.listing_dir,
                   "sink": ResultSink(self.tmp / "reports", run="test"), **options}
        return Runbook(self.d.target, workload or self.d.workload, **options)

    def outage(self) -> None:
        self.d.control.inject("region-outage", {"region": self.d.workload.primary_region})


@pytest.fixture
def case(module_world: Deployed, tmp_path: Path) -> Case:
    """No fault, the DR resources off, replication settled, and a fresh listing of the primary."""
    d = module_world
    d.world.faults.revert_all()
    view = read_dr_stack(d.target, d.workload)
    if view.enabled:
        parameters = [{"ParameterKey": k, "UsePreviousValue": True} for k in view.parameters if k != view.enable_parameter]
        d.world.client("cloudformation", d.workload.secondary_region).update_stack(
            StackName=d.workload.dr_stack, UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
            Parameters=[*parameters, {"ParameterKey": view.enable_parameter, "ParameterValue": "false"}])
    assert d.world.settle(10)
    listing = capture_source_listing(d.target, d.workload, tmp_path / "listings")
    assert (listing.object_count, listing.item_count) >= (OBJECTS, ITEMS)
    return Case(d, tmp_path, listing)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_recovery_type_completes_after_a_region_outage_with_a_consistency_verdict(case: Case, kind: str) -> None:
    case.outage()
    outcome = case.runbook().run(kind)
    assert outcome.completed
    assert [s.name for s in outcome.steps] == list(KINDS[kind])
    assert all(s.status == "done" and not s.skipped for s in outcome.steps)
    workload = case.d.workload
    assert outcome.verification is not None and outcome.verification.reference == "listing"
    assert (outcome.consistency_verdict, outcome.verification.divergent_count) == ("pass", 0)
    assert {(r.store, r.compared_count) for r in outcome.verification.reports} == {
        ("s3", case.listing.object_count), ("dynamodb", case.listing.item_count)}
    assert outcome.serving is not None
    assert (outcome.serving.bucket, outcome.serving.table) == (workload.backup_bucket, workload.metadata_table)
    assert read_dr_stack(case.d.target, workload).enabled == ("infrastructure" in KINDS[kind])

    records = outcome.records
    steps = [r for r in records if r.metric == "step_seconds"]
    assert [r.evidence["step"] for r in steps] == list(KINDS[kind])
    assert all(r.verdict == "info" and r.value is not None for r in steps)
    consistency = [r for r in records if r.metric == "divergent_keys"]
    assert sorted((r.evidence["store"], r.verdict, r.value) for r in consistency) == [
        ("dynamodb", "pass", 0.0), ("s3", "pass", 0.0)]
    run = records[-1]
    rto = objectives_for(workload, "critical").rto
    assert (run.metric, run.verdict, run.objective, run.target) == ("recovery_seconds", "pass", rto.limit, "offline")
    assert run.value == pytest.approx(sum(s.duration_seconds or 0 for s in outcome.steps))
    assert run.value == outcome.recovery_seconds == pytest.approx(sum(s.total_seconds for s in outcome.steps))
    state = json.loads(outcome.state_path.read_text()) if outcome.state_path else {}
    assert [s["status"] for s in state["steps"]] == ["done"] * len(KINDS[kind])


def test_a_write_that_never_replicated_fails_the_verdict(case: Case) -> None:
    workload = case.d.workload
    case.d.control.inject("replication-pause", {"bucket": workload.data_bucket})
    key = f"{workload.spec.bucket.replication.prefix}late-write.npy"
    case.d.target.client("s3", workload.primary_region).put_object(Bucket=workload.data_bucket, Key=key, Body=b"late")
    listing = capture_source_listing(case.d.target, workload, case.listing_dir)
    case.outage()
    outcome = case.runbook(listing=listing.path).run("data-only")
    assert outcome.completed and outcome.consistency_verdict == "fail"
    (s3,) = [r for r in outcome.verification.reports if r.store == "s3"] if outcome.verification else []
    assert (s3.missing_count, s3.first_missing) == (1, (key,))
    (record,) = [r for r in outcome.records if r.metric == "divergent_keys" and r.evidence["store"] == "s3"]
    assert (record.verdict, record.value) == ("fail", 1.0)


def test_with_the_primary_up_the_replicas_are_compared_with_it(case: Case) -> None:
    outcome = case.runbook().run("data-only")
    assert outcome.verification is not None and outcome.verification.reference == "primary"
    assert outcome.consistency_verdict == "pass"


def test_without_any_reference_the_verdict_is_an_error_that_says_so(case: Case) -> None:
    case.outage()
    outcome = case.runbook(listing_dir=case.tmp / "empty").run("data-only")
    assert outcome.completed and outcome.consistency_verdict == "error"
    prefix = NO_REFERENCE.format(region=case.d.workload.primary_region, why="\0").split("\0")[0]
    assert outcome.verification is not None and outcome.verification.reason.startswith(prefix)
    (record,) = [r for r in outcome.records if r.metric == "divergent_keys"]
    assert (record.verdict, record.value) == ("error", None)


def test_an_interrupted_run_resumes_without_repeating_finished_steps(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    originals = {name: getattr(recovery, name) for name in ("recover_data", "recover_infrastructure", "recover_services")}

    def spy(name: str) -> Any:
        def step(ctx: recovery.RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
            calls.append(name)
            return originals[name](ctx, facts)  # type: ignore[no-any-return]
        return step

    def interrupted(ctx: recovery.RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
        calls.append("recover_services")
        raise KeyboardInterrupt

    for name in ("recover_data", "recover_infrastructure"):
        monkeypatch.setattr(recovery, name, spy(name))
    monkeypatch.setattr(recovery, "recover_services", interrupted)
    case.outage()
    runbook = case.runbook()
    with pytest.raises(KeyboardInterrupt):
        runbook.run("full", run_id="20300101T000000Z-abc123")
    saved = json.loads((case.state_dir / "20300101T000000Z-abc123.json").read_text())
    assert [(s["name"], s["status"]) for s in saved["steps"]] == [
        ("data", "done"), ("infrastructure", "done"), ("services", "failed"), ("verification", "pending")]
    assert saved["facts"][SERVING_BUCKET] == case.d.workload.backup_bucket

    # Meanwhile someone switched the DR compute off: the resumed services step must switch it on.
    compute = read_dr_stack(case.d.target, case.d.workload).outputs["ComputeEnvironment"]
    batch = case.d.target.client("batch", case.d.workload.secondary_region)
    batch.update_compute_environment(computeEnvironment=compute, state="DISABLED")
    monkeypatch.setattr(recovery, "recover_services", spy("recover_services"))
    outcome = runbook.run("full", resume="20300101T000000Z-abc123")
    assert calls == ["recover_data", "recover_infrastructure", "recover_services", "recover_services"]
    assert [(s.name, s.skipped) for s in outcome.steps] == [
        ("data", True), ("infrastructure", True), ("services", False), ("verification", False)]
    services = next(s for s in outcome.steps if s.name == "services")
    assert services.attempts == 2 and "compute environment" in services.detail and "enabled" in services.detail
    assert batch.describe_compute_environments(computeEnvironments=[compute])["computeEnvironments"][0]["state"] == "ENABLED"
    assert outcome.completed and outcome.consistency_verdict == "pass"
    # This invocation recorded only the steps it ran, then the whole run.
    assert [r.evidence.get("step") for r in outcome.records if r.metric == "step_seconds"] == ["services", "verification"]
    assert outcome.records[-1].evidence["invocations"] == 2

    with pytest.raises(ProcedureError) as info:
        runbook.run("partial", resume="20300101T000000Z-abc123")
    assert str(info.value) == KIND_MISMATCH.format(run_id="20300101T000000Z-abc123", recorded="full", kind="partial")


def test_a_failing_step_stops_the_run_with_how_to_resume(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: recovery.RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
        raise RuntimeError("CloudFormation is having a bad day")

    monkeypatch.setattr(recovery, "recover_infrastructure", broken)
    with pytest.raises(ProcedureError) as info:
        case.runbook().run("partial", run_id="20300101T000000Z-def456")
    assert "stopped in step infrastructure" in str(info.value)
    assert "drharness recover partial --resume 20300101T000000Z-def456" in str(info.value)


def test_recovery_seconds_count_every_attempt_of_a_retried_step(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    original = recovery.recover_services

    def slow_then_failing(ctx: recovery.RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
        original(ctx, facts)  # the work is done (and takes its time), then the step gives up
        raise RuntimeError("timed out waiting for the compute environment")

    case.outage()
    runbook = case.runbook()
    monkeypatch.setattr(recovery, "recover_services", slow_then_failing)
    with pytest.raises(ProcedureError):
        runbook.run("partial", run_id="20300101T000000Z-aaa111")
    saved = {s["name"]: s for s in json.loads((case.state_dir / "20300101T000000Z-aaa111.json").read_text())["steps"]}
    failed_seconds = saved["services"]["duration_seconds"]
    assert saved["services"]["status"] == "failed" and failed_seconds > 0
    assert saved["services"]["total_seconds"] == failed_seconds

    monkeypatch.setattr(recovery, "recover_services", original)
    outcome = runbook.run("partial", resume="20300101T000000Z-aaa111")
    assert outcome.completed
    services = next(s for s in outcome.steps if s.name == "services")
    assert services.attempts == 2 and services.duration_seconds is not None
    # The failed attempt counts against the RTO, not only the retry that succeeded.
    assert services.total_seconds == pytest.approx(failed_seconds + services.duration_seconds)
    last_attempts = sum(s.duration_seconds or 0 for s in outcome.steps)
    assert outcome.recovery_seconds == pytest.approx(sum(s.total_seconds for s in outcome.steps))
    assert outcome.recovery_seconds is not None and outcome.recovery_seconds > last_attempts
    run = outcome.records[-1]
    assert (run.metric, run.value) == ("recovery_seconds", outcome.recovery_seconds)
    (step,) = [s for s in run.evidence["steps"] if s["name"] == "services"]
    assert (step["attempts"], step["total_seconds"]) == (2, pytest.approx(services.total_seconds))


def test_a_failed_precondition_refuses_before_any_change(case: Case, tmp_path: Path) -> None:
    config = tmp_path / "undeployed.toml"
    config.write_text(UNDEPLOYED, encoding="utf-8")
    workload = load_workload(config).with_account(case.d.world.account_id)
    before = len(case.d.control.requests(mutating_only=True))
    with pytest.raises(ProcedureError) as info:
        case.runbook(workload).run("full")
    bucket, key = template_location(workload)
    message = str(info.value)
    assert message.startswith(REFUSED.format(kind="full", problems=""))
    assert BACKUP_BUCKET_MISSING.format(bucket=workload.backup_bucket, region=workload.secondary_region) in message
    assert TEMPLATE_MISSING.format(bucket=bucket, key=key, region=workload.secondary_region, stack=workload.dr_stack) in message
    table = TABLE_UNRECOVERABLE.format(table=workload.metadata_table, secondary=workload.secondary_region,
                                       primary=workload.primary_region, why="\0")
    assert table.split("\0")[0] in message and table.split("\0")[1] in message
    assert not case.state_dir.exists()
    assert case.d.control.requests(mutating_only=True)[before:] == []


def test_dry_run_plans_without_state_or_change(case: Case) -> None:
    case.outage()
    before = len(case.d.control.requests(mutating_only=True))
    outcome = case.runbook().run("full", dry_run=True)
    assert (outcome.dry_run, outcome.refusals, outcome.records, outcome.state_path) == (True, (), (), None)
    assert [line.split(":")[0] for line in outcome.plan] == list(KINDS["full"])
    assert not case.state_dir.exists()
    assert case.d.control.requests(mutating_only=True)[before:] == []


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_recover_and_capture_listing_commands(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--endpoint", case.d.world.endpoint, "--config", str(case.d.config), "--listing-dir", str(case.listing_dir)]
    code, out, _ = cli(["capture-listing", *common], capsys)
    assert code == 0
    saved = out.strip().splitlines()[-1].split("saved: ", 1)[1]
    assert read_listing(Path(saved)).object_count == case.listing.object_count
    case.outage()
    code, out, err = cli(["recover", "partial", *common, "--state-dir", str(case.state_dir),
                          "--reports", str(case.tmp / "reports")], capsys)
    assert code == 0, out + err
    assert "consistency: pass" in out and "infrastructure" in out
    assert case.d.workload.account_id not in out  # bucket names carry it; the console masks it
    code, _, err = cli(["recover", "sideways", *common], capsys)
    assert code == 2 and "sideways" in err


def test_with_no_replica_the_table_is_restored_as_of_its_latest_restorable_time_and_says_so(case: Case) -> None:
    # DynamoDB's latest restorable time trails the present: a restore to it holds nothing written after
    # it, and the runbook says where that point is (the world's window trails by the workload's offline lag).
    d, w = case.d, case.d.workload
    primary = d.target.client("dynamodb", w.primary_region)
    primary.update_table(TableName=w.metadata_table, ReplicaUpdates=[{"Delete": {"RegionName": w.secondary_region}}])
    ctx = recovery.RecoveryContext(d.target, w, "run-pitr", "data-only", 30.0, 30.0, 30.0, 5.0, None,
                                   case.listing_dir, ())
    secondary = d.target.client("dynamodb", w.secondary_region)
    try:
        asked = d.world.now()
        facts, detail = recovery._serve_table(ctx)
        done = d.world.now()
        assert facts[recovery.TABLE_SOURCE] == "pitr-restore", facts
        point = dt.datetime.fromisoformat(facts[recovery.TABLE_RESTORE_POINT]).timestamp()
        lag = w.spec.offline.pitr_latest_lag_seconds
        assert lag > 0 and asked - lag - 0.01 <= point <= done - lag + 0.01, (asked, done, point, lag)
        assert f"writes after {facts[recovery.TABLE_RESTORE_POINT]} are not in it" in detail
    finally:
        restored = recovery.restored_table_name(w.metadata_table, "run-pitr")
        if restored in secondary.list_tables()["TableNames"]:
            secondary.delete_table(TableName=restored)
        primary.update_table(TableName=w.metadata_table, ReplicaUpdates=[{"Create": {"RegionName": w.secondary_region}}])
        assert d.world.settle(10)
