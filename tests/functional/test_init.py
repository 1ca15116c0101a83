"""`drharness init`: a workload config written from what a world holds, that deploys and drills unedited.

Init on a world with the default deployment writes a config that the world reads back with no finding
and that names the same resources and DR settings; bad input is refused and writes nothing. The round
trip through a fresh world and the drill on a written config are in test_init_drill.py.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import check_workload, deploy_workload
from drharness.target import OfflineTarget
from drharness.world import World
from tests.functional.in_process import cli
from tests.world_roles import fast_offline

REPO = Path(__file__).resolve().parents[2]
TAG = "Project=embedding-batch-workload"



def deployed(config: Path, seed: int) -> Iterator[tuple[World, OfflineTarget]]:
    """A world with the workload of `config` deployed (one world per process: stop it before the next)."""
    workload = load_workload(config)
    with World(fast_offline(pitr_latest_lag_seconds=0.0), seed=seed) as world:
        target = OfflineTarget(world.endpoint, world.account_id)
        deploy_workload(target, workload.with_account(world.account_id))
        yield world, target


@pytest.fixture(scope="module")
def default_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, OfflineTarget]]:
    config = tmp_path_factory.mktemp("default") / "workload.toml"
    config.write_text("", encoding="utf-8")
    yield from deployed(config, 21)


def init(world: World, output: Path, *args: str) -> int:
    return cli("init", "--endpoint", world.endpoint, "--output", str(output), *args)


def test_init_writes_a_config_the_world_reads_back_with_no_finding(default_world, tmp_path: Path, capsys) -> None:
    world, target = default_world
    output = tmp_path / "w.toml"
    assert init(world, output, "--tag", TAG) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    written = load_workload(output, world.account_id)
    default = load_workload(REPO / "workload.toml", world.account_id)
    assert check_workload(target, written).findings == ()
    # The same resources, by name and by DR setting, as the config the world was deployed from.
    assert (written.data_bucket, written.backup_bucket, written.metadata_table, written.file_system,
            written.compute_environment, written.job_queue, written.backup_vault, written.backup_plan, written.dr_stack) == (
        default.data_bucket, default.backup_bucket, default.metadata_table, default.file_system,
        default.compute_environment, default.job_queue, default.backup_vault, default.backup_plan, default.dr_stack)
    # Names are written resolved, the default's are templates: compare every other setting as it is.
    names = {"name", "backup_name", "replication"}
    assert written.spec.bucket.model_dump(exclude=names) == default.spec.bucket.model_dump(exclude=names)
    assert (written.spec.bucket.replication.model_dump(exclude={"replica_kms_key"})
            == default.spec.bucket.replication.model_dump(exclude={"replica_kms_key"}))
    assert written.name(written.spec.bucket.replication.replica_kms_key) == default.name(
        default.spec.bucket.replication.replica_kms_key)
    assert written.spec.file_system.tier == "standard"  # read from the DRTier tag the deploy set
    assert written.spec.backup.rules == default.spec.backup.rules
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Written by `drharness init`")


def test_a_stack_finds_what_its_resources_are(default_world, tmp_path: Path) -> None:
    world, _ = default_world
    output = tmp_path / "w.toml"
    assert init(world, output, "--stack", "embedding-batch-workload-production", "--tag", TAG) == 0
    assert tomllib.loads(output.read_text())["project"] == "embedding-batch-workload"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "--stack NAME and/or --tag KEY=VALUE"),
        (("--tag", "Project"), "must be KEY=VALUE"),
        (("--tag", TAG, "--default-tier", "gold"), "is not a tier"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(default_world, tmp_path: Path, capsys, args, says) -> None:
    world, _ = default_world
    output = tmp_path / "w.toml"
    assert init(world, output, *args) != 0
    assert says in capsys.readouterr().err
    assert not output.exists() and list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_unless_forced(default_world, tmp_path: Path, capsys) -> None:
    world, _ = default_world
    output = tmp_path / "w.toml"
    output.write_text("# mine\n")
    assert init(world, output, "--tag", TAG) != 0
    assert "pass --force" in capsys.readouterr().err and output.read_text() == "# mine\n"
    assert init(world, output, "--tag", TAG, "--force") == 0


def test_a_live_init_needs_the_account_named(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DRHARNESS_LIVE", "I-UNDERSTAND")
    assert cli("init", "--live", "--tag", TAG, "--output", str(tmp_path / "w.toml")) != 0
    assert "--allow-account" in capsys.readouterr().err


def test_a_live_init_reads_only_the_account_it_was_allowed(default_world, tmp_path: Path, capsys, monkeypatch) -> None:
    """The world stands in for an account: STS at its endpoint answers which account the credentials are."""
    world, _ = default_world
    monkeypatch.setenv("DRHARNESS_LIVE", "I-UNDERSTAND")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    output = tmp_path / "w.toml"
    live = ("init", "--live", "--endpoint", world.endpoint, "--tag", TAG, "--output", str(output),
            "--allow-region", "us-east-1", "--allow-region", "us-west-2")
    assert cli(*live, "--allow-account", "999999999999") != 0
    assert "init reads only the account it is given" in capsys.readouterr().err
    assert not output.exists()
    assert cli(*live, "--allow-account", world.account_id) == 0
    written = tomllib.loads(output.read_text(encoding="utf-8"))
    assert written["live"]["allowed_accounts"] == [world.account_id]
    assert {b["name"] for b in written["buckets"]} == {"embedding-batch-workload-production-data-123456789012"}
