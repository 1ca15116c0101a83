"""The deploy against the offline world: every DR property set, read back, and a broken one named."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.config import Workload, load_workload
from drharness.deploy import DeployReport, VerificationError, deploy_workload, verify_workload
from drharness.deploy import backup, batch, dynamodb, events, fsx, names, notifications, s3
from drharness.deploy.common import MISSING
from drharness.errors import DeployError
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World


def write_config(directory: Path) -> Path:
    path = directory / "workload.toml"
    path.write_text("", encoding="utf-8")  # every default
    return path


def quick_target(endpoint: str, account_id: str) -> OfflineTarget:
    # No retries: an API the world lacks answers at once instead of after backoff.
    return OfflineTarget(endpoint, account_id, config=FAIL_FAST_CONFIG)


def deploy(target: OfflineTarget, workload: Workload) -> DeployReport:
    """Deploy and return the report, also when the read-back found differences."""
    try:
        return deploy_workload(target, workload)
    except VerificationError as exc:
        return exc.report


def keys(report: DeployReport) -> set[tuple[str, str]]:
    return {(f.resource, f.property) for f in report.verification.findings}


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    first: DeployReport


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    workload = load_workload(write_config(tmp_path_factory.mktemp("deploy")))
    with World(workload.spec.offline, seed=5) as world:
        target = quick_target(world.endpoint, workload.account_id)
        yield Deployed(world, target, workload, deploy(target, workload))


def redeploy_restores(d: Deployed) -> None:
    assert keys(deploy(d.target, d.workload)) == keys(d.first)


def test_fresh_deploy_verifies_clean(deployed: Deployed) -> None:
    assert deployed.first.verification.findings == ()
    assert verify_workload(deployed.target, deployed.workload) == []


def test_fresh_deploy_creates_every_resource_and_reads_them_back(deployed: Deployed) -> None:
    report, workload = deployed.first, deployed.workload
    created = {(r.kind, r.name) for r in report.resources if r.action == "created"}
    for kind, name in (
        ("s3 bucket", workload.data_bucket), ("s3 bucket", workload.backup_bucket),
        ("s3 bucket", workload.templates_bucket), ("s3 bucket", workload.config_backup_bucket),
        ("dynamodb table", workload.metadata_table), ("dynamodb replica", workload.metadata_table),
        ("fsx file system", workload.file_system), ("backup vault", workload.backup_vault),
        ("backup plan", workload.backup_plan), ("batch compute environment", workload.compute_environment),
        ("batch job queue", workload.job_queue), ("sns topic", workload.dr_topic), ("sns topic", workload.report_topic),
        ("events rule", workload.monthly_rule), ("cloudformation stack", workload.dr_stack),
        ("cloudformation stack", workload.primary_stack),
    ):
        assert (kind, name) in created
    assert report.verification.properties_checked > 60
    # The only property the world cannot show is the backup selection (moto has no selection API).
    assert {u.property for u in report.verification.unverified} <= {backup.SELECTION}


def test_replica_of_the_table_is_active_in_the_secondary_region(deployed: Deployed) -> None:
    workload = deployed.workload
    replica_keys = {k for k in keys(deployed.first) if k[0].startswith("dynamodb")}
    assert replica_keys == set()
    ddb = deployed.target.client("dynamodb", workload.secondary_region)
    assert ddb.describe_table(TableName=workload.metadata_table)["Table"]["TableStatus"] == "ACTIVE"


def test_second_deploy_creates_nothing_and_finds_the_same(deployed: Deployed) -> None:
    d = deployed
    fsx_before = d.target.client("fsx", d.workload.primary_region).describe_file_systems()["FileSystems"]
    second = deploy(d.target, d.workload)
    assert [r for r in second.resources if r.action == "created"] == []
    first_ids = {(r.kind, r.name, r.region): r.identifier for r in d.first.resources if r.identifier}
    second_ids = {(r.kind, r.name, r.region): r.identifier for r in second.resources if r.identifier}
    assert second_ids == first_ids
    assert keys(second) == keys(d.first)
    assert d.target.client("fsx", d.workload.primary_region).describe_file_systems()["FileSystems"] == fsx_before
    ec2 = d.target.client("ec2", d.workload.primary_region)
    assert len(ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [names.vpc(d.workload)]}])["Vpcs"]) == 1
    plans = d.target.client("backup", d.workload.primary_region).list_backup_plans()["BackupPlansList"]
    assert [p["BackupPlanName"] for p in plans] == [d.workload.backup_plan]


def test_second_deploy_changes_nothing(deployed: Deployed) -> None:
    assert deploy(deployed.target, deployed.workload).changed == ()


def test_deleted_replication_is_reported_then_repaired(deployed: Deployed) -> None:
    d = deployed
    d.target.client("s3", d.workload.primary_region).delete_bucket_replication(Bucket=d.workload.data_bucket)
    findings = verify_workload(d.target, d.workload)
    assert [(f.resource, f.property, f.actual) for f in findings if f.property.startswith(s3.REPLICATION)] == [
        (s3.bucket_resource(d.workload.data_bucket), s3.REPLICATION, MISSING)
    ]
    redeploy_restores(d)


def test_disabled_pitr_is_reported_then_repaired(deployed: Deployed) -> None:
    d = deployed
    d.target.client("dynamodb", d.workload.primary_region).update_continuous_backups(
        TableName=d.workload.metadata_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    findings = verify_workload(d.target, d.workload)
    resource = dynamodb.table_resource(d.workload.metadata_table, d.workload.primary_region)
    assert [(f.property, f.expected, f.actual) for f in findings if f.resource == resource] == [
        (dynamodb.PITR, "'ENABLED'", "'DISABLED'")
    ]
    redeploy_restores(d)


def test_suspended_versioning_on_the_backup_bucket_is_reported(deployed: Deployed) -> None:
    d = deployed
    d.target.client("s3", d.workload.secondary_region).put_bucket_versioning(
        Bucket=d.workload.backup_bucket, VersioningConfiguration={"Status": "Suspended"})
    findings = verify_workload(d.target, d.workload)
    assert (s3.bucket_resource(d.workload.backup_bucket), s3.VERSIONING) in {(f.resource, f.property) for f in findings}
    redeploy_restores(d)


def test_disabled_monthly_rule_and_deleted_vault_are_reported(deployed: Deployed) -> None:
    d = deployed
    d.target.client("events", d.workload.primary_region).disable_rule(Name=d.workload.monthly_rule)
    d.target.client("backup", d.workload.primary_region).delete_backup_vault(BackupVaultName=d.workload.backup_vault)
    found = {(f.resource, f.property) for f in verify_workload(d.target, d.workload)}
    assert (events.rule_resource(d.workload.monthly_rule), events.STATE) in found
    assert (backup.vault_resource(d.workload.backup_vault), "exists") in found
    redeploy_restores(d)


def test_compute_environment_spans_the_configured_zones(deployed: Deployed) -> None:
    d = deployed
    region = d.workload.primary_region
    ce = d.target.client("batch", region).describe_compute_environments(
        computeEnvironments=[d.workload.compute_environment])["computeEnvironments"][0]
    subnets = d.target.client("ec2", region).describe_subnets(SubnetIds=ce["computeResources"]["subnets"])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(names.zones(d.workload, region))
    assert sorted(ce["computeResources"]["instanceTypes"]) == sorted(d.workload.spec.compute.instance_types)
    assert not [k for k in keys(d.first) if k[0] == batch.compute_resource(d.workload.compute_environment)]
    fs = fsx.find(d.target, d.workload)
    assert fs is not None and fs["LustreConfiguration"]["AutomaticBackupRetentionDays"] == 30


def test_a_dr_notice_arrives_in_the_topic_inbox(deployed: Deployed) -> None:
    d = deployed
    region = d.workload.secondary_region
    topic = notifications.topic_arn(d.target, region, d.workload.dr_topic)
    d.target.client("sns", region).publish(TopicArn=topic, Subject="DR Failover", Message='{"failover_status": "SUCCESS"}')
    url = notifications.inbox_url(d.target, region, d.workload.dr_topic)
    messages = d.target.client("sqs", region).receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert '"failover_status": "SUCCESS"' in messages[0]["Body"].replace('\\"', '"')


class _NoCalls:
    name = "offline"
    account_id = "123456789012"
    endpoint_url = None

    def client(self, service: str, region: str) -> None:
        raise AssertionError(f"the deploy called {service} in {region} before refusing the config")


def test_a_name_aws_would_reject_is_refused_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "workload.toml"
    path.write_text('[bucket]\nbackup_name = "${project}-${environment}-data-backup-${secondary_region}-${account_id}"\n')
    with pytest.raises(DeployError, match=r"bucket.backup_name resolves to .*-63 "):
        deploy_workload(_NoCalls(), load_workload(path))  # type: ignore[arg-type]


def test_dr_stack_raises_compute_in_the_secondary_region_when_enabled(deployed: Deployed) -> None:
    d = deployed
    region, spec = d.workload.secondary_region, d.workload.spec.dr_stack
    cfn = d.target.client("cloudformation", region)
    stack = cfn.describe_stacks(StackName=d.workload.dr_stack)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}[spec.enable_parameter] == "false"
    keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack["Parameters"] if p["ParameterKey"] != spec.enable_parameter]
    cfn.update_stack(StackName=d.workload.dr_stack, UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[*keep, {"ParameterKey": spec.enable_parameter, "ParameterValue": "true"}])
    assert cfn.describe_stacks(StackName=d.workload.dr_stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    name = f"{d.workload.spec.project}-{names.dr_environment(d.workload)}-compute-env"
    ce = d.target.client("batch", region).describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    assert [(c["state"], c["status"]) for c in ce] == [("ENABLED", "VALID")]
    subnets = d.target.client("ec2", region).describe_subnets(SubnetIds=ce[0]["computeResources"]["subnets"])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(names.zones(d.workload, region))
    # A later deploy leaves the failed-over stack as it is.
    redeploy_restores(d)
    stack = cfn.describe_stacks(StackName=d.workload.dr_stack)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}[spec.enable_parameter] == "true"
