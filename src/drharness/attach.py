"""Attaching to an endpoint found running: one rule for what is a drharness world and what is not.

Kept apart from `drharness.target` so that a command that only builds clients (`drharness compare`)
never loads the world's control client.
"""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass

from drharness.errors import WorldError
from drharness.target import OfflineTarget
from drharness.world.control import WorldClient


@dataclass(frozen=True)
class Attachment:
    """A target on an endpoint found running, and the world's control client when it is a drharness world."""

    target: OfflineTarget
    world: WorldClient | None  # None: plain moto or LocalStack, used as found, without faults

    @property
    def is_world(self) -> bool:
        return self.world is not None


def attach(endpoint: str, default_account: str, *, require_world: bool = False) -> Attachment:
    """Attach to the endpoint at `endpoint`: a drharness world if its control path answers health.

    An endpoint that answers HTTP but not health (plain moto, LocalStack) is used as found, under
    `default_account`, without faults; `require_world` refuses it. One that does not answer raises.
    """
    client = WorldClient(endpoint)
    try:
        health = client.health()
    except WorldError as exc:
        if require_world or not isinstance(exc.__cause__, urllib.error.HTTPError):
            raise
        return Attachment(OfflineTarget(endpoint, default_account), None)
    return Attachment(OfflineTarget(endpoint, str(health.get("account_id") or default_account)), client)
