"""Stop conditions: end a run, with every fault reverted, when an alarm fires, a stop is asked for, or a signal comes.

    with RunGuard(target, workload, journal, backend) as guard:
        faults.inject(backend, "az-outage", {...}, journal)
        ...
        guard.check()          # raises StopConditionTriggered once a stop condition holds

A watcher thread polls the CloudWatch alarms named in `[live].stop_alarms` (names, or ARNs for another
region) and the stop file (`DRHARNESS_STOP_FILE`, else `.drharness/STOP`, written by `drharness stop`).
When one triggers it reverts every pending fault of the journal, newest first, and interrupts the main
thread, which raises `StopConditionTriggered` (a KeyboardInterrupt, so `except Exception` in the run
cannot swallow it). SIGINT, SIGTERM and SIGHUP unwind the run the same way; on the way out the guard
reverts whatever is still pending, with further signals held until it is done. SIGKILL cannot be
caught: the journal and `drharness revert` remain for that.

Live FIS experiments carry the same alarms as their own stop conditions (`alarm_arns`), so the
account stops a fault even if the harness is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from drharness.config import Workload
from drharness.errors import DrHarnessError, FaultError, SafetyError
from drharness.faults.base import FaultBackend
from drharness.faults.journal import Journal
from drharness.faults.lifecycle import Terminated, raise_when_safe, revert_all, start_redelivery
from drharness.target import Target
from drharness.waiting import wait_until

STOP_FILE_ENV = "DRHARNESS_STOP_FILE"
DEFAULT_STOP_FILE = Path(".drharness") / "STOP"
POLL_INTERVAL_S = 5.0
BLIND_LIMIT_S = 60.0  # alarms unreadable this long count as a stop: a guard that cannot see must not keep going

STOP_FILE_PRESENT = (
    "the stop file {path} exists ({reason}); a run would stop at once. Remove it with `drharness stop --clear` "
    "once the cause is dealt with"
)
ALARM_ALREADY = "stop alarm {alarm} is in ALARM already; deal with it before injecting faults"
ALARM_MISSING = "stop alarm {alarm} named in [live].stop_alarms of {source} does not exist in {region}; fix the name"
ALARM_FIRED = "stop alarm {alarm} went into ALARM"
STOP_REQUESTED = "stop requested through {path}: {reason}"
ALARMS_BLIND = "stop alarms unreadable for {seconds:g} s ({error}); stopping rather than running unwatched"
SIGNALLED = "signal {name}"


class StopConditionTriggered(KeyboardInterrupt):
    """A stop condition ended the run; every fault of its journal has been reverted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stop_file_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The stop file: the argument > DRHARNESS_STOP_FILE > .drharness/STOP in the current directory."""
    chosen = path or os.environ.get(STOP_FILE_ENV) or DEFAULT_STOP_FILE
    return Path(chosen).expanduser().absolute()


def request_stop(reason: str = "drharness stop", path: str | os.PathLike[str] | None = None) -> Path:
    """Write the stop file every guarded run watches; return its path."""
    target = stop_file_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{stamp} {reason.strip() or 'stop'}\n", encoding="utf-8")
    tmp.replace(target)  # a watcher never reads half a file
    return target


def clear_stop(path: str | os.PathLike[str] | None = None) -> bool:
    """Remove the stop file; True if there was one."""
    target = stop_file_path(path)
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


def stop_reason(path: Path) -> str | None:
    """What the stop file says, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "unreadable stop file"
    return text or "stop"


@dataclass(frozen=True)
class Alarm:
    """A stop alarm: its name and the region it lives in."""

    name: str
    region: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.region})"


def stop_alarms(workload: Workload) -> tuple[Alarm, ...]:
    """The alarms of `[live].stop_alarms`: names live in the primary region; ARNs say their own."""
    found = []
    for entry in workload.spec.live.stop_alarms:
        if entry.startswith("arn:"):
            parts = entry.split(":", 6)
            if len(parts) < 7 or parts[2] != "cloudwatch" or parts[5] != "alarm":
                raise SafetyError(
                    f"[live].stop_alarms entry {entry!r} of {workload.source} is not a CloudWatch alarm ARN "
                    "(arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME); give the ARN or the alarm name"
                )
            found.append(Alarm(parts[6], parts[3]))
        else:
            found.append(Alarm(entry, workload.primary_region))
    return tuple(found)


