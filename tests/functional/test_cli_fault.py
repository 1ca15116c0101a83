"""`drharness fault ...` and `drharness revert` against a running world."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drharness.cli import main
from drharness.cli.fault import NO_ENDPOINT, REVERT_WHICH
from drharness.faults import FAULTS, UNKNOWN_FAULT, Journal, OfflineFaultBackend, inject
from drharness.faults.journal import JOURNAL_ENV


@pytest.fixture(autouse=True)
def _journal(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(JOURNAL_ENV, str(tmp_path / "journal"))
    monkeypatch.delenv("DRHARNESS_ENDPOINT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return tmp_path / "journal"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the `drharness` entry point in-process; return (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_inject_list_revert(world, capsys):
    code, out, _ = run(capsys, "fault", "inject", "az-outage", "region=us-east-1", "az=b", "--endpoint", world.endpoint)
    assert code == 0
    fault_id, description = out.splitlines()[:2]
    assert [f.id for f in world.faults.active()] == [fault_id]
    assert world.faults.impaired_zones("us-east-1") == {"us-east-1b"}
    assert description.startswith("az-outage: zone us-east-1b impaired")

    code, out, _ = run(capsys, "fault", "list", "--endpoint", world.endpoint)
    assert code == 0 and fault_id in out and "az-outage" in out

    code, out, _ = run(capsys, "fault", "revert", fault_id, "--endpoint", world.endpoint)
    assert code == 0 and world.faults.active() == []
    code, out, _ = run(capsys, "fault", "revert", fault_id, "--endpoint", world.endpoint)  # twice is harmless
    assert code == 0
    code, out, _ = run(capsys, "fault", "list", "--endpoint", world.endpoint)
    assert "no active faults" in out


def test_values_are_typed_and_endpoint_comes_from_the_environment(world, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint)
    code, out, err = run(capsys, "fault", "inject", "service-fault", "service=s3", "rate=0.5", "max_hits=3",
                         "operation=GetObject")
    assert code == 0, err
    params = world.faults.active()[0].params
    assert (params.rate, params.max_hits, params.operation) == (0.5, 3, "GetObject")


def test_credential_compromise_prints_the_key(world, capsys):
    code, out, _ = run(capsys, "fault", "inject", "credential-compromise", "--endpoint", world.endpoint)
    key = world.faults.active()[0].state["access_key_id"]
    assert code == 0 and key in out


def test_errors_are_one_line_with_exit_code_2(world, capsys):
    code, out, err = run(capsys, "fault", "inject", "meteor", "--endpoint", world.endpoint)
    assert code == 2 and err == f"drharness: error: {UNKNOWN_FAULT.format(name='meteor', known=', '.join(sorted(FAULTS)))}\n"

    code, _, err = run(capsys, "fault", "inject", "service-fault", "service=s3", "rate=7", "--endpoint", world.endpoint)
    assert code == 2 and "parameter 'rate'" in err and len(err.splitlines()) == 1

    code, _, err = run(capsys, "fault", "inject", "region-outage", "region=us-west-2")
    assert code == 2 and err == f"drharness: error: {NO_ENDPOINT}\n"

    code, _, err = run(capsys, "fault", "revert", "--endpoint", world.endpoint)
    assert code == 2 and err == f"drharness: error: {REVERT_WHICH}\n"
    assert world.faults.active() == []


def test_revert_all(world, capsys):
    for region in ("us-west-2", "eu-west-1"):
        assert run(capsys, "fault", "inject", "region-outage", f"region={region}", "--endpoint", world.endpoint)[0] == 0
    world.faults.inject("region-outage", {"region": "ap-south-1"})  # not journalled: --all reverts it too
    code, out, _ = run(capsys, "fault", "revert", "--all", "--endpoint", world.endpoint)
    assert code == 0 and out.startswith("reverted 3 fault(s)") and world.faults.active() == []


def test_drharness_revert_reverts_what_a_dead_run_left(world, capsys, _journal):
    inject(OfflineFaultBackend(world.endpoint), "region-outage", {"region": "us-west-2"}, Journal(_journal))
    # the run that injected it is gone; only the journal remembers
    code, out, _ = run(capsys, "revert", "--journal", str(_journal))
    assert code == 0 and "reverted 1 fault(s)" in out and world.faults.active() == []
    code, out, _ = run(capsys, "revert")  # from DRHARNESS_JOURNAL
    assert code == 0 and out.startswith("nothing to revert")


@pytest.mark.e2e
def test_the_installed_command_injects_from_another_process(world, _journal):
    command = Path(sys.executable).with_name("drharness")
    done = subprocess.run([str(command), "fault", "inject", "replication-pause", "bucket=somewhere",
                           "--endpoint", world.endpoint, "--journal", str(_journal)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [f.id for f in world.faults.active()] == [done.stdout.split()[0]]
    assert Journal(_journal).get(done.stdout.split()[0]).status == "active"
