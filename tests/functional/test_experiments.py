"""The game-day experiments, run as `chaos run` runs them: offline with no edit, deviating, interrupted, discovered."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drharness.chaos import actions, probes, recovery
from drharness.chaos.control import EXPERIMENT_TAG
from drharness.chaos.records import ALL_REVERTED
from drharness.cli.world import ENDPOINT_LINE
from drharness.faults import Journal
from drharness.instruments.lag import TIMEOUTS
from drharness.results import ResultRecord, read_records
from drharness.waiting import wait_until

BIN = Path(sys.executable).parent
CHAOS, DRHARNESS = str(BIN / "chaos"), str(BIN / "drharness")
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
NAMES = sorted(p.stem for p in EXPERIMENTS.glob("*.json"))
SCENARIOS = {"az-outage": "az", "region-failover": "region", "service-degradation": "service",
             "replication-pause": "replication", "data-corruption": "data_corruption", "security-isolation": "security"}
RUN_TIMEOUT_S = 240.0
JUDGED_CHECKS = {"data-corruption": ("restore:dynamodb-pitr", "consistency:repaired-vs-before-fault"),
                 "security-isolation": ("credential:key-works", "credential:key-refused", "rto:credential-isolation")}
ENDPOINT = re.compile("^" + re.escape(ENDPOINT_LINE).replace(re.escape("{endpoint}"), r"(http://127\.0\.0\.1:\d+)") + "$")
# Offline runs spend much of their time waiting on the world: three at a time fit two cores.
PARALLEL_RUNS = 3

# One worker runs them all: each worker would otherwise start every offline run of the module fixture.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("chaos-experiments")]


@dataclass(frozen=True)
class ChaosRun:
    name: str
    returncode: int
    output: str
    reports: Path
    journal: dict[str, Any]

    def records(self) -> list[ResultRecord]:
        return read_records(self.reports)

    def record(self, check: str) -> ResultRecord:
        found = [r for r in self.records() if r.check == check]
        assert found, f"no record {check!r} in {[r.check for r in self.records()]}\n{self.output[-3000:]}"
        return found[-1]


def chaos_run(experiment: Path, workdir: Path, *args: str, env: dict[str, str] | None = None) -> ChaosRun:
    """`chaos run` in its own directory, records under workdir/reports, chaos's journal beside them."""
    workdir.mkdir(parents=True, exist_ok=True)
    reports = workdir / "reports"
    environment = {k: v for k, v in os.environ.items() if k not in ("DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_RUN_ID")}
    environment.update(DRHARNESS_REPORTS=str(reports), **(env or {}))
    done = subprocess.run([CHAOS, "run", str(experiment), "--journal-path", str(workdir / "journal.json"), *args],
                          cwd=workdir, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    journal_path = workdir / "journal.json"
    journal = json.loads(journal_path.read_text()) if journal_path.exists() else {}
    return ChaosRun(experiment.stem, done.returncode, done.stdout + done.stderr, reports, journal)


@pytest.fixture(scope="module")
def offline_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[ChaosRun]]]:
    """The selected experiments of experiments/, each started by `chaos run` in its own directory with no variable set."""
    root = tmp_path_factory.mktemp("offline")
    selected = [item.callspec.params["name"] for item in request.session.items
                if item.module is request.module and "name" in getattr(getattr(item, "callspec", None), "params", {})]
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        yield {name: pool.submit(chaos_run, EXPERIMENTS / f"{name}.json", root / name) for name in dict.fromkeys(selected)}


@pytest.fixture(autouse=True, scope="module")
def _start_offline_runs_first(offline_runs: dict[str, Future[ChaosRun]]) -> None:
    """The offline runs start with the module, so the tests on a served world overlap them."""


