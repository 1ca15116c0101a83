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


@pytest.fixture
def live_account(world, tmp_path, live_env):
    """(target, workload, fault backend) of the world opened as an account, exactly as `--dr-target aws --dr-live`."""
    import textwrap

    from drharness.config import load_workload
    from drharness.safety import open_live_target
    from drharness.settings import RunSettings
    from drharness.pytest_plugin.fixtures import fault_backend_for

    config = tmp_path / "live.toml"
    config.write_text(textwrap.dedent(f"""
        [live]
        allowed_accounts = ["{world.account_id}"]
        allowed_regions = ["us-east-1", "us-west-2"]
        tag_scope = {{ DRHarness = "allowed" }}
    """), encoding="utf-8")
    workload = load_workload(config)
    target = open_live_target(RunSettings(target="aws", config=config, live_flag=True), workload,
                              endpoint_url=world.endpoint)
    workload = workload.with_account(target.account_id)

    class _Session:
        def __init__(self) -> None:
            self.target, self.workload, self.world_client = target, workload, None

    return target, workload, fault_backend_for(_Session())
