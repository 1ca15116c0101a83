"""The world's control path over HTTP, and the client other processes use to reach it.

Routes (JSON in, JSON out), beside the AWS APIs on the same endpoint:
  GET    /_drharness/health              the world's seed, account and pending replication
  GET    /_drharness/faults              active faults
  POST   /_drharness/faults              {"name", "params", "id"?} -> the fault (idempotent by id)
  DELETE /_drharness/faults/{id}         revert one (idempotent)
  DELETE /_drharness/faults              revert all
  GET    /_drharness/truth/writes        ground-truth write records (?store=&resource=)
  GET    /_drharness/requests            the request log (?mutating=1)
  POST   /_drharness/settle              wait for due replication (?timeout=seconds)
  POST   /_drharness/dynamodb/restore-seconds  {"seconds": N|null} how long restores stay CREATING
  POST   /_drharness/clock/advance       {"seconds": N} move the world clock on; due plan runs and lifecycle happen
  POST   /_drharness/backup/timing       {"backup_seconds"?: N, "restore_seconds"?: N|null} AWS Backup job durations
  POST   /_drharness/fsx/timing          {"backup_seconds"?: N, "restore_seconds"?: N|null} FSx backup/restore durations
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from drharness.errors import DrHarnessError, FaultError, UnknownFaultError, WorldError

if TYPE_CHECKING:
    from drharness.world.server import World

PREFIX = "/_drharness/"


def _json(start_response: Callable[..., Any], status: int, payload: Any) -> Iterable[bytes]:
    body = json.dumps(payload, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def handle_control(world: "World", environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    route = environ.get("PATH_INFO", "")[len(PREFIX):].strip("/")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    body: dict[str, Any] = {}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return _json(start_response, 400, {"error": "request body is not JSON"})
    try:
        if route == "health" and method == "GET":
            pending, parked = world.scheduler.pending() if world.scheduler else (0, 0)
            return _json(
                start_response,
                200,
                {"ok": True, "seed": world.seed, "account_id": world.account_id, "pending": pending, "held": parked,
                 "errors": world.errors[-20:]},
            )
        if route == "faults":
            if method == "GET":
                return _json(start_response, 200, {"faults": [f.as_dict() for f in world.faults.active()]})
            if method == "POST":
                fault = world.faults.inject(str(body.get("name", "")), dict(body.get("params") or {}), body.get("id"))
                return _json(start_response, 200, {"fault": fault.as_dict()})
            if method == "DELETE":
                return _json(start_response, 200, {"reverted": [f.as_dict() for f in world.faults.revert_all()]})
        if route.startswith("faults/") and method == "DELETE":
            fault = world.faults.revert(route.split("/", 1)[1])
            return _json(start_response, 200, {"fault": fault.as_dict() if fault else None})
        if route == "truth/writes" and method == "GET":
            writes = world.truth.writes(query.get("store", [None])[0], query.get("resource", [None])[0])
            return _json(start_response, 200, {"writes": [w.as_dict() for w in writes]})
        if route == "requests" and method == "GET":
            records = world.truth.requests()
            if query.get("mutating") == ["1"]:
                records = [r for r in records if r.mutating]
            return _json(start_response, 200, {"requests": [asdict(r) for r in records]})
        if route == "settle" and method == "POST":
            timeout = float(query.get("timeout", ["10"])[0])
            return _json(start_response, 200, {"settled": world.settle(timeout)})
        if route == "dynamodb/restore-seconds" and method == "POST":
            seconds = body.get("seconds")
            world.dynamodb.restore_seconds = float("inf") if seconds is None else float(seconds)
            return _json(start_response, 200, {"restore_seconds": seconds})
        if route == "clock/advance" and method == "POST":
            seconds = float(body.get("seconds", 0))
            if not 0 <= seconds < float("inf"):
                message = f"clock/advance seconds must be 0 or more, got {seconds}; the world clock never goes back"
                return _json(start_response, 400, {"error": message})
            return _json(start_response, 200, {"now": advance_clock(world, seconds), "clock_offset_seconds": world.clock_offset_seconds})
        if route in ("backup/timing", "fsx/timing") and method == "POST":
            engine = world.backup if route == "backup/timing" else world.fsx
            if "backup_seconds" in body:
                engine.backup_seconds = max(0.0, float(body["backup_seconds"]))
            if "restore_seconds" in body:
                restore = body["restore_seconds"]
                engine.restore_seconds = float("inf") if restore is None else max(0.0, float(restore))
            restore = engine.restore_seconds if engine.restore_seconds != float("inf") else None
            return _json(start_response, 200, {"backup_seconds": engine.backup_seconds, "restore_seconds": restore})
    except (UnknownFaultError, FaultError) as exc:
        return _json(start_response, 400, {"error": str(exc), "kind": type(exc).__name__})
    except DrHarnessError as exc:
        return _json(start_response, 500, {"error": str(exc), "kind": type(exc).__name__})
    except Exception as exc:  # noqa: BLE001 - the control path answers, it does not crash the world
        return _json(start_response, 500, {"error": f"{type(exc).__name__}: {exc}", "kind": "internal"})
    return _json(start_response, 404, {"error": f"no control route {method} {PREFIX}{route}"})


def advance_clock(world: "World", seconds: float) -> float:
    """Move the world clock on by `seconds`; engines with a `tick()` act on what came due. The new now."""
    world.clock_offset_seconds += seconds
    for engine in world.engines:
        tick = getattr(engine, "tick", None)
        if callable(tick):
            tick()
    return world.now()


_KEEP: Any = object()


class WorldClient:
    """Talk to a running world (this process's or another's) over its control path."""

    def __init__(self, endpoint: str, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, route: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}{PREFIX}{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}")
            except ValueError:
                detail = {}
            message = detail.get("error", f"HTTP {exc.code}")
            if detail.get("kind") == "UnknownFaultError":
                raise UnknownFaultError(message) from exc
            if exc.code == 400:
                raise FaultError(message) from exc
            if exc.code == 404:
                raise WorldError(
                    f"{self.endpoint} answered 404 for {route}: it is not a drharness world "
                    "(is it LocalStack or a plain moto server? faults need `drharness world serve`)"
                ) from exc
            raise WorldError(f"the world at {self.endpoint} failed: {message}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise WorldError(
                f"no offline world answers at {self.endpoint} ({exc}); start one with `drharness world serve` "
                "or pass the endpoint it printed"
            ) from exc

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def inject(self, name: str, params: dict[str, Any], fault_id: str | None = None) -> dict[str, Any]:
        return self._call("POST", "faults", {"name": name, "params": params, "id": fault_id})["fault"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")["faults"]

    def revert(self, fault_id: str) -> dict[str, Any] | None:
        return self._call("DELETE", f"faults/{urllib.parse.quote(fault_id)}")["fault"]

    def revert_all(self) -> list[dict[str, Any]]:
        return self._call("DELETE", "faults")["reverted"]

    def writes(self, store: str | None = None, resource: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("store", store), ("resource", resource)) if v}
        route = "truth/writes" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        return self._call("GET", route)["writes"]

    def requests(self, mutating_only: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "requests" + ("?mutating=1" if mutating_only else ""))["requests"]

    def settle(self, timeout_s: float = 10.0) -> bool:
        return bool(self._call("POST", f"settle?timeout={timeout_s}")["settled"])

    def set_restore_seconds(self, seconds: float | None) -> None:
        self._call("POST", "dynamodb/restore-seconds", {"seconds": seconds})

    def advance_clock(self, seconds: float) -> float:
        """Move the world clock on; scheduled backup plan runs, FSx automatic backups and lifecycle happen. The new now."""
        if not 0 <= seconds < float("inf"):
            raise WorldError(f"cannot advance the world clock by {seconds} s: give 0 or more seconds (it never goes back)")
        return float(self._call("POST", "clock/advance", {"seconds": seconds})["now"])

    def set_backup_timing(self, *, backup_seconds: float = _KEEP, restore_seconds: float | None = _KEEP) -> None:
        """How long AWS Backup jobs run and restores take (restore_seconds None: restores never finish)."""
        self._call("POST", "backup/timing", _timing(backup_seconds, restore_seconds))

    def set_fsx_timing(self, *, backup_seconds: float = _KEEP, restore_seconds: float | None = _KEEP) -> None:
        """How long FSx backups stay CREATING and file systems made from backups take (None: never AVAILABLE)."""
        self._call("POST", "fsx/timing", _timing(backup_seconds, restore_seconds))


def _timing(backup_seconds: Any, restore_seconds: Any) -> dict[str, Any]:
    payload = {}
    if backup_seconds is not _KEEP:
        payload["backup_seconds"] = backup_seconds
    if restore_seconds is not _KEEP:
        payload["restore_seconds"] = restore_seconds
    return payload
