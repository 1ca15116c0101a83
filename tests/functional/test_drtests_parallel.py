"""`pytest drtests -m daily -n 2`: each worker runs its own offline world, and the records form one run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drharness.results import RUN_ID_ENV, list_runs, read_records

pytestmark = pytest.mark.e2e  # runs the daily suite in a pytest subprocess on two workers

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240.0
# As in test_drtests_detection: the seed's single-AZ file system meets the standard tier's RPO, not the
# important tier's, and this test is about running in parallel, not about that finding.
WORKLOAD_TOML = '[file_system]\ntier = "standard"\n'
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


def test_daily_suite_on_two_workers_writes_one_result_set(tmp_path: Path) -> None:
    config = tmp_path / "workload.toml"
    config.write_text(WORKLOAD_TOML, encoding="utf-8")
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    command = [sys.executable, "-m", "pytest", "drtests", "-m", "daily", "-n", "2", "--dr-config", str(config),
               "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    output = f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    runs = list_runs(reports)
    assert len(runs) == 1, f"expected one run id, found {runs}\n{output}"
    files = sorted((reports / "results" / runs[0]).glob("*.json"))
    writers = {path.name.split("-", 1)[0] for path in files}
    assert len(writers) == 2, f"records from processes {sorted(writers)}; expected one per worker\n{output}"
    records = read_records(reports, runs[0])
    assert {r.run_id for r in records} == {runs[0]} and {r.source for r in records} == {"pytest"}
    assert {r.target for r in records} == {"offline"}
    assert done.returncode == 0, output
    failed = [(r.check, r.reason) for r in records if r.verdict not in ("pass", "info")]
    assert not failed, failed
