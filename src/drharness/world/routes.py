"""The world's control path, server side: a route table answering `/_drharness/...` beside the AWS APIs.

Routes (JSON in, JSON out):
  GET    /_drharness/health              the world's seed, account and pending replication
  GET    /_drharness/faults              active faults
  POST   /_drharness/faults              {"name", "params", "id"?} -> the fault (idempotent by id)
  DELETE /_drharness/faults/{id}         revert one (idempotent)
  DELETE /_drharness/faults              revert all
  POST   /_drharness/faults/inert        {"inert": bool} ignore faults from now on: taken and listed, none applied
  GET    /_drharness/truth/writes        ground-truth write records (?store=&resource=)
  GET    /_drharness/requests            the request log (?mutating=1)
  POST   /_drharness/settle              wait for due replication (?timeout=seconds)
  POST   /_drharness/dynamodb/restore-seconds  {"seconds": N|null} how long restores stay CREATING
  POST   /_drharness/clock/advance       {"seconds": N} move the world clock on; due plan runs and lifecycle happen
  POST   /_drharness/backup/timing       {"backup_seconds"?: N, "restore_seconds"?: N|null} AWS Backup job durations
  POST   /_drharness/fsx/timing          {"backup_seconds"?: N, "restore_seconds"?: N|null} FSx backup/restore durations

The client for these routes is `drharness.world.control.WorldClient`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from drharness.errors import DrHarnessError, FaultError, UnknownFaultError
from drharness.world.control import PREFIX
from drharness.world.faults.table import FaultTable
from drharness.world.truth import GroundTruth
from drharness.world.wire import CapturedResponse


class Timed(Protocol):
    """An engine whose jobs take configurable time (AWS Backup, FSx)."""

    backup_seconds: float
    restore_seconds: float


class Restoring(Protocol):
    restore_seconds: float


class Publishing(Protocol):
    def publish(self, bucket: str | None = None) -> list[str]: ...


class ControlledWorld(Protocol):
    """What the control path may ask of the world it serves."""

    seed: int
    account_id: str
    errors: list[str]
    faults: FaultTable
    truth: GroundTruth
    dynamodb: Restoring
    backup: Timed
    fsx: Timed
    inventory: Publishing

    def pending(self) -> tuple[int, int]: ...

    def settle(self, timeout_s: float = 10.0) -> bool: ...

    def advance_clock(self, seconds: float) -> float: ...

    @property
    def clock_offset_seconds(self) -> float: ...


Query = dict[str, list[str]]
Answer = tuple[int, Any]
Route = Callable[[ControlledWorld, Query, dict[str, Any]], Answer]


def _health(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    pending, parked = world.pending()
    return 200, {"ok": True, "seed": world.seed, "account_id": world.account_id, "pending": pending, "held": parked,
                 "errors": world.errors[-20:]}


def _faults(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    return 200, {"faults": [f.as_dict() for f in world.faults.active()]}


def _inject(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    fault = world.faults.inject(str(body.get("name", "")), dict(body.get("params") or {}), body.get("id"))
    return 200, {"fault": fault.as_dict()}


def _inert(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    inert = body.get("inert")
    if not isinstance(inert, bool):
        return 400, {"error": f'faults/inert needs {{"inert": true|false}}, got {body!r}'}
    world.faults.inert = inert
    return 200, {"inert": inert}


def _revert_all(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    return 200, {"reverted": [f.as_dict() for f in world.faults.revert_all()]}


def _revert(world: ControlledWorld, fault_id: str) -> Answer:
    fault = world.faults.revert(fault_id)
    return 200, {"fault": fault.as_dict() if fault else None}


def _writes(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    writes = world.truth.writes(query.get("store", [None])[0], query.get("resource", [None])[0])
    return 200, {"writes": [w.as_dict() for w in writes]}


def _requests(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    records = world.truth.requests()
    if query.get("mutating") == ["1"]:
        records = [r for r in records if r.mutating]
    return 200, {"requests": [asdict(r) for r in records]}


def _settle(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    timeout = float(query.get("timeout", ["10"])[0])
    return 200, {"settled": world.settle(timeout)}


def _restore_seconds(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    seconds = body.get("seconds")
    world.dynamodb.restore_seconds = float("inf") if seconds is None else float(seconds)
    return 200, {"restore_seconds": seconds}


def _advance(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    seconds = float(body.get("seconds", 0))
    if not 0 <= seconds < float("inf"):
        return 400, {"error": f"clock/advance seconds must be 0 or more, got {seconds}; the world clock never goes back"}
    return 200, {"now": world.advance_clock(seconds), "clock_offset_seconds": world.clock_offset_seconds}


def _publish_inventory(world: ControlledWorld, query: Query, body: dict[str, Any]) -> Answer:
    bucket = body.get("bucket")
    return 200, {"manifests": world.inventory.publish(str(bucket) if bucket else None)}


def _timing(engine: Timed, body: dict[str, Any]) -> Answer:
    if "backup_seconds" in body:
        engine.backup_seconds = max(0.0, float(body["backup_seconds"]))
    if "restore_seconds" in body:
        restore = body["restore_seconds"]
        engine.restore_seconds = float("inf") if restore is None else max(0.0, float(restore))
    restore = engine.restore_seconds if engine.restore_seconds != float("inf") else None
    return 200, {"backup_seconds": engine.backup_seconds, "restore_seconds": restore}


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "health"): _health,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _inject,
    ("DELETE", "faults"): _revert_all,
    ("POST", "faults/inert"): _inert,
    ("GET", "truth/writes"): _writes,
    ("GET", "requests"): _requests,
    ("POST", "settle"): _settle,
    ("POST", "dynamodb/restore-seconds"): _restore_seconds,
    ("POST", "clock/advance"): _advance,
    ("POST", "s3/inventory/publish"): _publish_inventory,
    ("POST", "backup/timing"): lambda world, query, body: _timing(world.backup, body),
    ("POST", "fsx/timing"): lambda world, query, body: _timing(world.fsx, body),
}


def _route(method: str, route: str) -> Callable[[ControlledWorld, Query, dict[str, Any]], Answer] | None:
    found = ROUTES.get((method, route))
    if found is None and method == "DELETE" and route.startswith("faults/"):
        fault_id = route.split("/", 1)[1]
        return lambda world, query, body: _revert(world, fault_id)
    return found


def answer_control(world: ControlledWorld, method: str, path: str, query_string: str, body: bytes) -> CapturedResponse:
    """Answer one control call; a failure becomes an error answer, never a broken world."""
    route = path[len(PREFIX):].strip("/")
    handler = _route(method, route)
    try:
        payload: dict[str, Any] = json.loads(body or b"{}") if body else {}
    except ValueError:
        return _json(400, {"error": "request body is not JSON"})
    if handler is None:
        return _json(404, {"error": f"no control route {method} {PREFIX}{route}"})
    try:
        return _json(*handler(world, urllib.parse.parse_qs(query_string), payload))
    except (UnknownFaultError, FaultError) as exc:
        return _json(400, {"error": str(exc), "kind": type(exc).__name__})
    except DrHarnessError as exc:
        return _json(500, {"error": str(exc), "kind": type(exc).__name__})
    except Exception as exc:  # noqa: BLE001 - the control path answers, it does not crash the world
        return _json(500, {"error": f"{type(exc).__name__}: {exc}", "kind": "internal"})


def _json(status: int, payload: Any) -> CapturedResponse:
    response = CapturedResponse(status, [("Content-Type", "application/json")])
    response.set_body(json.dumps(payload, default=str).encode())
    return response
