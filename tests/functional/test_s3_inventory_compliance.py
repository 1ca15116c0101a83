"""The inventory checks on a deployed world: each bucket and its replica configured, and their newest complete report
judged by its folder's time against the target's clock.

Reports are written by hand (manifest.json and manifest.checksum under AWS's keys), and `now` is given to the
check: the world clock is not moved, so the world publishes no report of its own here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.compliance.checks import BUCKET_INVENTORY_CHECKS, INVENTORY_CONFIGURED, INVENTORY_FRESH, SCENARIO
from drharness.compliance.s3_inventory import (
    FIRST_REPORT_SECONDS, REPORT_MAX_AGE_SECONDS, InventoryJudgement, judge_configured, judge_fresh, record, report_time,
)
from drharness.config import Workload, load_workload, parse_workload
from drharness.deploy import deploy_workload, s3
from drharness.results import ResultSink, read_records
from drharness.results.recorder import Recorder
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World

HOUR = 3600.0
DAY = 86400.0
# The seed's critical bucket, a critical one that opts out, an important one with a weekly report, a standard one.
WORKLOAD_TOML = """
[[buckets]]
id = "data"

[[buckets]]
id = "archive"
name = "${project}-${environment}-archive-${account_id}"
backup_name = "${project}-${environment}-archive-backup-${secondary_region}"
inventory.enabled = false

[[buckets]]
id = "models"
tier = "important"
name = "${project}-${environment}-models-${account_id}"
backup_name = "${project}-${environment}-models-backup-${secondary_region}"
inventory = { enabled = true, config_id = "weekly", frequency = "Weekly" }

[[buckets]]
id = "logs"
tier = "standard"
name = "${project}-${environment}-logs-${account_id}"
backup_name = "${project}-${environment}-logs-backup-${secondary_region}"
"""


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload

    def view(self, bucket_id: str) -> Workload:
        return self.workload.focus(bucket=bucket_id)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.world.now(), dt.timezone.utc)

    def write_report(self, view: Workload, moment: dt.datetime, *, replica: bool = False, checksum: bool = True) -> str:
        """A report of `view`'s bucket (or replica) at `moment`, as S3 lays it out; its folder."""
        region = view.secondary_region if replica else view.primary_region
        source = view.backup_bucket if replica else view.data_bucket
        config_id = view.spec.bucket.inventory.config_id
        folder = f"inventory/{source}/{config_id}/{moment.strftime('%Y-%m-%dT%H-%MZ')}/"
        manifest = b'{"sourceBucket": "%s", "files": []}' % source.encode()
        client = self.target.client("s3", region)
        client.put_object(Bucket=view.inventory_bucket(region), Key=folder + "manifest.json", Body=manifest)
        if checksum:
            client.put_object(Bucket=view.inventory_bucket(region), Key=folder + "manifest.checksum",
                              Body=hashlib.md5(manifest).hexdigest().encode())
        return folder


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    path = tmp_path_factory.mktemp("inventory-compliance") / "workload.toml"
    path.write_text(WORKLOAD_TOML, encoding="utf-8")
    workload = load_workload(path)
    with World(workload.spec.offline, seed=13) as world:
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        workload = workload.with_account(world.account_id)
        deploy_workload(target, workload)
        yield Deployed(world, target, workload)


def verdicts(judgements: tuple[InventoryJudgement, ...]) -> list[tuple[str, str]]:
    return [(j.resource, j.verdict) for j in judgements]


def pair(view: Workload) -> tuple[str, str]:
    return s3.bucket_resource(view.data_bucket), s3.bucket_resource(view.backup_bucket)


def at_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


# -- inventory-configured ----------------------------------------------------------------------------


def test_a_deployed_bucket_and_its_replica_are_configured(deployed: Deployed) -> None:
    for bucket_id in ("data", "models"):
        view = deployed.view(bucket_id)
        judged = judge_configured(deployed.target, view)
        assert verdicts(judged) == [(r, "pass") for r in pair(view)], [j.actual for j in judged]
    replica = judge_configured(deployed.target, deployed.view("data"))[1]
    assert f"to arn:aws:s3:::{deployed.view('data').inventory_bucket('us-west-2')} (us-west-2)" in replica.expected


def test_a_critical_bucket_that_opts_out_is_said_as_information(deployed: Deployed) -> None:
    view = deployed.view("archive")
    judged = judge_configured(deployed.target, view)
    assert verdicts(judged) == [(r, "info") for r in pair(view)]
    assert "this critical bucket has no S3 Inventory: its config opts out (inventory.enabled = false" in judged[0].actual
    logs = judge_configured(deployed.target, deployed.view("logs"))
    assert [j.verdict for j in logs] == ["info", "info"]
    assert "no S3 Inventory asked: standard-tier buckets have none" in logs[0].actual


def test_a_configuration_id_the_bucket_lacks_fails_on_the_source_and_its_replica(deployed: Deployed) -> None:
    d = deployed
    other = Workload(parse_workload('[bucket]\ninventory.config_id = "nightly"\n'), d.world.account_id, "w.toml")
    judged = judge_configured(d.target, other)
    assert verdicts(judged) == [(r, "fail") for r in pair(other)]
    assert judged[0].actual == "no inventory configuration nightly"


