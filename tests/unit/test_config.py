from pathlib import Path

import pytest

from drharness.config import WorkloadFile, load_workload, parse_workload
from drharness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_repo_workload_toml_spells_out_the_defaults():
    assert parse_workload((ROOT / "workload.toml").read_text(), "workload.toml") == WorkloadFile()


def test_names_follow_the_seed():
    w = load_workload(ROOT / "workload.toml")
    assert w.data_bucket == "embedding-batch-workload-production-data-123456789012"
    assert w.backup_bucket == "embedding-batch-workload-production-data-backup-us-west-2"
    assert w.metadata_table == "embedding-batch-workload-production-metadata"
    assert w.table_replica_regions == ("us-west-2",)
    assert w.with_account("999999999999").data_bucket.endswith("-999999999999")


def test_tiers_and_priorities_defaults():
    spec = WorkloadFile()
    assert (spec.tiers["critical"].rto_hours, spec.tiers["critical"].rpo_hours) == (4, 1)
    assert (spec.tiers["important"].rto_hours, spec.tiers["important"].rpo_hours) == (24, 4)
    assert (spec.tiers["standard"].rto_hours, spec.tiers["standard"].rpo_hours) == (72, 24)
    assert spec.priorities == {"P1": 4, "P2": 24, "P3": 72, "P4": 168}
    rules = {r.name: r for r in spec.backup.rules}
    assert rules["DailyBackups"].schedule == "cron(0 2 * * ? *)"
    assert rules["WeeklyBackups"].delete_after_days == 2555


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[bucket.replication]\nprefix = 5\n", "bucket.replication.prefix"),
        ("[bucket]\nnmae = 'x'\n", "bucket.nmae"),
        ("[table]\ntier = 'gold'\n", "table.tier"),
        ("primary_region = 'us-east-1'\nsecondary_region = 'us-east-1'\n", "(top level)"),
        ("[tiers.critical]\nrto_hours = -1\nrpo_hours = 1\ntopology = 'x'\n", "tiers.critical.rto_hours"),
        ("[compute]\navailability_zones = ['A1']\n", "compute.availability_zones"),
    ],
)
def test_bad_config_names_file_and_key(text, key):
    with pytest.raises(ConfigError) as info:
        parse_workload(text, "bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml: key ")
    assert f"'{key}'" in message
    assert "\n" not in message


def test_not_toml_is_one_line():
    with pytest.raises(ConfigError, match=r"^x.toml: not valid TOML"):
        parse_workload("[bucket\n", "x.toml")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_workload(tmp_path / "nope.toml")


def test_unknown_placeholder_fails_at_load(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text("[bucket]\nname = '${projekt}-data'\n")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        load_workload(path)