def alarm_arns(workload: Workload, account_id: str) -> tuple[str, ...]:
    """The stop alarms as ARNs: what `LiveOptions.stop_alarm_arns` (FIS stopConditions) takes."""
    return tuple(f"arn:aws:cloudwatch:{a.region}:{account_id}:alarm:{a.name}" for a in stop_alarms(workload))


class RunGuard:
    """Watch the stop conditions of a run; on a trigger revert every pending fault and interrupt the run.

    `backend` is where the journal's faults live (offline world or live FIS); on a stop every fault the
    backend holds is reverted too, whoever injected it (a stop means no chaos on this target now).
    `poll_interval_s` sets how often alarms and the stop file are read; alarms unreadable for
    `blind_limit_s` count as a stop. `on_stop(reason)` is told once a stop condition has held. Use from
    the main thread (signals arrive there); from another thread the guard still watches and reverts,
    and `check()` raises.
    """

    def __init__(
        self, target: Target, workload: Workload, journal: Journal, backend: FaultBackend, *,
        stop_file: str | os.PathLike[str] | None = None, poll_interval_s: float = POLL_INTERVAL_S,
        blind_limit_s: float = BLIND_LIMIT_S, on_stop: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.workload = workload
        self.journal = journal
        self.backend = backend
        self.stop_file = stop_file_path(stop_file)
        self.poll_interval_s = poll_interval_s
        self.blind_limit_s = blind_limit_s
        self.on_stop = on_stop
        self.alarms = stop_alarms(workload)
        self.reason: str | None = None
        self.reverted: list[str] = []
        self.revert_errors: list[str] = []
        self._lock = threading.Lock()
        self._revert_lock = threading.Lock()
        self._done = threading.Event()
        self._watcher: threading.Thread | None = None
        self._previous: dict[int, Any] = {}
        self._main = threading.current_thread() is threading.main_thread()
        self._blind_since: float | None = None

    # -- public ----------------------------------------------------------------------------------

    @property
    def triggered(self) -> bool:
        return self.reason is not None

    def check(self) -> None:
        """Raise StopConditionTriggered if a stop condition has held (cooperative check point)."""
        if self.reason is not None:
            raise StopConditionTriggered(self.reason)

    def trigger(self, reason: str) -> None:
        """Stop the run: revert every pending fault, then interrupt the main thread (first call wins)."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        self.revert_pending()
        if self.on_stop is not None:
            with contextlib.suppress(Exception):
                self.on_stop(reason)
        if not self._done.is_set() and threading.current_thread() is not threading.main_thread() and self._main:
            _interrupt_main()

    def revert_pending(self) -> list[str]:
        """Revert every pending fault of the journal (newest first) and what the backend still holds."""
        with self._revert_lock:
            try:
                ids = revert_all(self.backend, self.journal)
            except DrHarnessError as exc:
                self.revert_errors = [str(exc)]  # the latest attempt is what is still in place
                ids = []
            else:
                self.revert_errors = []
            self.reverted += [i for i in ids if i not in self.reverted]
            return ids

    # -- context manager -------------------------------------------------------------------------

    def __enter__(self) -> "RunGuard":
        reason = stop_reason(self.stop_file)
        if reason is not None:
            raise SafetyError(STOP_FILE_PRESENT.format(path=self.stop_file, reason=reason))
        states = self._alarm_states()  # raises before anything is injected if an alarm is missing
        for alarm, state in states.items():
            if state == "ALARM":
                raise SafetyError(ALARM_ALREADY.format(alarm=alarm.label))
        if self._main:
            self._install_signals()
        self._watcher = threading.Thread(target=self._watch, name="drharness-guard", daemon=True)
        self._watcher.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with _held_signals() as held:
            self._done.set()
            if self._watcher is not None:
                self._watcher.join(timeout=self.poll_interval_s + 30.0)
            self.revert_pending()
            self._settle()
            self._restore_signals()
        if self.revert_errors:
            message = "; ".join(self.revert_errors) + "; run `drharness revert`"
            if exc is None:
                raise FaultError(message)
            exc.add_note(message)
        if self.reason is not None and not isinstance(exc, StopConditionTriggered):
            raise StopConditionTriggered(self.reason) from exc
        if held and exc is None:
            if held[0] == signal.SIGINT:
                raise KeyboardInterrupt(SIGNALLED.format(name="SIGINT"))
            raise Terminated(held[0])

    # -- watching --------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._done.wait(self.poll_interval_s):
            reason = stop_reason(self.stop_file)
            if reason is not None:
                self.trigger(STOP_REQUESTED.format(path=self.stop_file, reason=reason))
                return
            try:
                states = self._alarm_states()
            except Exception as exc:  # noqa: BLE001 - the watcher must not die silently: unreadable counts as blind
                now = time.monotonic()
                self._blind_since = self._blind_since or now
                if now - self._blind_since >= self.blind_limit_s:
                    self.trigger(ALARMS_BLIND.format(seconds=self.blind_limit_s, error=exc))
                    return
                continue
            self._blind_since = None
            for alarm, state in states.items():
                if state == "ALARM":
                    self.trigger(ALARM_FIRED.format(alarm=alarm.label))
                    return

    def _alarm_states(self) -> dict[Alarm, str]:
        states: dict[Alarm, str] = {}
        by_region: dict[str, list[Alarm]] = {}
        for alarm in self.alarms:
            by_region.setdefault(alarm.region, []).append(alarm)
        for region, alarms in by_region.items():
            cloudwatch = self.target.client("cloudwatch", region)
            names = [a.name for a in alarms]
            found: dict[str, str] = {}
            for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
                for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=names[start:start + 100]):
                    for item in (*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])):
                        found[item["AlarmName"]] = item["StateValue"]
            for alarm in alarms:
                if alarm.name not in found:
                    raise SafetyError(ALARM_MISSING.format(alarm=alarm.name, source=self.workload.source, region=region))
                states[alarm] = found[alarm.name]
        return states

    def _settle(self) -> None:
        """Revert late arrivals: an injection in flight when the run was interrupted may land after its revert."""
        known = {r.id for r in self.journal.records()}
        if not known:
            return

        def clean() -> bool:
            try:
                late = [i for i in self.backend.active_ids() if i in known]
            except DrHarnessError:
                return True  # the target is gone or unreachable; `drharness revert` is the fallback
            for fault_id in late:
                with contextlib.suppress(DrHarnessError):
                    self.backend.revert(fault_id, {})
            return not late

        wait_until(clean, 2.0, 0.1, what="no fault of this run left in place")

    # -- signals ---------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        start_redelivery()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is None:
                continue  # installed outside Python; leave it alone
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _restore_signals(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise_when_safe(signum, frame, lambda: self._interruption(signum))

    def _interruption(self, signum: int) -> BaseException:
        if self.reason is not None:
            return StopConditionTriggered(self.reason)
        if signum == signal.SIGINT:
            return KeyboardInterrupt(SIGNALLED.format(name="SIGINT"))
        return Terminated(signum)


def _interrupt_main() -> None:
    """Deliver SIGINT to the main thread: a real signal interrupts a blocking call, a flag would wait for it."""
    main = threading.main_thread()
    try:
        signal.pthread_kill(main.ident or 0, signal.SIGINT)
    except (AttributeError, OSError, ValueError):
        import _thread

        _thread.interrupt_main()


@contextlib.contextmanager
def _held_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM/SIGHUP while reverting; yield the list of the ones that arrived."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is None:
            continue
        previous[sig] = signal.signal(sig, hold)
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            # Put back what was there before the hold, unless the guard restored its own meanwhile.
            if signal.getsignal(sig) == hold:
                signal.signal(sig, handler)
