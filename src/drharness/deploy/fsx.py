"""FSx for Lustre: the shared file system, with daily automatic backups kept as the config says."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names
from drharness.deploy.batch import Network
from drharness.deploy.common import ApplyLog, Checker, backup_tags, call, is_unsupported, tag_list, tag_map, workload_tags
from drharness.errors import DeployError
from drharness.target import Target
from drharness.waiting import wait_until

RETENTION = "LustreConfiguration.AutomaticBackupRetentionDays"
START_TIME = "LustreConfiguration.DailyAutomaticBackupStartTime"
# Scratch file systems take no automatic backups; PERSISTENT_2 is the current persistent type.
DEPLOYMENT_TYPE = "PERSISTENT_2"
THROUGHPUT_MB_S_PER_TIB = 125
AVAILABLE_TIMEOUT_S = 1800.0


def file_system_resource(name: str) -> str:
    return f"fsx file system {name}"


def find(target: Target, workload: Workload) -> dict[str, Any] | None:
    """The file system tagged Name=<file_system name>, or None."""
    fsx = target.client("fsx", workload.primary_region)
    for page in fsx.get_paginator("describe_file_systems").paginate():
        for fs in page.get("FileSystems", []):
            if tag_map(fs.get("Tags")).get("Name") == workload.file_system:
                return dict(fs)
    return None


def _backup_settings(workload: Workload) -> dict[str, Any]:
    spec = workload.spec.file_system
    return {
        "AutomaticBackupRetentionDays": spec.automatic_backup_retention_days,
        "DailyAutomaticBackupStartTime": spec.daily_backup_start_time,
    }


def apply(target: Target, workload: Workload, network: Network, log: ApplyLog) -> None:
    for view in workload.each_file_system():
        _apply_file_system(target, view, network, log)


def _apply_file_system(target: Target, workload: Workload, network: Network, log: ApplyLog) -> None:
    spec = workload.spec.file_system
    if spec.type != "LUSTRE":
        raise DeployError(
            f"file_system.type {spec.type!r}: only LUSTRE is deployed offline; deploy the file system "
            "yourself and run `drharness deploy` against it for verification"
        )
    fsx = target.client("fsx", workload.primary_region)
    existing = find(target, workload)
    if existing is None:
        tags = {"Name": workload.file_system, **workload_tags(workload, spec.tier), **backup_tags(workload, spec)}
        created = call(
            f"fsx.create_file_system {workload.file_system}",
            fsx.create_file_system,
            FileSystemType="LUSTRE",
            StorageCapacity=spec.storage_gib,
            StorageType="SSD",
            # Lustre is single-AZ: the first zone of the first compute environment.
            SubnetIds=[network.subnets_in(names.zones(workload, workload.primary_region))[0]],
            SecurityGroupIds=[network.security_group_id],
            LustreConfiguration={
                "DeploymentType": DEPLOYMENT_TYPE,
                "PerUnitStorageThroughput": THROUGHPUT_MB_S_PER_TIB,
                "CopyTagsToBackups": True,
                **_backup_settings(workload),
            },
            Tags=tag_list(tags),
        )["FileSystem"]
        _wait_available(target, workload, created)
        log.add("fsx file system", workload.file_system, workload.primary_region, "created", created["FileSystemId"])
        return
    current = existing.get("LustreConfiguration") or {}
    wanted = _backup_settings(workload)
    action = "unchanged"
    if any(current.get(k) != v for k, v in wanted.items()):
        try:
            fsx.update_file_system(FileSystemId=existing["FileSystemId"], LustreConfiguration=wanted)
            action = "updated"
        except ClientError as exc:
            if not is_unsupported(exc):
                raise DeployError(f"fsx.update_file_system {workload.file_system} failed: {exc}") from exc
            # The target cannot change a file system in place; verification names the difference.
    wanted_tags = {**workload_tags(workload, spec.tier), **backup_tags(workload, spec)}
    if any(tag_map(existing.get("Tags")).get(k) != v for k, v in wanted_tags.items()):
        call(f"fsx.tag_resource {workload.file_system}", fsx.tag_resource,
             ResourceARN=existing["ResourceARN"], Tags=tag_list(wanted_tags))
        action = "updated"
    log.add("fsx file system", workload.file_system, workload.primary_region, action, existing["FileSystemId"])


def _wait_available(target: Target, workload: Workload, created: dict[str, Any]) -> None:
    if "Lifecycle" not in created:
        return  # a target that reports no lifecycle has nothing to wait for
    outcome = wait_until(
        lambda: (find(target, workload) or {}).get("Lifecycle") == "AVAILABLE",
        AVAILABLE_TIMEOUT_S,
        target.poll_interval_s,
        what=f"file system {workload.file_system} to be AVAILABLE",
    )
    if not outcome.ok:
        raise DeployError(f"{outcome.reason}; run the deploy again to resume")


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_file_system():
        _verify_file_system(target, view, check)


def _verify_file_system(target: Target, workload: Workload, check: Checker) -> None:
    spec = workload.spec.file_system
    resource = file_system_resource(workload.file_system)
    fs = find(target, workload)
    if fs is None:
        check.missing(resource, "exists (tag Name)")
        return
    if "Lifecycle" in fs:
        check.expect(resource, "Lifecycle", "AVAILABLE", fs["Lifecycle"])
    check.expect(resource, "FileSystemType", spec.type, fs.get("FileSystemType"))
    check.expect(resource, "StorageCapacity", spec.storage_gib, fs.get("StorageCapacity"))
    lustre = fs.get("LustreConfiguration") or {}
    check.expect(resource, RETENTION, spec.automatic_backup_retention_days, lustre.get("AutomaticBackupRetentionDays"))
    check.expect(resource, START_TIME, spec.daily_backup_start_time, lustre.get("DailyAutomaticBackupStartTime"))
    tags = tag_map(fs.get("Tags"))
    for key, value in backup_tags(workload, spec).items():
        check.expect(resource, f"Tags.{key}", value, tags.get(key))
