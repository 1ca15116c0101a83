"""The stakeholder reports from a real drill: `pytest drtests -m monthly`, one `chaos run`, then
`drharness report allure` and `drharness report monthly`; both render in headless Chromium, the Allure
report with both runs' verdicts, the monthly one with the workload's tier objectives and the harness's
self-checks apart from them."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.reporting.allure_report import find_allure, project_root
from drharness.reporting.monthly import RPO_METRICS, load_records
from drharness.reporting.scrub import Scrubber, scan_tree

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI") == "true"
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("drill-report")]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_monthly_drill_and_game_day_land_in_one_report(tmp_path):
    if find_allure(project_root()) is None and not IN_CI:
        pytest.skip("the Allure command line is not installed (bash tools/install-allure.sh); CI installs it")
    if not CHROMIUM.exists() and not IN_CI:
        pytest.skip("Debian's chromium is not installed; CI installs it")
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRHARNESS_", "PYTEST_"))}
    env["DRHARNESS_REPORTS"] = str(reports)
    bin_dir = Path(sys.executable).parent

    drill = _run([sys.executable, "-m", "pytest", "drtests", "-m", "monthly", "-q", "-p", "no:cacheprovider",
                  "--dr-reports", str(reports), "--alluredir", str(reports / "allure-results")], env)
    assert drill.returncode == 0, drill.stdout[-3000:]
    game_day = _run([str(bin_dir / "chaos"), "run", "experiments/replication-pause.json",
                     "--journal-path", str(reports / "journals" / "replication-pause.json")], env)
    assert game_day.returncode == 0, game_day.stdout[-3000:] + game_day.stderr[-3000:]
    built = _run([sys.executable, "-c", "from drharness.cli import main; main()", "report", "allure",
                  "--reports", str(reports)], env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "quality gate: passed" in built.stdout

    report = reports / "allure-report"
    summary = json.loads((report / "widgets" / "summary.json").read_text())
    suites = json.loads((report / "widgets" / "suites.json").read_text())
    names = {item["name"] for item in suites["items"]}
    assert summary["statistic"]["passed"] == summary["statistic"]["total"] > 40
    assert {"drtests", "Game days"} <= names, names
    assert scan_tree(report, Scrubber.for_workload().accounts) == []

    shot = tmp_path / "overview.png"
    with _served(report) as url:
        _chromium(tmp_path / "profile", f"--screenshot={shot}", url + "index.html")
        dom = _chromium(tmp_path / "profile", "--dump-dom", url + "index.html#suites")
    assert shot.exists() and shot.stat().st_size > 10_000
    assert "drtests" in dom and "Game days" in dom, dom[:2000]

    # The monthly report of the same drill, as a stakeholder opens it.
    monthly = _run([sys.executable, "-c", "from drharness.cli import main; main()", "report", "monthly",
                    "--reports", str(reports)], env)
    assert monthly.returncode == 0, monthly.stdout + monthly.stderr
    (month_dir,) = (reports / "monthly").iterdir()
    with _served(month_dir) as url:
        page = _chromium(tmp_path / "profile-monthly", "--dump-dom", url + "report.html")
    critical = _cells(page, "critical")
    workload = load_workload(REPO / "workload.toml")
    records = load_records(reports / "results")
    rpos = [r.value for r in records if r.tier == "critical" and r.metric in RPO_METRICS and r.value is not None]
    workload_rpos = [r.value for r in records
                     if r.tier == "critical" and r.metric in RPO_METRICS and r.kind == "objective" and r.value is not None]
    detections = sorted({r.check for r in records if r.kind == "self-check" and "detects-loss" in r.check})
    assert detections and len(workload_rpos) < len(rpos)  # the drill wrote both kinds: the split is not vacuous
    assert _seconds(critical["rpo-objective"]) == workload.tier("critical").rpo_seconds == 3600
    assert _seconds(critical["rpo-measured"]) == pytest.approx(max(workload_rpos), abs=1e-3)
    self_checks = page.split('id="self-checks"', 1)[1]
    assert "The harness checked itself" in self_checks and all(check in self_checks for check in detections)
    assert 'id="untrusted-banner"' not in page


@contextlib.contextmanager
def _served(directory: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _chromium(profile: Path, *args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--window-size=1400,1000"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120).stdout


def _cells(page: str, tier: str) -> dict[str, str]:
    """The cells of one tier's row of the rendered tier table, by their class."""
    row = page.split(f'data-tier="{tier}"', 1)[1].split("</tr>", 1)[0]
    return {cls.split(" ")[0]: text.strip()
            for cls, text in re.findall(r'<td class="([^"]+)">([^<]*)</td>', row)}


def _seconds(cell: str) -> float:
    return float(cell.split(" s", 1)[0])
