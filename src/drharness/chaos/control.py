"""The drharness control for Chaos Toolkit: the world, the records, and the revert of every fault.

Declare it once at the top of an experiment:

    "controls": [{"name": "drharness", "provider": {"type": "python", "module": "drharness.chaos.control"}}]

Before the experiment it opens the run: offline it starts a world and deploys the workload (or
attaches to `drharness_endpoint` / DRHARNESS_ENDPOINT and deploys nothing), live it opens the AWS
target through the safety checks. It writes the world's endpoint, region and resource names into the
configuration (so `${data_bucket}` works, and chaostoolkit-aws reaches the world through
AWS_ENDPOINT_URL), and creates the FIS experiment templates its `fis_templates` argument describes
whose id the configuration leaves empty:

    "arguments": {"fis_templates": {"pause_template_id": {"fault": "replication-pause", "duration": "PT5S",
                                     "params": {"bucket": "@data_bucket", "region": "@secondary_region"}}}}

After the experiment, however it ended (completed, deviated, failed, Ctrl-C, SIGTERM, SIGHUP), it
reverts every fault of the run's revert journal, stops the run's FIS experiments (tag
`drharness:experiment` = the experiment's name), counts what is left, and writes a result record per
activity plus the measurements, the experiment's Allure result and the journal under reports/.
If the process leaves before that, an exit hook reverts what the journal still holds.
"""

import atexit
import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from drharness.chaos import runtime
from drharness.chaos.records import LEFT_ACTIVE, write_results
from drharness.errors import ConfigError, DrHarnessError, FaultError
from drharness.faults.live import FIS_FINISHED
from drharness.results import RUN_ID_ENV, new_run_id, utc_now
from drharness.safety import live_fault_backend, mask_account, scoped_live_options
from drharness.waiting import wait_until

__all__ = [
    "after_experiment_control",
    "before_activity_control",
    "before_experiment_control",
    "cleanup_control",
    "configure_control",
]

EXTENSION = "drharness"
EXPERIMENT_TAG = "drharness:experiment"
NOT_STARTED = "drharness could not open the run, so nothing was injected: {error}"
ACCOUNT_KEY = "drharness_account_id"
ACCOUNT_MISMATCH = ("configuration drharness_account_id names account {expected}, but the target is account {found}; "
                    "refusing before any change")
REGION_MISMATCH = "configuration {key} is {given}, but the workload config {source} has {found}; make them agree"
EXPORTED = ("data_bucket", "backup_bucket", "metadata_table", "primary_region", "secondary_region")
OFFLINE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}

logger = logging.getLogger("chaostoolkit")
_state_lock = threading.RLock()
_startup_error: str | None = None
_saved_env: dict[str, str | None] = {}
_restore_signals: Any = None
_current_activity: str = ""
_exit_hook_installed = False


# -- the Chaos Toolkit control interface --------------------------------------------------------------


def configure_control(
    configuration: dict = None, secrets: dict = None, experiment: dict = None, fis_templates: dict = None, **_: Any,
) -> None:
    """Open the run: start or attach to the world (or open AWS), fill the configuration, create FIS templates."""
    global _startup_error
    from chaoslib import substitute

    with _state_lock:
        _startup_error = None
        runtime.refuse(None)
        if runtime.active() is not None:
            return  # configured once per run, however many times the control is declared
        if configuration is None:
            configuration = {}
        name, scenario, tier = _identity(experiment or {})
        os.environ.setdefault(RUN_ID_ENV, new_run_id())
        run = None
        try:
            settings = runtime.settings_from(configuration)
            _revert_leftovers(runtime.journal_directory(configuration, settings, name))
            run = runtime.open_run(configuration, name=name, scenario=scenario, tier=tier, start_world=True)
            runtime.activate(run)
            _install_exit_paths()
            _fill_configuration(run, configuration)
            templates = substitute(dict(fis_templates or {}), configuration, secrets)
            for key, spec in templates.items():
                if not configuration.get(key):
                    configuration[key] = _create_template(run, key, spec)
        except BaseException as exc:
            _startup_error = str(exc) if isinstance(exc, DrHarnessError) else f"{type(exc).__name__}: {exc}"
            runtime.refuse(_startup_error)
            if run is not None:
                _finish(run, None)
            raise


def before_experiment_control(context: dict, configuration: dict = None, **_: Any) -> None:
    """Refuse to start the experiment when the run could not be opened (Chaos Toolkit would carry on)."""
    from chaoslib.exceptions import InterruptExecution

    if _startup_error is not None:
        raise InterruptExecution(NOT_STARTED.format(error=_startup_error))


def before_activity_control(context: dict, configuration: dict = None, **_: Any) -> None:
    """Remember which activity runs, for the record of a run that is interrupted."""
    global _current_activity
    _current_activity = str((context or {}).get("name", ""))


def after_experiment_control(context: dict, state: dict = None, configuration: dict = None, **_: Any) -> None:
    """Revert every fault of the run, then write its records, its Allure result and its journal."""
    run = runtime.active()
    if run is not None:
        _finish(run, state)


