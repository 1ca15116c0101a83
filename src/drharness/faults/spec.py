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

    def summary(self) -> str:
        """One line saying what this fault does, for logs and the command line."""
        return (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]


class RegionOutage(FaultParams):
    """A whole region unreachable: every call to it fails as an unreachable endpoint does."""

    region: str

    def summary(self) -> str:
        return f"region {self.region} unreachable: every call to it fails to connect"


class AzOutage(FaultParams):
    """One availability zone impaired: its instances stop, its subnets take no new capacity."""

    region: str
    az: str = Field(description="zone name (us-east-1a) or its letter (a)")

    @property
    def zone(self) -> str:
        return self.az if len(self.az) > 1 else f"{self.region}{self.az}"

    def summary(self) -> str:
        return f"zone {self.zone} impaired: its instances stopped, no new capacity there"


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

    def summary(self) -> str:
        what = f"{self.service}:{self.operation}" if self.operation else f"every {self.service} call"
        where = self.region or "every region"
        how = f"{self.latency_ms} ms latency" if self.mode == "latency" else (self.error_code or self.mode)
        limit = f", at most {self.max_hits} calls" if self.max_hits else ""
        return f"{what} in {where}: {how} on {self.rate:.0%} of calls{limit}"


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

    def summary(self) -> str:
        names = [f"bucket {self.bucket}" if self.bucket else "", f"table {self.table}" if self.table else ""]
        where = f" (region {self.region})" if self.region else ""
        return f"replication of {' and '.join(n for n in names if n)} paused{where}"


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

    def summary(self) -> str:
        if self.bucket:
            under = f" under {self.prefix!r}" if self.prefix else ""
            return f"up to {self.count} objects{under} of bucket {self.bucket} overwritten with corrupted bytes"
        return f"up to {self.count} items of table {self.table} overwritten with corrupted values"


class CredentialCompromise(FaultParams):
    """An access key is compromised: it is used against the data; isolation deactivates it."""

    user: str = "drharness-compromised"
    region: str | None = None

    def summary(self) -> str:
        return f"an access key of IAM user {self.user} is in an attacker's hands until it is deactivated"


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
        from drharness.config import printable

        key = printable(".".join(str(p) for p in first["loc"])) or "(parameters)"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown parameter; {name} takes {', '.join(model.model_fields)}"
        elif first["type"] == "missing":
            message = f"missing; {name} needs {key}=..."
        raise FaultError(f"fault {name}: parameter '{key}': {message}") from exc
