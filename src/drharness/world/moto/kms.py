"""KMS keys as moto holds them: whether a key exists in a region, and in what state."""

from __future__ import annotations

from moto.kms.models import kms_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID


def key_state(key: str, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The KeyState ("Enabled", "Disabled", "PendingDeletion") of a key id, ARN or alias in `region`; None: no such key."""
    if key.startswith("arn:"):
        parts = key.split(":")
        region, account_id = parts[3] or region, parts[4] or account_id
    backend = kms_backends[account_id][region]
    try:
        found = backend.keys.get(backend.any_id_to_key_id(key))
    except Exception:  # noqa: BLE001 - an alias that names nothing
        return None
    return None if found is None else str(found.key_state)
