"""What one `chaos run` shares between the drharness control and the drharness activities.

Chaos Toolkit calls every Python activity in the `chaos run` process, one after the other, so the
run's target, workload, revert journal, RTO timeline and canary ledgers live here, in that process. The control
opens the run (starting the offline world, or attaching to one, or opening the live target) and
closes it; an activity used without the control opens a run from its `configuration` on first use.

Configuration keys (each falls back to the environment, as `drharness.settings` describes):

| key                      | meaning                                                      | environment            |
|--------------------------|--------------------------------------------------------------|------------------------|
| drharness_target         | offline (default) or aws                                     | DRHARNESS_TARGET       |
| drharness_endpoint       | a running world to use (nothing is deployed into it)         | DRHARNESS_ENDPOINT, AWS_ENDPOINT_URL |
| drharness_config         | the workload config file                                     | DRHARNESS_CONFIG       |
| drharness_reports        | where records, Allure results and journals go                | DRHARNESS_REPORTS      |
| drharness_seed           | the offline world's seed                                     | DRHARNESS_SEED         |
| drharness_live           | true to opt in to a live run (DRHARNESS_LIVE=I-UNDERSTAND too) |                      |
| drharness_fis_role_arn   | the role FIS assumes for live faults                         |                        |
| drharness_fis_duration   | ISO 8601 cap on every live fault (default PT30M)             |                        |
| drharness_journal        | the revert journal's directory                               | DRHARNESS_JOURNAL      |
| drharness_account_id     | the account a live run must find (the control checks it)     |                        |

The control also fills in data_bucket, backup_bucket, metadata_table, primary_region,
secondary_region and aws_region from the workload when the experiment leaves them empty.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drharness.config import Workload
from drharness.errors import ConfigError, FaultError
from drharness.faults import Journal, LiveOptions, OfflineFaultBackend
from drharness.faults.base import FaultBackend, InjectedFault
from drharness.faults.journal import JOURNAL_ENV
from drharness.instruments.canary import CanaryLedger
from drharness.instruments.timeline import FAULT_INJECTED, Timeline
from drharness.results.objectives import TierObjectives, objectives_for
from drharness.results.recorder import Recorder
from drharness.results import ResultRecord, ResultSink, utc_now
from drharness.safety import live_fault_backend
from drharness.session import DrSession
from drharness.settings import RunSettings, resolve_settings
from drharness.target import Target

SOURCE = "chaos"
ENDPOINT_KEY = "drharness_endpoint"
TARGET_KEY = "drharness_target"
CONFIG_KEY = "drharness_config"
REPORTS_KEY = "drharness_reports"
SEED_KEY = "drharness_seed"
LIVE_KEY = "drharness_live"
FIS_ROLE_KEY = "drharness_fis_role_arn"
FIS_DURATION_KEY = "drharness_fis_duration"
JOURNAL_KEY = "drharness_journal"
DEFAULT_NAME = "experiment"

# Names an activity may write as "@name" instead of spelling out the workload's resource.
REFERENCES = (
    "data_bucket", "backup_bucket", "metadata_table", "primary_region", "secondary_region", "replication_prefix",
    "compute_environment", "job_queue", "dr_stack", "file_system", "templates_bucket",
)
UNKNOWN_REFERENCE = "unknown workload reference {value!r} in {where}; use one of " + ", ".join("@" + r for r in REFERENCES)
NO_WORLD = (
    "no offline world to act on: add the drharness control to the experiment "
    "(it starts one), or set configuration drharness_endpoint / DRHARNESS_ENDPOINT to a running `drharness world serve`"
)
NO_FIS_ROLE = (
    "a live fault needs the role FIS assumes: set configuration drharness_fis_role_arn "
    "(e.g. {\"type\": \"env\", \"key\": \"DRHARNESS_FIS_ROLE_ARN\"})"
)


def masked_key(access_key_id: str) -> str:
    """An access key id as reports may show it: its first four and last four characters."""
    return f"{access_key_id[:4]}****{access_key_id[-4:]}" if len(access_key_id) > 8 else "****"


def flag(value: object) -> bool:
    """A boolean argument as `--var name=value` gives it (a string): true, yes, on, 1."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value not in (None, "") else False


