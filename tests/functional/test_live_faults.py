"""Live faults against the offline world playing an account: one path per target, client-side service faults.

The world stands in for the account (STS answers its account, every client goes to its endpoint);
the live backend is opened through the safety gates exactly as `--dr-target aws --dr-live` opens it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drharness import faults
from drharness.config import load_workload
from drharness.errors import ConfigError, FaultError
from drharness.faults import Journal, LiveFaultBackend, OfflineFaultBackend
from drharness.faults.live import CLIENT_SIDE, NO_FIS_ROLE, live_options
from drharness.safety import ScopedFaultBackend, open_live_target
from drharness.settings import RunSettings
from drharness.target import LIVE_CONFIG
from drharness.world.control import WorldClient
from drharness.pytest_plugin.fixtures import fault_backend_for

ACCOUNT = "123456789012"
TABLE = "drharness-live-faults"


def live_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "live.toml"
    path.write_text(textwrap.dedent(f"""
        [live]
        allowed_accounts = ["{ACCOUNT}"]
        allowed_regions = ["us-east-1", "us-west-2"]
        tag_scope = {{ DRHarness = "allowed" }}
    """) + textwrap.dedent(extra), encoding="utf-8")
    return path


class _Session:
    """What `fault_backend_for` reads of a DrSession."""

    def __init__(self, target, workload, world_client=None):
        self.target, self.workload, self.world_client = target, workload, world_client


def _opened(world, tmp_path, extra: str = ""):
    config = live_config(tmp_path, extra)
    workload = load_workload(config)
    target = open_live_target(RunSettings(target="aws", config=config, live_flag=True), workload,
                              endpoint_url=world.endpoint)
    return target, workload.with_account(target.account_id)


def _table(world) -> None:
    world.client("dynamodb", "us-east-1").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


# -- [live] options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "why"), [
    ('fis_duration = "30 minutes"', "ISO 8601"),
    ('fis_duration = "PT13H"', "PT12H"),
    ('fis_duration = "PT0M"', "more than 0"),
    ('fis_role_arn = "drharness-fis"', "fis_role_arn"),
    ('api_fault_roles = ["arn:aws:iam::123:role/x"]', "IAM role ARN"),
])
def test_live_options_that_cannot_work_are_refused_when_the_config_loads(tmp_path, extra, why):
    with pytest.raises(ConfigError, match=why):
        load_workload(_with_live_keys(tmp_path, extra))


def _with_live_keys(tmp_path: Path, extra: str) -> Path:
    path = live_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + extra + "\n", encoding="utf-8")
    return path


def test_live_options_come_from_the_config_with_honest_defaults(tmp_path):
    defaults = live_options(load_workload(live_config(tmp_path)))
    assert (defaults.role_arn, defaults.duration, defaults.api_fault_role_arns) == ("", "PT30M", ())
    role = f"arn:aws:iam::{ACCOUNT}:role/drharness-fis"
    worker = f"arn:aws:iam::{ACCOUNT}:role/embedding-worker"
    given = live_options(load_workload(_with_live_keys(
        tmp_path, f'fis_role_arn = "{role}"\nfis_duration = "PT5M"\napi_fault_roles = ["{worker}"]')))
    assert (given.role_arn, given.duration, given.api_fault_role_arns) == (role, "PT5M", (worker,))


# -- one fault path per target -----------------------------------------------------------------------


def test_the_offline_world_gets_its_own_fault_layer(world, tmp_path):
    from drharness.target import OfflineTarget

    workload = load_workload(live_config(tmp_path))
    backend = fault_backend_for(_Session(OfflineTarget(world.endpoint), workload, WorldClient(world.endpoint)))
    assert isinstance(backend, OfflineFaultBackend)


def test_an_account_gets_the_live_backend_behind_the_safety_scope(world, tmp_path, live_env):
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    assert isinstance(backend, ScopedFaultBackend) and isinstance(backend.inner, LiveFaultBackend)
    assert backend.ref.target == "aws"


def test_an_fis_fault_without_a_role_is_refused_before_anything_is_written(world, tmp_path, live_env):
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    journal = Journal(tmp_path / "j")
    with pytest.raises(FaultError) as err:
        faults.inject(backend, "az-outage", {"region": "us-east-1", "az": "a"}, journal)
    assert str(err.value) == NO_FIS_ROLE.format(name="az-outage")
    assert journal.pending() == [] and world.client("fis", "us-east-1").list_experiments()["experiments"] == []


# -- client-side service faults ------------------------------------------------------------------------


def test_a_dynamodb_throttle_is_made_in_the_workloads_own_clients_and_taken_off_on_revert(world, tmp_path, live_env):
    _table(world)
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    journal = Journal(tmp_path / "j")
    ddb = target.client("dynamodb", "us-east-1")
    params = {"service": "dynamodb", "operation": "PutItem", "region": "us-east-1", "mode": "throttle",
              "rate": 1.0, "max_hits": 2}
    fault = faults.inject(backend, "service-fault", params, journal)
    assert journal.get(fault.id).refs["mechanism"] == CLIENT_SIDE
    answer = ddb.put_item(TableName=TABLE, Item={"pk": {"S": "one"}})
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2  # two throttled answers, then the world's
    assert [f.hits for f in backend.active() if f.id == fault.id] == [2]
    throttled = ddb.describe_table(TableName=TABLE)  # another operation: untouched
    assert throttled["ResponseMetadata"]["RetryAttempts"] == 0
    faults.revert(backend, fault.id, journal)
    faults.revert(backend, fault.id, journal)  # twice is harmless
    assert backend.active_ids() == [] and not journal.get(fault.id).pending


def test_a_client_side_fault_no_longer_answers_once_reverted(world, tmp_path, live_env):
    _table(world)
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    journal = Journal(tmp_path / "j")
    params = {"service": "dynamodb", "operation": "PutItem", "mode": "error", "rate": 1.0, "max_hits": 1}
    with faults.injected(backend, "service-fault", params, journal):
        pass
    answer = target.client("dynamodb", "us-east-1").put_item(TableName=TABLE, Item={"pk": {"S": "two"}})
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0


def test_an_s3_slowdown_reaches_the_sdk_as_s3s_own_error(world, tmp_path, live_env, monkeypatch):
    # The live clients' ten adaptive retries back off for a minute before SlowDown surfaces; how the error
    # reaches the SDK is the point here, not how long the SDK retries it, so two attempts are enough.
    monkeypatch.setattr("drharness.safety.live_target.LIVE_CONFIG", LIVE_CONFIG.merge(
        Config(retries={"total_max_attempts": 2, "mode": "standard"})))
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    journal = Journal(tmp_path / "j")
    s3 = target.client("s3", "us-east-1")
    s3.create_bucket(Bucket="drharness-live-faults")
    params = {"service": "s3", "operation": "PutObject", "mode": "throttle", "rate": 1.0}
    with faults.injected(backend, "service-fault", params, journal), pytest.raises(ClientError) as err:
        s3.put_object(Bucket="drharness-live-faults", Key="k", Body=b"x")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 1  # the SDK retried it: a real throttle


def test_latency_is_not_made_client_side(world, tmp_path, live_env):
    target, workload = _opened(world, tmp_path)
    backend = fault_backend_for(_Session(target, workload))
    with pytest.raises(FaultError, match="mode=latency"):
        faults.inject(backend, "service-fault", {"service": "s3", "mode": "latency", "latency_ms": 10},
                      Journal(tmp_path / "j"))


# -- the plan: what each fault would change, before anything changes ----------------------------------


def test_the_plan_names_the_exact_change_of_each_live_fault():
    import json

    from drharness.faults import LiveOptions, parse_fault
    from drharness.faults.live import describe_live_change, experiment_template

    options = LiveOptions(role_arn=f"arn:aws:iam::{ACCOUNT}:role/drharness-fis", region="us-east-1", duration="PT5M")
    throttle = parse_fault("service-fault", {"service": "dynamodb", "operation": "PutItem", "mode": "throttle",
                                             "rate": 0.5})
    said = describe_live_change("service-fault", throttle, options, ACCOUNT)
    assert said.startswith("client-side fault: a botocore before-send.dynamodb.PutItem hook")
    assert "50% of the calls with ThrottlingException (HTTP 400)" in said
    zone = parse_fault("az-outage", {"region": "us-east-1", "az": "b"})
    said = describe_live_change("az-outage", zone, options, ACCOUNT)
    head, template = said.split("; template ", 1)
    assert head == "FIS experiment: aws:network:disrupt-connectivity"
    assert json.loads(template) == experiment_template("plan", "az-outage", zone, options, ACCOUNT)
    with pytest.raises(FaultError, match="mode=latency"):
        describe_live_change("service-fault", parse_fault("service-fault", {"service": "s3", "mode": "latency",
                                                                            "latency_ms": 5}), options, ACCOUNT)
