"""A signal never leaves a lock held: where the main thread is halfway through taking a lock, the
interruption is put off and the signal comes again a few milliseconds later.

Ground truth: the frame a real `threading.Condition.__enter__` runs in (caught with a profile hook),
which is where a Ctrl-C once left urllib3's pool mutex held and hung a live run at exit.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import pytest

from drharness.faults.lifecycle import in_lock_handoff, raise_when_safe, start_redelivery
from drharness.waiting import wait_until


def _condition_enter_frame() -> FrameType:
    """The frame of `Condition.__enter__`, which takes the lock before the `with` that asked can release it."""
    caught: list[FrameType] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_name == "__enter__" and frame.f_code.co_filename == threading.__file__:
            caught.append(frame)

    condition = threading.Condition()
    sys.setprofile(profile)
    try:
        with condition:
            pass
    finally:
        sys.setprofile(None)
    assert caught, "Condition.__enter__ ran no Python frame"
    return caught[0]


def test_a_lock_hand_off_is_told_from_ordinary_code() -> None:
    assert in_lock_handoff(_condition_enter_frame())
    assert not in_lock_handoff(sys._getframe())
    assert not in_lock_handoff(None)


def test_a_signal_at_a_lock_hand_off_is_put_off_and_comes_again() -> None:
    start_redelivery()
    arrived: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: arrived.append(signum))
    try:
        raise_when_safe(signal.SIGUSR2, _condition_enter_frame(), lambda: KeyboardInterrupt("too early"))  # no raise
        came = wait_until(lambda: arrived == [signal.SIGUSR2], 5.0, 0.01, what="the signal to come again")
        assert came.ok, came.reason
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_a_signal_anywhere_else_interrupts_at_once() -> None:
    start_redelivery()
    with pytest.raises(KeyboardInterrupt, match="now"):
        raise_when_safe(signal.SIGINT, sys._getframe(), lambda: KeyboardInterrupt("now"))
