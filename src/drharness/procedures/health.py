"""Is the primary region healthy? The guide's check (Batch compute VALID and ENABLED) plus its data plane.

The guide's `check_primary_health` looks only at the compute environment's control-plane record,
which stays VALID/ENABLED while the region's storage is unreachable. Here the primary is healthy
only if, in addition, a real read of the data bucket and of the metadata table answers within a
short deadline. Each read runs in its own thread so that a hung connection counts as "unreachable"
after the deadline instead of after the SDK's retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.results import JsonValue, iso, utc_now
from drharness.target import Target

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 3.0
NO_ANSWER = "no answer within {timeout:g} s"


class NoAnswer(Exception):
    """A call that did not return within its deadline (the region counts as unreachable)."""


class Unhealthy(Exception):
    """A read that answered, with something other than a healthy resource."""


@dataclass(frozen=True)
class Probe:
    """One health read: what was read, whether it answered, and how."""

    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class PrimaryHealth:
    """The primary region's health: compute record and data-plane reads."""

    region: str
    compute_environment: str
    compute_state: str | None
    compute_status: str | None
    probes: tuple[Probe, ...]
    checked_at: str
    duration_seconds: float

    @property
    def healthy(self) -> bool:
        return all(p.ok for p in self.probes)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(p.detail for p in self.probes if not p.ok)

    def summary(self) -> str:
        if self.healthy:
            return f"primary {self.region} healthy: " + "; ".join(p.detail for p in self.probes)
        return f"primary {self.region} unhealthy: " + "; ".join(self.problems)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "region": self.region,
            "healthy": self.healthy,
            "compute_environment": self.compute_environment,
            "compute_state": self.compute_state,
            "compute_status": self.compute_status,
            "checked_at": self.checked_at,
            "probes": [{"name": p.name, "ok": p.ok, "detail": p.detail, "seconds": round(p.seconds, 4)} for p in self.probes],
        }


class _Call:
    """One call running in its own thread, so that the caller can stop waiting for it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._result: list[tuple[bool, Any]] = []
        self._done = threading.Event()
        self._fn = fn
        threading.Thread(target=self._run, name="drharness-health-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            self._result.append((True, self._fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by value()
            self._result.append((False, exc))
        finally:
            self._done.set()

    def value(self, deadline: float, timeout_s: float) -> Any:
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            raise NoAnswer(NO_ANSWER.format(timeout=timeout_s))
        ok, value = self._result[0]
        if ok:
            return value
        raise value


def call_within(fn: Callable[[], T], timeout_s: float) -> T:
    """Return `fn()`, or raise NoAnswer when it has not returned within `timeout_s` (it may go on in the background)."""
    return _Call(fn).value(time.monotonic() + timeout_s, timeout_s)  # type: ignore[no-any-return]


def _failure(exc: BaseException) -> str:
    if isinstance(exc, Unhealthy):
        return str(exc)
    if isinstance(exc, NoAnswer):
        return f"unreachable ({exc})"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"answered {error.get('Code', 'an error')}: {error.get('Message', exc)}"
    if isinstance(exc, BotoCoreError):
        return f"unreachable ({type(exc).__name__}: {exc})"
    return f"failed ({type(exc).__name__}: {exc})"


def run_probes(reads: Sequence[tuple[str, str, Callable[[], str]]], timeout_s: float) -> tuple[Probe, ...]:
    """Run (name, what, read) reads side by side; each must answer within `timeout_s` of the start."""
    start = time.monotonic()
    deadline = start + timeout_s
    calls = [(name, what, _Call(read)) for name, what, read in reads]
    probes = []
    for name, what, call in calls:
        try:
            detail = call.value(deadline, timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure to read is an unhealthy probe, with its reason
            probes.append(Probe(name, False, f"{what} {_failure(exc)}", time.monotonic() - start))
        else:
            probes.append(Probe(name, True, f"{what} {detail}", time.monotonic() - start))
    return tuple(probes)


def _data_reads(target: Target, workload: Workload, region: str) -> list[tuple[str, str, Callable[[], str]]]:
    bucket, table = workload.data_bucket, workload.metadata_table

    def read_bucket() -> str:
        page = target.client("s3", region).list_objects_v2(Bucket=bucket, MaxKeys=1)
        return f"answered ({page.get('KeyCount', 0)} key(s) read)"

    def read_table() -> str:
        page = target.client("dynamodb", region).scan(TableName=table, Limit=1)
        return f"answered ({page.get('Count', 0)} item(s) read)"

    return [("bucket", f"s3://{bucket} ({region})", read_bucket), ("table", f"table {table} ({region})", read_table)]


def data_plane_probes(target: Target, workload: Workload, region: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Probe, ...]:
    """Read the data bucket and the metadata table in `region` (one key listed, one item scanned)."""
    return run_probes(_data_reads(target, workload, region), timeout_s)


def check_primary_health(target: Target, workload: Workload, timeout_s: float = DEFAULT_TIMEOUT_S) -> PrimaryHealth:
    """The guide's compute check plus real reads of the data bucket and the metadata table, each within `timeout_s`."""
    region, name = workload.primary_region, workload.compute_environment
    started, start = iso(utc_now()), time.monotonic()
    seen: dict[str, str | None] = {"state": None, "status": None}

    def read_compute() -> str:
        found = target.client("batch", region).describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
        if not found:
            raise Unhealthy("does not exist")
        seen["state"], seen["status"] = found[0].get("state"), found[0].get("status")
        if seen["status"] != "VALID" or seen["state"] != "ENABLED":
            raise Unhealthy(f"is {seen['status']}/{seen['state']}, not VALID/ENABLED")
        return "is VALID/ENABLED"

    reads = [("compute", f"batch compute environment {name} ({region})", read_compute), *_data_reads(target, workload, region)]
    probes = run_probes(reads, timeout_s)
    return PrimaryHealth(region, name, seen["state"], seen["status"], probes, started, time.monotonic() - start)

