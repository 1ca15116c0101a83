"""Client-side service faults: the workload's own clients fail their calls, where FIS cannot reach.

FIS injects API faults only into EC2 and Kinesis calls. For DynamoDB and S3 the harness makes the
failure in the clients the drill itself uses (the Target's clients): a botocore `before-send` hook
answers a share of the matching calls with the service's own throttling or error response before
they leave the process. The SDK sees that answer exactly as one from AWS, so its retry path runs as
it would; AWS sees nothing. That is what it simulates and what it does not: the workload's retry
and back-off behaviour, not a service that is impaired for every caller. The record names the
mechanism ("client-side") so no report mistakes one for the other.

The fault lives in this process only: when the process dies, the fault dies with it, so a revert
after a crash has nothing to undo.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.awsrequest import AWSResponse

from drharness.errors import FaultError
from drharness.faults.base import InjectedFault
from drharness.faults.live.options import LiveOptions
from drharness.faults.spec import FaultParams, ServiceFault
from drharness.target import Target

CLIENT_SIDE = "client-side"
CLIENT_SIDE_SERVICES = ("dynamodb", "s3")
# (code, HTTP status) per mode and service, as the service itself answers.
_ANSWERS = {
    ("dynamodb", "throttle"): ("ThrottlingException", 400),
    ("dynamodb", "error"): ("InternalServerError", 500),
    ("dynamodb", "unavailable"): ("ServiceUnavailable", 503),
    ("s3", "throttle"): ("SlowDown", 503),
    ("s3", "error"): ("InternalError", 500),
    ("s3", "unavailable"): ("ServiceUnavailable", 503),
}


class _Body:
    """The raw body botocore reads an answer from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def error_response(service: str, code: str, status: int, message: str, url: str) -> AWSResponse:
    """The HTTP answer the service gives with this error code (JSON for DynamoDB, XML for S3)."""
    if service == "dynamodb":
        body = ('{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"%s"}' % (code, message)).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    else:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    return AWSResponse(url, status, headers, _Body(body))


def answer_for(params: ServiceFault) -> tuple[str, int]:
    """The (error code, HTTP status) a client-side fault answers with: `error_code` if given, else the mode's."""
    code, status = _ANSWERS[(params.service, params.mode)]
    return (params.error_code or code), status


def refuse_reason(params: ServiceFault) -> str | None:
    """Why a client-side fault cannot do this service-fault (None: it can)."""
    if params.service not in CLIENT_SIDE_SERVICES:
        return f"client-side faults cover only {' and '.join(CLIENT_SIDE_SERVICES)} (got service={params.service})"
    if params.mode == "latency":
        return "mode=latency is not made client-side; use throttle, error or unavailable"
    if params.rate <= 0:
        return "rate=0 would impair no call"
    return None


@dataclass
class _Held:
    """One client-side fault in place: its hook, the clients it is on and the calls it failed."""

    fault: InjectedFault
    code: str
    status: int
    rng: random.Random
    clients: list[Any] = field(default_factory=list)
    hits: int = 0


class ClientSideFaults:
    """Service faults made in the Target's own clients (botocore `before-send` hooks)."""

    mechanism = CLIENT_SIDE

    def __init__(self, target: Target, options: LiveOptions) -> None:
        self.target = target
        self.options = options
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        if not isinstance(params, ServiceFault):
            raise FaultError(f"{name}: client-side faults are service faults only")
        why = refuse_reason(params)
        if why:
            raise FaultError(f"live service-fault: {why}")
        return {"mechanism": self.mechanism, "region": params.region or self.options.region}

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        refs = self.prepare(fault_id, name, params)
        assert isinstance(params, ServiceFault)
        with self._lock:
            if fault_id in self._held:
                return self._held[fault_id].fault
            code, status = answer_for(params)
            fault = InjectedFault(id=fault_id, name=name, params=params, injected_at=datetime.now(timezone.utc),
                                  target="aws", refs=refs)
            held = _Held(fault, code, status, random.Random(fault_id))
            client = self.target.client(params.service, refs["region"])
            client.meta.events.register(self.event(params), self._hook(held), unique_id=f"drharness-{fault_id}")
            held.clients.append(client)
            self._held[fault_id] = held
        return fault

    @staticmethod
    def event(params: ServiceFault) -> str:
        """The botocore event the fault's hook is registered for."""
        return f"before-send.{params.service}" + (f".{params.operation}" if params.operation else "")

    def _hook(self, held: _Held) -> Any:
        params = held.fault.params
        assert isinstance(params, ServiceFault)

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            with self._lock:
                if params.max_hits is not None and held.hits >= params.max_hits:
                    return None
                if held.rng.random() >= params.rate:
                    return None
                held.hits += 1
            message = f"drharness client-side fault {held.fault.id}: {params.mode} injected"
            return error_response(params.service, held.code, held.status, message, str(getattr(request, "url", "")))

        return before_send

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        """Take the hook off; a fault of a process that is gone went with it (nothing to undo)."""
        with self._lock:
            held = self._held.pop(fault_id, None)
        if held is None:
            return
        params = held.fault.params
        assert isinstance(params, ServiceFault)
        for client in held.clients:
            client.meta.events.unregister(self.event(params), unique_id=f"drharness-{fault_id}")

    def active(self) -> list[InjectedFault]:
        with self._lock:
            return [_with_hits(h) for h in self._held.values()]

    def active_ids(self) -> list[str]:
        with self._lock:
            return list(self._held)


def _with_hits(held: _Held) -> InjectedFault:
    from dataclasses import replace

    return replace(held.fault, hits=held.hits)
