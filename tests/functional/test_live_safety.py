"""Live safety against the offline world playing "a live account": refused before any change, scoped by tags.

moto's STS answers account 123456789012; the allowlists here hold another account (or that one, where
a test needs to get past the account gate), and the world's request log is the proof that nothing
was changed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drharness import faults
from drharness.cli import app, main
from drharness.errors import SafetyError
from drharness.faults import Journal, LiveOptions
from drharness.safety import (
    ACCOUNT_CHANGED,
    ACCOUNT_NOT_ALLOWED,
    NO_ALLOWED_ACCOUNTS,
    OPT_IN_HELP,
    REGION_NOT_ALLOWED,
    ScopedFaultBackend,
    mask_account,
    open_live_backend,
    open_live_target,
)
from drharness.session import DrSession
from drharness.settings import LIVE_ENV, RunSettings
from drharness.world.control import WorldClient

MOTO_ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111122223333"
FIS_ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/drharness-fis"


def ensure_safety_commands() -> None:
    """Register `plan`/`stop`/`sweep` on the app if the command list does not (yet) include them."""
    from drharness.cli import _register
    from drharness.cli import safety as safety_cli

    _register()
    if not any(c.name == "plan" for c in app.registered_commands):
        safety_cli.register(app)


def write_config(tmp_path: Path, accounts: list[str], regions: list[str] | None = None,
                 stop_alarms: list[str] | None = None) -> Path:
    regions = ["us-east-1", "us-west-2"] if regions is None else regions
    path = tmp_path / "workload.toml"
    path.write_text(textwrap.dedent(f"""
        [live]
        allowed_accounts = {accounts!r}
        allowed_regions = {regions!r}
        tag_scope = {{ DRHarness = "allowed" }}
        stop_alarms = {stop_alarms or []!r}
    """).replace("'", '"'), encoding="utf-8")
    return path


def mutating(world) -> list[dict]:
    return WorldClient(world.endpoint).requests(mutating_only=True)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    ensure_safety_commands()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_session_against_an_account_off_the_allowlist_is_refused_before_any_change(world, tmp_path, live_env):
    config = write_config(tmp_path, [OTHER_ACCOUNT])
    before = mutating(world)
    settings = RunSettings(target="aws", config=config, endpoint=world.endpoint, live_flag=True)
    with pytest.raises(SafetyError) as info:
        DrSession(settings).open()
    assert str(info.value) == ACCOUNT_NOT_ALLOWED.format(account=mask_account(MOTO_ACCOUNT), source=str(config))
    assert MOTO_ACCOUNT not in str(info.value)
    assert mutating(world) == before
    asked = [r for r in WorldClient(world.endpoint).requests() if r["service"] == "sts"]
    assert [r["operation"] for r in asked] == ["GetCallerIdentity"]  # STS was asked, and first


def test_no_opt_in_means_no_call_at_all(world, tmp_path, live_env, monkeypatch):
    monkeypatch.delenv(LIVE_ENV)
    config = write_config(tmp_path, [MOTO_ACCOUNT])
    before = WorldClient(world.endpoint).requests()
    with pytest.raises(SafetyError) as info:
        DrSession(RunSettings(target="aws", config=config, endpoint=world.endpoint, live_flag=True)).open()
    assert str(info.value) == OPT_IN_HELP
    assert WorldClient(world.endpoint).requests() == before


@pytest.mark.parametrize(
    ("accounts", "regions", "expected"),
    [
        ([], ["us-east-1", "us-west-2"], NO_ALLOWED_ACCOUNTS.format(source="{config}")),
        ([MOTO_ACCOUNT], ["us-east-1"], REGION_NOT_ALLOWED.format(region="us-west-2", source="{config}")),
    ],
    ids=["empty-allowlist", "region-off-the-allowlist"],
)
def test_allowlists_refuse_with_their_reason(world, tmp_path, live_env, accounts, regions, expected):
    config = write_config(tmp_path, accounts, regions)
    before = mutating(world)
    with pytest.raises(SafetyError) as info:
        DrSession(RunSettings(target="aws", config=config, endpoint=world.endpoint, live_flag=True)).open()
    assert str(info.value) == expected.format(config=config)
    assert mutating(world) == before


def test_plan_and_sweep_commands_against_that_account_are_refused_in_one_line(world, tmp_path, live_env, capsys):
    config = write_config(tmp_path, [OTHER_ACCOUNT])
    before = mutating(world)
    for command in ("plan", "sweep"):
        code, out, err = run(capsys, command, "--target", "aws", "--live", "--config", str(config),
                             "--endpoint", world.endpoint)
        assert code == 2
        assert err == "drharness: error: " + ACCOUNT_NOT_ALLOWED.format(
            account=mask_account(MOTO_ACCOUNT), source=str(config)) + "\n"
    assert mutating(world) == before


def test_a_live_drill_against_that_account_is_refused_before_its_first_mutating_call(world, tmp_path, live_env, capfd):
    config = write_config(tmp_path, [OTHER_ACCOUNT])
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_touch.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.monthly
        def test_touch(dr_target, dr_workload):
            dr_target.client("s3", dr_workload.primary_region).create_bucket(Bucket="should-never-exist")
    """), encoding="utf-8")
    before = mutating(world)
    code, out, err = run(capfd, "drill", "--suite", str(suite), "--target", "aws", "--live", "--config", str(config),
                         "--endpoint", world.endpoint, "--reports", str(tmp_path / "reports"))
    assert code != 0
    assert ACCOUNT_NOT_ALLOWED.format(account=mask_account(MOTO_ACCOUNT), source=str(config)) in out + err
    assert mutating(world) == before
    assert "should-never-exist" not in [b["Name"] for b in world.client("s3", "us-east-1").list_buckets()["Buckets"]]


