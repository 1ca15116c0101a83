"""The one helper that waits: on a condition, with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_never = threading.Event()


@dataclass(frozen=True)
class WaitOutcome(Generic[T]):
    """What a wait ended with: the predicate's last value, how long it took, and why it stopped."""

    ok: bool
    value: T | None
    elapsed_seconds: float
    attempts: int
    reason: str


def pause(seconds: float) -> None:
    """Block for `seconds` between polls (the only place drharness blocks on the clock)."""
    if seconds > 0:
        _never.wait(seconds)


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float,
    interval_s: float = 0.05,
    *,
    what: str = "condition",
    swallow: tuple[type[BaseException], ...] = (),
) -> WaitOutcome[T]:
    """Poll `predicate` until it returns a truthy value or `timeout_s` passes.

    Exceptions listed in `swallow` count as "not yet" (e.g. a transient connection error).
    A timeout is returned, never raised: the caller turns it into a failed verdict with its reason.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    attempts = 0
    last: T | None = None
    last_error = ""
    while True:
        attempts += 1
        try:
            last = predicate()
            if last:
                return WaitOutcome(True, last, time.monotonic() - start, attempts, f"{what} met")
        except swallow as exc:  # noqa: PERF203 - polling loop
            last_error = f" (last error: {type(exc).__name__}: {exc})"
        now = time.monotonic()
        if now >= deadline:
            return WaitOutcome(
                False,
                last,
                now - start,
                attempts,
                f"timeout after {timeout_s:g} s waiting for {what}{last_error}",
            )
        pause(min(interval_s, max(0.0, deadline - now)))
