"""Revert what a killed run left behind: every journal record not marked reverted (`drharness revert`)."""

from __future__ import annotations

from collections.abc import Callable

from drharness.errors import FaultError, WorldError
from drharness.faults.base import FaultBackend
from drharness.faults.journal import BackendRef, Journal, RevertRecord
from drharness.faults.lifecycle import revert_each, world_gone, revert
from drharness.faults.offline import OfflineFaultBackend

LIVE_REVERT_NEEDS_BACKEND = (
    "fault {id} is live ({where}); reverting it needs a live backend: pass live_backend=... "
    "(a LiveFaultBackend opened through drharness.safety)"
)


def revert_pending(
    journal: Journal, *, live_backend: Callable[[BackendRef], FaultBackend] | None = None
) -> list[str]:
    """Undo every journal record not marked reverted (after a crash or a kill); return the ids.

    Offline records are reverted through the world at their endpoint. A world that no longer listens
    took its faults with it, so its records are closed. Live records need `live_backend`.
    """
    backends: dict[BackendRef, FaultBackend] = {}

    def revert_one(record: RevertRecord) -> None:
        ref = record.backend
        if ref not in backends:
            if ref.target == "offline":
                backends[ref] = OfflineFaultBackend(str(ref.endpoint))
            elif live_backend is not None:
                backends[ref] = live_backend(ref)
            else:
                raise FaultError(LIVE_REVERT_NEEDS_BACKEND.format(id=record.id, where=ref.describe()))
        try:
            revert(backends[ref], record.id, journal)
        except WorldError as exc:
            if ref.target == "offline" and world_gone(exc):
                journal.mark(record.id, "reverted", {"closed": "the world is gone, and its faults with it"})
                return
            raise

    records = {r.id: r for r in journal.pending()}
    return revert_each(list(records), lambda fault_id: revert_one(records[fault_id]))
