"""Runs killed at a chosen moment, for the crash-safe revert tests.

A run is a process started ahead of time that waits for "go" on its stdin and prints "started" once
it is under way; `kill_after` tells it to go, waits `delay_s` after its start and sends the signal.
A run script registers `faulthandler` on SIGUSR1, so a run that does not exit is reported with the
stack of every thread, and with the stacks of this process, where the world it talks to runs.
"""

from __future__ import annotations

import faulthandler
import queue
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STARTED = re.compile("^started$")
DUMP_SIGNAL = signal.SIGUSR1  # a run script's faulthandler dumps every thread's stack on it


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def wait_for(lines: queue.Queue, pattern: re.Pattern[str], timeout_s: float, what: str,
             seen: list[str] | None = None) -> re.Match[str]:
    """The first line matching `pattern`; every line read (the match too) is appended to `seen`."""
    deadline = time.monotonic() + timeout_s
    seen = [] if seen is None else seen
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        match = pattern.match(line.strip())
        if match:
            return match
    raise AssertionError(f"no {what} within {timeout_s} s; output: {seen[-20:]}")


@dataclass
class Run:
    process: subprocess.Popen
    journal: Path
    lines: queue.Queue = field(default_factory=queue.Queue)


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str], journal: Path) -> Run:
    """Start a run; it imports and builds its clients, then waits to be told to begin."""
    process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    run = Run(process, journal)
    threading.Thread(target=read_lines, args=(process.stdout, run.lines), daemon=True).start()
    return run


def _own_stacks() -> str:
    with tempfile.TemporaryFile("w+") as out:
        faulthandler.dump_traceback(out, all_threads=True)
        out.seek(0)
        return out.read()[-12000:]


def kill_after(run: Run, signum: int, delay_s: float, *, start_timeout_s: float, exit_timeout_s: float,
               where: str) -> tuple[int, str]:
    """Let the run begin, signal it `delay_s` after it started; its exit code and stderr."""
    run.process.stdin.write("go\n")
    run.process.stdin.flush()
    wait_for(run.lines, STARTED, start_timeout_s, f"start of {where}")
    threading.Event().wait(delay_s)
    run.process.send_signal(signum)
    try:
        code = run.process.wait(exit_timeout_s)
    except subprocess.TimeoutExpired:
        # A run that does not exit: ask it for every thread's stack (the run scripts register
        # faulthandler on SIGUSR1), then kill it and say where it hung.
        run.process.send_signal(DUMP_SIGNAL)
        threading.Event().wait(2.0)
        run.process.kill()
        run.process.wait()
        raise AssertionError(f"{where}: no exit within {exit_timeout_s:g} s of the signal; its stacks and stderr:\n"
                             f"{run.process.stderr.read()[-12000:]}\n"
                             f"this process's threads (a world the run talks to lives here):\n{_own_stacks()}") from None
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
    stderr = run.process.stderr.read()
    run.process.stdin.close()
    run.process.stderr.close()
    return code, stderr


def kill_sequence(spawn: Callable[[int], Run], signals: list[int], rng: random.Random, max_delay_s: float, *,
                  seed: int, start_timeout_s: float, exit_timeout_s: float,
                  check: Callable[[int, Path, str], None]) -> None:
    """Kill run 1, 2, ... with each signal in turn at a random point; `check(signal, journal, where)` after each.

    The next run starts up (imports, clients) while one is checked; it touches nothing until told.
    A SIGINT'ed run must exit 130 (it reverted on its way out), a SIGKILL'ed one dies as killed.
    """
    upcoming: Run | None = spawn(1)
    try:
        for number, signum in enumerate(signals, start=1):
            run = upcoming
            assert run is not None
            delay = rng.uniform(0.0, max_delay_s)
            where = f"run {number} ({signal.Signals(signum).name} after {delay:.3f} s; seed {seed})"
            code, stderr = kill_after(run, signum, delay, start_timeout_s=start_timeout_s,
                                      exit_timeout_s=exit_timeout_s, where=where)
            upcoming = spawn(number + 1) if number < len(signals) else None
            if signum == signal.SIGINT:
                assert code == 130, f"{where}: exit {code}: {stderr[-2000:]}"
            else:
                assert code == -signal.SIGKILL, f"{where}: exit {code}: {stderr[-2000:]}"
            check(signum, run.journal, where)
    finally:
        if upcoming is not None:
            upcoming.process.kill()
            upcoming.process.wait()
