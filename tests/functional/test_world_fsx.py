"""The offline world's FSx: backups that become AVAILABLE, restores, automatic daily backups, AWS Backup."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from drharness.cron import next_fire_times
from drharness.waiting import wait_until
from drharness.world import WorldClient
from drharness.world.services.fsx.engine import BACKUP_NOT_AVAILABLE

REGION = "us-east-1"
SUBNET = "subnet-0123456789abcdef0"
ROLE = "arn:aws:iam::123456789012:role/backup"
DAY = 86400.0
LUSTRE = {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125,
          "AutomaticBackupRetentionDays": 30, "DailyAutomaticBackupStartTime": "02:00"}


@pytest.fixture
def fsx(target):
    return target.client("fsx", REGION)


def _file_system(fsx, **lustre):
    created = fsx.create_file_system(
        FileSystemType="LUSTRE", StorageCapacity=1200, StorageType="SSD", SubnetIds=[SUBNET],
        LustreConfiguration={**LUSTRE, **lustre}, Tags=[{"Key": "BackupRequired", "Value": "true"}],
    )["FileSystem"]
    return created


def _backup_state(fsx, backup_id):
    return fsx.describe_backups(BackupIds=[backup_id])["Backups"][0]


def _wait_backup(fsx, backup_id):
    done = wait_until(lambda: _backup_state(fsx, backup_id)["Lifecycle"] != "CREATING", 5, what="backup to leave CREATING")
    assert done.ok, done.reason
    return _backup_state(fsx, backup_id)


def _lifecycle(fsx, file_system_id):
    return fsx.describe_file_systems(FileSystemIds=[file_system_id])["FileSystems"][0]["Lifecycle"]


def test_backup_becomes_available_and_describes_its_file_system(world, fsx):
    file_system = _file_system(fsx)
    assert _lifecycle(fsx, file_system["FileSystemId"]) == "AVAILABLE"
    WorldClient(world.endpoint).set_fsx_timing(backup_seconds=0.3)
    backup = fsx.create_backup(FileSystemId=file_system["FileSystemId"], Tags=[{"Key": "BackupType", "Value": "Manual"}])["Backup"]
    assert backup["Lifecycle"] == "CREATING"
    described = _wait_backup(fsx, backup["BackupId"])
    assert described["Lifecycle"] == "AVAILABLE"
    assert described["Type"] == "USER_INITIATED"
    assert described["FileSystem"]["FileSystemId"] == file_system["FileSystemId"]
    assert described["ProgressPercent"] == 100


def test_file_system_from_backup_is_creating_then_available_and_shaped_like_the_source(world, fsx):
    source = _file_system(fsx)
    backup_id = fsx.create_backup(FileSystemId=source["FileSystemId"])["Backup"]["BackupId"]
    assert _wait_backup(fsx, backup_id)["Lifecycle"] == "AVAILABLE"
    WorldClient(world.endpoint).set_fsx_timing(restore_seconds=0.3)
    restored = fsx.create_file_system_from_backup(
        BackupId=backup_id, SubnetIds=[SUBNET], Tags=[{"Key": "drharness:test-resource", "Value": "true"}]
    )["FileSystem"]
    assert restored["Lifecycle"] == "CREATING"
    assert restored["FileSystemId"] != source["FileSystemId"]
    done = wait_until(lambda: _lifecycle(fsx, restored["FileSystemId"]) == "AVAILABLE", 5, what="restored file system")
    assert done.ok, done.reason
    described = fsx.describe_file_systems(FileSystemIds=[restored["FileSystemId"]])["FileSystems"][0]
    assert (described["FileSystemType"], described["StorageCapacity"]) == ("LUSTRE", 1200)
    assert described["LustreConfiguration"]["DeploymentType"] == "PERSISTENT_2"
    assert {"Key": "drharness:test-resource", "Value": "true"} in described["Tags"]


def test_restore_needs_an_available_backup(world, fsx):
    source = _file_system(fsx)
    WorldClient(world.endpoint).set_fsx_timing(backup_seconds=60)
    backup_id = fsx.create_backup(FileSystemId=source["FileSystemId"])["Backup"]["BackupId"]
    with pytest.raises(ClientError) as info:
        fsx.create_file_system_from_backup(BackupId=backup_id, SubnetIds=[SUBNET])
    assert info.value.response["Error"]["Message"] == BACKUP_NOT_AVAILABLE.format(backup_id=backup_id, lifecycle="CREATING")
    with pytest.raises(ClientError) as info:
        fsx.create_file_system_from_backup(BackupId="backup-00000000", SubnetIds=[SUBNET])
    assert info.value.response["Error"]["Code"] == "BackupNotFound"


def test_a_restore_that_never_finishes_stays_creating(world, fsx):
    source = _file_system(fsx)
    backup_id = fsx.create_backup(FileSystemId=source["FileSystemId"])["Backup"]["BackupId"]
    _wait_backup(fsx, backup_id)
    WorldClient(world.endpoint).set_fsx_timing(restore_seconds=None)
    restored = fsx.create_file_system_from_backup(BackupId=backup_id, SubnetIds=[SUBNET])["FileSystem"]
    assert world.settle(5)  # nothing is left to run: the file system is never made AVAILABLE
    assert _lifecycle(fsx, restored["FileSystemId"]) == "CREATING"


def test_automatic_daily_backups_follow_the_clock_and_the_retention(world, fsx):
    file_system_id = _file_system(fsx, AutomaticBackupRetentionDays=7)["FileSystemId"]
    manual = fsx.create_backup(FileSystemId=file_system_id)["Backup"]["BackupId"]
    clock = WorldClient(world.endpoint)
    now = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
    two_am = next_fire_times("cron(0 2 * * ? *)", now, 1)[0]
    clock.advance_clock((two_am - now).total_seconds() + 60)

    def automatic():
        return [b for b in fsx.describe_backups()["Backups"] if b["Type"] == "AUTOMATIC"]

    first = automatic()
    assert [b["CreationTime"] for b in first] == [two_am]
    assert first[0]["Lifecycle"] == "AVAILABLE"
    clock.advance_clock(10 * DAY)
    kept = automatic()
    assert len(kept) == 7  # the daily backups of the last 7 days; older ones are deleted
    assert first[0]["BackupId"] not in {b["BackupId"] for b in kept}
    assert manual in {b["BackupId"] for b in fsx.describe_backups()["Backups"]}  # user backups are kept
    fsx.delete_file_system(FileSystemId=file_system_id)
    assert automatic() == []


def test_update_file_system_changes_the_backup_settings(world, fsx):
    file_system_id = _file_system(fsx)["FileSystemId"]
    updated = fsx.update_file_system(
        FileSystemId=file_system_id, LustreConfiguration={"AutomaticBackupRetentionDays": 7, "DailyAutomaticBackupStartTime": "03:30"}
    )["FileSystem"]
    assert updated["LustreConfiguration"]["AutomaticBackupRetentionDays"] == 7
    described = fsx.describe_file_systems(FileSystemIds=[file_system_id])["FileSystems"][0]["LustreConfiguration"]
    assert (described["DailyAutomaticBackupStartTime"], described["DeploymentType"]) == ("03:30", "PERSISTENT_2")
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId="fs-00000000", LustreConfiguration={"AutomaticBackupRetentionDays": 1})
    assert info.value.response["Error"]["Code"] == "FileSystemNotFound"


def test_aws_backup_job_backs_up_and_restores_a_file_system(world, fsx, target):
    backup = target.client("backup", REGION)
    backup.create_backup_vault(BackupVaultName="vault")
    source = _file_system(fsx)
    job_id = backup.start_backup_job(BackupVaultName="vault", ResourceArn=source["ResourceARN"], IamRoleArn=ROLE)["BackupJobId"]
    assert world.settle(5)
    job = backup.describe_backup_job(BackupJobId=job_id)
    assert job["State"] == "COMPLETED", job.get("StatusMessage")
    fsx_backup_id = job["RecoveryPointArn"].rsplit("/", 1)[-1]
    described = _backup_state(fsx, fsx_backup_id)
    assert (described["Type"], described["Lifecycle"]) == ("AWS_BACKUP", "AVAILABLE")
    restore_id = backup.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], Metadata={}, IamRoleArn=ROLE)["RestoreJobId"]
    done = wait_until(lambda: backup.describe_restore_job(RestoreJobId=restore_id)["Status"] in ("COMPLETED", "FAILED"), 5)
    assert done.ok, done.reason
    restored = backup.describe_restore_job(RestoreJobId=restore_id)
    assert restored["Status"] == "COMPLETED", restored.get("StatusMessage")
    new_id = restored["CreatedResourceArn"].rsplit("/", 1)[-1]
    assert _lifecycle(fsx, new_id) == "AVAILABLE"