def cleanup_control() -> None:
    """Last chance inside Chaos Toolkit: finish a run the after-control did not (it failed or never ran)."""
    run = runtime.active()
    if run is not None:
        _finish(run, None)


# -- opening the run ----------------------------------------------------------------------------------


def _identity(experiment: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """Name, scenario and tier from the experiment's "drharness" extension (name defaults to the title)."""
    ext = next((e for e in experiment.get("extensions") or [] if isinstance(e, Mapping) and e.get("name") == EXTENSION), {})
    title = str(experiment.get("title") or runtime.DEFAULT_NAME)
    name = str(ext.get("experiment") or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or runtime.DEFAULT_NAME)
    return name, str(ext.get("scenario") or "game_day"), (str(ext["tier"]) if ext.get("tier") else None)


def _revert_leftovers(directory: Any) -> None:
    """Undo what a killed earlier run of this experiment left in its journal (a gone world closes its records)."""
    from drharness.faults import Journal, revert_pending

    journal = Journal(directory)
    if not journal.pending():
        return
    try:
        revert_pending(journal)
    except FaultError as exc:
        raise FaultError(f"an earlier run of this experiment left faults that cannot be reverted here ({exc}); "
                         f"run `drharness revert --journal {journal.directory}` first") from exc


def _fill_configuration(run: runtime.ChaosRun, configuration: dict) -> None:
    """Endpoint, region and resource names for the activities; offline, AWS_* variables for chaostoolkit-aws."""
    workload = run.workload
    expected_account = str(configuration.get(ACCOUNT_KEY) or "")
    if expected_account and expected_account != run.target.account_id:
        raise ConfigError(ACCOUNT_MISMATCH.format(expected=mask_account(expected_account),
                                                  found=mask_account(run.target.account_id)))
    for key in EXPORTED:
        given = configuration.get(key)
        if given and key.endswith("_region") and given != getattr(workload, key):
            raise ConfigError(REGION_MISMATCH.format(key=key, given=given, found=getattr(workload, key),
                                                     source=workload.source))
        if not given:
            configuration[key] = getattr(workload, key)
    if not configuration.get("aws_region"):
        configuration["aws_region"] = workload.primary_region
    if run.offline:
        endpoint = str(run.target.endpoint_url)
        configuration[runtime.ENDPOINT_KEY] = endpoint
        wanted = {**OFFLINE_ENV, "AWS_ENDPOINT_URL": endpoint, runtime.ENDPOINT_KEY.upper(): endpoint}
        for key, value in wanted.items():
            _saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):  # a real session must not sign requests to the world
            _saved_env.setdefault(key, os.environ.get(key))
            os.environ.pop(key, None)


def _create_template(run: runtime.ChaosRun, key: str, spec: Mapping[str, Any]) -> str:
    """Create the FIS experiment template of one fault (the live backend's own JSON); its id."""
    from drharness.faults import LiveOptions, parse_fault
    from drharness.faults.journal import new_fault_id
    from drharness.faults.live import experiment_region, experiment_template

    if not isinstance(spec, Mapping) or "fault" not in spec:
        raise FaultError(f"fis_templates.{key} must be {{\"fault\": ..., \"params\": {{...}}, \"duration\": \"PT5M\"}}")
    name = str(spec["fault"])
    params = parse_fault(name, {k: v for k, v in run.resolve(dict(spec.get("params") or {}), key).items()
                                if v not in (None, "")})
    role = str(run.configuration.get(runtime.FIS_ROLE_KEY) or "")
    if not run.offline and not role:
        raise FaultError(f"configuration {key} is empty and no FIS role is configured to create it: "
                         f"give the template id, or set {runtime.FIS_ROLE_KEY}")
    account = run.target.account_id
    options = scoped_live_options(run.workload, account, LiveOptions(
        role_arn=role or f"arn:aws:iam::{account}:role/drharness-fis", region=run.workload.primary_region,
        duration=str(spec.get("duration") or "PT5M")))
    if not run.offline:  # the same account and tag-scope gate as every live fault, before the template exists
        live_fault_backend(run.target, run.workload, options).check(name, params)
    template = experiment_template(new_fault_id(), name, params, options, account)
    template["tags"] = {**template["tags"], EXPERIMENT_TAG: run.name}
    region = experiment_region(params, options)
    created = run.target.client("fis", region).create_experiment_template(**template)["experimentTemplate"]["id"]
    run.fis_templates.append((region, str(created)))
    return str(created)


# -- the guaranteed end -------------------------------------------------------------------------------


def _install_exit_paths() -> None:
    """SIGHUP unwinds like Ctrl-C (Chaos Toolkit maps SIGINT and SIGTERM itself); an exit hook backs it all up."""
    global _restore_signals, _exit_hook_installed
    from drharness.faults import install_signal_reverts

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        _restore_signals = install_signal_reverts((signal.SIGHUP,))
    if not _exit_hook_installed:
        atexit.register(_at_exit)
        _exit_hook_installed = True


