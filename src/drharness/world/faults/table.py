"""The world's fault table: the active faults and what they do to requests and data.

Every fault is held here with the state its revert needs, so `revert` works by id from any process,
runs twice without harm, and nothing depends on the injecting client staying alive.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from drharness.errors import FaultError
from drharness.faults.spec import (
    AzOutage,
    CredentialCompromise,
    DataCorruption,
    FaultParams,
    RegionOutage,
    ReplicationPause,
    ServiceFault,
    parse_fault,
)
from drharness.world.faults.az_outage import Zones
from drharness.world.faults.corruption import Corruption
from drharness.world.faults.credentials import Credentials
from drharness.world.moto.s3 import bucket_region
from drharness.world.wire import AwsRequest, protocol_of


@dataclass
class ActiveFault:
    id: str
    name: str
    params: FaultParams
    injected_at: float
    state: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    reverted_at: float | None = None
    inert: bool = False  # injected while the world ignored faults: listed as active, does nothing

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "params": self.params.model_dump(exclude_none=True),
            "injected_at": self.injected_at,
            "reverted_at": self.reverted_at,
            "hits": self.hits,
            "state": self.state,
        }


@dataclass(frozen=True)
class Effect:
    """What a fault does to one request."""

    kind: str  # "drop" | "error" | "latency"
    fault_id: str
    status: int = 0
    code: str = ""
    message: str = ""
    seconds: float = 0.0


_THROTTLE_CODES = {"dynamodb": ("ThrottlingException", 400), "s3": ("SlowDown", 503)}


def _error_for(params: ServiceFault, protocol_query: bool) -> tuple[str, int]:
    if params.error_code:
        status = 503 if params.mode in ("throttle", "unavailable") and params.error_code == "SlowDown" else 400
        if params.mode == "unavailable" or params.error_code in ("ServiceUnavailable", "InternalFailure", "InternalError", "InternalServerError"):
            status = 503 if params.mode == "unavailable" else 500
        return params.error_code, status
    if params.mode == "throttle":
        return _THROTTLE_CODES.get(params.service, ("Throttling" if protocol_query else "ThrottlingException", 400))
    if params.mode == "unavailable":
        return ("ServiceUnavailable", 503)
    return ("InternalError" if params.service == "s3" else "InternalFailure", 500)


class FaultTable:
    """The active faults of one world."""

    def __init__(
        self, rng: random.Random, on_change: Callable[[], None], zones: Zones, corruption: Corruption, credentials: Credentials
    ) -> None:
        self._rng = rng
        self._on_change = on_change  # the scheduler re-checks what the faults held
        self._zones = zones
        self._corruption = corruption
        self._credentials = credentials
        # `_lock` guards the tables and is held only briefly (the data plane asks it on every task);
        # `_mutate` serialises inject/revert, which make HTTP writes and must not hold `_lock` meanwhile.
        self._lock = threading.RLock()
        self._mutate = threading.RLock()
        self._active: dict[str, ActiveFault] = {}
        self._reverted: dict[str, ActiveFault] = {}
        self._tombstones: set[str] = set()
        # Told to ignore faults, the world still takes and lists them but applies none: a fault mechanism
        # that reports success and does nothing, which a drill must catch by what it observes.
        self.inert = False

    # -- lifecycle -------------------------------------------------------------------------------

    def inject(self, name: str, params: dict[str, Any], fault_id: str | None = None) -> ActiveFault:
        """Apply a fault; with a known `fault_id` already active, return it unchanged (idempotent)."""
        spec = parse_fault(name, params)
        with self._mutate:
            with self._lock:
                if fault_id and fault_id in self._active:
                    return self._active[fault_id]
                if fault_id and (fault_id in self._reverted or fault_id in self._tombstones):
                    raise FaultError(f"fault id {fault_id} was already used and reverted; inject with a new id")
            fault = ActiveFault(fault_id or uuid.uuid4().hex[:12], name, spec, time.time(), inert=self.inert)
            if not fault.inert:
                self._apply(fault)
            with self._lock:
                self._active[fault.id] = fault
        self._on_change()
        return fault

    def revert(self, fault_id: str) -> ActiveFault | None:
        """Undo one fault. Reverting a reverted or unknown id is not an error: it returns what is known."""
        with self._mutate:
            with self._lock:
                fault = self._active.get(fault_id)
                if fault is None:
                    known = self._reverted.get(fault_id)
                    if known is None:
                        # Remember the id: an injection still in flight must not land after its revert.
                        self._tombstones.add(fault_id)
                    return known
            if not fault.inert:
                self._undo(fault)  # on failure the fault stays listed, so the revert can be retried
            with self._lock:
                self._active.pop(fault_id, None)
                fault.reverted_at = time.time()
                self._reverted[fault.id] = fault
        self._on_change()
        return fault

    def revert_all(self) -> list[ActiveFault]:
        with self._lock:
            ids = list(self._active)[::-1]  # newest first, as a stack unwinds
        return [f for f in (self.revert(i) for i in ids) if f is not None]

    def active(self) -> list[ActiveFault]:
        with self._lock:
            return list(self._active.values())

    def get(self, fault_id: str) -> ActiveFault | None:
        with self._lock:
            return self._active.get(fault_id) or self._reverted.get(fault_id)

    # -- what faults do to requests -------------------------------------------------------------

    def effective_region(self, request: AwsRequest) -> str:
        if request.service == "s3" and request.s3_bucket:
            return bucket_region(request.s3_bucket) or request.region
        return request.region

    def _effective(self) -> list[ActiveFault]:
        """The active faults that act (not those injected while the world ignored faults)."""
        with self._lock:
            return [f for f in self._active.values() if not f.inert]

    def effect_for(self, request: AwsRequest) -> Effect | None:
        faults = self._effective()
        if not faults:
            return None
        region = self.effective_region(request)
        latency: Effect | None = None
        for fault in faults:
            p = fault.params
            if isinstance(p, RegionOutage) and p.region == region and request.service not in ("sts", "iam"):
                self._hit(fault)
                return Effect("drop", fault.id)
            if isinstance(p, AzOutage) and request.service == "ec2" and request.operation == "RunInstances":
                if region == p.region and self._zones.request_targets_zone(request, p.zone):
                    self._hit(fault)
                    return Effect(
                        "error", fault.id, 500, "InsufficientInstanceCapacity",
                        f"We currently do not have sufficient capacity in the Availability Zone you requested ({p.zone}).",
                    )
            if isinstance(p, ServiceFault) and self._service_matches(p, request, region):
                if p.max_hits is not None and fault.hits >= p.max_hits:
                    continue
                if self._rng.random() >= p.rate:
                    continue
                self._hit(fault)
                if p.mode == "latency":
                    latency = Effect("latency", fault.id, seconds=p.latency_ms / 1000.0)
                    continue
                code, status = _error_for(p, protocol_of(request.service) in ("query", "ec2"))
                return Effect("error", fault.id, status, code, f"drharness fault {fault.id}: {p.mode} injected")
        return latency

    @staticmethod
    def _service_matches(p: ServiceFault, request: AwsRequest, region: str) -> bool:
        if p.service != request.service:
            return False
        if p.operation and p.operation != request.operation:
            return False
        return not (p.region and p.region != region)

    def _hit(self, fault: ActiveFault) -> None:
        with self._lock:
            fault.hits += 1

    def replication_blockers(self, store: str, resource: str, regions: tuple[str, ...]) -> list[str]:
        """Ids of the faults that hold replication of `resource` between `regions`."""
        blockers = []
        for fault in self._effective():
            p = fault.params
            if isinstance(p, RegionOutage) and p.region in regions:
                blockers.append(fault.id)
            elif isinstance(p, ReplicationPause):
                named = p.bucket if store == "s3" else p.table
                if named == resource and (p.region is None or p.region in regions):
                    blockers.append(fault.id)
        return blockers

    def impaired_zones(self, region: str) -> set[str]:
        return {f.params.zone for f in self._effective() if isinstance(f.params, AzOutage) and f.params.region == region}

    def region_down(self, region: str) -> bool:
        return any(isinstance(f.params, RegionOutage) and f.params.region == region for f in self._effective())

    # -- applying and undoing --------------------------------------------------------------------

    def _apply(self, fault: ActiveFault) -> None:
        p = fault.params
        if isinstance(p, AzOutage):
            fault.state["stopped_instances"] = self._zones.stop_zone(p.region, p.zone)
        elif isinstance(p, DataCorruption):
            fault.state.update(self._corruption.corrupt(p))
        elif isinstance(p, CredentialCompromise):
            fault.state.update(self._credentials.compromise(p))

    def _undo(self, fault: ActiveFault) -> None:
        p = fault.params
        if isinstance(p, AzOutage):
            self._zones.start_instances(p.region, fault.state.get("stopped_instances", []))
        elif isinstance(p, DataCorruption):
            self._corruption.restore(p, fault.state)
        elif isinstance(p, CredentialCompromise):
            self._credentials.remove(p, fault.state)
