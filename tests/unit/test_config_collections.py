"""Collections of resources in the workload config: both spellings, the refusals, and one view per resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from drharness.config import WorkloadFile, load_workload, parse_workload
from drharness.errors import ConfigError

TWO_BUCKETS = """
[[buckets]]
id = "data"

[[buckets]]
id = "models"
tier = "important"
name = "${project}-${environment}-models-${account_id}"
backup_name = "${project}-${environment}-models-backup-${secondary_region}"

[buckets.replication]
rule_id = "ReplicateModels"
prefix = "models/"
rtc_minutes = 0

[[tables]]
id = "metadata"

[[tables]]
id = "jobs"
tier = "standard"
name = "${project}-${environment}-jobs"
range_key = ""
stream_view_type = ""
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workload.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_one_resource_form_is_a_collection_of_one() -> None:
    single = parse_workload("[bucket]\ntier = 'important'\n[table]\npitr = false\n")
    assert [b.tier for b in single.buckets] == ["important"]
    assert [t.pitr for t in single.tables] == [False]
    assert single.bucket is single.buckets[0] and single.table is single.tables[0]


def test_each_resource_keeps_its_own_settings(tmp_path: Path) -> None:
    w = load_workload(_write(tmp_path, TWO_BUCKETS))
    assert [b.id for b in w.spec.buckets] == ["data", "models"]
    models = w.focus(bucket="models")
    assert models.data_bucket == "embedding-batch-workload-production-models-123456789012"
    assert models.backup_bucket == "embedding-batch-workload-production-models-backup-us-west-2"
    assert (models.spec.bucket.tier, models.spec.bucket.replication.rtc_minutes) == ("important", None)
    jobs = w.focus(table="jobs")
    assert (jobs.metadata_table, jobs.spec.table.range_key, jobs.spec.table.stream_view_type) == (
        "embedding-batch-workload-production-jobs", None, None)
    # A view changes only what is in focus; the first of each stays the default focus.
    assert models.metadata_table == w.metadata_table and w.data_bucket.endswith("-data-123456789012")
    assert [v.data_bucket for v in w.each_bucket()] == [w.data_bucket, models.data_bucket]
    assert [v.spec.table.id for v in w.each_table()] == ["metadata", "jobs"]


def test_a_view_of_an_unknown_resource_names_the_known_ones(tmp_path: Path) -> None:
    w = load_workload(_write(tmp_path, TWO_BUCKETS))
    with pytest.raises(ConfigError, match="no bucket with id 'logs'; the buckets are data, models"):
        w.focus(bucket="logs")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("[[buckets]]\nid = 'a'\n[[buckets]]\nid = 'a'\nname = 'b'\nbackup_name = 'c'\n", "buckets[1].id",
         "'a' is also buckets[0].id"),
        ("[[tables]]\n[[tables]]\nid = 'jobs'\n", "tables[1].name", "is also tables[0].name"),
        ("[[tables]]\nreplica_regions = ['${primary_region}']\n", "tables[0].replica_regions",
         "is the primary region us-east-1"),
        ("[table]\nreplica_regions = ['us-east-1']\n", "table.replica_regions", "a replica must be in another region"),
        ("[[buckets]]\ntier = 'gold'\n", "buckets[0].tier", "'critical', 'important' or 'standard'"),
        ("[[buckets]]\nid = 'Data Bucket'\n", "buckets[0].id", "should match pattern"),
        ("[bucket]\n[[buckets]]\n", "(top level)", "keep one"),
        ("buckets = []\n", "buckets", "describe at least one"),
        ("[[buckets]]\nbackup_plan = 'hourly'\n", "buckets[0].backup_plan", "'hourly' is no backup plan's id; the plans are plan"),
        ("[[backup_plans]]\n[[backup_plans]]\nid = 'b'\nplan = 'p2'\nselection = 's2'\n",
         "backup_plans[1].selection_tag_value", "is also another plan's"),
        ("[[backup_plans]]\n[[backup_plans]]\nid = 'b'\n", "backup_plans[1].plan", "is also backup_plans[0].plan"),
    ],
)
def test_a_bad_collection_names_the_file_the_key_and_what_is_expected(text: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_workload(text, "bad.toml")
    assert str(info.value).startswith(f"bad.toml: key '{key}': ")
    assert says in str(info.value)


def test_two_names_that_resolve_alike_are_refused_at_load(tmp_path: Path) -> None:
    text = ("[[buckets]]\nid = 'a'\nname = 'x-${account_id}'\nbackup_name = 'xa'\n"
            "[[buckets]]\nid = 'b'\nname = 'x-123456789012'\nbackup_name = 'xb'\n")
    with pytest.raises(ConfigError, match=r"key 'buckets\[1\].name': resolves to 'x-123456789012', as 'buckets\[0\].name'"):
        load_workload(_write(tmp_path, text))


def test_the_default_workload_is_one_bucket_and_one_table() -> None:
    spec = WorkloadFile()
    assert [(b.id, b.tier) for b in spec.buckets] == [("data", "critical")]
    assert [(t.id, t.tier) for t in spec.tables] == [("metadata", "critical")]


def test_file_systems_and_compute_environments_are_collections_too(tmp_path: Path) -> None:
    text = ("[[compute_environments]]\nid = 'cpu'\n"
            "[[compute_environments]]\nid = 'gpu'\nname = 'gpu-ce'\njob_queue = 'gpu-queue'\navailability_zones = ['a', 'b']\n"
            "[file_system]\ntier = 'important'\n")
    w = load_workload(_write(tmp_path, text))
    gpu = w.focus(compute="gpu")
    assert (gpu.compute_environment, gpu.job_queue, gpu.spec.compute.availability_zones) == ("gpu-ce", "gpu-queue", ("a", "b"))
    assert [v.spec.compute.id for v in w.each_compute()] == ["cpu", "gpu"]
    assert [v.spec.file_system.tier for v in w.each_file_system()] == ["important"]
    with pytest.raises(ConfigError, match="no compute with id 'tpu'; the compute environments are cpu, gpu"):
        w.focus(compute="tpu")


def test_two_compute_environments_may_not_share_a_queue() -> None:
    text = "[[compute_environments]]\nid = 'a'\n[[compute_environments]]\nid = 'b'\nname = 'other'\n"
    with pytest.raises(ConfigError, match=r"key 'compute_environments\[1\].job_queue': .* is also compute_environments\[0\]"):
        parse_workload(text, "bad.toml")
