"""What every engine may use of the world: its clock, scheduler, ground truth, clients and error log.

The world builds one `Plane` and hands it to each engine with the other collaborators that engine
needs (the fault table, the zones, another engine); no engine sees the `World` itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from drharness.errors import WorldError
from drharness.world.scheduler import Scheduler
from drharness.world.truth import GroundTruth


class WorldClock:
    """The world's wall clock: real time plus however far the world has been advanced."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        """UTC epoch seconds, as the world sees them."""
        return time.time() + self.offset_seconds


class SchedulerSlot:
    """The world's scheduler while it runs: engines submit through this, before and after start alike."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.scheduler: Scheduler | None = None

    def submit(self, delay_s: float, run: Callable[[], None], blocked: Callable[[], bool], label: str) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            raise WorldError("the world is not running")
        scheduler.submit(delay_s, run, blocked, label)

    def faults_changed(self) -> None:
        """Re-check the tasks a fault held: it may have been reverted."""
        if self.scheduler is not None:
            self.scheduler.faults_changed()


class ClientFactory(Protocol):
    def __call__(self, service: str, region: str, *, internal: bool = True) -> Any: ...


@dataclass(frozen=True)
class Plane:
    """The world's shared services, as one engine sees them."""

    account_id: str
    rng: random.Random
    clock: WorldClock
    tasks: SchedulerSlot
    truth: GroundTruth
    client: ClientFactory
    errors: list[str]

    def now(self) -> float:
        return self.clock.now()

    def submit(self, delay_s: float, run: Callable[[], None], blocked: Callable[[], bool], label: str) -> None:
        self.tasks.submit(delay_s, run, blocked, label)

    def faults_changed(self) -> None:
        self.tasks.faults_changed()

    def report(self, message: str) -> None:
        """Keep an engine's failure for the world's health answer; a request never breaks on it."""
        self.errors.append(message)
