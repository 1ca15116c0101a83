"""The monthly report and the DR metrics from a known set of records: every figure shown is the records' figure.

The browser check needs Debian's chromium; it is skipped when absent, except in CI (CI=true).
"""

from __future__ import annotations

import datetime as dt
import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from drharness.cli.monthly import MIXED_TARGETS
from drharness.compliance.inventory import (
    CHECK_BACKUP_JOBS, CHECK_DR_COST, CHECK_MONTHLY_RULE, CHECK_RECOVERY_POINTS, CHECK_RULE_SCHEDULE,
    CHECK_S3_REPLICATION, CHECK_TABLE_REPLICAS,
)
from drharness.config import Workload, load_workload
from drharness.procedures.metrics_publish import publish_metrics
from drharness.reporting.metrics import (
    BACKUP_METRIC, BACKUP_NAMESPACE, LAG_METRIC, LAG_NAMESPACE, READINESS_METRIC, READINESS_NAMESPACE,
    compute_metrics,
)
from drharness.reporting.monthly import NO_MONTH, NOT_MEASURED, OFFLINE_LABEL, load_records, write_monthly
from drharness.reporting.scrub import Scrubber, scan_tree
from drharness.results import RUN_ID_ENV, ResultRecord, ResultSink
from drharness.safety import mask_account

from in_process import cli

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI") == "true"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"  # appears only inside ARNs: masked by the ARN rule
MONTH = "2025-03"
FEB, MAR_A, MAR_B, APR = "20250210T100000Z-feb001", "20250305T090000Z-mar001", "20250320T090000Z-mar002", "20250402T090000Z-apr001"
RTO_KIND, RPO_KIND = {"rto", "restore_seconds"}, {"rpo"}
TIERS = ("critical", "important", "standard")


def rec(run: str, day: int, check: str, metric: str, value: float | None, unit: str, verdict: str, *,
        tier: str | None = None, objective: float | None = None, resource: str = "res", reason: str = "",
        evidence: dict | None = None, scenario: str = "drill", kind: str | None = None,
        comparison: str = "<=") -> ResultRecord:
    month = int(run[4:6])
    return ResultRecord(
        check=check, scenario=scenario, resource=resource, tier=tier, target="offline", metric=metric, value=value,  # type: ignore[arg-type]
        unit=unit, objective=objective, comparison=comparison if objective is not None else None, verdict=verdict,  # type: ignore[arg-type]
        reason=reason or f"{check} {verdict}", started_at=dt.datetime(2025, month, day, 9, tzinfo=dt.timezone.utc).isoformat(),
        duration_seconds=1.0, evidence=evidence or {}, run_id=run, kind=kind)  # type: ignore[arg-type]


