"""The offline world: moto's server on loopback plus the data plane and fault layer moto lacks.

Every request passes through `WorldApp`: control calls (`/_drharness/...`) are answered here; AWS calls
are classified, checked against the active faults, handed to moto, and shown to the engines (S3
replication, DynamoDB PITR and global tables, EC2 zones, IAM keys) which act on what moto accepted.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from werkzeug.serving import BaseWSGIServer, make_server

from drharness.config import Offline
from drharness.errors import WorldError
from drharness.target import OFFLINE_CREDENTIALS
from drharness.waiting import pause
from drharness.world import moto_access
from drharness.world.requests import AwsRequest, classify, json_content_type, protocol_of
from drharness.world.scheduler import Scheduler
from drharness.world.truth import GroundTruth, RequestRecord

INTERNAL_HEADER = "x-drharness-internal"
CONTROL_PREFIX = "/_drharness/"


@dataclass
class CapturedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.set_header("Content-Length", str(len(body)))

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Engine(Protocol):
    """A part of the data plane: sees each request before and after moto answers it."""

    def before(self, request: AwsRequest) -> CapturedResponse | None: ...

    def after(self, request: AwsRequest, response: CapturedResponse) -> None: ...

    def guard(self, request: AwsRequest) -> contextlib.AbstractContextManager[None]: ...


def error_response(service: str, status: int, code: str, message: str) -> CapturedResponse:
    """An AWS-shaped error in the wire protocol of `service`, so SDKs parse it as the real thing."""
    protocol = protocol_of(service)
    if protocol in ("json", "rest-json"):
        body = ('{"__type": "%s", "message": "%s"}' % (code, message.replace('"', "'"))).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>drharness</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    elif protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>drharness</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    resp = CapturedResponse(status, headers)
    resp.set_body(body)
    return resp


def json_response(service: str, payload: dict[str, Any]) -> CapturedResponse:
    """A 200 answer carrying `payload` in the JSON protocol of `service`, for an engine that answers in moto's place."""
    headers = [("Content-Type", json_content_type(service)), ("x-amzn-RequestId", str(uuid.uuid4()))]
    response = CapturedResponse(200, headers)
    response.set_body(json.dumps(payload, default=str).encode())
    return response


_world_lock = threading.Lock()
_running_world: "World | None" = None


