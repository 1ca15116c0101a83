"""Fixtures shared by the functional tests."""

from __future__ import annotations

import pytest

from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE


@pytest.fixture
def live_env(monkeypatch, tmp_path):
    """Opted in, with credentials a real account would never accept; the journal in tmp."""
    monkeypatch.setenv(LIVE_ENV, LIVE_ENV_VALUE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("DRHARNESS_ENDPOINT", raising=False)
    monkeypatch.setenv("DRHARNESS_JOURNAL", str(tmp_path / "journal"))
    monkeypatch.chdir(tmp_path)
