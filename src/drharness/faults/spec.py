"""The fault vocabulary: every fault drharness can inject, by name, with its parameters.

The same spec drives the offline backend (the world applies it on its HTTP path and data plane)
and the live backend (FIS experiment templates or direct API calls).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drharness.errors import FaultError, UnknownFaultError


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionOutage(FaultParams):
    """A whole region unreachable: every call to it fails as an unreachable endpoint does."""

    region: str


class AzOutage(FaultParams):
    """One availability zone impaired: its instances stop, its subnets take no new capacity."""

    region: str
    az: str = Field(description="zone name (us-east-1a) or its letter (a)")

    @property
    def zone(self) -> str:
        return self.az if len(self.az) > 1 else f"{self.region}{self.az}"


class ServiceFault(FaultParams):
    """One service (optionally one operation, one region) errors, throttles or slows at a rate."""

    service: str
    operation: str | None = None
    region: str | None = None
    mode: Literal["error", "throttle", "unavailable", "latency"] = "error"
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    error_code: str | None = None
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    max_hits: int | None = Field(default=None, ge=1, description="stop affecting calls after this many")

    @model_validator(mode="after")
    def _latency_needs_ms(self) -> "ServiceFault":
        if self.mode == "latency" and self.latency_ms <= 0:
            raise ValueError("mode=latency needs latency_ms > 0")
        return self


class ReplicationPause(FaultParams):
    """Replication held for a bucket or a table (as FIS's bucket-pause-replication / global-table-pause-replication)."""

    bucket: str | None = None
    table: str | None = None
    region: str | None = None

    @model_validator(mode="after")
    def _one_resource(self) -> "ReplicationPause":
        if not self.bucket and not self.table:
            raise ValueError("name a bucket=... or a table=... to pause")
        return self


class DataCorruption(FaultParams):
    """Overwrite objects or items with corrupted content; revert puts the originals back."""

    bucket: str | None = None
    table: str | None = None
    region: str | None = None
    prefix: str = ""
    count: int = Field(default=3, ge=1, le=10_000)
    seed: int = 0

    @model_validator(mode="after")
    def _one_resource(self) -> "DataCorruption":
        if bool(self.bucket) == bool(self.table):
            raise ValueError("name exactly one of bucket=... or table=... to corrupt")
        return self


class CredentialCompromise(FaultParams):
    """An access key is compromised: it is used against the data; isolation deactivates it."""

    user: str = "drharness-compromised"
    region: str | None = None


FAULTS: dict[str, type[FaultParams]] = {
    "region-outage": RegionOutage,
    "az-outage": AzOutage,
    "service-fault": ServiceFault,
    "replication-pause": ReplicationPause,
    "data-corruption": DataCorruption,
    "credential-compromise": CredentialCompromise,
}

UNKNOWN_FAULT = "unknown fault {name!r}; known faults: {known}"


def parse_fault(name: str, params: dict[str, object]) -> FaultParams:
    """Validate a fault name and its parameters; errors name the fault, the key and what is expected."""
    model = FAULTS.get(name)
    if model is None:
        raise UnknownFaultError(UNKNOWN_FAULT.format(name=name, known=", ".join(sorted(FAULTS))))
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(parameters)"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown parameter; {name} takes {', '.join(model.model_fields)}"
        elif first["type"] == "missing":
            message = f"missing; {name} needs {key}=..."
        raise FaultError(f"fault {name}: parameter '{key}': {message}") from exc
