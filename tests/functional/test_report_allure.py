"""`drharness report allure` end to end: records -> Allure results -> HTML report, gate, trend, browser, secrets.

Needs the Allure 2 command line (tools/install-allure.sh) and, for the browser checks, Debian's chromium;
each is skipped with its reason when absent, except in CI (CI=true), where they must run.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from drharness.cli.report import GATE_FAILED, GATE_UNTRUSTED, NO_RECORDS, NO_SUCH_RUN
from drharness.config import load_workload
from drharness.instruments.timeline import Timeline
from drharness.results.objectives import objectives_for
from drharness.results.recorder import Recorder
from drharness.reporting.allure import write_allure_results
from drharness.reporting.allure_report import HARNESS_ERROR, OBJECTIVE_MISSED, find_allure, project_root
from drharness.reporting.scrub import Scrubber, scan_tree
from drharness.results import Objective, ResultSink, read_records

pytest_plugins = ["pytester"]
# One report build serves every test here: with `-n 2 --dist loadgroup` they share a worker (and the build).
pytestmark = pytest.mark.xdist_group("allure-report")

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "workload.toml"
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI") == "true"
RUN = "20250301T120000Z-f00d01"
KEY_ID = "ASIA" + "Q3EXAMPLEKEY7ZZ2"  # split so the repository itself holds no key-shaped literal
PASS_NAME, MISSED_NAME, ERROR_NAME = "region failover game day", "bucket RPO drill", "failover function check"


def need_allure() -> None:
    if find_allure(project_root()) is None and not IN_CI:
        pytest.skip("the Allure command line is not installed (bash tools/install-allure.sh); CI installs it")


def drharness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRHARNESS_")}
    return subprocess.run([sys.executable, "-c", "from drharness.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


@dataclass(frozen=True)
class Built:
    reports: Path
    report: Path
    account: str
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


def make_records(reports: Path) -> None:
    """One passing drill, one missed critical objective, one harness error; as Allure results of game days."""
    workload = load_workload(CONFIG)
    critical, important = objectives_for(workload, "critical"), objectives_for(workload, "important")
    sink = ResultSink(reports, run=RUN, source="chaos")
    recorder = Recorder(sink, "offline", scenario="region")
    timeline = Timeline.start("region-failover")
    for phase in ("fault_injected", "detected", "failed_over"):
        timeline.mark(phase)
    result = timeline.verify(lambda: True, timeout_s=5, what="a local probe")  # reports need a real timeline, not AWS
    sink.write(result.to_record(important.rto, scenario="region", resource=workload.dr_stack, tier="important",
                                target="offline", run_id=RUN))
    recorder.measure(check="rpo:s3", resource=workload.data_bucket, metric="rpo", value=5400.0, unit="s",
                     objective=critical.rpo, tier="critical", scenario="replication",
                     evidence={"canaries_written": 30, "lost_sequences": [27, 28, 29, 30], "lost_writes": 4,
                               "note": f"written with key {KEY_ID}"})
    recorder.error(check="failover:function", resource=f"arn:aws:lambda:us-east-1:{workload.account_id}:function:dr",
                   reason=str(EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")), tier="critical")
    by_check = {r.check: r for r in read_records(reports, RUN)}
    results = reports / "allure-results"
    no_masking = Scrubber()  # the build step must mask what a producer let through
    write_allure_results([by_check["rto:region-failover"]], results, PASS_NAME, markers=["quarterly"], scrubber=no_masking)
    write_allure_results([by_check["rpo:s3"]], results, MISSED_NAME, markers=["monthly"], scrubber=no_masking)
    write_allure_results([by_check["failover:function"]], results, ERROR_NAME, scrubber=no_masking)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    need_allure()
    work = tmp_path_factory.mktemp("allure")
    reports = work / "reports"
    make_records(reports)
    account = load_workload(CONFIG).account_id
    assert scan_tree(reports / "allure-results", [account]), "the raw results should hold the account id to mask"
    first = drharness("report", "allure", "--reports", str(reports), "--config", str(CONFIG), cwd=work)
    second = drharness("report", "allure", "--reports", str(reports), "--config", str(CONFIG), "--no-gate", cwd=work)
    return Built(reports, reports / "allure-report", account, first, second)


@pytest.mark.e2e
def test_gate_fails_on_the_missed_critical_objective_and_names_it(built):
    assert built.first.returncode == 1, built.first.stderr
    assert GATE_FAILED.format(count=1, run=RUN) in built.first.stderr
    assert "rpo:s3" in built.first.stderr and "misses the objective" in built.first.stderr
    assert built.account not in built.first.stderr
    assert built.second.returncode == 0, built.second.stderr
    assert (built.report / "index.html").is_file()


@pytest.mark.e2e
def test_categories_separate_missed_objectives_from_harness_errors(built):
    categories = json.loads((built.report / "data" / "categories.json").read_text())
    names = {c["name"]: [t["name"] for group in c["children"] for t in group["children"]] for c in categories["children"]}
    assert names[OBJECTIVE_MISSED] == [MISSED_NAME]
    assert names[HARNESS_ERROR] == [ERROR_NAME]


@pytest.mark.e2e
def test_history_is_carried_forward_into_a_trend_of_two_runs(built):
    trend = json.loads((built.report / "history" / "history-trend.json").read_text())
    assert len(trend) == 2
    assert "trend of 2 run(s)" in built.second.stdout


@pytest.mark.e2e
def test_report_holds_no_account_id_or_credentials(built):
    assert scan_tree(built.report, [built.account]) == []
    environment = (built.report / "widgets" / "environment.json").read_text()
    assert "********" + built.account[-4:] in environment


@pytest.mark.e2e
def test_missing_results_are_a_clear_error(tmp_path):
    done = drharness("report", "allure", "--reports", str(tmp_path / "none"), "--config", str(CONFIG), cwd=tmp_path)
    assert done.returncode == 2
    assert "no Allure results in" in done.stderr and "--alluredir" in done.stderr


@pytest.mark.e2e
def test_the_gate_refuses_a_run_it_has_no_records_of(tmp_path):
    reports = tmp_path / "reports"
    Recorder(ResultSink(reports, run=RUN, source="chaos"), "offline", scenario="region").error(
        check="failover:function", resource="dr", reason="a record so that the reports hold one run")
    done = drharness("report", "allure", "--reports", str(reports), "--config", str(CONFIG), "--run", "no-such-run",
                     cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert NO_SUCH_RUN.format(run="no-such-run", where=reports / "results", runs=RUN) in done.stderr
    assert NO_RECORDS.split(":", 1)[0] not in done.stderr  # refused, not waved through as "nothing to judge"
    assert not (reports / "allure-report").exists()  # refused before a report is built


@pytest.mark.e2e
def test_the_gate_fails_when_it_has_nothing_to_judge(tmp_path):
    need_allure()
    reports = tmp_path / "reports"
    make_records(reports)
    shutil.rmtree(reports / "results")  # Allure results of a run whose result records are gone
    done = drharness("report", "allure", "--reports", str(reports), "--config", str(CONFIG), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert NO_RECORDS.format(where=reports / "results") in done.stderr
    assert "quality gate: passed" not in done.stdout


@pytest.mark.e2e
def test_the_gate_fails_when_a_self_check_of_the_harness_failed(tmp_path):
    """Every objective met, but the RPO instrument missed the loss it caused: the verdicts are untrusted."""
    need_allure()
    workload = load_workload(CONFIG)
    reports = tmp_path / "reports"
    recorder = Recorder(ResultSink(reports, run=RUN, source="pytest"), "offline", scenario="region")
    met = recorder.measure(check="region:rpo-s3", resource=workload.data_bucket, metric="rpo", value=1.5, unit="s",
                           objective=objectives_for(workload, "critical").rpo, tier="critical")
    missed = recorder.measure(check="region:rpo-detects-loss-s3", resource=workload.data_bucket,
                              metric="data_loss_window", value=0.0, unit="s", tier="critical", kind="self-check",
                              objective=Objective("data_loss_window", 2.0, "s", ">=", "the pause held"))
    assert (met.verdict, met.kind, missed.verdict, missed.kind) == ("pass", "objective", "fail", "self-check")
    write_allure_results([met, missed], reports / "allure-results", "region drill", markers=["monthly"])
    done = drharness("report", "allure", "--reports", str(reports), "--config", str(CONFIG), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert GATE_UNTRUSTED.format(count=1, run=RUN) in done.stderr
    assert "region:rpo-detects-loss-s3" in done.stderr and "quality gate: passed" not in done.stdout


# ---- in a browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(built) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(built.report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--window-size=1400,1000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_report_renders_in_a_browser(built, served, tmp_path):
    if not CHROMIUM.is_file() and not IN_CI:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium); CI installs it")
    data = built.report / "data"
    missed_uid = _test_uid(data, MISSED_NAME)
    missed_group = next(c["uid"] for c in json.loads((data / "categories.json").read_text())["children"]
                        if c["name"] == OBJECTIVE_MISSED)
    pages = {"overview": "", "categories": f"#categories/{missed_group}/{missed_uid}", "graphs": "#graph",
             "test-with-attachments": f"#testresult/{missed_uid}"}
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for name, route in pages.items():
        done = chromium(served + route, tmp_path / "profile", f"--screenshot={shots / name}.png")
        assert (shots / f"{name}.png").stat().st_size > 20_000, done.stderr[-500:]
    dom = chromium(served + pages["categories"], tmp_path / "profile", "--dump-dom").stdout
    for text in (OBJECTIVE_MISSED, HARNESS_ERROR, MISSED_NAME, "misses the objective", "blocker"):
        assert text in dom, text
    assert built.account not in dom
    overview = chromium(served, tmp_path / "profile", "--dump-dom").stdout
    assert "us-east-1" in overview and "********" + built.account[-4:] in overview
    _keep(shots)


def _test_uid(data: Path, name: str) -> str:
    for path in (data / "test-cases").glob("*.json"):
        if json.loads(path.read_text())["name"] == name:
            return path.stem
    raise AssertionError(f"no test case named {name!r} in the report")


def _keep(shots: Path) -> None:
    """Copy the screenshots to reports/screenshots/ (or the directory named) when DRHARNESS_KEEP_SCREENSHOTS is set."""
    wanted = os.environ.get("DRHARNESS_KEEP_SCREENSHOTS")
    if not wanted:
        return
    target = Path(wanted) if wanted not in ("1", "true", "yes") else REPO / "reports" / "screenshots"
    shutil.copytree(shots, target, dirs_exist_ok=True)


# ---- the pytest producer ----------------------------------------------------------------------------

CONFTEST = '''
import pytest
from drharness.results import Objective, ResultRecord, iso, judge, utc_now

def _record(value, tier):
    verdict, reason = judge(value, Objective("rpo", 3600, "s", "<=", "tier RPO 1 h"))
    return ResultRecord(check="rpo:s3", scenario="replication", resource="data-123456789012", tier=tier,
                        target="offline", metric="rpo", value=value, unit="s", objective=3600.0, comparison="<=",
                        verdict=verdict, reason=reason, started_at=iso(utc_now()), duration_seconds=1.0,
                        evidence={"canaries_written": 10, "lost_sequences": [10]})

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        from drharness.pytest_plugin.allure_annotations import annotate_allure_test
        from drharness.reporting.scrub import Scrubber
        value = item.get_closest_marker("value")
        records = [_record(value.args[0], "critical")] if value else []
        annotate_allure_test([m.name for m in item.iter_markers()], records, Scrubber(("123456789012",)))
    return report
'''

TESTS = '''
import pytest

@pytest.mark.monthly
@pytest.mark.critical
@pytest.mark.value(120.0)
def test_rpo_met():
    pass

@pytest.mark.monthly
@pytest.mark.critical
@pytest.mark.value(7200.0)
def test_rpo_missed():
    assert False, "rpo 7200 s misses the objective <= 3600 s"

@pytest.mark.weekly
@pytest.mark.backup
def test_without_records():
    pass

def test_unmarked():
    pass
'''


def test_pytest_producer_labels_steps_and_attachments(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_drill=TESTS)
    pytester.makeini("[pytest]\nmarkers =\n    value: the measured value\n")
    result = pytester.runpytest("--alluredir", "allure-results", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    results = {r["name"]: r for r in (json.loads(p.read_text()) for p in (pytester.path / "allure-results").glob("*-result.json"))}
    met, missed = results["test_rpo_met"], results["test_rpo_missed"]
    labels = {(label["name"], label["value"]) for label in missed["labels"]}
    assert {("epic", "Disaster Recovery"), ("story", "rpo:s3"), ("severity", "blocker"), ("tag", "offline")} <= labels
    assert ("severity", "critical") in {(label["name"], label["value"]) for label in met["labels"]}
    assert [(s["name"].split(":")[0], s["status"]) for s in missed["steps"]] == [("rpo", "failed")]
    assert {a["type"] for a in missed["attachments"]} == {"application/json", "image/png"}
    assert {p["name"] for p in missed["parameters"]} >= {"objective", "measured", "verdict"}
    assert met["historyId"] != missed["historyId"]
    plain = {(label["name"], label["value"]) for label in results["test_without_records"]["labels"]}
    assert {("epic", "Disaster Recovery"), ("feature", "Backup and restore"), ("severity", "normal")} <= plain
    assert "epic" not in {label["name"] for label in results["test_unmarked"]["labels"]}
    assert scan_tree(pytester.path / "allure-results", ["123456789012"]) == []