class World:
    """One offline AWS world on 127.0.0.1; at most one per process (moto's backends are global)."""

    def __init__(self, settings: Offline | None = None, *, port: int = 0, seed: int | None = None) -> None:
        self.settings = settings or Offline()
        self.seed = seed if seed is not None else (self.settings.seed if self.settings.seed is not None else random.SystemRandom().randrange(2**31))
        self.rng = random.Random(self.seed)
        self.account_id = self.settings.account_id
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.truth = GroundTruth()
        self.errors: list[str] = []
        self.scheduler: Scheduler | None = None
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._clients_lock = threading.Lock()
        self.clock_offset_seconds = 0.0
        self._build_engines()

    def _build_engines(self) -> None:
        from drharness.world.batch import BatchEngine
        from drharness.world.corruption import CorruptionEngine
        from drharness.world.dynamodb import DynamoDBEngine
        from drharness.world.ec2 import Ec2Engine
        from drharness.world.faults import FaultTable
        from drharness.world.iam import IamEngine
        from drharness.world.s3 import S3ReplicationEngine

        self.faults = FaultTable(self)
        self.s3 = S3ReplicationEngine(self)
        self.dynamodb = DynamoDBEngine(self)
        self.ec2 = Ec2Engine(self)
        self.iam = IamEngine(self)
        self.corruption = CorruptionEngine(self)
        self.batch = BatchEngine(self)
        self.engines: list[Engine] = [self.iam, self.s3, self.dynamodb, self.ec2]
        self.engines.append(self.batch)
        from drharness.world.backup import BackupEngine
        from drharness.world.fsx import FsxEngine

        self.fsx = FsxEngine(self)
        self.backup = BackupEngine(self)
        self.engines += [self.fsx, self.backup]
        from drharness.world.fis import FisEngine

        self.fis = FisEngine(self)
        self.engines.append(self.fis)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "World":
        global _running_world
        with _world_lock:
            if _running_world is not None:
                raise WorldError(
                    f"an offline world is already running in this process at {_running_world.endpoint}; "
                    "stop it first or attach to it with its endpoint (moto keeps one state per process)"
                )
            _running_world = self
        try:
            moto_access.reset_all()
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

            class QuietHandler(MotoRequestHandler):
                def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per call drowns the output
                    return None

            moto_app = DomainDispatcherApplication(create_backend_app)
            app = WorldApp(self, moto_app)
            self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=QuietHandler)
        except OSError as exc:
            with _world_lock:
                _running_world = None
            raise WorldError(f"cannot listen on 127.0.0.1:{self._port}: {exc}; choose another --port or 0 for a free one") from exc
        self.scheduler = Scheduler(on_error=self._engine_error)
        self._thread = threading.Thread(target=lambda: self._server.serve_forever(poll_interval=0.05), name="drharness-world", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        global _running_world
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        with _world_lock:
            if _running_world is self:
                _running_world = None

    def __enter__(self) -> "World":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise WorldError("the world is not running; call start() first")
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> float:
        """The world's wall clock (UTC epoch seconds); scheduled backups may advance it."""
        return time.time() + self.clock_offset_seconds

    # -- clients for the world's own use -------------------------------------------------------------

    def client(self, service: str, region: str, *, internal: bool = True) -> Any:
        """A boto3 client on this world. Internal clients pass the fault layer untouched."""
        key = (service, region, internal)
        with self._clients_lock:
            if key not in self._clients:
                session = boto3.session.Session(region_name=region, **OFFLINE_CREDENTIALS)
                client = session.client(
                    service,
                    endpoint_url=self.endpoint,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, account_id_endpoint_mode="disabled"),
                )
                if internal:
                    client.meta.events.register("before-sign.*.*", _mark_internal)
                self._clients[key] = client
            return self._clients[key]

    # -- data plane hooks ----------------------------------------------------------------------------

    def submit(self, delay_s: float, run: Callable[[], None], blocked: Callable[[], bool], label: str) -> None:
        if self.scheduler is None:
            raise WorldError("the world is not running")
        self.scheduler.submit(delay_s, run, blocked, label)

    def faults_changed(self) -> None:
        if self.scheduler is not None:
            self.scheduler.faults_changed()

    def settle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every replication that is not held by a fault has been applied."""
        return self.scheduler.wait_idle(timeout_s) if self.scheduler else True

    def _engine_error(self, label: str, exc: BaseException) -> None:
        self.errors.append(f"{label}: {type(exc).__name__}: {exc}")


def _mark_internal(request: Any, **_: Any) -> None:
    request.headers[INTERNAL_HEADER] = "1"


class WorldApp:
    """The WSGI application in front of moto."""

    def __init__(self, world: World, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.world = world
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            from drharness.world.control import handle_control

            return handle_control(self.world, environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)
        request = classify(environ)
        internal = request.headers.get(INTERNAL_HEADER) == "1"
        fault_id = ""
        response: CapturedResponse | None = None
        if not internal:
            effect = self.world.faults.effect_for(request)
            if effect is not None:
                fault_id = effect.fault_id
                if effect.kind == "drop":
                    self._log(request, 0, fault_id)
                    return _drop_connection(environ, start_response)
                if effect.kind == "error":
                    response = error_response(request.service, effect.status, effect.code, effect.message)
                elif effect.kind == "latency":
                    pause(effect.seconds)
            if response is None:
                response = self.world.iam.deny(request)
        if response is None:
            for engine in self.world.engines:
                response = engine.before(request)
                if response is not None:
                    break
        if response is None:
            with contextlib.ExitStack() as stack:
                for engine in self.world.engines:
                    stack.enter_context(engine.guard(request))
                response = self._call_moto(environ)
                for engine in self.world.engines:
                    try:
                        engine.after(request, response)
                    except Exception as exc:  # noqa: BLE001 - report, never break the caller's request
                        self.world.errors.append(f"{type(engine).__name__}.after {request.operation}: {exc!r}")
        self._log(request, response.status, fault_id)
        start_response(f"{response.status} {_reason(response.status)}", response.headers)
        return [response.body]

    def _call_moto(self, environ: dict[str, Any]) -> CapturedResponse:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = list(headers)
            return lambda data: None

        chunks = self.moto_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return CapturedResponse(captured.get("status", 500), captured.get("headers", []), body)

    def _log(self, request: AwsRequest, status: int, fault_id: str) -> None:
        self.world.truth.log_request(
            RequestRecord(
                at=time.time(),
                service=request.service,
                region=self.world.faults.effective_region(request),
                operation=request.operation,
                mutating=request.mutating,
                status=status,
                access_key_id=request.access_key_id,
                fault_id=fault_id,
            )
        )


def _drop_connection(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """Close the socket with no response: to the client the region is unreachable."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    start_response("503 Service Unavailable", [("Content-Length", "0")])
    return iter(())


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