def inventory(run: str, day: int) -> list[ResultRecord]:
    points = [{"recovery_point_arn": f"arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:{i}",
               "resource_arn": arn, "resource_type": kind, "created_at": f"2025-03-0{i + 1}T02:00:00.000+00:00",
               "status": "COMPLETED", "storage_class": "WARM", "size_bytes": 100 * (i + 1)}
              for i, (arn, kind) in enumerate([
                  (f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/metadata", "DynamoDB"),
                  (f"arn:aws:s3:::data-{ACCOUNT}", "S3"),
                  (f"arn:aws:fsx:us-east-1:{OTHER_ACCOUNT}:file-system/fs-1", "FSx")])]
    def info(check: str, metric: str, value: float, unit: str, evidence: dict, resource: str = "vault") -> ResultRecord:
        return rec(run, day, check, metric, value, unit, "info", resource=resource, evidence=evidence, scenario="inventory")
    return [
        info(CHECK_RECOVERY_POINTS, "recovery_points", 3, "points", {"recovery_points": points}),
        info(CHECK_BACKUP_JOBS, "backup_jobs", 5, "jobs", {"states": {"COMPLETED": 4, "FAILED": 1}}),
        info(CHECK_S3_REPLICATION, "replication_rules_enabled", 1, "rules", {"rules": [
            {"rule_id": "ReplicateToSecondaryRegion", "status": "Enabled", "prefix": "embeddings/",
             "destination_bucket": "data-backup-us-west-2", "storage_class": "STANDARD_IA",
             "delete_marker_replication": "Enabled", "rtc_minutes": 15}]}, resource=f"data-{ACCOUNT}"),
        info(CHECK_TABLE_REPLICAS, "replicas_active", 1, "replicas", {"replicas": [{"region": "us-west-2", "status": "ACTIVE"}]},
             resource="metadata"),
        info(CHECK_DR_COST, "dr_cost", 61.75, "USD", {"by_service": {"AWS Backup": 41.25, "Amazon S3": 20.5},
                                                        "period_start": "2025-02-03", "period_end": "2025-03-05"}),
        info(CHECK_MONTHLY_RULE, "rule_enabled", 1, "bool", {"state": "ENABLED", "expression": "cron(0 2 1 * ? *)",
                                                              "next_fire_times": ["2025-04-01T02:00:00.000+00:00"]},
             resource="events rule monthly"),
        rec(run, day, CHECK_RULE_SCHEDULE, "compliant", 1.0, "bool", "pass", objective=1.0, resource="events rule monthly",
            scenario="inventory"),
    ]


def known_records() -> list[ResultRecord]:
    return [
        rec(FEB, 10, "rto:region", "rto", 500.0, "s", "pass", tier="critical", objective=14400),
        rec(FEB, 10, "config:pitr", "compliant", 0.0, "bool", "fail", objective=1.0, reason="PITR disabled"),
        rec(MAR_A, 5, "rto:region", "rto", 120.5, "s", "pass", tier="critical", objective=14400, resource=f"data-{ACCOUNT}"),
        rec(MAR_A, 5, "restore:dynamodb", "restore_seconds", 300.25, "s", "pass", tier="critical", objective=14400),
        rec(MAR_A, 5, "rpo:s3", "rpo", 42.0, "s", "pass", tier="critical", objective=3600),
        rec(MAR_A, 5, "restore:fsx", "restore_seconds", 90000.0, "s", "fail", tier="important", objective=86400,
            reason="restore_seconds 90000 s misses the objective <= 86400 s"),
        rec(MAR_A, 5, "rpo:table", "rpo", 3.5, "s", "pass", tier="important", objective=14400),
        # The harness's self-checks: its RPO instrument saw a loss it caused (a half-second objective that is
        # the injected pause, not the tier's), and a fault it injected was undone. Neither is an objective.
        rec(MAR_A, 5, "region:rpo-detects-loss-s3", "data_loss_window", 0.643, "s", "pass", tier="critical",
            objective=0.505699, comparison=">=", kind="self-check"),
        rec(MAR_A, 5, "az:fault-reverted", "compliant", 1.0, "bool", "pass", tier="critical", objective=1.0,
            comparison=">=", kind="self-check"),
        rec(MAR_A, 5, "replication-lag:s3:data", "replication_lag_p99", 2.75, "s", "pass", tier="critical", objective=900,
            resource=f"data-{ACCOUNT}", evidence={"lag_p99_seconds": 2.75, "lag_p50_seconds": 1.0}),
        *inventory(MAR_A, 5),
        rec(MAR_B, 20, "rto:region", "rto", 180.0, "s", "pass", tier="critical", objective=14400),
        rec(MAR_B, 20, "restore:backup", "error", None, "", "error", tier="standard",
            reason="timeout after 60 s waiting for the restore job"),
        rec(MAR_B, 20, "rpo:backup", "rpo", 7200.0, "s", "pass", tier="standard", objective=86400),
        rec(APR, 2, "rto:region", "rto", 99999.0, "s", "fail", tier="critical", objective=14400),
    ]


@dataclass
class Written:
    records: list[ResultRecord]
    month: list[ResultRecord]
    directory: Path
    markdown: str
    html: str
    workload: Workload


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("monthly")
    (root / "workload.toml").write_text("", encoding="utf-8")
    workload = load_workload(root / "workload.toml", account_id=ACCOUNT)
    records = known_records()
    sinks: dict[str, ResultSink] = {}
    for record in records:
        sinks.setdefault(record.run_id, ResultSink(root / "reports", run=record.run_id)).write(record)
    out = write_monthly(load_records(root / "reports" / "results"), root / "reports" / "monthly", MONTH,
                        workload=workload, scrubber=Scrubber.for_workload(workload))
    assert out.directory == root / "reports" / "monthly" / MONTH
    month = [r for r in records if r.run_id in (MAR_A, MAR_B)]
    return Written(records, month, out.directory, out.markdown.read_text(), out.html.read_text(), workload)


def md_table(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table after `## heading`."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def seconds(cell: str) -> float | None:
    return None if cell == NOT_MEASURED else float(cell.split(" s", 1)[0])


def objectives_only(records: list[ResultRecord]) -> list[ResultRecord]:
    return [r for r in records if r.kind == "objective"]


def expected_tier(records: list[ResultRecord], tier: str, kinds: set[str], prefix: str) -> tuple[float | None, int, str]:
    """(worst measured, count, verdict) straight from the records of the workload's objectives."""
    mine = [r for r in objectives_only(records)
            if r.tier == tier and (r.metric in kinds or (r.verdict == "error" and r.check.startswith(prefix)))]
    values = [r.value for r in mine if r.value is not None]
    verdicts = {r.verdict for r in mine}
    verdict = next((v for v in ("fail", "error", "pass") if v in verdicts), NOT_MEASURED)
    return (max(values) if values else None, len(mine), verdict)


def test_tier_table_shows_the_workloads_objectives_and_worst_measurements(written: Written) -> None:
    rows = {row[0]: row for row in md_table(written.markdown, "Recovery objectives by tier")}
    assert list(rows) == list(TIERS)
    for tier in TIERS:
        row = rows[tier]
        spec = written.workload.tier(tier)
        for offset, kinds, prefix, objective in ((1, RTO_KIND, ("rto", "restore"), spec.rto_seconds),
                                                 (5, RPO_KIND, ("rpo",), spec.rpo_seconds)):
            worst, count, verdict = expected_tier(written.month, tier, kinds, prefix)  # type: ignore[arg-type]
            assert seconds(row[offset]) == objective  # the workload's, whatever objectives the records carry
            assert seconds(row[offset + 1]) == worst
            assert int(row[offset + 2]) == count
            assert row[offset + 3] == verdict
    # the figures that matter, spelled out: the worst critical RTO is March's restore, not April's miss
    assert rows["critical"][2].startswith("300.25 s") and rows["important"][4] == "fail"
    assert rows["standard"][4] == "error" and rows["standard"][2] == NOT_MEASURED
    # the self-check's half-second "objective" and its 0.643 s are nowhere in the tier table
    assert rows["critical"][5].startswith("3600 s") and rows["critical"][6].startswith("42 s")


def test_self_checks_have_their_own_section_and_a_failed_one_makes_verdicts_untrusted(written: Written,
                                                                                     tmp_path: Path) -> None:
    checks = md_table(written.markdown, "The harness checked itself")
    wanted = sorted(r.check for r in written.month if r.kind == "self-check")
    assert sorted(row[1] for row in checks) == wanted and len(wanted) == 2
    assert "untrusted" not in written.markdown.split("## Recovery objectives", 1)[0]
    assert 'id="self-checks"' in written.html and 'id="untrusted-banner"' not in written.html
    # One failed self-check: the report says its objective verdicts are untrusted, naming the check.
    missed = rec(MAR_B, 20, "region:rpo-detects-loss-dynamodb", "data_loss_window", 0.01, "s", "fail",
                 tier="critical", objective=0.5, comparison=">=", kind="self-check", resource="metadata")
    sink = ResultSink(tmp_path / "reports", run=MAR_B)
    for record in [r for r in written.records if r.run_id == MAR_B] + [missed]:
        sink.write(record)
    out = write_monthly(load_records(tmp_path / "reports" / "results"), tmp_path / "monthly", MONTH,
                        workload=written.workload, scrubber=Scrubber.for_workload(written.workload))
    text = out.markdown.read_text()
    head = text.split("## Recovery objectives", 1)[0]
    assert "Objective verdicts untrusted" in head and "region:rpo-detects-loss-dynamodb (metadata, fail)" in head
    assert 'id="untrusted-banner"' in out.html.read_text()
    # the failed self-check is not a failed objective
    assert all(row[2] != missed.check for row in md_table(text, "Failed checks"))


def test_results_and_trend_count_the_records_of_each_month(written: Written) -> None:
    counts = Counter(r.verdict for r in objectives_only(written.month))
    assert {row[0]: int(row[1]) for row in md_table(written.markdown, "Test results this month")} == {
        v: counts[v] for v in ("pass", "fail", "error", "info")}
    judged = counts["pass"] + counts["fail"] + counts["error"]
    assert f"Pass rate: {100.0 * counts['pass'] / judged:.1f} %" in written.markdown
    trend = md_table(written.markdown, "Trend")
    assert [row[0] for row in trend] == ["2025-02", MONTH]  # April is after the report's month
    feb = [r for r in written.records if r.run_id == FEB]
    assert trend[0][1:6] == ["1", "1", "1", "0", "50.0 %"] and len({r.run_id for r in feb}) == 1
    assert trend[1][1] == "2"
    assert seconds(trend[1][6]) == max(r.value for r in written.month if r.metric in RTO_KIND and r.value is not None)
    assert seconds(trend[1][7]) == max(r.value for r in objectives_only(written.month) if r.metric in RPO_KIND)
    failed = md_table(written.markdown, "Failed checks")
    assert sorted(row[2] for row in failed) == sorted(r.check for r in objectives_only(written.month)
                                                      if r.verdict in ("fail", "error"))
    assert any("misses the objective <= 86400 s" in row[4] for row in failed)


def test_inventory_sections_and_metrics_come_from_the_records(written: Written) -> None:
    points = md_table(written.markdown, "Recovery points (last 30 days)")
    assert [(row[2], row[5]) for row in points] == [("DynamoDB", "100"), ("S3", "200"), ("FSx", "300")]
    cost = dict((row[0], row[1]) for row in md_table(written.markdown, "DR cost (Cost Explorer, BlendedCost)"))
    assert cost == {"AWS Backup": "41.25 USD", "Amazon S3": "20.50 USD", "total": "61.75 USD"}
    replication = md_table(written.markdown, "Replication status")
    assert any(row[1] == "replica us-west-2" and row[2] == "ACTIVE" for row in replication)
    assert any(row[1].startswith("lag p99") and row[3].startswith("2.75 s") for row in replication)
    metrics = {row[1]: row[2] for row in md_table(written.markdown, "DR metrics")}
    computed = compute_metrics(written.month)
    assert metrics[BACKUP_METRIC] == "80 %" and computed.backup_success_rate_percent == pytest.approx(80.0)
    assert metrics[LAG_METRIC] == "2.75 s"
    assert metrics[READINESS_METRIC] == f"{computed.readiness_score_percent:.4g} %"
    assert [row[4] for row in md_table(written.markdown, "Monthly DR test schedule")] == ["pass"]


def test_offline_figures_are_labelled_and_accounts_masked(written: Written) -> None:
    for text in (written.markdown, written.html):
        assert OFFLINE_LABEL in text
        assert ACCOUNT not in text and OTHER_ACCOUNT not in text
    assert mask_account(ACCOUNT) in written.markdown
    assert scan_tree(written.directory, (ACCOUNT, OTHER_ACCOUNT)) == []
    assert sorted(p.name for p in written.directory.glob("*.png")) == ["lag-p99.png", "pass-rate.png", "rto-rpo.png"]
    for png in written.directory.glob("*.png"):
        assert f"]({png.name})" in written.markdown
    assert written.html.count("data:image/png;base64,") == 3


class _TierCells(html.parser.HTMLParser):
    """Cells of `<tr data-tier=...>` rows by their class."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._tier = self._cls = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr":
            self._tier = found.get("data-tier") or ""
        elif tag == "td" and self._tier:
            self._cls = (found.get("class") or "").split(" ")[0]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._tier = ""
        self._cls = "" if tag == "td" else self._cls

    def handle_data(self, data: str) -> None:
        if self._tier and self._cls:
            self.rows.setdefault(self._tier, {})[self._cls] = data.strip()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture
def served(written: Written) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(written.directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report.html"
    finally:
        server.shutdown()
        server.server_close()


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--window-size=1400,2000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_html_report_renders_in_a_browser(written: Written, served: str, tmp_path: Path) -> None:
    if not CHROMIUM.is_file() and not IN_CI:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium); CI installs it")
    shot = tmp_path / "screenshots" / f"monthly-{MONTH}.png"
    shot.parent.mkdir()
    done = chromium(served, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 50_000, done.stderr[-500:]
    dom = chromium(served, tmp_path / "profile-dom", "--dump-dom").stdout
    cells = _TierCells()
    cells.feed(dom)
    markdown = {row[0]: row for row in md_table(written.markdown, "Recovery objectives by tier")}
    assert set(cells.rows) == set(TIERS)
    for tier in TIERS:
        shown = cells.rows[tier]
        assert [shown["rto-objective"], shown["rto-measured"], shown["rto-verdict"], shown["rpo-measured"]] == [
            markdown[tier][1], markdown[tier][2], markdown[tier][4], markdown[tier][6]]
    assert cells.rows["critical"]["rto-measured"].startswith("300.25 s")
    # what a reader is told the critical tier promises is the workload's objective, not a self-check's
    assert seconds(cells.rows["critical"]["rpo-objective"]) == written.workload.tier("critical").rpo_seconds == 3600
    assert 'id="self-checks"' in dom and "The harness checked itself" in dom
    assert OFFLINE_LABEL in dom and ACCOUNT not in dom
    wanted = os.environ.get("DRHARNESS_KEEP_SCREENSHOTS")
    if wanted:
        keep = Path(wanted) if wanted not in ("1", "true", "yes") else REPO / "reports" / "screenshots"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, keep / shot.name)




def test_cli_writes_the_report_and_refuses_a_month_without_records(written: Written, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    results = written.directory.parent.parent / "results"
    config = Path(written.workload.source)
    assert cli("report", "monthly", "--month", MONTH, "--results", str(results), "--output", str(tmp_path / "out"),
               "--config", str(config)) == 0
    assert (tmp_path / "out" / MONTH / "report.html").is_file()
    assert f"monthly DR report {MONTH}" in capsys.readouterr().out
    assert cli("report", "monthly", "--month", "2024-12", "--results", str(results), "--output", str(tmp_path / "out"),
               "--config", str(config)) == 2
    error = capsys.readouterr().err
    assert NO_MONTH.split("{", 1)[0].strip() in error and "2025-02, 2025-03, 2025-04" in error
    assert not (tmp_path / "out" / "2024-12").exists()


# ---- CloudWatch ------------------------------------------------------------------------------------------


def _read_back(target, namespace: str, name: str) -> list[float]:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.timezone.utc)
    answer = target.client("cloudwatch", "us-east-1").get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {
            "Namespace": namespace, "MetricName": name,
            "Dimensions": [{"Name": "Project", "Value": "embedding-batch-workload"}, {"Name": "Environment", "Value": "production"}],
        }, "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=10))
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def test_published_metrics_read_back_from_cloudwatch(written: Written, target) -> None:  # type: ignore[no-untyped-def]
    computed = compute_metrics(written.month)
    put = publish_metrics(target, "us-east-1", computed, project="embedding-batch-workload", environment="production")
    assert [(p.namespace, p.name) for p in put] == [(BACKUP_NAMESPACE, BACKUP_METRIC), (LAG_NAMESPACE, LAG_METRIC),
                                                    (READINESS_NAMESPACE, READINESS_METRIC)]
    assert _read_back(target, BACKUP_NAMESPACE, BACKUP_METRIC) == [pytest.approx(computed.backup_success_rate_percent)]
    assert _read_back(target, LAG_NAMESPACE, LAG_METRIC) == [pytest.approx(2.75)]
    assert _read_back(target, READINESS_NAMESPACE, READINESS_METRIC) == [pytest.approx(computed.readiness_score_percent)]


def test_cli_publishes_a_runs_metrics_and_refuses_mixed_targets(written: Written, world, target, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_ID_ENV, raising=False)  # else it names the run to use
    reports = written.directory.parent.parent
    code = cli("report", "metrics", "--run", FEB, "--reports", str(reports), "--publish", "--endpoint", world.endpoint,
               "--config", written.workload.source)
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # February: a critical pass (weight 3) and an untiered failure (weight 1)
    assert "DRReadinessScore: 75 %" in out and "published 1 metric(s)" in out and "; 2 not measured, not published" in out
    assert _read_back(target, READINESS_NAMESPACE, READINESS_METRIC) == [pytest.approx(75.0)]
    assert _read_back(target, BACKUP_NAMESPACE, BACKUP_METRIC) == []  # not measured in that run: not published as 0

    live_reports, live_run = tmp_path / "reports", "20250301T000000Z-live01"
    measured_live = replace(rec(MAR_A, 1, "rto:region", "rto", 60.0, "s", "pass", tier="critical", objective=14400),
                            target="aws", run_id=live_run)
    ResultSink(live_reports, run=live_run).write(measured_live)
    assert cli("report", "metrics", "--reports", str(live_reports), "--publish", "--endpoint", world.endpoint,
               "--config", written.workload.source) == 2
    assert MIXED_TARGETS.format(run=live_run, measured="aws", target="offline") in capsys.readouterr().err


def test_statistics_over_drills_cover_the_months_up_to_the_report(written: Written) -> None:
    rows = {(row[0], row[1]): row for row in md_table(written.markdown, "Statistics over drills")}
    # rto:region on "res" ran in February and twice in March; April is after the report's month
    runs = [r for r in written.records if r.check == "rto:region" and r.resource == "res" and r.run_id != APR]
    row = rows[("rto:region", "res")]
    assert int(row[4]) == len(runs) == 2 and seconds(row[7]) == max(r.value for r in runs)
    assert ("region:rpo-detects-loss-s3", "res") not in rows  # a self-check is not a workload figure
