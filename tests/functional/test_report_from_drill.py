"""The stakeholder report from a real drill: `pytest drtests -m monthly`, one `chaos run`, then
`drharness report allure`; the report renders in headless Chromium with both runs' verdicts."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from drharness.reporting.allure_report import find_allure, project_root
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

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        shot = tmp_path / "overview.png"
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--window-size=1400,1000"]
        subprocess.run([str(CHROMIUM), *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
        dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", url + "#suites"], capture_output=True,
                             text=True, timeout=120).stdout
    finally:
        server.shutdown()
    assert shot.exists() and shot.stat().st_size > 10_000
    assert "drtests" in dom and "Game days" in dom, dom[:2000]
