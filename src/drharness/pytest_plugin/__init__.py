"""The pytest plugin: options, markers and the fixtures the DR suites stand on (a thin adapter).

Every test gets its world through `dr_session` (one per process, so each pytest-xdist worker has its
own isolated world), and writes its measurements through `dr_record`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet

from drharness.config import Workload, WorkloadFile, load_workload
from drharness.errors import DrHarnessError
from drharness.results.recorder import Recorder
from drharness.results import RUN_ID_ENV, new_run_id
from drharness.safety import OPT_IN_HELP
from drharness.session import DrSession
from drharness.settings import RunSettings, resolve_settings

CADENCE_MARKERS = {
    "daily": "daily checklist: backup jobs succeeded, replication healthy, DR environment healthy",
    "weekly": "weekly checklist: restore test",
    "monthly": "monthly checklist: full DR test, RTO/RPO against the tier targets",
    "quarterly": "quarterly checklist: DR exercise (game day)",
}
TIER_MARKERS = {
    "critical": "checks a critical-tier resource (RTO 4 h / RPO 1 h by default)",
    "important": "checks an important-tier resource (RTO 24 h / RPO 4 h by default)",
    "standard": "checks a standard-tier resource (RTO 72 h / RPO 24 h by default)",
}
SCENARIO_MARKERS = {
    "config": "scenario: configuration compliance of a DR mechanism",
    "backup": "scenario: backup and restore",
    "replication": "scenario: cross-region replication",
    "consistency": "scenario: data consistency primary vs replica",
    "az": "scenario: availability-zone outage",
    "region": "scenario: region outage and failover",
    "service": "scenario: service fault (errors, throttling, latency)",
    "data_corruption": "scenario: data corruption and restore",
    "security": "scenario: security breach: isolate a credential and verify the data",
    "recovery": "scenario: recovery procedures (failover, runbook, config backup)",
}
TARGET_MARKERS = {
    "live_only": "needs a real AWS account (--dr-target aws with opt-in); skipped offline",
    "offline_only": "needs the offline world (fault injection with ground truth); skipped against AWS",
}
ALL_MARKERS = {**CADENCE_MARKERS, **TIER_MARKERS, **SCENARIO_MARKERS, **TARGET_MARKERS}
LIVE_ONLY_REASON = "live_only: needs --dr-target aws (this run is offline)"
OFFLINE_ONLY_REASON = "offline_only: needs the offline world's fault layer (this run targets aws)"
# The fixtures a DR test stands on, beyond the session's own below: part of the plugin, for any project.
pytest_plugins = ["drharness.pytest_plugin.fixtures"]
_SETTINGS_KEY = pytest.StashKey[RunSettings]()
_SPEC_KEY = pytest.StashKey[WorkloadFile]()
# Fixtures the plugin parametrizes over the workload's resources: one test per resource, its id in the test id.
RESOURCE_FIXTURES = {"dr_bucket": "buckets", "dr_table": "tables", "dr_file_system": "file_systems",
                     "dr_compute": "compute_environments", "dr_backup_plan": "backup_plans"}  # made by _resource_view


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drharness", "drharness disaster-recovery drills")
    group.addoption("--dr-target", choices=("offline", "aws"), default=None,
                    help="where the workload runs: offline (default; an embedded AWS world) or aws (needs --dr-live)")
    group.addoption("--dr-config", default=None, metavar="PATH", help="workload config (default ./workload.toml)")
    group.addoption("--dr-endpoint", default=None, metavar="URL",
                    help="use an already-running world as found (drharness world serve, LocalStack) and deploy nothing; "
                         "AWS_ENDPOINT_URL means the same")
    group.addoption("--dr-reports", default=None, metavar="DIR", help="where result records go (default ./reports)")
    group.addoption("--dr-seed", default=None, metavar="N", help="seed of the offline world (printed each run; replays it)")
    group.addoption("--dr-live", action="store_true", default=False,
                    help="opt in to a live run (also needs DRHARNESS_LIVE=I-UNDERSTAND and the account on the allowlist)")


def pytest_configure(config: pytest.Config) -> None:
    for name, description in ALL_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    try:
        settings = resolve_settings(
            target=config.getoption("--dr-target"),
            config=config.getoption("--dr-config"),
            endpoint=config.getoption("--dr-endpoint"),
            reports=config.getoption("--dr-reports"),
            seed=config.getoption("--dr-seed"),
            live=config.getoption("--dr-live"),
        )
    except DrHarnessError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if settings.target == "aws" and not settings.live_opted_in:
        raise pytest.UsageError(OPT_IN_HELP)
    workers = config.getoption("numprocesses", None) if config.pluginmanager.has_plugin("xdist") else None
    if workers and (settings.endpoint or settings.target == "aws") and not hasattr(config, "workerinput"):
        shared = "the account" if settings.target == "aws" else f"the world at {settings.endpoint}"
        raise pytest.UsageError(
            f"-n {workers} with one shared target: every worker would drill {shared}, and one worker's fault "
            "(a region outage, a paused replication) would strike the other's checks. Run it without -n; or, "
            "offline, drop --dr-endpoint so that each worker starts and deploys its own world")
    config.stash[_SETTINGS_KEY] = settings
    try:  # the resources are known at collection: each check is collected once per resource
        config.stash[_SPEC_KEY] = load_workload(settings.config).spec
    except DrHarnessError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if not hasattr(config, "workerinput") and not os.environ.get(RUN_ID_ENV):
        os.environ[RUN_ID_ENV] = new_run_id()  # xdist workers inherit it: one result set per run


def resource_params(config: pytest.Config, many: str) -> list[ParameterSet]:
    """One parameter per resource of the workload's `many` (`buckets`, `tables`, ...), in the config's order:
    its id as value and test id, marked with its tier where it has one (`-m critical` selects the critical ones)."""
    return [pytest.param(resource.id, id=resource.id,
                         marks=getattr(pytest.mark, resource.tier) if hasattr(resource, "tier") else ())
            for resource in getattr(config.stash[_SPEC_KEY], many)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture, many in RESOURCE_FIXTURES.items():
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, resource_params(metafunc.config, many), indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash[_SETTINGS_KEY].target
    for item in items:
        if target == "offline" and item.get_closest_marker("live_only"):
            item.add_marker(pytest.mark.skip(reason=LIVE_ONLY_REASON))
        if target == "aws" and item.get_closest_marker("offline_only"):
            item.add_marker(pytest.mark.skip(reason=OFFLINE_ONLY_REASON))


@pytest.fixture(scope="session")
def dr_settings(pytestconfig: pytest.Config) -> RunSettings:
    return pytestconfig.stash[_SETTINGS_KEY]


@pytest.fixture(scope="session")
def dr_session(dr_settings: RunSettings, pytestconfig: pytest.Config) -> Iterator[DrSession]:
    """The session's target: a fresh offline world with the workload deployed, a found endpoint, or AWS."""
    try:
        session = DrSession(dr_settings, source="pytest").open()
    except DrHarnessError as exc:
        pytest.exit(f"drharness: {exc}", returncode=2)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"drharness: {session.describe()}")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def dr_target(dr_session: DrSession):  # type: ignore[no-untyped-def]
    return dr_session.target