def _live_backend(world, tmp_path, monkeypatch) -> ScopedFaultBackend:
    config = write_config(tmp_path, [MOTO_ACCOUNT])
    from drharness.config import load_workload

    workload = load_workload(config)
    settings = RunSettings(target="aws", config=config, live_flag=True)
    return open_live_backend(settings, workload, LiveOptions(role_arn=FIS_ROLE, region="us-east-1"),
                             endpoint_url=world.endpoint)


def _table(world, name: str, tags: dict[str, str] | None = None) -> str:
    dynamodb = world.client("dynamodb", "us-east-1")
    kwargs = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    dynamodb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST", **kwargs)
    return name


def test_a_fault_on_an_untagged_resource_is_refused_before_it_is_journalled(world, tmp_path, live_env, monkeypatch):
    backend = _live_backend(world, tmp_path, monkeypatch)
    _table(world, "untagged")
    _table(world, "tagged-elsewhere", {"DRHarness": "denied"})
    journal = Journal(tmp_path / "journal")
    before = mutating(world)
    for params in ({"table": "untagged", "region": "us-east-1"}, {"table": "tagged-elsewhere", "region": "us-east-1"},
                   {"table": "missing", "region": "us-east-1"}, {"bucket": "no-such-bucket", "region": "us-west-2"}):
        with pytest.raises(SafetyError, match="outside the tag scope DRHarness=allowed"):
            faults.inject(backend, "replication-pause", params, journal)
    assert journal.records() == []
    assert mutating(world) == before


def test_a_fault_in_a_region_off_the_allowlist_is_refused(world, tmp_path, live_env, monkeypatch):
    backend = _live_backend(world, tmp_path, monkeypatch)
    before = mutating(world)
    with pytest.raises(SafetyError) as info:
        faults.inject(backend, "service-fault", {"service": "ec2", "operation": "RunInstances", "region": "eu-west-1"},
                      Journal(tmp_path / "journal"))
    assert str(info.value).startswith(REGION_NOT_ALLOWED.format(region="eu-west-1", source="")[:30])
    assert mutating(world) == before