def test_a_disabled_configuration_fails_and_the_redeploy_mends_it(deployed: Deployed) -> None:
    d = deployed
    view = d.view("models")
    client = d.target.client("s3", view.secondary_region)
    config = client.get_bucket_inventory_configuration(Bucket=view.backup_bucket, Id="weekly")["InventoryConfiguration"]
    client.put_bucket_inventory_configuration(Bucket=view.backup_bucket, Id="weekly",
                                              InventoryConfiguration={**config, "IsEnabled": False})
    source, replica = judge_configured(d.target, view)
    assert (source.verdict, replica.verdict) == ("pass", "fail")
    assert replica.actual.startswith("inventory configuration weekly DISABLED, Weekly")
    deploy_workload(d.target, d.workload)
    assert [j.verdict for j in judge_configured(d.target, view)] == ["pass", "pass"]


# -- inventory-fresh ---------------------------------------------------------------------------------


def test_the_report_time_is_read_from_the_folder_name() -> None:
    assert report_time("inventory/b/c/2016-11-06T21-32Z/") == dt.datetime(2016, 11, 6, 21, 32, tzinfo=dt.timezone.utc)
    assert report_time("inventory/b/c/data/") is None
    assert report_time("inventory/b/c/hive/") is None
    assert report_time("inventory/b/c/2016-13-06T21-32Z/") is None


def test_a_daily_report_is_fresh_until_48_hours_after_it(deployed: Deployed) -> None:
    d = deployed
    view = d.view("data")
    made = at_minute(d.now()) - dt.timedelta(hours=2)
    folder = d.write_report(view, made)
    source = judge_fresh(d.target, view, made + dt.timedelta(hours=47))[0]
    assert (source.verdict, source.age_seconds, source.limit_seconds) == ("pass", 47 * HOUR, REPORT_MAX_AGE_SECONDS["Daily"])
    assert source.report == f"s3://{view.inventory_bucket(view.primary_region)}/{folder}manifest.json"
    late = judge_fresh(d.target, view, made + dt.timedelta(hours=49))[0]
    assert (late.verdict, late.age_seconds) == ("fail", 49 * HOUR)
    assert "a Daily inventory is late 48 h after its previous report" in late.actual


def test_a_folder_without_its_checksum_is_not_a_report(deployed: Deployed) -> None:
    d = deployed
    view = d.view("data")
    older = at_minute(d.now()) - dt.timedelta(days=3)
    complete = d.write_report(view, older, replica=True)
    d.write_report(view, older + dt.timedelta(days=2), replica=True, checksum=False)  # still being written
    replica = judge_fresh(d.target, view, older + dt.timedelta(days=2, hours=1))[1]
    assert replica.verdict == "fail" and replica.age_seconds == 2 * DAY + HOUR
    assert replica.report.endswith(f"{complete}manifest.json")


def test_a_weekly_report_may_be_eight_days_old(deployed: Deployed) -> None:
    d = deployed
    view = d.view("models")
    made = at_minute(d.now()) - dt.timedelta(days=1)
    d.write_report(view, made)
    assert judge_fresh(d.target, view, made + dt.timedelta(days=7, hours=23))[0].verdict == "pass"
    late = judge_fresh(d.target, view, made + dt.timedelta(days=8, hours=1))[0]
    assert late.verdict == "fail" and "a Weekly inventory is late 8 days after its previous report" in late.actual


def test_no_report_is_information_within_48_hours_of_the_destination_and_fails_after(deployed: Deployed) -> None:
    d = deployed
    view = d.view("models")  # its replica has no report
    now = d.now()
    waiting = judge_fresh(d.target, view, now)[1]
    assert waiting.verdict == "info" and waiting.age_seconds is None
    assert "no complete report yet under s3://" in waiting.actual
    assert "AWS delivers the first report within 48 hours of configuration" in waiting.actual
    late = judge_fresh(d.target, view, now + dt.timedelta(seconds=FIRST_REPORT_SECONDS + HOUR))[1]
    assert late.verdict == "fail"
    assert late.actual.startswith(f"no complete report under s3://{view.inventory_bucket(view.secondary_region)}/"
                                  f"inventory/{view.backup_bucket}/weekly/: AWS delivers the first report within 48 hours")


def test_a_bucket_without_an_inventory_has_no_freshness_to_judge(deployed: Deployed) -> None:
    assert [j.verdict for j in judge_fresh(deployed.target, deployed.view("archive"), deployed.now())] == ["info", "info"]


# -- the records ---------------------------------------------------------------------------------------


def test_each_judgement_is_one_record_with_its_verdict(deployed: Deployed, tmp_path: Path) -> None:
    d = deployed
    recorder = Recorder(ResultSink(tmp_path, run="inventory", source="api"), "offline")
    later = d.now() + dt.timedelta(days=30)
    for bucket_id in ("data", "archive"):
        for check in (INVENTORY_CONFIGURED, INVENTORY_FRESH):
            for judgement in BUCKET_INVENTORY_CHECKS[check](d.target, d.view(bucket_id), later):
                record(recorder, judgement, SCENARIO)
    found = {(r.check, r.resource): (r.verdict, r.kind, r.metric) for r in read_records(tmp_path, "inventory")}
    data, archive = pair(d.view("data")), pair(d.view("archive"))
    assert found[(INVENTORY_CONFIGURED, data[0])] == ("pass", "objective", "compliant")
    assert found[(INVENTORY_FRESH, data[1])] == ("fail", "objective", "inventory_report_age")
    assert found[(INVENTORY_CONFIGURED, archive[0])] == ("info", "info", "compliant")
    assert found[(INVENTORY_FRESH, archive[1])] == ("info", "info", "inventory_report_age")
    assert len(found) == 8
