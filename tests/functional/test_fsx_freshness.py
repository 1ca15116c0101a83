"""Live accounts keep FSx automatic daily backups in FSx (fsx:DescribeBackups), not in the Backup vault."""

from __future__ import annotations

from drharness.target import OfflineTarget
from drharness.waiting import wait_until
from drtests.test_config_compliance import _newest_fsx_backup


def test_the_newest_available_fsx_backup_stands_for_the_file_systems_recovery_point(world):
    target = OfflineTarget(world.endpoint, world.account_id)  # the SDK's own retries: creating an FSx file system is slow
    ec2, fsx = target.client("ec2", "us-east-1"), target.client("fsx", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    fs = fsx.create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200, SubnetIds=[subnet])["FileSystem"]
    assert _newest_fsx_backup(target, "us-east-1", fs["ResourceARN"]) is None
    backup = fsx.create_backup(FileSystemId=fs["FileSystemId"])["Backup"]

    def available():
        return fsx.describe_backups(BackupIds=[backup["BackupId"]])["Backups"][0]["Lifecycle"] == "AVAILABLE"

    assert wait_until(available, 30, 0.05, what="the FSx backup to be AVAILABLE").ok
    point = _newest_fsx_backup(target, "us-east-1", fs["ResourceARN"])
    assert point is not None and point["RecoveryPointArn"].endswith(backup["BackupId"])
