"""DR stacks, topics and schedules as collections: both spellings, the refusals, and one view per resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from drharness.config import WorkloadFile, load_workload, parse_workload
from drharness.errors import ConfigError
from tests.unit.test_config_collections import _write

MANY = """
[[compute_environments]]
id = "batch"

[[compute_environments]]
id = "gpu"
name = "gpu-ce"
job_queue = "gpu-queue"
instance_types = ["g5.xlarge"]

[[dr_stacks]]
id = "dr"

[[dr_stacks]]
id = "gpu-dr"
name = "${project}-gpu-dr"
compute = "gpu"

[[topics]]
id = "dr"
name = "dr-notices"

[[topics]]
id = "ops"
name = "ops-notices"

[[topics]]
id = "reports"
name = "reports"
purpose = "reports"

[[topics]]
id = "audit"
name = "audit"
purpose = "reports"

[[schedules]]
id = "monthly"

[[schedules]]
id = "weekly"
name = "weekly-check"
expression = "cron(0 4 ? * MON *)"
topic = "audit"
"""


def test_the_default_is_one_stack_a_topic_of_each_purpose_and_one_schedule() -> None:
    spec = WorkloadFile()
    assert [s.id for s in spec.dr_stacks] == ["dr"]
    assert [(t.id, t.purpose) for t in spec.topics] == [("dr", "dr-notifications"), ("reports", "reports")]
    assert [(s.id, s.expression) for s in spec.schedules] == [("monthly", "cron(0 2 1 * ? *)")]
    w = load_workload()
    assert (w.dr_stack, w.dr_topic, w.report_topic, w.monthly_rule) == (
        "embedding-batch-workload-production-dr", "embedding-batch-workload-production-dr-notifications",
        "embedding-batch-workload-production-dr-test-reports", "embedding-batch-workload-production-monthly-dr-test")


def test_the_one_table_forms_are_collections() -> None:
    spec = parse_workload("[dr_stack]\ntemplate_key = 't.yaml'\n[notifications]\nreport_topic = 'r'\n"
                          "[schedule]\nmonthly_rule = 'm'\nmonthly_expression = 'cron(0 3 1 * ? *)'\n")
    assert [(s.id, s.template_key) for s in spec.dr_stacks] == [("dr", "t.yaml")]
    assert [(t.id, t.name, t.purpose) for t in spec.topics] == [
        ("dr", "${project}-${environment}-dr-notifications", "dr-notifications"), ("reports", "r", "reports")]
    assert [(s.name, s.expression) for s in spec.schedules] == [("m", "cron(0 3 1 * ? *)")]
    assert spec.dr_stack is spec.dr_stacks[0] and spec.schedule is spec.schedules[0]


def test_each_stack_topic_and_schedule_has_its_view(tmp_path: Path) -> None:
    w = load_workload(_write(tmp_path, MANY))
    assert [v.dr_stack for v in w.each_dr_stack()] == ["embedding-batch-workload-production-dr", "embedding-batch-workload-gpu-dr"]
    gpu = w.focus(dr_stack="gpu-dr")
    assert (gpu.mirrored_compute().compute_environment, w.mirrored_compute().compute_environment) == (
        "gpu-ce", "embedding-batch-workload-production-compute-env")
    # The accessors that need one are the first of that purpose, or the one in focus.
    assert (w.dr_topic, w.report_topic) == ("dr-notices", "reports")
    assert [v.dr_topic for v in w.each_topic("dr-notifications")] == ["dr-notices", "ops-notices"]
    assert [v.report_topic for v in w.each_topic("reports")] == ["reports", "audit"]
    assert len(w.each_topic()) == 4 and [t.id for t in w.spec.dr_topics] == ["dr", "ops"]
    assert [(v.monthly_rule, v.report_topic) for v in w.each_schedule()] == [
        ("embedding-batch-workload-production-monthly-dr-test", "reports"), ("weekly-check", "audit")]
    assert w.focus(topic="ops").report_topic == "reports"  # a DR topic in focus leaves the report topic as it was
    assert w.topic_region(w.spec.topics[0]) == w.secondary_region and w.topic_region(w.spec.topics[2]) == w.primary_region


@pytest.mark.parametrize(
    ("keyword", "wanted", "says"),
    [
        ("dr_stack", "blue", "no dr stack with id 'blue'; the dr stacks are dr, gpu-dr"),
        ("topic", "pager", "no topic with id 'pager'; the topics are dr, ops, reports, audit"),
        ("schedule", "daily", "no schedule with id 'daily'; the schedules are monthly, weekly"),
    ],
)
def test_a_view_of_an_unknown_one_names_the_known_ones(tmp_path: Path, keyword: str, wanted: str, says: str) -> None:
    w = load_workload(_write(tmp_path, MANY))
    with pytest.raises(ConfigError, match=says):
        w.focus(**{keyword: wanted})


TWO_TOPICS = "[[topics]]\nname = 'a'\n[[topics]]\nid = 'r'\nname = 'b'\npurpose = 'reports'\n"


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("[[dr_stacks]]\n[[dr_stacks]]\nname = 'other'\n", "dr_stacks[1].id", "'dr' is also dr_stacks[0].id"),
        ("[[dr_stacks]]\n[[dr_stacks]]\nid = 'b'\n", "dr_stacks[1].name", "is also dr_stacks[0].name"),
        ("[dr_stack]\n[[dr_stacks]]\n", "(top level)", "both [dr_stack] and [[dr_stacks]] are given: keep one"),
        ("[[dr_stacks]]\ncompute = 'gpu'\n", "dr_stacks[0].compute", ("'gpu' is no compute environment's id; the compute "
         "environments are batch")),
        ("dr_stacks = []\n", "dr_stacks", "describe at least one"),
        (TWO_TOPICS + "[[topics]]\nid = 'c'\nname = 'a'\n", "topics[2].name", "'a' is also topics[0].name"),
        (TWO_TOPICS + "[[topics]]\nid = 'r'\nname = 'c'\n", "topics[2].id", "'r' is also topics[1].id"),
        ("[[topics]]\nname = 'a'\n", "topics", "no topic has purpose 'reports'"),
        ("[[topics]]\npurpose = 'reports'\n", "topics", "no topic has purpose 'dr-notifications'"),
        (TWO_TOPICS.replace("'reports'", "'pager'"), "topics[1].purpose", "'dr-notifications' or 'reports'"),
        ("[notifications]\n" + TWO_TOPICS, "(top level)", "both [notifications] and [[topics]] are given: keep one"),
        ("[notifications]\nsms_topic = 'x'\n", "notifications.sms_topic", "unknown key: [notifications] has dr_topic"),
        ("[notifications]\nreport_topic = 3\n", "notifications.report_topic", "valid string"),
        ("[notifications]\ndr_topic = 'same'\nreport_topic = 'same'\n", "notifications.report_topic",
         "'same' is also topics[0].name"),
        ("[[schedules]]\n[[schedules]]\nid = 'weekly'\n", "schedules[1].name", "is also schedules[0].name"),
        ("[[schedules]]\ntopic = 'audit'\n", "schedules[0].topic", ("'audit' is no reports topic's id; the topics "
         "with purpose \"reports\" are reports")),
        ("[[schedules]]\ntopic = 'dr'\n", "schedules[0].topic", "'dr' is no reports topic's id"),
        ("[schedule]\nmonthly_rule = 5\n", "schedule.monthly_rule", "valid string"),
        ("[schedule]\nmonthly_rule = 'a'\nname = 'b'\n", "schedule.monthly_rule", "keep one"),
        ("[schedule]\nrule = 'a'\n", "schedule.rule", "unknown key"),
    ],
)
def test_a_bad_stack_topic_or_schedule_names_the_file_the_key_and_what_is_expected(text: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_workload(text, "bad.toml")
    assert str(info.value).startswith(f"bad.toml: key '{key}': "), str(info.value)
    assert says in str(info.value)


def test_two_that_resolve_alike_are_refused_at_load(tmp_path: Path) -> None:
    text = TWO_TOPICS.replace("name = 'a'", "name = 'x-${account_id}'").replace("name = 'b'", "name = 'x-123456789012'")
    with pytest.raises(ConfigError, match=r"key 'topics\[1\].name': resolves to 'x-123456789012', as 'topics\[0\].name'"):
        load_workload(_write(tmp_path, text))
    stacks = "[[dr_stacks]]\nname = 's-${account_id}'\n[[dr_stacks]]\nid = 'b'\nname = 's-123456789012'\n"
    with pytest.raises(ConfigError, match=r"key 'dr_stacks\[1\].name': resolves to 's-123456789012'"):
        load_workload(_write(tmp_path, stacks))
