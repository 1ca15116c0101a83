"""FSx backups and restores for the offline world.

moto stores file systems and backups but leaves every backup CREATING, reports no file-system
lifecycle and cannot create a file system from a backup. This engine adds what AWS does: a backup
goes CREATING -> AVAILABLE after `backup_seconds` (FAILED when its region goes down meanwhile);
`CreateFileSystemFromBackup` creates a file system shaped like the backed-up one that stays CREATING
for `restore_seconds` (infinite = never finishes) before it is AVAILABLE; automatic daily backups
are taken at `DailyAutomaticBackupStartTime` (UTC) by the world clock and deleted once older than
`AutomaticBackupRetentionDays`, and with their file system. A file system made by `CreateFileSystem`
is AVAILABLE at once, so a deployment does not wait on it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drharness.cron import fire_times_between
from drharness.world.engine import BaseEngine
from drharness.world.faults.table import FaultTable
from drharness.world.moto import fsx as moto_fsx
from drharness.world.plane import Plane
from drharness.world.wire import AwsError, AwsRequest, CapturedResponse, json_response

DAY = 86400.0
_START_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CONFIG_KEYS = ("LustreConfiguration", "WindowsConfiguration", "OpenZFSConfiguration", "OntapConfiguration")
BACKUP_NOT_AVAILABLE = "Backup {backup_id} is {lifecycle}; restore from a backup once it is AVAILABLE"
BACKUP_NOT_FOUND = "Backup {backup_id} does not exist in {region}"
RestoreDone = Callable[[bool, str, str], None]  # (ok, message, file system ARN)


@dataclass
class _FileSystem:
    region: str
    lifecycle: str  # CREATING | AVAILABLE | FAILED
    created_at: float
    automatic_checked: float  # world time up to which daily automatic backups were taken
    failure: str = ""


@dataclass
class _Backup:
    region: str
    file_system_id: str
    kind: str  # USER_INITIATED | AUTOMATIC | AWS_BACKUP
    source: dict[str, Any]  # the file system's description when it was backed up
    created_at: float
    failure: str = ""


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def backup_settings(description: dict[str, Any]) -> tuple[int, str | None]:
    """(AutomaticBackupRetentionDays, DailyAutomaticBackupStartTime) of a file-system description."""
    for key in _CONFIG_KEYS:
        config = description.get(key) or {}
        if "AutomaticBackupRetentionDays" in config or "DailyAutomaticBackupStartTime" in config:
            return int(config.get("AutomaticBackupRetentionDays") or 0), config.get("DailyAutomaticBackupStartTime")
    return 0, None


class FsxEngine(BaseEngine):
    def __init__(self, plane: Plane, faults: FaultTable, restore_seconds: float) -> None:
        self._plane = plane
        self._faults = faults
        self.backup_seconds = 0.05
        self.restore_seconds = float(restore_seconds)
        self._lock = threading.RLock()
        self._file_systems: dict[str, _FileSystem] = {}
        self._backups: dict[str, _Backup] = {}
        self._start_times: dict[str, str] = {}

    # -- the HTTP path --------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "fsx":
            return None
        self.tick()
        body = request.json_body
        try:
            if request.operation == "CreateFileSystemFromBackup":
                description = self.create_from_backup(request.region, str(body.get("BackupId", "")), body)
                return _ok({"FileSystem": description})
            if request.operation == "CreateBackup":
                self._check_available(request.region, str(body.get("FileSystemId", "")))
            if request.operation == "UpdateFileSystem":  # moto lacks it; the deploy changes backup settings in place
                file_system_id = str(body.get("FileSystemId", ""))
                self._check_available(request.region, file_system_id)
                updated = moto_fsx.fsx_update_file_system(request.region, file_system_id, body)
                if updated is None:
                    raise AwsError("FileSystemNotFound", f"File system {file_system_id} does not exist in {request.region}")
                self._describe_file_system(updated)
                return _ok({"FileSystem": updated})
        except AwsError as exc:
            return exc.response("fsx")
        return None

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service != "fsx" or not response.ok:
            return
        op, region = request.operation, request.region
        try:
            body = json.loads(response.body or b"{}")
        except ValueError:
            return
        if op == "CreateFileSystem":
            file_system = body.get("FileSystem") or {}
            now = self._plane.now()
            with self._lock:
                self._file_systems[file_system["FileSystemId"]] = _FileSystem(region, "AVAILABLE", now, now)
            self._describe_file_system(file_system)
        elif op == "DescribeFileSystems":
            for file_system in body.get("FileSystems") or []:
                self._describe_file_system(file_system)
        elif op == "CreateBackup":
            backup = body.get("Backup") or {}
            file_system_id = str(request.json_body.get("FileSystemId", ""))
            self._register_backup(region, backup["BackupId"], file_system_id, "USER_INITIATED", self._plane.now())
            self._describe_backup(backup)
        elif op == "DescribeBackups":
            for backup in body.get("Backups") or []:
                self._describe_backup(backup)
        elif op == "DeleteFileSystem":
            self._forget_file_system(str(request.json_body.get("FileSystemId", "")))
            return
        elif op == "DeleteBackup":
            with self._lock:
                self._backups.pop(str(request.json_body.get("BackupId", "")), None)
            return
        else:
            return
        response.set_body(json.dumps(body, default=str).encode())

    # -- what clients see -----------------------------------------------------------------------------

    def _describe_file_system(self, description: dict[str, Any]) -> None:
        with self._lock:
            state = self._file_systems.get(description.get("FileSystemId", ""))
        if state is None:
            return
        description["Lifecycle"] = state.lifecycle
        description["CreationTime"] = state.created_at
        description["OwnerId"] = self._plane.account_id
        if state.failure:
            description["FailureDetails"] = {"Message": state.failure}

    def _describe_backup(self, description: dict[str, Any]) -> None:
        with self._lock:
            info = self._backups.get(description.get("BackupId", ""))
        if info is None:
            return
        description["Type"] = info.kind
        description["CreationTime"] = info.created_at
        description["FileSystem"] = {k: v for k, v in info.source.items() if k != "Tags"}
        description["ProgressPercent"] = 100 if description.get("Lifecycle") == "AVAILABLE" else 0
        description["OwnerId"] = self._plane.account_id
        if info.failure:
            description["FailureDetails"] = {"Message": info.failure}

    def lifecycle(self, file_system_id: str) -> str | None:
        with self._lock:
            state = self._file_systems.get(file_system_id)
            return None if state is None else state.lifecycle

    # -- backups --------------------------------------------------------------------------------------

    def _check_available(self, region: str, file_system_id: str) -> None:
        lifecycle = self.lifecycle(file_system_id)
        if lifecycle is not None and lifecycle != "AVAILABLE":
            raise AwsError("BadRequest", f"File system {file_system_id} is {lifecycle}; back it up once it is AVAILABLE")

    def take_backup(
        self, region: str, file_system_id: str, kind: str, created_at: float, tags: list[dict[str, str]] | None = None
    ) -> tuple[str, str]:
        """Back up a file system as `kind`; (backup id, ARN). AwsError when it does not exist or is not AVAILABLE."""
        self._check_available(region, file_system_id)
        try:
            backup_id, arn = moto_fsx.fsx_create_backup(region, file_system_id, tags)
        except KeyError as exc:
            raise AwsError("FileSystemNotFound", f"File system {file_system_id} does not exist in {region}") from exc
        self._register_backup(region, backup_id, file_system_id, kind, created_at)
        return backup_id, arn

    def _register_backup(self, region: str, backup_id: str, file_system_id: str, kind: str, created_at: float) -> None:
        source = moto_fsx.fsx_file_system(region, file_system_id) or {"FileSystemId": file_system_id}
        with self._lock:
            self._backups[backup_id] = _Backup(region, file_system_id, kind, source, created_at)
        moto_fsx.fsx_set_backup(region, backup_id, creation_time=created_at)
        if kind == "AWS_BACKUP":
            return  # AWS Backup's job says when it is done: see finish_backup
        due = created_at + self.backup_seconds - self._plane.now()
        if due <= 0:
            self.finish_backup(region, backup_id)
        else:
            self._plane.submit(due, lambda: self.finish_backup(region, backup_id), lambda: False, f"fsx backup {backup_id}")

    def finish_backup(self, region: str, backup_id: str) -> bool:
        """Make a CREATING backup AVAILABLE (FAILED when its region is down); whether it is AVAILABLE."""
        if moto_fsx.fsx_backup_lifecycle(region, backup_id) != "CREATING":
            return moto_fsx.fsx_backup_lifecycle(region, backup_id) == "AVAILABLE"
        if self._faults.region_down(region):
            with self._lock:
                if backup_id in self._backups:
                    self._backups[backup_id].failure = f"region {region} became unavailable while the backup was taken"
            moto_fsx.fsx_set_backup(region, backup_id, lifecycle="FAILED")
            return False
        moto_fsx.fsx_set_backup(region, backup_id, lifecycle="AVAILABLE")
        return True

    def delete_backup(self, region: str, backup_id: str) -> None:
        with self._lock:
            self._backups.pop(backup_id, None)
        moto_fsx.fsx_delete_backup(region, backup_id)

    def _forget_file_system(self, file_system_id: str) -> None:
        with self._lock:
            self._file_systems.pop(file_system_id, None)
            automatic = [(b.region, i) for i, b in self._backups.items() if b.file_system_id == file_system_id and b.kind == "AUTOMATIC"]
        for region, backup_id in automatic:  # AWS deletes automatic backups with their file system
            self.delete_backup(region, backup_id)

    # -- restores -------------------------------------------------------------------------------------

    def create_from_backup(
        self, region: str, backup_id: str, request: dict[str, Any], *, seconds: float | None = None,
        on_done: RestoreDone | None = None,
    ) -> dict[str, Any]:
        """Create a file system from an AVAILABLE backup; it stays CREATING for `seconds` (default restore_seconds)."""
        lifecycle = moto_fsx.fsx_backup_lifecycle(region, backup_id)
        if lifecycle is None:
            raise AwsError("BackupNotFound", BACKUP_NOT_FOUND.format(backup_id=backup_id, region=region))
        if lifecycle != "AVAILABLE":
            raise AwsError("BadRequest", BACKUP_NOT_AVAILABLE.format(backup_id=backup_id, lifecycle=lifecycle))
        with self._lock:
            info = self._backups.get(backup_id)
        source = info.source if info is not None else {}
        if "FileSystemType" not in source:
            raise AwsError("BadRequest", f"Backup {backup_id} has no file-system description to restore from")
        description = moto_fsx.fsx_create_file_system(region, source, request)
        file_system_id = description["FileSystemId"]
        now = self._plane.now()
        with self._lock:
            self._file_systems[file_system_id] = _FileSystem(region, "CREATING", now, now)
        delay = self.restore_seconds if seconds is None else seconds

        def finish() -> None:
            ok = not self._faults.region_down(region)
            with self._lock:
                state = self._file_systems.get(file_system_id)
                if state is None:
                    return
                state.lifecycle = "AVAILABLE" if ok else "FAILED"
                state.failure = "" if ok else f"region {region} became unavailable while the file system was created"
                message = state.failure
            if on_done is not None:  # outside the lock: the callback may take another engine's lock
                on_done(ok, message, str(description.get("ResourceARN", "")))

        if math.isfinite(delay):
            self._plane.submit(delay, finish, lambda: False, f"fsx restore {backup_id} -> {file_system_id}")
        self._describe_file_system(description)
        return description

    # -- the world clock: automatic daily backups and their retention -------------------------------

    def tick(self) -> None:
        """Take the automatic daily backups the clock has passed and delete those past retention."""
        with self._lock:  # one tick at a time, or two would take the same automatic backup
            self._tick(self._plane.now())

    def _tick(self, now: float) -> None:
        for file_system_id, state in list(self._file_systems.items()):
            since, state.automatic_checked = state.automatic_checked, now
            if state.lifecycle != "AVAILABLE" or since >= now:
                continue
            description = moto_fsx.fsx_file_system(state.region, file_system_id)
            if description is None:
                continue
            retention, start = backup_settings(description)
            if retention <= 0:
                continue
            match = _START_TIME.match(start or "") or _START_TIME.match(self._random_start(file_system_id))
            assert match is not None
            cron = f"cron({int(match.group(2))} {int(match.group(1))} * * ? *)"
            for fire in fire_times_between(cron, _utc(since), _utc(now)):
                taken = fire.timestamp()
                if taken + retention * DAY <= now:
                    continue  # past its retention already: it would be deleted at once
                try:
                    self.take_backup(state.region, file_system_id, "AUTOMATIC", taken)
                except AwsError as exc:
                    self._plane.report(f"fsx automatic backup of {file_system_id}: {exc}")
        self._expire(now)

    def _random_start(self, file_system_id: str) -> str:
        """AWS picks a start time when none is set; the world picks one from its seeded rng."""
        with self._lock:
            if file_system_id not in self._start_times:
                minute = self._plane.rng.randrange(24 * 60)
                self._start_times[file_system_id] = f"{minute // 60:02d}:{minute % 60:02d}"
            return self._start_times[file_system_id]

    def _expire(self, now: float) -> None:
        with self._lock:
            automatic = [(i, b) for i, b in self._backups.items() if b.kind == "AUTOMATIC"]
        for backup_id, info in automatic:
            description = moto_fsx.fsx_file_system(info.region, info.file_system_id)
            retention = backup_settings(description or info.source)[0]
            if info.created_at + retention * DAY <= now:
                self.delete_backup(info.region, backup_id)


def _ok(payload: dict[str, Any]) -> CapturedResponse:
    return json_response("fsx", payload)
