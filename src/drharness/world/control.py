"""The client other processes use to reach a running world over its control path (`/_drharness/...`).

It needs only the standard library: importing it loads no moto and no werkzeug. The server side of
these routes is `drharness.world.routes`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from drharness.errors import FaultError, UnknownFaultError, WorldError

PREFIX = "/_drharness/"


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

    def set_faults_inert(self, inert: bool) -> None:
        """Make the world ignore the faults injected from now on (taken and listed, none applied), or stop."""
        self._call("POST", "faults/inert", {"inert": inert})

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

    def publish_inventory(self, bucket: str | None = None) -> list[str]:
        """Publish an S3 Inventory report of every enabled configuration (of `bucket`) now; the manifests' keys."""
        return list(self._call("POST", "s3/inventory/publish", {"bucket": bucket})["manifests"])

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
