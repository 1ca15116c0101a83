"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drharness.config import LagModel, Offline
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World

FAST_LAG = LagModel(distribution="fixed", seconds=0.03)


@pytest.fixture
def world(tmp_path, monkeypatch) -> Iterator[World]:
    """A fresh offline world with a small fixed replication lag."""
    monkeypatch.setenv("DRHARNESS_REPORTS", str(tmp_path / "reports"))
    with World(Offline(s3_lag=FAST_LAG, dynamodb_lag=FAST_LAG, restore_seconds=0.0), seed=7) as w:
        yield w


@pytest.fixture
def target(world: World) -> OfflineTarget:
    return OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
