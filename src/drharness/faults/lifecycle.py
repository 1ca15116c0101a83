"""The life of a fault: validate, journal, inject, hold, revert (once or twice), whatever ends the run."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from types import FrameType

from drharness.errors import DrHarnessError, FaultError, WorldError
from drharness.faults.base import FaultBackend, InjectedFault
from drharness.faults.journal import Journal, new_fault_id
from drharness.faults.spec import FAULTS, FaultParams, parse_fault

WRONG_BACKEND = "fault {id} was injected into the {recorded}, not the {given}; revert it there"


def _spec(name: str, params: Mapping[str, object] | FaultParams) -> FaultParams:
    model = FAULTS.get(name)
    if model is not None and isinstance(params, model):
        return params
    raw = params.model_dump(exclude_none=True) if isinstance(params, FaultParams) else dict(params)
    return parse_fault(name, raw)


def inject(
    backend: FaultBackend, name: str, params: Mapping[str, object] | FaultParams, journal: Journal
) -> InjectedFault:
    """Inject fault `name`: validate, journal the revert record, inject, mark it active.

    If the injection fails, whatever part of it reached the target is reverted before the error
    propagates; if that revert fails too, the record stays pending for `drharness revert`.
    """
    spec = _spec(name, params)
    fault_id = new_fault_id()
    refs = backend.prepare(fault_id, name, spec)
    journal.begin(fault_id, name, spec, backend.ref, refs)
    try:
        fault = backend.inject(fault_id, name, spec)
    except BaseException as exc:
        if isinstance(exc, WorldError) and world_gone(exc):
            journal.mark(fault_id, "reverted", {"closed": "the world never answered; nothing was injected"})
            raise
        try:
            backend.revert(fault_id, refs)
        except Exception as undo_exc:  # noqa: BLE001 - the record stays pending; say so
            if isinstance(exc, Exception):
                raise FaultError(
                    f"{name} {fault_id} failed ({exc}) and undoing it failed too ({undo_exc}); "
                    f"run `drharness revert --journal {journal.directory}`"
                ) from exc
            raise
        journal.mark(fault_id, "reverted")
        raise
    journal.mark(fault_id, "active", dict(fault.refs))
    return fault


def revert(backend: FaultBackend, fault_id: str, journal: Journal) -> None:
    """Undo one fault and mark its record reverted; reverting twice, or an unknown id, is harmless."""
    record = journal.get(fault_id)
    if record is not None and record.backend != backend.ref:
        raise FaultError(
            WRONG_BACKEND.format(id=fault_id, recorded=record.backend.describe(), given=backend.ref.describe())
        )
    backend.revert(fault_id, record.refs if record else {})
    if record is not None and record.pending:
        journal.mark(fault_id, "reverted")


def revert_all(backend: FaultBackend, journal: Journal) -> list[str]:
    """Undo every fault the backend holds and every pending journal record for it; return the ids.

    Each fault is attempted even when another fails; failures are raised together at the end.
    """
    ids = [r.id for r in journal.pending() if r.backend == backend.ref]
    ids += [i for i in backend.active_ids() if i not in ids]
    return revert_each(ids, lambda fault_id: revert(backend, fault_id, journal))


def revert_each(ids: list[str], undo: Callable[[str], None]) -> list[str]:
    done, failed = [], []
    for fault_id in ids:
        try:
            undo(fault_id)
        except DrHarnessError as exc:
            failed.append(f"{fault_id}: {exc}")
        else:
            done.append(fault_id)
    if failed:
        raise FaultError(f"reverted {len(done)} of {len(ids)} faults; still in place: " + "; ".join(failed))
    return done


def world_gone(exc: BaseException) -> bool:
    """Did the world refuse the connection (nothing listens), as opposed to answering badly?"""
    cause = exc.__cause__
    reason = getattr(cause, "reason", cause) if isinstance(cause, urllib.error.URLError) else cause
    return isinstance(reason, ConnectionRefusedError)


@contextlib.contextmanager
def injected(
    backend: FaultBackend, name: str, params: Mapping[str, object] | FaultParams, journal: Journal
) -> Iterator[InjectedFault]:
    """Hold a fault for the duration of a `with` block; revert it on the way out, however the block ends.

    Ctrl-C (and SIGTERM after `install_signal_reverts()`) unwinds through here; a second signal that
    arrives while the revert is running is held until the revert has finished.
    """
    fault = inject(backend, name, params, journal)
    try:
        yield fault
    finally:
        with _signals_deferred():
            revert(backend, fault.id, journal)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP once `install_signal_reverts()` is in force."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signal.Signals(signum).name}")
        self.signum = signum


# Where an exception raised by a signal handler would leave a lock held for good: inside the Python
# half of `threading`'s lock handling (Condition.__enter__ has taken the lock, but the `with` that
# called it has not yet set up the release). Queue, and so urllib3's connection pool, take their mutex
# this way; a Ctrl-C landing there used to hang the process at exit, in urllib3's pool finalizer.
_LOCK_HANDOFF = frozenset({"__enter__", "__exit__", "_acquire_restore", "_release_save", "_is_owned", "acquire",
                           "release", "notify", "notify_all"})
REDELIVERY_S = 0.005  # how soon a signal put off at a lock hand-off is delivered again


def in_lock_handoff(frame: FrameType | None) -> bool:
    """Whether `frame` (where a signal interrupted the main thread) is halfway through taking or giving a lock."""
    return (frame is not None and frame.f_code.co_filename == threading.__file__
            and frame.f_code.co_name in _LOCK_HANDOFF)


class _Redelivery:
    """Sends a signal to the main thread again, shortly after a handler put it off.

    The handler only writes the signal's number to a pipe (async-signal-safe); a daemon thread, started
    when the handlers are installed, reads it and sends the signal once the main thread has moved on.
    """

    def __init__(self) -> None:
        self._write: int | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._write is not None:
                return
            read, self._write = os.pipe()
            threading.Thread(target=self._run, args=(read,), name="drharness-signal-redelivery", daemon=True).start()

    def later(self, signum: int) -> bool:
        if self._write is None:
            return False
        os.write(self._write, bytes([signum]))
        return True

    def _run(self, read: int) -> None:
        main = threading.main_thread().ident or 0
        pending = threading.Event()
        while data := os.read(read, 1):
            pending.wait(REDELIVERY_S)
            signal.pthread_kill(main, data[0])


_REDELIVERY = _Redelivery()


def start_redelivery() -> None:
    """Start the thread that re-sends a signal `raise_when_safe` put off (call where the handlers are installed)."""
    _REDELIVERY.start()


def raise_when_safe(signum: int, frame: FrameType | None, error: Callable[[], BaseException]) -> None:
    """From a signal handler: raise `error()` now, unless that would leave a lock held; then the signal
    comes again a few milliseconds later, when the main thread is past the lock."""
    if in_lock_handoff(frame) and _REDELIVERY.later(signum):
        return
    raise error()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise_when_safe(signum, frame, lambda: Terminated(signum))


def install_signal_reverts(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Callable[[], None]:
    """Make SIGTERM and SIGHUP raise `Terminated` (a KeyboardInterrupt) so `injected(...)` blocks revert.

    Python turns only SIGINT into an exception; a plain SIGTERM ends the process without running
    `finally` blocks, leaving faults in place. Call this once from the main thread of a run; it returns
    a function that restores the previous handlers. SIGKILL cannot be caught: for that, the journal
    and `drharness revert` remain.
    """
    if threading.current_thread() is not threading.main_thread():
        raise FaultError("install_signal_reverts() must be called from the main thread (signals arrive there)")
    start_redelivery()
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)

    return restore


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while a revert runs, then deliver the first one held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(sig)
        if handler is None:
            continue  # installed outside Python; leave it alone
        previous[sig] = signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signum = held[0]
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)  # the default action (terminate), now that the revert is done
