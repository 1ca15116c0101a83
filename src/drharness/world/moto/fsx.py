"""moto's FSx backends: file systems and backups, for the FSx engine and AWS Backup."""

from __future__ import annotations

import copy
from typing import Any

from moto.fsx.models import fsx_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID


def fsx_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    return fsx_backends[account_id][region]


def fsx_file_system(region: str, file_system_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any] | None:
    """The wire description moto keeps of a file system, or None when it does not exist."""
    found = fsx_backend(region, account_id).file_systems.get(file_system_id)
    return None if found is None else copy.deepcopy(found.to_dict())


def fsx_create_file_system(
    region: str, source: dict[str, Any], request: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID
) -> dict[str, Any]:
    """Create a file system shaped like `source` (a description) with the request's network, tags and overrides."""
    def merged(name: str) -> dict[str, Any] | None:
        base = copy.deepcopy(source.get(name))
        if request.get(name):
            base = {**(base or {}), **request[name]}
        return base

    created = fsx_backend(region, account_id).create_file_system(
        client_request_token=request.get("ClientRequestToken", ""),
        file_system_type=source["FileSystemType"],
        storage_capacity=request.get("StorageCapacity") or source.get("StorageCapacity"),
        storage_type=request.get("StorageType") or source.get("StorageType"),
        subnet_ids=list(request.get("SubnetIds") or source.get("SubnetIds") or []),
        security_group_ids=list(request.get("SecurityGroupIds") or []),
        tags=list(request.get("Tags") or []) or None,
        kms_key_id=request.get("KmsKeyId") or source.get("KmsKeyId"),
        windows_configuration=merged("WindowsConfiguration"),
        lustre_configuration=merged("LustreConfiguration"),
        ontap_configuration=merged("OntapConfiguration"),
        file_system_type_version=request.get("FileSystemTypeVersion"),
        open_zfs_configuration=merged("OpenZFSConfiguration"),
    )
    return copy.deepcopy(created.to_dict())


def fsx_update_file_system(region: str, file_system_id: str, request: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any] | None:
    """Apply an UpdateFileSystem request (configuration keys and storage capacity); the new description, or None."""
    found = fsx_backend(region, account_id).file_systems.get(file_system_id)
    if found is None:
        return None
    for key, attribute in (("LustreConfiguration", "lustre_configuration"), ("WindowsConfiguration", "windows_configuration"),
                           ("OpenZFSConfiguration", "open_zfs_configuration"), ("OntapConfiguration", "ontap_configuration")):
        if request.get(key):
            setattr(found, attribute, {**(getattr(found, attribute) or {}), **copy.deepcopy(request[key])})
    if request.get("StorageCapacity"):
        found.storage_capacity = int(request["StorageCapacity"])
    return copy.deepcopy(found.to_dict())


def fsx_create_backup(region: str, file_system_id: str, tags: list[dict[str, str]] | None, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, str]:
    """Register a backup of the file system (moto keeps it CREATING); (backup id, ARN). KeyError without it."""
    backend = fsx_backend(region, account_id)
    if file_system_id not in backend.file_systems:
        raise KeyError(file_system_id)
    backup = backend.create_backup(file_system_id, None, None, tags or None)
    return str(backup.backup_id), str(backup.resource_arn)


def fsx_set_backup(
    region: str, backup_id: str, *, lifecycle: str | None = None, creation_time: float | None = None, account_id: str = DEFAULT_ACCOUNT_ID
) -> bool:
    """Set what moto reports for a backup; False when it no longer exists."""
    backup = fsx_backend(region, account_id).backups.get(backup_id)
    if backup is None:
        return False
    if lifecycle is not None:
        backup.lifecycle = lifecycle
    if creation_time is not None:
        backup.creation_time = creation_time
    return True


def fsx_backup_lifecycle(region: str, backup_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    backup = fsx_backend(region, account_id).backups.get(backup_id)
    return None if backup is None else str(backup.lifecycle)


def fsx_delete_backup(region: str, backup_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    fsx_backend(region, account_id).backups.pop(backup_id, None)
