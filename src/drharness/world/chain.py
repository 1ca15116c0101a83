"""The world's request chain: every request passes the stages of `build_chain`, in that order.

Each stage is `handle(exchange, call_next)`: it answers the request itself or hands it on and may
look at the answer on the way back. `WorldApp` turns the WSGI call into an exchange and the answer
back into WSGI.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from drharness.errors import WorldError
from drharness.waiting import pause
from drharness.world.control import PREFIX as CONTROL_PREFIX
from drharness.world.engine import Engine
from drharness.world.faults.credentials import AccessKeys
from drharness.world.faults.policies import InlineDenies
from drharness.world.faults.table import FaultTable
from drharness.world.http import SOCKET_KEY
from drharness.world.plane import Plane
from drharness.world.requests import classify
from drharness.world.routes import ControlledWorld, answer_control
from drharness.world.truth import RequestRecord
from drharness.world.wire import AwsRequest, CapturedResponse, error_response

WsgiApp = Callable[..., Iterable[bytes]]


@dataclass
class Exchange:
    """One request on its way through the chain: the WSGI environ, then what `Classify` read of it."""

    environ: dict[str, Any]
    request: AwsRequest | None = None
    fault_id: str = ""  # the fault that acted on it, for the request log

    @property
    def aws(self) -> AwsRequest:
        if self.request is None:
            raise WorldError("a stage after Classify ran on an unclassified request: put Classify before it in build_chain")
        return self.request


Next = Callable[[Exchange], CapturedResponse]


class Stage(Protocol):
    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse: ...


def run_chain(stages: Sequence[Stage], exchange: Exchange) -> CapturedResponse:
    """Pass the exchange down `stages`; the last one must answer."""

    def at(index: int) -> Next:
        def call(ex: Exchange) -> CapturedResponse:
            if index == len(stages):
                raise WorldError("the request chain ended without an answer: its last stage must answer (Moto)")
            return stages[index].handle(ex, at(index + 1))

        return call

    return at(0)(exchange)


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> CapturedResponse:
    """Run a WSGI application and capture what it answers."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = list(headers)
        return lambda data: None

    chunks = app(environ, capture)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return CapturedResponse(captured.get("status", 500), captured.get("headers", []), body)


# -- the stages, in chain order ---------------------------------------------------------------------


class Control:
    """`/_drharness/...`: the world's own control routes, answered here."""

    def __init__(self, world: ControlledWorld) -> None:
        self._world = world

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        environ = exchange.environ
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            return call_next(exchange)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        return answer_control(self._world, method, path, environ.get("QUERY_STRING", ""), body)


class MotoApiPassthrough:
    """`/moto-api...`: moto's own API (reset, state) goes straight to moto, unseen by faults and engines."""

    def __init__(self, moto_app: WsgiApp) -> None:
        self._moto_app = moto_app

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        if exchange.environ.get("PATH_INFO", "").startswith("/moto-api"):
            return call_wsgi(self._moto_app, exchange.environ)
        return call_next(exchange)


class Classify:
    """Read service, region, operation and caller of the AWS request once, for every later stage."""

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        exchange.request = classify(exchange.environ)
        return call_next(exchange)


class RequestLog:
    """Record every AWS request with the status it got (0: dropped) and the fault that acted on it.

    It wraps the stages after it, so it logs whatever they answered, refusals and drops included.
    """

    def __init__(self, plane: Plane, faults: FaultTable) -> None:
        self._plane = plane
        self._faults = faults

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        response = call_next(exchange)
        request = exchange.aws
        self._plane.truth.log_request(
            RequestRecord(
                at=time.time(),
                service=request.service,
                region=self._faults.effective_region(request),
                operation=request.operation,
                mutating=request.mutating,
                status=0 if response.drop else response.status,
                access_key_id=request.access_key_id,
                fault_id=exchange.fault_id,
            )
        )
        return response


class FaultEffects:
    """What the active faults do to a request from outside the world: drop it, refuse it, or slow it."""

    def __init__(self, faults: FaultTable) -> None:
        self._faults = faults

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        request = exchange.aws
        effect = None if request.internal else self._faults.effect_for(request)
        if effect is None:
            return call_next(exchange)
        exchange.fault_id = effect.fault_id
        if effect.kind == "drop":
            return CapturedResponse(503, [("Content-Length", "0")], drop=True)
        if effect.kind == "error":
            return error_response(request.service, effect.status, effect.code, effect.message)
        if effect.kind == "latency":
            pause(effect.seconds)
        return call_next(exchange)


class IamDeny:
    """Refuse a request from outside the world signed with a deactivated or deleted access key, or one an
    explicit deny in its caller's inline policies applies to."""

    def __init__(self, keys: AccessKeys, denies: InlineDenies | None = None) -> None:
        self._keys = keys
        self._denies = denies or InlineDenies()

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        request = exchange.aws
        if request.internal:
            return call_next(exchange)
        denied = self._keys.deny(request)
        if denied is None:
            denied = self._denies.deny(request)
        return denied if denied is not None else call_next(exchange)


class EnginesBefore:
    """Let the first engine that answers in moto's place answer (nothing after it runs then)."""

    def __init__(self, engines: Sequence[Engine]) -> None:
        self._engines = engines

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        for engine in self._engines:
            response = engine.before(exchange.aws)
            if response is not None:
                return response
        return call_next(exchange)


class EnginesAfter:
    """Hold every engine's guard across moto's answer, then show the answer to every engine in order.

    It sits before `Moto` in the chain because it wraps it: the guards must be held while moto acts.
    """

    def __init__(self, engines: Sequence[Engine], plane: Plane) -> None:
        self._engines = engines
        self._plane = plane

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        request = exchange.aws
        with contextlib.ExitStack() as stack:
            for engine in self._engines:
                stack.enter_context(engine.guard(request))
            response = call_next(exchange)
            for engine in self._engines:
                try:
                    engine.after(request, response)
                except Exception as exc:  # noqa: BLE001 - report, never break the caller's request
                    self._plane.report(f"{type(engine).__name__}.after {request.operation}: {exc!r}")
        return response


class Moto:
    """The end of the chain: moto answers."""

    def __init__(self, moto_app: WsgiApp) -> None:
        self._moto_app = moto_app

    def handle(self, exchange: Exchange, call_next: Next) -> CapturedResponse:
        return call_wsgi(self._moto_app, exchange.environ)


def build_chain(
    world: ControlledWorld, plane: Plane, faults: FaultTable, keys: AccessKeys, engines: Sequence[Engine], moto_app: WsgiApp
) -> list[Stage]:
    """The one place the order of the chain is written."""
    return [
        Control(world),
        MotoApiPassthrough(moto_app),
        Classify(),
        RequestLog(plane, faults),
        FaultEffects(faults),
        IamDeny(keys),
        EnginesBefore(engines),
        EnginesAfter(engines, plane),
        Moto(moto_app),
    ]


class WorldApp:
    """The WSGI application in front of moto: the chain, and the answer written back."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = run_chain(self.stages, Exchange(environ))
        if response.drop:
            return _drop_connection(environ, start_response)
        start_response(f"{response.status} {_reason(response.status)}", response.headers)
        return [response.body]


def _drop_connection(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """Close the socket with no response: to the client the region is unreachable."""
    sock = environ.get(SOCKET_KEY)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    start_response("503 Service Unavailable", [("Content-Length", "0")])
    return iter(())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
