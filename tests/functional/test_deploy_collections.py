"""The offline deploy builds any described workload: several buckets, tables and compute environments
(examples/multi-region-app), each read back, each tagged so discovery by tag finds the whole workload."""

from __future__ import annotations

from pathlib import Path

import datetime as dt

from drharness.compliance.mechanisms import TargetReads
from drharness.config import load_workload
from drharness.deploy import check_workload, deploy_workload
from drharness.deploy.common import tag_map
from drharness.target import OfflineTarget
from drharness.world import World
from tests.world_roles import fast_offline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi-region-app" / "workload.toml"


def test_every_resource_of_a_team_workload_is_built_read_back_and_tagged() -> None:
    workload = load_workload(EXAMPLE)
    with World(fast_offline(), seed=31) as world:
        target = OfflineTarget(world.endpoint, world.account_id)
        workload = workload.with_account(world.account_id)
        report = deploy_workload(target, workload)
        assert report.verification.findings == () and check_workload(target, workload).findings == ()
        region = workload.primary_region
        s3 = target.client("s3", region)
        for view in workload.each_bucket():
            rules = s3.get_bucket_replication(Bucket=view.data_bucket)["ReplicationConfiguration"]["Rules"]
            assert [r["ID"] for r in rules] == [view.spec.bucket.replication.rule_id]
            assert rules[0]["Destination"]["Bucket"] == f"arn:aws:s3:::{view.backup_bucket}"
            tags = tag_map(s3.get_bucket_tagging(Bucket=view.data_bucket)["TagSet"])
            assert (tags["Project"], tags["Environment"], tags["DRTier"]) == ("multi-region-app", "prod", view.spec.bucket.tier)
        ddb = target.client("dynamodb", region)
        for view in workload.each_table():
            table = ddb.describe_table(TableName=view.metadata_table)["Table"]
            assert [r["RegionName"] for r in table["Replicas"]] == [workload.secondary_region]
            assert {k["KeyType"] for k in table["KeySchema"]} == ({"HASH", "RANGE"} if view.spec.table.range_key else {"HASH"})
        batch, ec2 = target.client("batch", region), target.client("ec2", region)
        for view in workload.each_compute():
            ce = batch.describe_compute_environments(computeEnvironments=[view.compute_environment])["computeEnvironments"][0]
            subnets = ec2.describe_subnets(SubnetIds=ce["computeResources"]["subnets"])["Subnets"]
            assert sorted(s["AvailabilityZone"] for s in subnets) == [f"{region}{z}" for z in view.spec.compute.availability_zones]
            queue = batch.describe_job_queues(jobQueues=[view.job_queue])["jobQueues"][0]
            assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == ce["computeEnvironmentArn"]
        _each_resource_is_kept_by_its_own_plan(target, workload)
        tagged = target.client("resourcegroupstaggingapi", region).get_resources(
            TagFilters=[{"Key": "Project", "Values": ["multi-region-app"]}])["ResourceTagMappingList"]
        arns = {m["ResourceARN"] for m in tagged}
        assert {f"arn:aws:s3:::{v.data_bucket}" for v in workload.each_bucket()} <= arns
        assert all(any(a.endswith(f":table/{v.metadata_table}") for a in arns) for v in workload.each_table())


def _each_resource_is_kept_by_its_own_plan(target, workload) -> None:
    """The hourly plan keeps the uploads bucket and the orders table, the daily plan the models bucket,
    and nothing keeps the sessions table (it requires no backups): as read back from the target."""
    reads = TargetReads(target, workload, dt.datetime.now(dt.timezone.utc))
    ddb = target.client("dynamodb", workload.primary_region)
    expected = {("bucket", "uploads"): ("multi-region-app-prod-hourly", 3600.0),
                ("table", "orders"): ("multi-region-app-prod-hourly", 3600.0),
                ("bucket", "models"): ("multi-region-app-prod-daily", 86400.0),
                ("table", "sessions"): None}
    for (kind, resource_id), wanted in expected.items():
        view = workload.focus(**{kind: resource_id})
        arn = (ddb.describe_table(TableName=view.metadata_table)["Table"]["TableArn"] if kind == "table"
               else f"arn:aws:s3:::{view.data_bucket}")
        coverage = reads.focused(view).coverage(arn)
        if wanted is None:
            assert not coverage.covered, (resource_id, coverage)
        else:
            assert coverage.covered and (coverage.plan, coverage.gap_seconds) == wanted, (resource_id, coverage)
