"""A stop condition ends a running DR suite with every fault reverted (the drill's own guard, end to end)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drharness.safety.guard import STOP_FILE_ENV, request_stop
from drharness.waiting import wait_until
from drharness.world import World, WorldClient

pytestmark = pytest.mark.e2e  # runs a DR suite in a pytest subprocess and stops it

ROOT = Path(__file__).resolve().parents[2]

HELD_TEST = textwrap.dedent(
    """
    import pytest
    from drharness.waiting import wait_until

    @pytest.mark.offline_only
    def test_held_fault(dr_fault, dr_workload):
        with dr_fault("replication-pause", {"bucket": dr_workload.data_bucket}):
            print("FAULT-HELD", flush=True)
            wait_until(lambda: False, 60, 0.05, what="a stop")  # the stop interrupts this wait
    """
)


def test_stop_file_ends_the_suite_and_reverts_its_fault(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_held.py").write_text(HELD_TEST)
    stop_file = tmp_path / "STOP"
    env = {**os.environ, STOP_FILE_ENV: str(stop_file), "PYTHONPATH": str(ROOT), "DRHARNESS_REPORTS": str(tmp_path / "r")}
    with World(seed=5) as world:
        control = WorldClient(world.endpoint)
        from drharness.config import load_workload
        from drharness.deploy import deploy_workload
        from drharness.target import OfflineTarget

        deploy_workload(OfflineTarget(world.endpoint), load_workload(ROOT / "workload.toml"))
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(suite), "-q", "-s", "-p", "no:cacheprovider",
             "--rootdir", str(suite), "--dr-endpoint", world.endpoint, "--dr-config", str(ROOT / "workload.toml")],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            held = wait_until(lambda: control.faults(), 60, 0.05, what="the suite's fault")
            assert held.ok, held.reason
            request_stop("test: stop the drill", stop_file)
            output, _ = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode != 0, output
        assert re.search(r"stop|interrupt", output, re.IGNORECASE), output
        assert control.faults() == [], output
