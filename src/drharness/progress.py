"""Waits a person watches: `wait_until` with a progress line, bounded by the tier's deadline.

    outcome = progress_wait(stack_ready, 900, 5, what="stack dr to be CREATE_COMPLETE", deadline_s=remaining_rto)

The wait ends at the earlier of `timeout_s` and `deadline_s` (what is left of the tier's RTO, say), so
a long wait never runs past the point where the verdict is already a fail. On a terminal it shows
a spinner, the elapsed time against the limit and the attempts; elsewhere (CI logs) it prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from drharness.waiting import WaitOutcome, wait_until

T = TypeVar("T")


def deadline_left(started_monotonic: float, limit_s: float) -> float:
    """Seconds left of `limit_s` (a tier's RTO, say) counted from `started_monotonic`; never below 0."""
    return max(0.0, limit_s - (time.monotonic() - started_monotonic))


def progress_wait(
    predicate: Callable[[], T],
    timeout_s: float,
    interval_s: float = 1.0,
    *,
    what: str = "condition",
    deadline_s: float | None = None,
    swallow: tuple[type[BaseException], ...] = (),
    console: Console | None = None,
) -> WaitOutcome[T]:
    """`wait_until` with a progress display; the limit is the smaller of `timeout_s` and `deadline_s`."""
    limit = timeout_s if deadline_s is None else max(0.0, min(timeout_s, deadline_s))
    console = console or Console(stderr=True)
    if not console.is_terminal:
        return wait_until(predicate, limit, interval_s, what=what, swallow=swallow)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
               TextColumn("of {task.total:.0f} s, attempt {task.fields[attempts]}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"waiting for {what}", total=max(limit, 1e-9), attempts=0)
        start = time.monotonic()
        attempts = 0

        def watched() -> T:
            nonlocal attempts
            attempts += 1
            progress.update(task, completed=min(time.monotonic() - start, limit), attempts=attempts)
            return predicate()

        outcome = wait_until(watched, limit, interval_s, what=what, swallow=swallow)
    console.print(f"{'done' if outcome.ok else 'gave up'}: {outcome.reason} ({outcome.elapsed_seconds:.1f} s)")
    return outcome
