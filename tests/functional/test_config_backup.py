"""CloudFormation configuration backup against the offline world: saved as the guide lays it out, and restorable."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drharness.cli import main
from drharness.config import Workload, load_workload
from drharness.deploy import deploy_workload
from drharness.errors import ProcedureError
from drharness.procedures.config_backup import (
    DESCRIPTION,
    MANIFEST,
    NO_SUCH_BACKUP,
    PARAMETERS,
    ROOT,
    STACK_UNREADABLE,
    TEMPLATE,
    backup_stacks,
    list_backups,
    restore_stack,
)
from drharness.procedures.stack import activate_dr_stack, read_dr_stack
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World, WorldClient

pytestmark = pytest.mark.xdist_group("procedures-config-backup")


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    config: Path

    def saved(self, key: str) -> Any:
        body = self.target.client("s3", self.workload.secondary_region).get_object(
            Bucket=self.workload.config_backup_bucket, Key=key)["Body"].read()
        return json.loads(body)

    def keys(self, prefix: str) -> list[str]:
        page = self.target.client("s3", self.workload.secondary_region).list_objects_v2(
            Bucket=self.workload.config_backup_bucket, Prefix=prefix)
        return sorted(o["Key"] for o in page.get("Contents", []))


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    config = tmp_path_factory.mktemp("config-backup") / "workload.toml"
    config.write_text("", encoding="utf-8")  # every default
    workload = load_workload(config)
    with World(workload.spec.offline, seed=29) as world:
        workload = workload.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        deploy_workload(target, workload)
        yield Deployed(world, target, workload, config)


def at(minute: int) -> dt.datetime:
    return dt.datetime(2030, 1, 1, 2, minute, 0, tzinfo=dt.timezone.utc)


def stack_now(d: Deployed, name: str, region: str) -> tuple[str, dict[str, str]]:
    cfn = d.target.client("cloudformation", region)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return cfn.get_template(StackName=name)["TemplateBody"], {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_backup_saves_each_stack_as_the_guide_does(d: Deployed) -> None:
    backup = backup_stacks(d.target, d.workload, now=at(0))
    assert backup.stamp == "2030-01-01-020000" and backup.prefix == f"{ROOT}/2030-01-01-020000/"
    expected = [backup.prefix + MANIFEST]
    for name in (d.workload.primary_stack, d.workload.dr_stack):
        expected += [f"{backup.prefix}{name}/{f}" for f in (DESCRIPTION, TEMPLATE, PARAMETERS)]
    assert d.keys(backup.prefix) == sorted(expected)
    for saved in backup.stacks:
        template, parameters = stack_now(d, saved.name, saved.region)
        assert d.saved(saved.prefix + TEMPLATE)["TemplateBody"] == template
        assert {p["ParameterKey"]: p["ParameterValue"] for p in d.saved(saved.prefix + PARAMETERS)} == parameters
        assert d.saved(saved.prefix + DESCRIPTION)["Stacks"][0]["StackName"] == saved.name
    assert backup.stamp in list_backups(d.target, d.workload)


def test_round_trip_backup_delete_restore(d: Deployed) -> None:
    backup = backup_stacks(d.target, d.workload, now=at(1))
    (dr,) = [s for s in backup.stacks if s.name == d.workload.dr_stack]
    cfn = d.target.client("cloudformation", dr.region)
    cfn.delete_stack(StackName=dr.name)

    def gone() -> bool:
        try:
            return cfn.describe_stacks(StackName=dr.name)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
        except ClientError:
            return True

    assert wait_until(gone, 10, 0.05, what="the DR stack to be deleted").ok
    assert not read_dr_stack(d.target, d.workload).exists

    result = restore_stack(d.target, d.workload, backup.prefix)
    assert (result.action, result.status, result.matches) == ("created", "CREATE_COMPLETE", True)
    template, parameters = stack_now(d, dr.name, dr.region)
    assert template == d.saved(dr.prefix + TEMPLATE)["TemplateBody"]
    assert parameters == {p["ParameterKey"]: p["ParameterValue"] for p in d.saved(dr.prefix + PARAMETERS)}
    # Restoring again finds it equal and changes nothing.
    assert restore_stack(d.target, d.workload, backup.stamp).action == "unchanged"


def test_restore_undoes_a_change_made_after_the_backup(d: Deployed) -> None:
    backup = backup_stacks(d.target, d.workload, now=at(2))
    activate_dr_stack(d.target, d.workload)
    assert read_dr_stack(d.target, d.workload).enabled
    result = restore_stack(d.target, d.workload, backup.stamp)
    assert (result.action, result.matches) == ("updated", True)
    assert not read_dr_stack(d.target, d.workload).enabled


def test_a_backup_needs_every_stack_and_writes_nothing_without_one(d: Deployed) -> None:
    before = list_backups(d.target, d.workload)
    fault = WorldClient(d.world.endpoint).inject("region-outage", {"region": d.workload.primary_region})
    try:
        with pytest.raises(ProcedureError) as info:
            backup_stacks(d.target, d.workload, now=at(3))
    finally:
        d.world.faults.revert(fault["id"])
    prefix = STACK_UNREADABLE.format(stack=d.workload.primary_stack, region=d.workload.primary_region, error="\0")
    assert str(info.value).startswith(prefix.split("\0")[0])
    assert list_backups(d.target, d.workload) == before and d.keys(f"{ROOT}/2030-01-01-020300/") == []


def test_restoring_an_unknown_backup_names_the_known_ones(d: Deployed) -> None:
    known = list_backups(d.target, d.workload)
    with pytest.raises(ProcedureError) as info:
        restore_stack(d.target, d.workload, "1999-01-01-000000")
    assert str(info.value) == NO_SUCH_BACKUP.format(
        prefix=f"{ROOT}/1999-01-01-000000/", bucket=d.workload.config_backup_bucket, region=d.workload.secondary_region,
        known=", ".join(known[-5:]))


def test_the_backup_config_command(d: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--endpoint", d.world.endpoint, "--config", str(d.config)]
    try:
        main(["backup-config", *common])
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    assert f"saved dr stack {d.workload.dr_stack}" in out
    with pytest.raises(SystemExit) as info:
        main(["backup-config", "--restore", "latest", *common])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "template equals the saved one" in out