@pytest.fixture(scope="session")
def dr_workload(dr_session: DrSession):  # type: ignore[no-untyped-def]
    return dr_session.workload


def _resource_view(name: str, focus: str, many: str, doc: str) -> Any:
    """A fixture giving the workload seen from one resource of `many`; parametrized by `pytest_generate_tests`."""

    def view(dr_session: DrSession, request: pytest.FixtureRequest) -> Workload:
        first = getattr(dr_session.workload.spec, many)[0].id
        return dr_session.workload.focus(**{focus: getattr(request, "param", first)})

    view.__doc__ = doc
    view.__name__ = name
    return pytest.fixture(name=name)(view)


dr_bucket = _resource_view("dr_bucket", "bucket", "buckets", """The workload seen from one of its buckets (the test
    runs once per bucket): `data_bucket`, `backup_bucket` and `spec.bucket` are that bucket's.""")
dr_table = _resource_view("dr_table", "table", "tables", """The workload seen from one of its tables (the test runs
    once per table): `metadata_table`, `table_replica_regions` and `spec.table` are that table's.""")
dr_file_system = _resource_view("dr_file_system", "file_system", "file_systems", """The workload seen from one of its
    file systems (the test runs once per file system): `file_system` and `spec.file_system` are that one's.""")
dr_compute = _resource_view("dr_compute", "compute", "compute_environments", """The workload seen from one of its
    compute environments (once per environment): `compute_environment`, `job_queue` and `spec.compute` are its.""")
dr_backup_plan = _resource_view("dr_backup_plan", "backup_plan", "backup_plans", """The workload seen from one of its
    backup plans (the test runs once per plan): `backup_plan`, `backup_vault` and `spec.backup` are that plan's.""")


@pytest.fixture
def dr_record(dr_session: DrSession, request: pytest.FixtureRequest) -> Recorder:
    """Write this test's measurements as result records (they also show in the test report)."""
    recorder = Recorder(dr_session.sink, dr_session.target.name, test_id=request.node.nodeid)
    request.node.stash[_RECORDER_KEY] = recorder
    request.node.stash[_WORKLOAD_KEY] = dr_session.workload
    return recorder


_RECORDER_KEY = pytest.StashKey[Recorder]()
_WORKLOAD_KEY = pytest.StashKey[object]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    recorder = item.stash.get(_RECORDER_KEY, None)
    if report.when == "call":
        records = recorder.records if recorder is not None else []
        for record in records:
            report.user_properties.append(("dr_result", record.to_json()))
        from drharness.pytest_plugin.allure_annotations import annotate_allure_test
        from drharness.reporting.scrub import Scrubber

        workload = item.stash.get(_WORKLOAD_KEY, None)
        annotate_allure_test(
            [m.name for m in item.iter_markers()], records, Scrubber.for_workload(workload) if workload else None
        )
    return report
