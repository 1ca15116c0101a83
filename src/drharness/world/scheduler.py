"""Delayed, blockable tasks: the asynchronous data plane of the offline world.

A task is due at a monotonic time; when due it runs unless its `blocked()` says the fault layer holds
it (replication paused, a region down), in which case it is parked until the faults change.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    run: Callable[[], None] = field(compare=False)
    blocked: Callable[[], bool] = field(compare=False)
    label: str = field(compare=False, default="")


class Scheduler:
    """One worker thread running due tasks in due order."""

    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._heap: list[_Task] = []
        self._parked: list[_Task] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._running = 0
        self._generation = 0  # bumped on every fault change: a task asked meanwhile is asked again
        self._stopped = False
        self._on_error = on_error
        self._thread = threading.Thread(target=self._loop, name="drharness-world-scheduler", daemon=True)
        self._thread.start()

    def submit(
        self, delay_s: float, run: Callable[[], None], blocked: Callable[[], bool], label: str = ""
    ) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Task(time.monotonic() + max(0.0, delay_s), next(self._seq), run, blocked, label))
            self._cond.notify_all()

    def faults_changed(self) -> None:
        """Re-check parked tasks: a fault was reverted, so they may run now."""
        with self._cond:
            self._generation += 1
            now = time.monotonic()
            for task in self._parked:
                task.due = max(task.due, now)
                heapq.heappush(self._heap, task)
            self._parked.clear()
            self._cond.notify_all()

    def pending(self) -> tuple[int, int]:
        """(tasks waiting to be due or running, tasks parked by a fault)."""
        with self._cond:
            return len(self._heap) + self._running, len(self._parked)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no task is due or running (parked tasks do not count); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].due > time.monotonic()):
                    timeout = (self._heap[0].due - time.monotonic()) if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                task = heapq.heappop(self._heap)
                self._running += 1  # counted while it is asked and run, so wait_idle waits for it
                generation = self._generation
            # Asked and run outside the lock: `blocked` and `run` take the engines' and the fault table's
            # locks, and a thread holding one of those may be submitting here.
            held = self._held(task)
            if held is not False:
                with self._cond:
                    self._running -= 1
                    if held is None:
                        pass  # its fault check failed (reported): the task is dropped
                    elif self._generation != generation:  # the faults changed while it was asked: ask again
                        heapq.heappush(self._heap, task)
                    else:
                        self._parked.append(task)
                    self._cond.notify_all()
                continue
            try:
                task.run()
            except Exception as exc:  # noqa: BLE001 - one failed task must not stop the data plane
                self._report(task, exc)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _held(self, task: _Task) -> bool | None:
        """Whether a fault holds the task; None if asking failed (reported; the task runs no more)."""
        try:
            return bool(task.blocked())
        except Exception as exc:  # noqa: BLE001 - one failed check must not stop the data plane
            self._report(task, exc)
            return None

    def _report(self, task: _Task, exc: BaseException) -> None:
        if self._on_error:
            self._on_error(task.label, exc)