@pytest.fixture(scope="module")
def served_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`drharness world serve --deploy` in another process: its fault list can be read after `chaos` exits."""
    cwd = tmp_path_factory.mktemp("served")
    process = subprocess.Popen([DRHARNESS, "world", "serve", "--deploy", "--seed", "5"], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    endpoint: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = ENDPOINT.match(line.strip())
            if match:
                endpoint.append(match.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    outcome = wait_until(lambda: bool(endpoint) or process.poll() is not None, 120, 0.05, what="the world's endpoint")
    try:
        assert endpoint, f"{outcome.reason}: {''.join(lines)}"
        yield endpoint[0]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def world_faults(endpoint: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{endpoint}/_drharness/faults", timeout=10) as response:
        return list(json.loads(response.read())["faults"])


def fis_states(endpoint: str, experiment: str) -> list[str]:
    import boto3
    from botocore.config import Config

    fis = boto3.client("fis", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing", config=Config(account_id_endpoint_mode="disabled"))
    return [e["state"]["status"] for e in fis.list_experiments()["experiments"]
            if (e.get("tags") or {}).get(EXPERIMENT_TAG) == experiment]


def test_chaos_discover_lists_the_activities(tmp_path: Path) -> None:
    path = tmp_path / "discovery.json"
    done = subprocess.run([CHAOS, "discover", "drharness", "--no-system-info", "--no-install", "--discovery-path", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    discovery = json.loads(path.read_text())
    assert discovery["extension"]["name"] == "drharness"
    names = {(a["type"], a["name"]) for a in discovery["activities"]}
    assert names == ({("action", n) for n in (*actions.__all__, *recovery.__all__)}
                     | {("probe", n) for n in probes.__all__})


def test_a_pause_longer_than_a_tightened_objective_deviates_and_is_reverted(served_world: str, tmp_path: Path) -> None:
    run = chaos_run(EXPERIMENTS / "replication-pause.json", tmp_path, "--var", "max_lag_seconds:float=1",
                    "--var", "pause_duration=PT60S", env={"DRHARNESS_ENDPOINT": served_world})

    assert run.returncode == 1, run.output[-3000:]
    assert run.journal["deviated"] is True and run.journal["status"] == "completed"
    assert "Experiment ended with status: deviated" in run.output
    lag = run.record("replication-lag:s3")
    assert lag.verdict == "fail" and lag.objective == 1.0
    assert lag.reason.startswith(TIMEOUTS.format(timeouts=3, count=3, replica=lag.evidence["replica"], timeout=1.0))
    assert run.record("experiment:replication-pause").verdict == "fail"
    assert run.record("revert").verdict == "pass"
    assert world_faults(served_world) == []
    assert fis_states(served_world, "replication-pause")[-1] == "stopped"  # 60 s were asked for; it ended at once


@pytest.mark.parametrize(("case", "signum"), [("fis-experiment", signal.SIGINT), ("journaled-fault", signal.SIGINT),
                                             ("journaled-fault", signal.SIGTERM)])
def test_a_signal_in_the_middle_of_the_method_leaves_no_fault_in_the_world(
    served_world: str, tmp_path: Path, case: str, signum: int,
) -> None:
    if case == "fis-experiment":
        # The pause would last a minute; rollbacks are switched off so only the control can end it.
        experiment = EXPERIMENTS / "replication-pause.json"
        args = ["--var", "pause_duration=PT60S", "--rollback-strategy", "never"]
    else:
        experiment = tmp_path / "hold.json"
        experiment.write_text(json.dumps({
            "version": "1.0.0", "title": "Hold a journaled fault", "description": "the method holds a fault for a minute",
            "extensions": [{"name": "drharness", "experiment": "hold-a-fault", "scenario": "replication"}],
            "configuration": {"drharness_endpoint": {"type": "env", "key": "DRHARNESS_ENDPOINT", "default": ""}},
            "controls": [{"name": "drharness", "provider": {"type": "python", "module": "drharness.chaos.control"}}],
            "method": [{"type": "action", "name": "pause-table-replication", "pauses": {"after": 60},
                        "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "pause_replication",
                                     "arguments": {"store": "dynamodb"}}}],
        }))
        args = []
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "DRHARNESS_RUN_ID")}
    env.update(DRHARNESS_ENDPOINT=served_world, DRHARNESS_REPORTS=str(reports))
    process = subprocess.Popen([CHAOS, "run", str(experiment), "--journal-path", str(tmp_path / "journal.json"), *args],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    journal_dir = reports / "journals" / "hold-a-fault.faults"

    def in_place() -> bool:
        if case == "journaled-fault":  # injected and recorded active: the action is over, the method goes on
            return any(r.status == "active" for r in Journal(journal_dir).records())
        return bool(world_faults(served_world))

    try:
        injected = wait_until(lambda: in_place() or process.poll() is not None, 120, 0.02,
                              what="the method's fault to be in the world")
        assert injected.ok and process.poll() is None, injected.reason
        assert world_faults(served_world)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted", output[-3000:]
    assert world_faults(served_world) == []
    revert = [r for r in read_records(reports) if r.check == "revert"]
    assert [r.verdict for r in revert] == ["pass"]
    assert revert[0].reason == ALL_REVERTED.format(count=len(revert[0].evidence["reverted"]))
    assert revert[0].evidence["reverted"]  # the control reverted it, not the method
    if case == "fis-experiment":
        assert fis_states(served_world, "replication-pause")[-1] == "stopped"


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_runs_offline_and_completes_with_its_measurements(
    name: str, offline_runs: dict[str, Future[ChaosRun]],
) -> None:
    run = offline_runs[name].result(timeout=RUN_TIMEOUT_S * 2)

    assert run.returncode == 0, run.output[-4000:]
    assert run.journal["status"] == "completed" and run.journal["deviated"] is False
    assert all(r["status"] == "succeeded" for r in run.journal["run"]), run.output[-4000:]
    records = run.records()
    assert {r.source for r in records} == {"chaos"} and {r.target for r in records} == {"offline"}
    measured = [r for r in records if r.objective is not None and r.check not in ("revert",)]
    assert measured, "an experiment measures something against an objective"
    assert all(r.verdict == "pass" for r in measured), [(r.check, r.reason) for r in measured if r.verdict != "pass"]
    assert {r.scenario for r in records if r.metric in ("activity_seconds", "experiment_status")} == {SCENARIOS[name]}
    assert run.record(f"experiment:{name}").verdict == "pass"
    assert run.record("revert").value == 0.0
    for check in JUDGED_CHECKS.get(name, ()):  # the steps that make the scenario's point are measured, not just run
        assert run.record(check).verdict == "pass" and run.record(check).objective is not None
    activities = [r for r in records if r.metric == "activity_seconds"]
    journal_runs = (len(run.journal["steady_states"]["before"]["probes"]) + len(run.journal["run"])
                    + len(run.journal["steady_states"]["after"]["probes"]) + len(run.journal["rollbacks"]))
    assert len(activities) == journal_runs
    saved = json.loads((run.reports / "journals" / f"{name}.json").read_text())
    assert saved["status"] == "completed" and saved["drharness"]["left_active"] == []
    [result] = [json.loads(p.read_text()) for p in (run.reports / "allure-results").glob("*-result.json")]
    assert result["status"] == "passed" and result["fullName"] == f"drharness.chaos.{name}"
