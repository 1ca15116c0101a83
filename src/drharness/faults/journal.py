"""The revert journal: what each fault needs to be undone, written down before the fault changes anything.

One JSON file per fault, replaced atomically (temporary file, fsync, rename, fsync of the directory),
so a run killed at any instant leaves either the old record or the new one, never half of one.
`drharness revert` reads the records that are not marked reverted and undoes them.

Directory precedence: the argument > environment `DRHARNESS_JOURNAL` > `.drharness/journal` under the
current directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from drharness.errors import FaultError
from drharness.faults.spec import FaultParams, parse_fault

JOURNAL_ENV = "DRHARNESS_JOURNAL"
DEFAULT_JOURNAL = Path(".drharness") / "journal"

# injecting: written, the fault may or may not have reached the target; active: injected;
# reverted: undone. Anything but "reverted" is pending.
Status = Literal["injecting", "active", "reverted"]
STATUSES: tuple[Status, ...] = ("injecting", "active", "reverted")


@dataclass(frozen=True)
class BackendRef:
    """Where a fault lives, enough to reach it again from another process."""

    target: Literal["offline", "aws"]
    endpoint: str | None = None
    account_id: str | None = None
    region: str | None = None

    def describe(self) -> str:
        if self.target == "offline":
            return f"offline world at {self.endpoint}"
        return f"aws account {self.account_id} region {self.region}"


@dataclass(frozen=True)
class RevertRecord:
    """One fault as the journal knows it."""

    id: str
    name: str
    params: FaultParams
    backend: BackendRef
    created_at: datetime
    status: Status = "injecting"
    updated_at: datetime | None = None
    refs: dict[str, str] = field(default_factory=dict)  # backend handles, e.g. a FIS experiment id
    pid: int = 0

    @property
    def pending(self) -> bool:
        return self.status != "reverted"

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "params": self.params.model_dump(exclude_none=True),
                "target": self.backend.target,
                "endpoint": self.backend.endpoint,
                "account_id": self.backend.account_id,
                "region": self.backend.region,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "status": self.status,
                "refs": self.refs,
                "pid": self.pid,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> "RevertRecord":
        try:
            raw = json.loads(text)
            status = raw["status"]
            if status not in STATUSES:
                raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
            return cls(
                id=str(raw["id"]),
                name=str(raw["name"]),
                params=parse_fault(str(raw["name"]), dict(raw["params"])),
                backend=BackendRef(raw["target"], raw.get("endpoint"), raw.get("account_id"), raw.get("region")),
                created_at=datetime.fromisoformat(raw["created_at"]),
                status=status,
                updated_at=datetime.fromisoformat(raw["updated_at"]) if raw.get("updated_at") else None,
                refs={str(k): str(v) for k, v in (raw.get("refs") or {}).items()},
                pid=int(raw.get("pid") or 0),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FaultError(f"journal record {source} is unreadable ({exc}); inspect it and delete it by hand") from exc


def new_fault_id() -> str:
    """A fresh fault id, chosen by the client so the record can be written before the fault exists."""
    return uuid.uuid4().hex[:12]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    """The revert records under one directory."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        chosen = directory or os.environ.get(JOURNAL_ENV) or DEFAULT_JOURNAL
        self.directory = Path(chosen).expanduser().absolute()

    def __repr__(self) -> str:
        return f"Journal({str(self.directory)!r})"

    # -- writing ---------------------------------------------------------------------------------

    def begin(
        self, fault_id: str, name: str, params: FaultParams, backend: BackendRef, refs: dict[str, str] | None = None
    ) -> RevertRecord:
        """Write the record of a fault about to be injected; nothing has changed yet."""
        if self._path(fault_id).exists():
            raise FaultError(f"fault id {fault_id} is already in the journal {self.directory}; inject with a new id")
        record = RevertRecord(
            fault_id, name, params, backend, _utc_now(), "injecting", refs=dict(refs or {}), pid=os.getpid()
        )
        self._write(record)
        return record

    def mark(self, fault_id: str, status: Status, refs: dict[str, str] | None = None) -> RevertRecord | None:
        """Set a record's status (and add backend handles); an unknown id is left alone."""
        record = self.get(fault_id)
        if record is None:
            return None
        merged = {**record.refs, **(refs or {})}
        updated = replace(record, status=status, refs=merged, updated_at=_utc_now())
        self._write(updated)
        return updated

    def _write(self, record: RevertRecord) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{record.id}.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(record.to_json())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self._path(record.id))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._sync_directory()
        except OSError as exc:
            raise FaultError(
                f"cannot write the revert journal in {self.directory} ({exc}); nothing was injected. "
                f"Point {JOURNAL_ENV} at a writable directory"
            ) from exc

    def _sync_directory(self) -> None:
        # The rename is durable only once the directory entry is on disk.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return  # some platforms cannot open directories; the file itself is synced
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- reading ---------------------------------------------------------------------------------

    def _path(self, fault_id: str) -> Path:
        if not fault_id or not all(c.isalnum() or c in "-_" for c in fault_id):
            raise FaultError(f"fault id {fault_id!r} is not valid: use letters, digits, '-' and '_'")
        return self.directory / f"{fault_id}.json"

    def get(self, fault_id: str) -> RevertRecord | None:
        path = self._path(fault_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return RevertRecord.from_json(text, str(path))

    def records(self) -> list[RevertRecord]:
        """Every record, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [RevertRecord.from_json(p.read_text(encoding="utf-8"), str(p)) for p in self.directory.glob("*.json")]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def pending(self) -> list[RevertRecord]:
        """Records not yet reverted, newest first (the order a stack unwinds)."""
        return [r for r in reversed(self.records()) if r.pending]
