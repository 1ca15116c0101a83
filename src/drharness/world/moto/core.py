"""What the adapters share: moto's default account, a reset of every backend, a retried read."""

from __future__ import annotations

from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID

__all__ = ["DEFAULT_ACCOUNT_ID", "reset_all", "settled"]
from moto.moto_api._internal.models import moto_api_backend


def reset_all() -> None:
    """Forget every resource in every moto backend (a new, empty world)."""
    moto_api_backend.reset()


def settled(read: Any, attempts: int = 5) -> Any:
    """Run a read of moto's dicts again if a concurrent write changed them mid-iteration."""
    for attempt in range(attempts):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration"
            if attempt == attempts - 1:
                raise
    return None