def settings_from(configuration: Mapping[str, Any] | None) -> RunSettings:
    """Run settings from the experiment's configuration over the environment over the defaults."""
    cfg = configuration or {}

    def get(key: str) -> Any:
        value = cfg.get(key)
        return None if value in (None, "") else value

    return resolve_settings(target=get(TARGET_KEY), config=get(CONFIG_KEY), endpoint=get(ENDPOINT_KEY),
                            reports=get(REPORTS_KEY), seed=get(SEED_KEY), live=flag(cfg.get(LIVE_KEY)))


@dataclass
class ChaosRun:
    """One experiment's run: where it acts, where its records go, what it injected and measured."""

    name: str
    scenario: str
    tier: str | None
    session: DrSession
    journal: Journal
    configuration: dict[str, Any]
    started_at: dt.datetime = field(default_factory=utc_now)
    started_monotonic: float = field(default_factory=time.monotonic)
    timeline: Timeline | None = None
    ledgers: dict[str, CanaryLedger] = field(default_factory=dict)
    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fault_times: dict[str, dt.datetime] = field(default_factory=dict)  # fault id -> when it went in
    compromised: dict[str, Any] = field(default_factory=dict)  # fault id -> AccessKey
    fis_templates: list[tuple[str, str]] = field(default_factory=list)  # (region, template id) made by the control
    lock: threading.RLock = field(default_factory=threading.RLock)
    _backend: FaultBackend | None = None
    _recorder: Recorder | None = None

    @property
    def settings(self) -> RunSettings:
        return self.session.settings

    @property
    def target(self) -> Target:
        return self.session.target

    @property
    def workload(self) -> Workload:
        return self.session.workload

    @property
    def offline(self) -> bool:
        return self.target.name == "offline"

    @property
    def owns_world(self) -> bool:
        """True when this run started the world (it goes when the run ends)."""
        return self.session.world is not None

    @property
    def sink(self) -> ResultSink:
        return self.session.sink

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(self.sink, self.target.name, test_id=f"chaos:{self.name}", scenario=self.scenario)
        return self._recorder

    @property
    def records(self) -> list[ResultRecord]:
        """The measurements written so far by this run's activities."""
        return list(self.recorder.records)

    def record(self, record: ResultRecord) -> ResultRecord:
        """Write a record an instrument made (stamped with this run) and keep it with the run's measurements."""
        _, stamped = self.sink.write_record(record)
        self.recorder.records.append(stamped)
        return stamped

    def objectives(self, tier: str | None = None) -> TierObjectives:
        return objectives_for(self.workload, (tier or self.tier or "critical"))  # type: ignore[arg-type]

    @property
    def backend(self) -> FaultBackend:
        """The fault backend of the target: the world's fault layer offline, FIS experiments live."""
        if self._backend is None:
            if self.offline:
                if self.session.world_client is None:
                    raise FaultError(f"{self.target.endpoint_url} is not a drharness world: faults need `drharness world serve`")
                self._backend = OfflineFaultBackend(self.session.world_client.endpoint, client=self.session.world_client)
            else:
                role = str(self.configuration.get(FIS_ROLE_KEY) or "")
                if not role:
                    raise FaultError(NO_FIS_ROLE)
                options = LiveOptions(role_arn=role, region=self.workload.primary_region,
                                      duration=str(self.configuration.get(FIS_DURATION_KEY) or "PT30M"))
                self._backend = live_fault_backend(self.target, self.workload, options)
        return self._backend

    def resolve(self, value: Any, where: str) -> Any:
        """Replace "@name" workload references (recursively) with the workload's value."""
        if isinstance(value, str) and value.startswith("@"):
            name = value[1:]
            if name not in REFERENCES:
                raise ConfigError(UNKNOWN_REFERENCE.format(value=value, where=where))
            if name == "replication_prefix":
                return self.workload.spec.bucket.replication.prefix
            return getattr(self.workload, name)
        if isinstance(value, Mapping):
            return {k: self.resolve(v, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, where) for v in value]
        return value

    def note_fault(self, fault: InjectedFault) -> None:
        """Start the RTO clock at the first fault of the run; remember when each fault went in."""
        with self.lock:
            self.fault_times[fault.id] = fault.injected_at
            if self.timeline is None:
                self.timeline = Timeline.start(f"{self.name}: {fault.describe()}")
                self.timeline.mark(FAULT_INJECTED, fault.describe())
            if fault.access_key is not None:
                self.compromised[fault.id] = fault.access_key

    def stop_ledgers(self) -> list[str]:
        """Stop every canary writer; return the problems (a writer hanging on a dead region)."""
        problems = []
        for store, ledger in list(self.ledgers.items()):
            try:
                ledger.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                problems.append(f"canary ledger {store}: {exc}")
        return problems