def test_a_tagged_resource_passes_the_gate_and_reaches_fis(world, tmp_path, live_env, monkeypatch):
    backend = _live_backend(world, tmp_path, monkeypatch)
    _table(world, "drill-table", {"DRHarness": "allowed"})
    journal = Journal(tmp_path / "journal")
    fault = faults.inject(backend, "replication-pause", {"table": "drill-table", "region": "us-east-1"}, journal)
    assert fault.target == "aws" and fault.refs["experiment_id"]
    calls = [(r["service"], r["operation"]) for r in mutating(world)]
    assert ("fis", "CreateExperimentTemplate") in calls and ("fis", "StartExperiment") in calls
    faults.revert(backend, fault.id, journal)
    assert journal.pending() == []


def test_credentials_that_move_to_another_account_are_refused(world, tmp_path, live_env, monkeypatch):
    from drharness.config import load_workload

    config = write_config(tmp_path, [MOTO_ACCOUNT, OTHER_ACCOUNT])
    workload = load_workload(config)
    _table(world, "drill-table", {"DRHarness": "allowed"})
    opened_for = open_live_target(RunSettings(target="aws", config=config, live_flag=True), workload,
                                  endpoint_url=world.endpoint)
    opened_for.account_id = OTHER_ACCOUNT  # as if opened for that account; the credentials now answer MOTO_ACCOUNT
    inner = faults.LiveFaultBackend(opened_for, LiveOptions(role_arn=FIS_ROLE, region="us-east-1"))
    backend = ScopedFaultBackend(inner, opened_for, workload, region="us-east-1")
    before = mutating(world)
    with pytest.raises(SafetyError) as info:
        backend.prepare("f1", "replication-pause", faults.parse_fault("replication-pause", {"table": "drill-table"}))
    assert str(info.value) == ACCOUNT_CHANGED.format(now=mask_account(MOTO_ACCOUNT), opened=mask_account(OTHER_ACCOUNT),
                                                     fault="replication-pause")
    assert mutating(world) == before


def test_a_chaos_run_against_a_live_account_goes_through_the_scope_gate(world, tmp_path, live_env):
    from drharness.chaos import actions, control, runtime

    config = write_config(tmp_path, [MOTO_ACCOUNT], stop_alarms=["batch-error-rate"])
    run_ = runtime.open_run({"drharness_target": "aws", "drharness_live": True, "drharness_config": str(config),
                             "drharness_endpoint": world.endpoint, "drharness_reports": str(tmp_path / "reports"),
                             "drharness_fis_role_arn": FIS_ROLE}, name="live-game-day")
    runtime.activate(run_)
    try:
        assert not run_.offline and isinstance(run_.backend, ScopedFaultBackend)
        alarm = f"arn:aws:cloudwatch:us-east-1:{MOTO_ACCOUNT}:alarm:batch-error-rate"
        assert run_.backend.inner.options.stop_alarm_arns == (alarm,)  # FIS takes ARNs, the config names
        _table(world, "untagged")
        _table(world, "drill-table", {"DRHarness": "allowed"})
        before = mutating(world)
        with pytest.raises(SafetyError, match="outside the tag scope DRHarness=allowed"):
            actions.inject_fault("replication-pause", {"table": "untagged", "region": "us-east-1"}, configuration={})
        with pytest.raises(SafetyError, match="outside the tag scope DRHarness=allowed"):
            control._create_template(run_, "pause_template_id",
                                     {"fault": "replication-pause", "params": {"table": "untagged", "region": "us-east-1"}})
        assert run_.journal.records() == [] and mutating(world) == before
        template_id = control._create_template(run_, "pause_template_id",
                                               {"fault": "replication-pause", "params": {"table": "drill-table"}})
        fis = world.client("fis", "us-east-1")
        stops = fis.get_experiment_template(id=template_id)["experimentTemplate"]["stopConditions"]
        assert [s["value"] for s in stops] == [alarm]
        fault = actions.inject_fault("replication-pause", {"table": "drill-table", "region": "us-east-1"}, configuration={})
        assert fault["target"] == "aws"
        assert actions.revert_all_faults(configuration={})["reverted"] == [fault["id"]]
    finally:
        runtime.deactivate(run_)
        run_.session.close()


