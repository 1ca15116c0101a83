"""The offline fault backend: the world applies faults on its HTTP path and data plane.

The world is reached over its control path, so this works against a world in this process or in
another one (`drharness world serve`), and from any process that has the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from drharness.faults.base import AccessKey, InjectedFault
from drharness.faults.journal import BackendRef
from drharness.faults.spec import FaultParams, parse_fault
from drharness.world.control import WorldClient


class OfflineFaultBackend:
    """Faults in the offline world at `endpoint`."""

    def __init__(self, endpoint: str, *, client: WorldClient | None = None) -> None:
        self.client = client or WorldClient(endpoint)
        self.ref = BackendRef("offline", endpoint=self.client.endpoint)

    def __repr__(self) -> str:
        return f"OfflineFaultBackend({self.client.endpoint!r})"

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        return {}  # the world validates again and keeps every revert detail itself

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        raw = self.client.inject(name, params.model_dump(exclude_none=True), fault_id)
        return _from_world(raw)

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        self.client.revert(fault_id)

    def active(self) -> list[InjectedFault]:
        return [_from_world(raw) for raw in self.client.faults()]

    def active_ids(self) -> list[str]:
        return [str(raw["id"]) for raw in self.client.faults()]


def _from_world(raw: Mapping[str, Any]) -> InjectedFault:
    """Read the world's JSON view of a fault into the typed one."""
    name = str(raw["name"])
    state: Mapping[str, Any] = raw.get("state") or {}
    access_key = None
    if state.get("access_key_id"):
        access_key = AccessKey(str(state["user"]), str(state["access_key_id"]), str(state["secret_access_key"]))
    corrupted: tuple[str, ...] = tuple(str(o["key"]) for o in state.get("objects", ()))
    if state.get("items"):
        key_names = list(state.get("key_names") or ())
        corrupted = tuple(json.dumps({k: item[k] for k in key_names}, sort_keys=True) for item in state["items"])
    return InjectedFault(
        id=str(raw["id"]),
        name=name,
        params=parse_fault(name, dict(raw.get("params") or {})),
        injected_at=datetime.fromtimestamp(float(raw["injected_at"]), tz=timezone.utc),
        target="offline",
        access_key=access_key,
        corrupted=corrupted,
        hits=int(raw.get("hits") or 0),
    )
