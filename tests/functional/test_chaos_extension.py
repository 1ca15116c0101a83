"""The Chaos Toolkit extension in-process: discovery, the control's guaranteed revert, records, references."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chaoslib.activity import ensure_activity_is_valid
from chaoslib.exceptions import InterruptExecution

import drharness
from drharness.chaos import actions, control, probes, recovery, runtime
from drharness.config import load_workload
from drharness.errors import ConfigError, SafetyError
from drharness.faults import Journal, OfflineFaultBackend, inject
from drharness.results import RUN_ID_ENV, ResultRecord, read_records
from drharness.world import World

EXPERIMENT = {
    "title": "unit run",
    "description": "in-process",
    "extensions": [{"name": "drharness", "experiment": "unit-run", "scenario": "replication", "tier": "critical"}],
}


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(RUN_ID_ENV, raising=False)  # the control exports one; keep it out of other tests
    for key in ("AWS_ENDPOINT_URL", "DRHARNESS_ENDPOINT", "DRHARNESS_JOURNAL"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path / "reports"


@pytest.fixture
def configuration(world: World, reports: Path) -> Iterator[dict[str, Any]]:
    """The configuration of a run attached to the test's world; whatever the test leaves open is closed."""
    cfg: dict[str, Any] = {"drharness_endpoint": world.endpoint, "drharness_reports": str(reports)}
    yield cfg
    control.cleanup_control()
    runtime.refuse(None)
    assert runtime.active() is None


