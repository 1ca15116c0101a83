"""The world's scheduler: fault checks asked outside its lock, fault changes never lost, failures contained."""

from __future__ import annotations

import threading

from drharness.world.scheduler import Scheduler

JOIN_S = 10.0


def test_a_fault_check_that_waits_for_a_lock_held_by_a_submitter_does_not_deadlock() -> None:
    engine_lock = threading.Lock()  # an engine's lock: its fault check takes it, and its holder submits
    asking, ran = threading.Event(), threading.Event()

    def blocked() -> bool:
        asking.set()
        with engine_lock:
            return False

    scheduler = Scheduler()
    try:
        def submitter() -> None:
            with engine_lock:
                scheduler.submit(0, lambda: None, blocked, "asks for the engine lock")
                assert asking.wait(JOIN_S)
                scheduler.submit(0, ran.set, lambda: False, "submitted while the check waits")

        thread = threading.Thread(target=submitter, daemon=True)
        thread.start()
        thread.join(JOIN_S)
        assert not thread.is_alive(), "submit blocked on a scheduler waiting for the submitter's lock"
        assert ran.wait(JOIN_S) and scheduler.wait_idle(JOIN_S)
    finally:
        scheduler.stop()


def test_a_fault_change_while_a_task_is_asked_makes_it_asked_again() -> None:
    asked, release, ran = threading.Event(), threading.Event(), threading.Event()
    answers = iter([True, False])  # held when first asked; the fault is reverted during that first ask

    def blocked() -> bool:
        asked.set()
        assert release.wait(JOIN_S)
        return next(answers)

    scheduler = Scheduler()
    try:
        scheduler.submit(0, ran.set, blocked, "held, then free")
        assert asked.wait(JOIN_S)
        scheduler.faults_changed()  # the revert lands while the first answer is on its way
        release.set()
        assert ran.wait(JOIN_S), "the task was parked on a stale answer and the fault change was lost"
        assert scheduler.pending() == (0, 0)
    finally:
        scheduler.stop()


def test_a_held_task_waits_parked_until_the_faults_change() -> None:
    held, ran = [True], threading.Event()
    scheduler = Scheduler()
    try:
        scheduler.submit(0, ran.set, lambda: held[0], "held")
        assert scheduler.wait_idle(JOIN_S) and scheduler.pending() == (0, 1) and not ran.is_set()
        held[0] = False
        scheduler.faults_changed()
        assert ran.wait(JOIN_S) and scheduler.pending() == (0, 0)
    finally:
        scheduler.stop()


def test_a_failing_fault_check_is_reported_and_the_data_plane_goes_on() -> None:
    errors: list[str] = []
    ran = threading.Event()
    scheduler = Scheduler(on_error=lambda label, exc: errors.append(f"{label}: {exc}"))

    def broken() -> bool:
        raise RuntimeError("the fault table is gone")

    try:
        scheduler.submit(0, lambda: errors.append("ran though its check failed"), broken, "broken check")
        scheduler.submit(0.01, ran.set, lambda: False, "next")
        assert ran.wait(JOIN_S) and scheduler.wait_idle(JOIN_S)
        assert errors == ["broken check: the fault table is gone"]
        assert scheduler.pending() == (0, 0)
    finally:
        scheduler.stop()
