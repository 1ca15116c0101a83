"""The offline world: moto's server on loopback plus the data plane and fault layer moto lacks.

`World` starts and stops the server and wires its parts together, each given exactly the
collaborators it needs; every request then passes the chain of `drharness.world.chain`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from botocore.config import Config

from drharness.config import Offline
from drharness.errors import WorldError
from drharness.target import OFFLINE_CREDENTIALS, boto3_session
from drharness.world.chain import WorldApp, build_chain
from drharness.world.engine import Engine
from drharness.world.http import HttpServer
from drharness.world.faults.az_outage import Zones
from drharness.world.faults.corruption import Corruption
from drharness.world.faults.credentials import AccessKeys, Credentials
from drharness.world.faults.table import FaultTable
from drharness.world.moto.app import moto_app
from drharness.world.moto.core import reset_all
from drharness.world.plane import Plane, SchedulerSlot, WorldClock
from drharness.world.scheduler import Scheduler
from drharness.world.services.athena.engine import AthenaEngine
from drharness.world.services.backup.models import BackupBackend
from drharness.world.services.backup.responses import BackupResponses
from drharness.world.services.batch.engine import BatchEngine
from drharness.world.services.dynamodb.engine import DynamoDBEngine
from drharness.world.services.dynamodb.export import DynamoDBExports
from drharness.world.services.cloudwatch.alarms import AlarmEvaluator
from drharness.world.services.fis.engine import FisEngine
from drharness.world.services.fsx.engine import FsxEngine
from drharness.world.services.s3.inventory import S3InventoryEngine
from drharness.world.services.s3.replication import S3ReplicationEngine
from drharness.world.truth import GroundTruth
from drharness.world.wire import INTERNAL_HEADER

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
        self._server: HttpServer | None = None
        self.truth = GroundTruth()
        self.errors: list[str] = []
        self.clock = WorldClock()
        self._tasks = SchedulerSlot()
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._clients_lock = threading.Lock()
        self._wire()

    def _wire(self) -> None:
        """Build the fault table and the engines, each with the collaborators it uses, in request order."""
        plane = self.plane = Plane(self.account_id, self.rng, self.clock, self._tasks, self.truth, self.client, self.errors)
        restore_seconds = float(self.settings.restore_seconds)
        self.zones = Zones(self.client)
        self.access_keys = AccessKeys()
        self.faults = FaultTable(self.rng, self._tasks.faults_changed, self.zones, Corruption(self.client), Credentials(self.client))
        self.s3 = S3ReplicationEngine(plane, self.faults, self.settings.s3_lag)
        self.inventory = S3InventoryEngine(plane, self.s3)  # ReplicationStatus as the replication engine keeps it
        self.dynamodb = DynamoDBEngine(plane, self.faults, self.settings.dynamodb_lag, restore_seconds,
                                       self.settings.pitr_latest_lag_seconds)
        # Table exports read each table's PITR history as the DynamoDB engine keeps it, and run as long as a restore.
        self.exports = DynamoDBExports(plane, self.dynamodb.pitr_history, self.dynamodb.latest_restorable, restore_seconds)
        self.batch = BatchEngine(plane, self.faults, self.zones)
        self.fsx = FsxEngine(plane, self.faults, restore_seconds)
        self.backup = BackupBackend(plane, self.faults, self.fsx, restore_seconds)
        self.fis = FisEngine(plane, self.faults, self.zones)
        self.alarms = AlarmEvaluator(plane)
        self.athena = AthenaEngine(plane)
        # The order engines see a request in (the access keys first: a key deleted by IAM is refused next time).
        self.engines: list[Engine] = [self.access_keys, self.s3, self.inventory, self.dynamodb, self.exports, self.batch,
                                      self.fsx, BackupResponses(self.backup), self.fis, self.alarms, self.athena]

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
            reset_all()
            moto = moto_app()
            app = WorldApp(build_chain(self, self.plane, self.faults, self.access_keys, self.engines, moto))
            self._server = HttpServer(app, self._port)
        except OSError as exc:
            with _world_lock:
                _running_world = None
            raise WorldError(f"cannot listen on 127.0.0.1:{self._port}: {exc}; choose another --port or 0 for a free one") from exc
        self._tasks.scheduler = Scheduler(on_error=self._engine_error)
        return self

    def stop(self) -> None:
        global _running_world
        if self._server is not None:
            self._server.stop()
            self._server = None
        scheduler, self._tasks.scheduler = self._tasks.scheduler, None
        if scheduler is not None:
            scheduler.stop()
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
        return self._server.port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scheduler(self) -> Scheduler | None:
        return self._tasks.scheduler

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> float:
        """The world's wall clock (UTC epoch seconds); scheduled backups may advance it."""
        return self.clock.now()

    @property
    def clock_offset_seconds(self) -> float:
        return self.clock.offset_seconds

    def advance_clock(self, seconds: float) -> float:
        """Move the world clock on by `seconds`; every engine acts on what came due. The new now."""
        self.clock.offset_seconds += seconds
        for engine in self.engines:
            engine.tick()
        return self.now()

    # -- clients for the world's own use -------------------------------------------------------------

    def client(self, service: str, region: str, *, internal: bool = True) -> Any:
        """A boto3 client on this world. Internal clients pass the fault layer untouched."""
        key = (service, region, internal)
        with self._clients_lock:
            if key not in self._clients:
                session = boto3_session(region_name=region, **OFFLINE_CREDENTIALS)
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
        self._tasks.submit(delay_s, run, blocked, label)

    def faults_changed(self) -> None:
        self._tasks.faults_changed()

    def pending(self) -> tuple[int, int]:
        """(replication tasks due or running, tasks held by a fault)."""
        scheduler = self._tasks.scheduler
        return scheduler.pending() if scheduler else (0, 0)

    def settle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every replication that is not held by a fault has been applied."""
        scheduler = self._tasks.scheduler
        return scheduler.wait_idle(timeout_s) if scheduler else True

    def _engine_error(self, label: str, exc: BaseException) -> None:
        self.errors.append(f"{label}: {type(exc).__name__}: {exc}")


def _mark_internal(request: Any, **_: Any) -> None:
    request.headers[INTERNAL_HEADER] = "1"