def journal_of(status: str, deviated: bool = False) -> dict[str, Any]:
    """A Chaos Toolkit journal with one method action, as chaoslib hands it to the after-control."""
    run = {"activity": {"type": "action", "name": "pause-table-replication",
                        "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "pause_replication"}},
           "status": "succeeded", "output": {"id": "x"}, "start": "2026-01-01T00:00:00+00:00",
           "end": "2026-01-01T00:00:01+00:00", "duration": 1.0}
    return {"experiment": EXPERIMENT, "status": status, "deviated": deviated, "duration": 2.0, "run": [run],
            "steady_states": {"before": None, "after": None, "during": []}, "rollbacks": []}


def snippet_of(doc: str) -> dict[str, Any]:
    """The experiment snippet a docstring carries (the indented JSON object)."""
    start = doc.index("{")
    return json.loads(textwrap.dedent(doc[start:]))


def test_discover_lists_every_activity_with_a_portable_signature_and_a_valid_snippet() -> None:
    discovery = drharness.discover(discover_system=False)
    found = {(a["mod"], a["name"]): a for a in discovery["activities"]}
    modules = {"drharness.chaos.actions": actions, "drharness.chaos.recovery": recovery, "drharness.chaos.probes": probes}
    expected = {(name, n) for name, module in modules.items() for n in module.__all__}
    assert set(found) == expected
    for (module, name), activity in found.items():
        assert activity["type"] == ("probe" if module.endswith("probes") else "action")
        first_line = activity["doc"].splitlines()[0]
        assert first_line.endswith(".") and first_line[0].isupper(), f"{name}: {first_line!r}"
        # Every argument has a type discovery can name: no string annotations, no opaque objects.
        assert all(arg.get("type") not in (None, "object") for arg in activity["arguments"]), (name, activity["arguments"])
        snippet = snippet_of(activity["doc"])
        assert snippet["provider"]["module"] == module and snippet["provider"]["func"] == name
        ensure_activity_is_valid(snippet)  # the arguments bind to the signature, as `chaos validate` checks
        function = getattr(modules[module], name)
        assert list(inspect.signature(function).parameters)[-1] == "configuration"


@pytest.mark.e2e
def test_the_core_never_imports_chaoslib() -> None:
    code = ("import sys, drharness, drharness.faults, drharness.world, drharness.session, drharness.instruments, "
            "drharness.procedures.failover, drharness.reporting.allure, drharness.cli; "
            "drharness.cli._register(); sys.exit(1 if 'chaoslib' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_an_interrupted_run_reverts_every_fault_and_writes_its_records(
    world: World, configuration: dict[str, Any], reports: Path,
) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    workload = load_workload()
    assert configuration["data_bucket"] == workload.with_account(world.account_id).data_bucket
    assert configuration["aws_region"] == workload.primary_region
    assert os.environ["AWS_ENDPOINT_URL"] == world.endpoint  # chaostoolkit-aws reaches the world

    paused = actions.pause_replication(store="dynamodb", configuration=dict(configuration))
    throttled = actions.inject_service_fault("s3", "PutObject", "throttle", configuration=dict(configuration))
    assert {f.id for f in world.faults.active()} == {paused["id"], throttled["id"]}
    assert probes.active_faults(configuration=dict(configuration))["count"] == 2

    control.after_experiment_control(EXPERIMENT, state=journal_of("interrupted"), configuration=configuration)

    assert world.faults.active() == []
    assert runtime.active() is None
    assert "AWS_ENDPOINT_URL" not in os.environ
    fault_journal = Journal(reports / "journals" / "unit-run.faults")
    assert {r.id for r in fault_journal.records()} == {paused["id"], throttled["id"]}
    assert not fault_journal.pending()
    records = {r.check: r for r in read_records(reports)}
    revert = records["revert"]
    assert (revert.verdict, revert.value) == ("pass", 0.0)
    assert revert.duration_seconds > 0.0  # the end-of-run revert is timed, not assumed instant
    assert set(revert.evidence["reverted"]) >= {paused["id"], throttled["id"]}
    experiment = records["experiment:unit-run"]
    assert experiment.verdict == "error" and experiment.reason.startswith("interrupted")
    assert records["method:pause-table-replication"].source == "chaos"
    assert {r.target for r in records.values()} == {"offline"}
    saved = json.loads((reports / "journals" / "unit-run.json").read_text())
    assert saved["status"] == "interrupted" and saved["drharness"]["left_active"] == []
    [result] = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    assert result["status"] == "broken"
    assert {"name": "parentSuite", "value": "Game days"} in result["labels"]
    assert [s["name"] for s in result["steps"]][0] == "method: pause-table-replication"


def test_cleanup_reverts_a_run_whose_after_control_never_ran(world: World, configuration: dict[str, Any]) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    actions.inject_az_outage("b", configuration=dict(configuration))
    assert world.faults.active()
    control.cleanup_control()
    assert world.faults.active() == []
    assert runtime.active() is None


@pytest.mark.e2e
def test_a_process_that_dies_on_sighup_reverts_on_its_way_out(world: World, configuration: dict[str, Any], reports: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from drharness.chaos import actions, control
        cfg = {json.dumps(configuration)}
        control.configure_control(configuration=cfg, secrets={{}}, experiment={json.dumps(EXPERIMENT)})
        actions.pause_replication(store="s3", configuration=dict(cfg))
        print("injected", flush=True)
        os.kill(os.getpid(), signal.SIGHUP)
        signal.pause()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert "injected" in done.stdout, done.stderr
    assert done.returncode != 0  # it died of the signal ...
    assert world.faults.active() == []  # ... and reverted on its way out
    assert not Journal(reports / "journals" / "unit-run.faults").pending()


def test_faults_a_killed_run_left_behind_are_reverted_before_the_next_run(
    world: World, configuration: dict[str, Any], reports: Path,
) -> None:
    journal = Journal(reports / "journals" / "unit-run.faults")
    left = inject(OfflineFaultBackend(world.endpoint), "region-outage", {"region": "eu-west-1"}, journal)
    assert journal.pending()
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    assert world.faults.get(left.id).reverted_at is not None
    assert not journal.pending()


def test_a_run_that_cannot_open_refuses_to_start(configuration: dict[str, Any]) -> None:
    configuration["drharness_target"] = "aws"  # no live opt-in
    with pytest.raises(SafetyError) as refused:
        control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    assert runtime.active() is None
    with pytest.raises(InterruptExecution) as interrupted:
        control.before_experiment_control(EXPERIMENT, configuration=configuration)
    assert str(interrupted.value) == control.NOT_STARTED.format(error=refused.value)
    # The rollback has nothing to undo, and says why instead of failing.
    assert actions.revert_all_faults(configuration=dict(configuration)) == {
        "reverted": [], "reason": runtime.NOT_OPENED.format(reason=refused.value)}


def test_workload_references_resolve_and_unknown_ones_are_refused(world: World, configuration: dict[str, Any]) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    fault = actions.inject_fault("replication-pause", {"bucket": "@data_bucket", "region": "@secondary_region"},
                                 configuration=dict(configuration))
    assert fault["params"] == {"bucket": configuration["data_bucket"], "region": configuration["secondary_region"]}
    with pytest.raises(ConfigError) as refused:
        actions.inject_fault("replication-pause", {"bucket": "@bucket"}, configuration=dict(configuration))
    assert str(refused.value) == runtime.UNKNOWN_REFERENCE.format(value="@bucket", where="replication-pause")


def test_objectives_met_judges_every_measurement_of_the_run(world: World, configuration: dict[str, Any]) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    assert probes.objectives_met(configuration=dict(configuration))["verdict"] == "pass"  # nothing measured, nothing missed
    assert probes.rpo_within_objective(required=True, configuration=dict(configuration))["verdict"] == "fail"
    run = runtime.active()
    assert run is not None

    def record(verdict: str, metric: str) -> ResultRecord:
        return ResultRecord(check=f"rto:{verdict}", scenario="replication", resource="r", tier="critical", target="offline",
                            metric=metric, value=1.0, unit="s", objective=10.0, comparison="<=", verdict=verdict,  # type: ignore[arg-type]
                            reason=f"{verdict} reason", started_at="2026-01-01T00:00:00+00:00", duration_seconds=0.0)

    run.record(record("pass", "rto"))
    assert probes.rto_within_objective(configuration=dict(configuration))["verdict"] == "pass"
    run.record(record("fail", "rto"))
    judged = probes.objectives_met(configuration=dict(configuration))
    assert judged["verdict"] == "fail" and judged["missed"][0]["reason"] == "fail reason"
    assert probes.rpo_within_objective(configuration=dict(configuration))["verdict"] == "pass"


def test_once_a_fault_went_in_nothing_measured_fails_the_objectives(world: World, configuration: dict[str, Any]) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    assert probes.rto_within_objective(configuration=dict(configuration))["verdict"] == "pass"  # no fault yet
    actions.pause_replication(store="dynamodb", configuration=dict(configuration))

    judged = probes.rto_within_objective(configuration=dict(configuration))

    assert (judged["verdict"], judged["measured"]) == ("fail", 0)
    assert judged["reason"] == probes.NOT_MEASURED_AFTER_FAULT.format(what="recovery times")
    assert probes.objectives_met(configuration=dict(configuration))["verdict"] == "fail"


def test_a_method_action_that_failed_makes_a_completed_experiment_an_error(
    world: World, configuration: dict[str, Any], reports: Path,
) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    journal = journal_of("completed")
    journal["run"][0].update(status="failed", exception=["Traceback ...", "FaultError: the world refused it"])

    control.after_experiment_control(EXPERIMENT, state=journal, configuration=configuration)

    experiment = {r.check: r for r in read_records(reports)}["experiment:unit-run"]
    assert experiment.verdict == "error"
    assert experiment.reason == "completed, but activities did not succeed: method:pause-table-replication failed"
    assert experiment.evidence["activities_not_succeeded"] == ["method:pause-table-replication failed"]


def test_the_compromised_key_probe_judges_what_it_expects(world: World, configuration: dict[str, Any]) -> None:
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    world.client("s3", configuration["primary_region"]).create_bucket(Bucket=configuration["data_bucket"])  # nothing deployed
    actions.compromise_credentials(configuration=dict(configuration))

    works = probes.compromised_key_works(expect="works", configuration=dict(configuration))
    refused = probes.compromised_key_works(expect="refused", configuration=dict(configuration))

    assert works["works"] and works["verdict"] == "pass"
    assert refused["verdict"] == "fail"  # the key was never isolated
    judged = {r.check: r for r in runtime.active().records}
    assert judged["credential:key-works"].objective is not None
    assert judged["credential:key-refused"].reason.endswith("found 1 of 1 key(s) read the data bucket")
    assert probes.objectives_met(configuration=dict(configuration))["verdict"] == "fail"
    with pytest.raises(ConfigError):
        probes.compromised_key_works(expect="maybe", configuration=dict(configuration))


def test_a_run_the_control_starts_deploys_its_world_and_the_runbook_recovers_into_it(reports: Path) -> None:
    configuration: dict[str, Any] = {"drharness_reports": str(reports)}
    control.configure_control(configuration=configuration, secrets={}, experiment=EXPERIMENT)
    try:
        run = runtime.active()
        assert run is not None and run.owns_world and run.session.deployed
        assert configuration["drharness_endpoint"] == run.target.endpoint_url
        actions.write_test_data("s3", 3, configuration=dict(configuration))
        assert probes.replicas_consistent("s3", configuration=dict(configuration))["verdict"] == "pass"
        actions.inject_region_outage(configuration=dict(configuration))

        outcome = recovery.run_runbook("data-only", configuration=dict(configuration))

        assert outcome["completed"] and [s["name"] for s in outcome["steps"]] == ["data", "verification"]
        judged = probes.rto_within_objective(required=True, configuration=dict(configuration))
        assert judged["verdict"] == "pass" and judged["results"][0]["check"] == "recover-data-only"
    finally:
        control.after_experiment_control(EXPERIMENT, state=journal_of("completed"), configuration=configuration)
    assert runtime.active() is None and run.session.world is None  # the world went with the run
    assert {r.check: r.verdict for r in read_records(reports)}["revert"] == "pass"
