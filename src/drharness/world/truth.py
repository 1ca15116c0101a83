"""Ground truth: what really happened in the offline world, for proving the instruments.

Timestamps are UTC epoch seconds from the world's clock (`time.time()` at the moment the world
accepted or applied a write). Nothing outside the world writes here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WriteRecord:
    """One accepted write to a replicated store and its replication."""

    store: str  # "s3" | "dynamodb"
    resource: str  # bucket or table name
    region: str
    key: str
    kind: str  # "put" | "delete" | "delete-marker"
    accepted_at: float
    version: str = ""
    planned_lag_seconds: float = 0.0
    replicated_at: dict[str, float] = field(default_factory=dict)  # destination region -> time
    held_by: list[str] = field(default_factory=list)  # fault ids that held it back
    failed: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestRecord:
    at: float
    service: str
    region: str
    operation: str
    mutating: bool
    status: int
    access_key_id: str
    fault_id: str = ""


class GroundTruth:
    """Thread-safe store of write records and the request log."""

    def __init__(self, request_log_size: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._writes: list[WriteRecord] = []
        self._requests: deque[RequestRecord] = deque(maxlen=request_log_size)
        self.fault_effects: dict[str, int] = {}

    def write(self, record: WriteRecord) -> WriteRecord:
        with self._lock:
            self._writes.append(record)
        return record

    def replicated(self, record: WriteRecord, region: str, at: float | None = None) -> None:
        with self._lock:
            record.replicated_at[region] = time.time() if at is None else at

    def held(self, record: WriteRecord, fault_ids: list[str]) -> None:
        with self._lock:
            for fault_id in fault_ids:
                if fault_id not in record.held_by:
                    record.held_by.append(fault_id)

    def writes(self, store: str | None = None, resource: str | None = None) -> list[WriteRecord]:
        with self._lock:
            return [
                w
                for w in self._writes
                if (store is None or w.store == store) and (resource is None or w.resource == resource)
            ]

    def log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)
            if record.fault_id:
                self.fault_effects[record.fault_id] = self.fault_effects.get(record.fault_id, 0) + 1

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)