def _at_exit() -> None:
    run = runtime.active()
    if run is not None:
        _finish(run, None)


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP while the faults are reverted; a second Ctrl-C must not cut it short."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is not None:
            previous[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _finish(run: runtime.ChaosRun, journal: Mapping[str, Any] | None) -> None:
    """Revert, count what is left, write every record; then close the run. Runs once per run."""
    global _restore_signals
    with _state_lock:
        if runtime.active() is not run:
            return
        with _signals_held() as held:
            try:
                problems = run.stop_ledgers()
                revert_started, clock = utc_now(), time.monotonic()
                reverted, left, revert_problems = _revert_everything(run)
                revert_seconds = time.monotonic() - clock
                problems += revert_problems
                if journal is not None:
                    try:
                        write_results(run, journal, reverted, left,
                                      problems + [f"signal {s} held during the revert" for s in held], _current_activity,
                                      revert_started=revert_started, revert_seconds=revert_seconds)
                    except Exception:  # Chaos Toolkit would swallow it silently: say it, then still close the run
                        logger.exception("drharness: writing the results of %s failed", run.name)
                for problem in problems:
                    logger.warning("drharness: %s", problem)
                if left:
                    logger.error("drharness: " + LEFT_ACTIVE.format(count=len(left), ids=", ".join(left)))
            finally:
                runtime.deactivate(run)
                try:
                    run.session.close()
                finally:
                    for key, value in _saved_env.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
                    _saved_env.clear()
                    if _restore_signals is not None:
                        _restore_signals()
                        _restore_signals = None


def _revert_everything(run: runtime.ChaosRun) -> tuple[list[str], list[str], list[str]]:
    """Stop the run's FIS experiments, revert its journal (the whole world if the run started it); what is left."""
    from drharness.faults import revert_pending

    problems: list[str] = []
    reverted: list[str] = []
    # The journal first: a region outage of this run would otherwise cut the FIS calls below off.
    try:
        reverted += revert_pending(run.journal, live_backend=lambda ref: run.backend)
    except DrHarnessError as exc:
        problems.append(str(exc))
    client = run.session.world_client if run.offline else None
    if client is not None and run.owns_world:
        try:
            reverted += [str(f["id"]) for f in client.revert_all()]
        except DrHarnessError as exc:
            problems.append(str(exc))
    fis_prefixes, stopped = _stop_fis_experiments(run, problems)
    reverted += [f"fis-experiment-{i}" for i in stopped]
    if client is not None and not run.owns_world:
        try:
            for fault in client.faults():
                if str(fault["id"]).startswith(fis_prefixes):
                    client.revert(str(fault["id"]))
                    reverted.append(str(fault["id"]))
        except DrHarnessError as exc:
            problems.append(str(exc))
    for region, template_id in run.fis_templates:
        with contextlib.suppress(Exception):  # a template left behind changes nothing by itself
            run.target.client("fis", region).delete_experiment_template(id=template_id)
    return reverted, _left_active(run, fis_prefixes, problems), problems


def _stop_fis_experiments(run: runtime.ChaosRun, problems: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Stop every FIS experiment tagged with this experiment's name; the world fault-id prefixes they own, and which stopped."""
    prefixes: list[str] = []
    stopped: list[str] = []
    for region in run.workload.regions:
        try:
            fis = run.target.client("fis", region)
            running = []
            for page in fis.get_paginator("list_experiments").paginate():
                for item in page.get("experiments", []):
                    if (item.get("tags") or {}).get(EXPERIMENT_TAG) == run.name:
                        prefixes.append(f"fis-{str(item['id'])[:16]}-")
                        if item["state"]["status"] not in FIS_FINISHED:
                            fis.stop_experiment(id=item["id"])
                            running.append(item["id"])
                            stopped.append(str(item["id"]))
            def finished() -> bool:
                running[:] = [i for i in running
                              if fis.get_experiment(id=i)["experiment"]["state"]["status"] not in FIS_FINISHED]
                return not running

            outcome = wait_until(finished, 30.0 if run.offline else 300.0, 0.1 if run.offline else 5.0,
                                 what=f"the FIS experiments of {run.name} in {region} to stop")
            if not outcome.ok:
                problems.append(f"{outcome.reason}: {', '.join(running)} still running")
        except Exception as exc:  # noqa: BLE001 - a region without FIS (or unreachable) must not stop the revert
            problems.append(f"listing FIS experiments in {region}: {type(exc).__name__}: {exc}")
    return tuple(prefixes), stopped


def _left_active(run: runtime.ChaosRun, fis_prefixes: tuple[str, ...], problems: list[str]) -> list[str]:
    ours = {r.id for r in run.journal.records()}
    left = [r.id for r in run.journal.pending()]
    try:
        for fault_id in run.backend.active_ids():
            mine = fault_id in ours or fault_id.startswith(fis_prefixes) or (run.offline and run.owns_world)
            if mine and fault_id not in left:
                left.append(fault_id)
    except DrHarnessError as exc:
        problems.append(f"cannot list the faults still active: {exc}")
    return left
