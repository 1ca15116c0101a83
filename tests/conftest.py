"""Shared fixtures of the harness's own tests, and the guard that keeps the `e2e` tier honest.

A test that starts a process (pytest, `chaos run`, the `drharness` command, the Allure CLI, Chromium,
the AWS CLI) belongs to the `e2e` tier, so that `pytest tests -m "not e2e"` stays the fast loop. The
guard sees every process a test starts through `subprocess` (which `pytester`, `subprocess.run` and
`platform` use), and fails an unmarked test that starts one, naming the command. It wraps
`subprocess.Popen` rather than listening to audit events: an audit hook runs on every socket and file
event of every thread, and that cost alone made the offline world too slow for the lag probe's 40 ms
timing bound.

Tests whose ground truth is a timing bound (the lag probe's 40 ms brackets, the canary ledger's loss
window, the restore timer's phases) are marked `timing`. Under xdist such a test takes the host to
itself: every worker holds a shared lock on one file per test run while a test runs, and a `timing`
test holds it exclusively, so the other worker's next test waits instead of stealing the CPU the
measurement's ground truth assumes. A gate lock taken first gives a waiting `timing` test priority. The
`timing` tests share one xdist group, so they run one after another and the host is taken once for all.
"""

from __future__ import annotations

import fcntl
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World
from world_roles import fast_offline, replication_role


E2E_MARKER = "e2e"
TIMING_MARKER = "timing"
# Audit events raised when a process is started (https://docs.python.org/3/library/audit_events.html).
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork",
                          "os.forkpty", "pty.spawn"})
UNMARKED_SPAWN = ("{test} started a process but is not marked e2e: {commands}; mark it `@pytest.mark.e2e` "
                  "(or the module: `pytestmark = pytest.mark.e2e`) so that `-m \"not e2e\"` stays the fast loop")


class _SpawnWatch:
    """The processes started while the current test runs (set up, called, torn down)."""

    def __init__(self) -> None:
        self.running = False
        self.started: list[str] = []

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if self.running and event in SPAWN_EVENTS:
            self.started.append(_command_of(event, args))


def _command_of(event: str, args: tuple[object, ...]) -> str:
    """The command an audit event names, shortened for a failure message."""
    if event == "subprocess.Popen" and len(args) > 1:
        argv = args[1]
        words = [str(a) for a in argv] if isinstance(argv, (list, tuple)) else [str(argv)]
        return " ".join(words)[:120]
    return f"{event}{args!r}"[:120]


_WATCH = _SpawnWatch()
# platform.processor() runs `uname -p` once per process and caches it; Chaos Toolkit's system info asks for
# it. Asked here, before any test runs, it is not charged to whichever test happens to ask first.
platform.processor()
_popen_init = subprocess.Popen.__init__


def _watched_popen_init(self: subprocess.Popen, args: object, *rest: object, **kwargs: object) -> None:
    _WATCH.audit("subprocess.Popen", ("", args))
    _popen_init(self, args, *rest, **kwargs)  # type: ignore[arg-type]


subprocess.Popen.__init__ = _watched_popen_init  # type: ignore[method-assign]


class _HostLock:
    """The run's host lock as this worker holds it: exclusively for a `timing` test, shared otherwise.

    Only xdist workers take it (a worker has `workerinput`); a pytest a test starts as a subprocess does not,
    so it cannot wait on the lock its own parent holds. A run of `timing` tests one after another (they
    share an xdist group) keeps it exclusive from the first to the last, so the other worker's test in
    flight is waited for once, not before each of them.
    """

    def __init__(self) -> None:
        self.files: tuple[Any, Any] | None = None
        self.mode: int | None = None

    def hold(self, item: pytest.Item) -> None:
        run = getattr(item.config, "workerinput", {}).get("testrunuid")
        if not run:
            return
        mode = fcntl.LOCK_EX if _timing(item) else fcntl.LOCK_SH
        if self.mode == mode:
            return
        self.release()
        base = Path(tempfile.gettempdir()) / f"drharness-tests-{run}"
        gate, host = open(f"{base}.gate", "a"), open(f"{base}.host", "a")
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(host, mode)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        self.files, self.mode = (gate, host), mode

    def release(self) -> None:
        if self.files is not None:
            gate, host = self.files
            fcntl.flock(host, fcntl.LOCK_UN)
            host.close()
            gate.close()
            self.files, self.mode = None, None


def _timing(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker(TIMING_MARKER) is not None


_HOST = _HostLock()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _HOST.hold(item)
    _WATCH.running, _WATCH.started = True, []
    try:
        yield
    finally:
        _WATCH.running = False
        if not (_timing(item) and _timing(nextitem)):
            _HOST.release()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not _WATCH.started or item.get_closest_marker(E2E_MARKER) is not None:
        return
    commands, _WATCH.started = _WATCH.started, []
    if report.passed:
        report.outcome = "failed"
        report.longrepr = UNMARKED_SPAWN.format(test=item.nodeid, commands="; ".join(commands))


@pytest.fixture
def world(tmp_path, monkeypatch) -> Iterator[World]:
    """A fresh offline world with a small fixed replication lag, instant restores and a PITR window to now."""
    monkeypatch.setenv("DRHARNESS_REPORTS", str(tmp_path / "reports"))
    with World(fast_offline(pitr_latest_lag_seconds=0.0), seed=7) as w:
        replication_role(w)
        yield w




@pytest.fixture
def target(world: World) -> OfflineTarget:
    return OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
