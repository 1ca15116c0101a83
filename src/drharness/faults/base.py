"""What every fault backend offers, and what an injection hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from drharness.faults.journal import BackendRef
from drharness.faults.spec import FaultParams


@dataclass(frozen=True)
class AccessKey:
    """The key a credential-compromise fault hands to the attacker."""

    user: str
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def as_credentials(self) -> dict[str, str]:
        """The key as boto3 session keyword arguments."""
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}


@dataclass(frozen=True)
class InjectedFault:
    """A fault that is in place.

    `access_key` is set by credential-compromise, `corrupted` (object keys, or item keys as JSON) by
    data-corruption; `refs` are the backend's handles (a FIS experiment id); `hits` counts the requests
    it affected where the backend can tell.
    """

    id: str
    name: str
    params: FaultParams
    injected_at: datetime
    target: Literal["offline", "aws"] = "offline"
    refs: Mapping[str, str] = field(default_factory=dict)
    access_key: AccessKey | None = None
    corrupted: tuple[str, ...] = ()
    hits: int | None = None

    def describe(self) -> str:
        return f"{self.name} {self.id}: {self.params.summary()}"


class FaultBackend(Protocol):
    """Applies faults to one target. Revert by id is idempotent; an unknown id is not an error."""

    ref: BackendRef

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        """Check the fault can run here, changing nothing; return the handles known before injection."""
        ...

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        """Apply a fault under `fault_id`; injecting an id that is already active changes nothing."""
        ...

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        """Undo a fault; `refs` are the handles the journal kept (may be empty after a crash)."""
        ...

    def active(self) -> list[InjectedFault]:
        """The faults in place on this target now."""
        ...

    def active_ids(self) -> list[str]:
        """Ids of every fault in place on this target now, readable or not."""
        ...