_lock = threading.RLock()
_active: ChaosRun | None = None
_refused: str | None = None
NOT_OPENED = "the drharness control could not open this run, so nothing was injected: {reason}"


def journal_directory(configuration: Mapping[str, Any] | None, settings: RunSettings, name: str) -> Path:
    """Where a run's revert records go: configuration > DRHARNESS_JOURNAL > <reports>/journals/<name>.faults."""
    chosen = (configuration or {}).get(JOURNAL_KEY) or os.environ.get(JOURNAL_ENV)
    return Path(chosen) if chosen else settings.reports / "journals" / f"{name}.faults"


def open_run(
    configuration: dict[str, Any] | None, *, name: str = DEFAULT_NAME, scenario: str = "", tier: str | None = None,
    start_world: bool = True,
) -> ChaosRun:
    """Open the run: start (and deploy into) an offline world, attach to the configured one, or open AWS."""
    cfg = configuration if configuration is not None else {}
    settings = settings_from(cfg)
    if settings.target == "offline" and not settings.endpoint and not start_world:
        raise ConfigError(NO_WORLD)
    session = DrSession(settings, source=SOURCE).open()
    journal = Journal(journal_directory(cfg, settings, name))
    return ChaosRun(name=name, scenario=scenario, tier=tier, session=session, journal=journal, configuration=cfg)


def activate(run: ChaosRun) -> None:
    global _active, _refused
    with _lock:
        _active, _refused = run, None


def refuse(reason: str | None) -> None:
    """Say the control could not open the run (None: it may be opened again)."""
    global _refused
    with _lock:
        _refused = reason


def refused() -> str | None:
    with _lock:
        return _refused


def deactivate(run: ChaosRun) -> None:
    global _active
    with _lock:
        if _active is run:
            _active = None


def active() -> ChaosRun | None:
    with _lock:
        return _active


def current(configuration: Mapping[str, Any] | None) -> ChaosRun:
    """The run the control opened; without the control, one attached to the configured world or account."""
    global _active
    with _lock:
        if _active is None:
            if _refused is not None:
                raise ConfigError(NOT_OPENED.format(reason=_refused))
            _active = open_run(dict(configuration or {}), start_world=False)
        return _active


STORES = ("s3", "dynamodb")
UNKNOWN_STORE = "store {store!r} is not one of " + ", ".join(STORES)


def check_store(store: str) -> str:
    if store not in STORES:
        raise ConfigError(UNKNOWN_STORE.format(store=store))
    return store


def store_resource(run: ChaosRun, store: str, region: str) -> str:
    """The workload's bucket or table in `region`: the data bucket or its replica; the global table."""
    workload = run.workload
    if check_store(store) == "dynamodb":
        return workload.metadata_table
    if region == workload.primary_region:
        return workload.data_bucket
    if region == workload.secondary_region:
        return workload.backup_bucket
    raise ConfigError(f"the workload keeps no bucket in {region}: its regions are {', '.join(workload.regions)}")
