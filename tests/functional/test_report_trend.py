"""Statistics over drills from known records, and from five real drills with the restore slowed in the last two.

The known-records tests hold every figure to numpy over the records' values. The drill test runs the
DynamoDB corruption drill (`pytest drtests -k corrupted_items`) five times against one world, slows the
world's PITR restore for the last two, and checks that `drharness report trend` flags exactly that
restore as regressed, with the trend page as headless Chromium renders it.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy
import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.reporting.runs import load_records
from drharness.reporting.trend import BAD_RECENT, build_trend, write_trend
from drharness.results import RUN_ID_ENV, ResultRecord, ResultSink, read_records
from drharness.target import OfflineTarget
from drharness.world import World

from in_process import cli

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI") == "true"
RESTORE = "restore:dynamodb-pitr"
RESTORES = [1.0, 1.2, 0.9, 6.0, 6.5]  # the last two runs slower: a regression
RPOS = [2.0, 2.1, 1.9, 2.0, 2.2]  # steady: no regression
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


def rec(run: int, check: str, metric: str, value: float, verdict: str = "pass", *, kind: str | None = None,
        objective: float | None = 14400.0, tier: str = "critical") -> ResultRecord:
    started = dt.datetime(2025, 3, 1 + run, 9, tzinfo=dt.timezone.utc)
    return ResultRecord(check=check, scenario="drill", resource="table metadata", tier=tier, target="offline",  # type: ignore[arg-type]
                        metric=metric, value=value, unit="s", objective=objective, comparison="<=", verdict=verdict,  # type: ignore[arg-type]
                        reason=f"{check} {verdict}", started_at=started.isoformat(), duration_seconds=1.0,
                        run_id=started.strftime("%Y%m%dT%H%M%SZ") + f"-run{run:03d}", kind=kind)  # type: ignore[arg-type]


def known() -> list[ResultRecord]:
    records = []
    for run, (restore, rpo) in enumerate(zip(RESTORES, RPOS)):
        records += [rec(run, RESTORE, "restore_seconds", restore), rec(run, "region:rpo-s3", "rpo", rpo, objective=3600),
                    # a self-check is no objective: its figures stay out of the trend
                    rec(run, "region:rpo-detects-loss-s3", "data_loss_window", 1000.0 * (run + 1), kind="self-check"),
                    rec(run, "config:pitr", "compliant", 1.0, "pass" if run % 2 == 0 else "fail", objective=1.0)]
    return records


def test_each_series_is_counted_and_its_percentiles_are_numpys() -> None:
    trend = build_trend(known())
    assert len(trend.runs) == 5
    series = {(s.check, s.measure): s for s in trend.series}
    assert set(series) == {(RESTORE, "RTO"), ("region:rpo-s3", "RPO")}  # the self-check is not among them
    restore = series[(RESTORE, "RTO")]
    assert restore.count == 5 and restore.values == RESTORES
    assert restore.p50 == pytest.approx(numpy.percentile(RESTORES, 50))
    assert restore.p95 == pytest.approx(numpy.percentile(RESTORES, 95)) and restore.max == max(RESTORES)
    assert restore.margin_seconds == pytest.approx(14400 - numpy.percentile(RESTORES, 95))


def test_the_slowed_restore_is_the_one_regression_and_the_changing_verdict_is_flaky() -> None:
    trend = build_trend(known())
    assert [(r.series.check, r.series.measure) for r in trend.regressions] == [(RESTORE, "RTO")]
    regression = trend.regressions[0]
    assert regression.recent_p95 == pytest.approx(numpy.percentile(RESTORES[-2:], 95))
    assert regression.previous_p95 == pytest.approx(numpy.percentile(RESTORES[-4:-2], 95))
    assert [f.check for f in trend.flaky] == ["config:pitr"]
    assert [v for _, v in trend.flaky[0].verdicts] == ["pass", "fail", "pass", "fail", "pass"]
    # a small worsening within the thresholds is no regression
    calm = build_trend(known(), threshold=10.0)
    assert calm.regressions == ()


def test_bad_options_and_no_records_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:
        build_trend(known(), recent_runs=0)
    assert str(info.value) == BAD_RECENT.format(value=0)
    with pytest.raises(Exception) as info:
        build_trend([])
    assert "run the DR suites" in str(info.value)


def test_the_trend_is_written_as_html_markdown_and_a_chart(tmp_path: Path) -> None:
    out = write_trend(known(), tmp_path / "trend")
    text = out.markdown.read_text()
    assert "## Statistics over drills" in text and "regressed" in text and "config:pitr" in text
    assert out.chart is not None and out.chart.stat().st_size > 5_000
    assert 'class="flagged"' in out.html.read_text()




@pytest.mark.e2e
def test_five_drills_with_the_restore_slowed_in_the_last_two_flag_it(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "workload.toml"
    config.write_text("", encoding="utf-8")
    workload = load_workload(config)
    reports = tmp_path / "reports"
    with World(workload.spec.offline, seed=19) as world:
        deploy_workload(OfflineTarget(world.endpoint, world.account_id), workload.with_account(world.account_id))
        for run in range(5):
            if run == 3:
                world.dynamodb.restore_seconds = 4.0  # the last two drills restore slower
            env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
            env[RUN_ID_ENV] = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-trend{run}"
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "drtests", "-m", "monthly", "-k", "corrupted_items", "--dr-endpoint",
                 world.endpoint, "--dr-config", str(config), "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
            assert done.returncode == 0, done.stdout[-3000:]
    capsys.readouterr()
    assert cli("report", "trend", "--reports", str(reports), "--config", str(config)) == 0
    printed = capsys.readouterr().out
    records = load_records(reports / "results")
    restores = [r.value for r in sorted(records, key=lambda r: r.started_at)
                if r.check == "restore:dynamodb-pitr-before-corruption" and r.value is not None]
    assert len(restores) == 5 and min(restores[-2:]) > max(restores[:3])  # the world really was slower
    line = next(l for l in printed.splitlines() if "restore:dynamodb-pitr-before-corruption" in l and "n=5" in l)
    shown = {name: float(value) for name, value in re.findall(r"\b(p50|p95|max) ([0-9.]+) s", line)}
    assert shown == pytest.approx({"p50": numpy.percentile(restores, 50), "p95": numpy.percentile(restores, 95),
                                   "max": max(restores)}, rel=1e-5), line
    assert "[regressed" in line
    regressed = [l for l in printed.splitlines() if l.startswith("regression:")]
    assert len(regressed) == 1 and "restore:dynamodb-pitr-before-corruption" in regressed[0], printed
    # as a person sees it
    if not CHROMIUM.is_file() and not IN_CI:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium); CI installs it")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(reports / "trend"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                              f"http://127.0.0.1:{server.server_address[1]}/trend.html"],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
        server.server_close()
    row = dom.split('data-check="restore:dynamodb-pitr-before-corruption"', 1)[1].split("</tr>", 1)[0]
    assert 'class="flagged"' in row and "regressed" in row and ">5<" in row
    assert 'id="regressions"' in dom and '<img src="trend.png"' in dom