def test_plan_of_an_allowed_account_shows_scope_and_changes_nothing(world, tmp_path, live_env, capsys):
    config = write_config(tmp_path, [MOTO_ACCOUNT])
    before = mutating(world)
    code, out, err = run(capsys, "plan", "--target", "aws", "--live", "--config", str(config), "--endpoint", world.endpoint)
    assert code == 1  # the default scenarios name untagged resources (nothing is deployed): refused, said so
    assert "refused: refusing replication-pause" in out and "would be refused" in err
    assert "FIS experiment: aws:dynamodb:global-table-pause-replication" in out
    # region-outage has a live backend now: the plan names the IAM change (and that no role is in scope yet)
    assert "IAM: inline policy drharness-region-outage-<fault id> on roles none: set [live].api_fault_roles" in out
    assert MOTO_ACCOUNT not in out
    assert mutating(world) == before


# -- the dry run --------------------------------------------------------------------------------------

EXPERIMENT = {
    "title": "zone and replication game day",
    "configuration": {"region": "us-east-1", "zone": {"type": "env", "key": "DRHARNESS_TEST_ZONE", "default": "b"}},
    "method": [
        {"type": "probe", "name": "bucket readable", "provider": {"type": "python", "module": "chaosaws.s3.probes",
                                                                   "func": "bucket_exists", "arguments": {}}},
        {"type": "action", "name": "lose a zone",
         "provider": {"type": "python", "module": "drharness.chaos.actions", "func": "inject_fault",
                      "arguments": {"fault": "az-outage", "params": {"region": "${region}", "az": "${zone}"}}},
         "pauses": {"after": 30}},
        {"type": "action", "name": "hold replication",
         "provider": {"type": "process", "path": "drharness",
                      "arguments": "fault inject replication-pause table=${table} region=${region}"}},
    ],
}


def test_plan_of_an_experiment_prints_everything_and_changes_nothing(world, tmp_path, live_env, capsys, monkeypatch):
    import json

    alarms = tmp_path / "alarms.toml"
    alarms.write_text('[live]\nstop_alarms = ["batch-error-rate"]\n', encoding="utf-8")
    experiment = tmp_path / "game-day.json"
    experiment.write_text(json.dumps(EXPERIMENT), encoding="utf-8")
    before = WorldClient(world.endpoint).requests()
    code, out, err = run(capsys, "plan", "--config", str(alarms), "--endpoint", world.endpoint,
                         "--experiment", str(experiment), "--var", "table=jobs")
    assert code == 0, err
    for expected in (
        "plan: 2 fault(s) from " + str(experiment),
        "1. az-outage (method #2 lose a zone)",
        "zone us-east-1b impaired",
        "duration: held 30 s (the step's pause), then the run reverts it",
        "2. replication-pause (method #3 hold replication)",
        "target:   dynamodb table jobs (us-east-1)",
        "revert:   the world undoes it by id",
        "method #1 bucket readable: probe chaosaws.s3.probes.bucket_exists",
        "CloudWatch alarm batch-error-rate (us-east-1) in ALARM",
        "stop file", "SIGKILL or machine loss: `drharness revert --journal",
        "nothing was changed: this is a plan",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    assert WorldClient(world.endpoint).requests() == before  # not even a read
    assert world.faults.active() == [] and not (tmp_path / "journal").exists()


def test_plan_without_an_experiment_lists_the_guides_scenarios(tmp_path, live_env, capsys):
    code, out, _ = run(capsys, "plan")
    assert code == 0
    for fault in ("az-outage", "region-outage", "service-fault", "replication-pause", "data-corruption",
                  "credential-compromise"):
        assert f". {fault} (" in out
    assert MOTO_ACCOUNT not in out and mask_account(MOTO_ACCOUNT) in out  # bucket names carry the account, masked
