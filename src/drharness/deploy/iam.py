"""IAM roles the DR mechanisms act as: S3 replication, AWS Backup, and Batch (service + instances).

Verification follows the references (the role a replication rule or a compute environment names),
so that a live account whose roles carry other names is checked on what it actually uses.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names
from drharness.deploy.common import ApplyLog, Checker, call, error_code
from drharness.target import Target

GLOBAL_REGION = "us-east-1"  # IAM is global; its API lives in us-east-1
POLICY_NAME = "drharness-dr"


@dataclass(frozen=True)
class RoleSpec:
    name: str
    service: str
    policy: dict[str, Any]
    instance_profile: bool = False


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _policy(*statements: tuple[list[str], list[str] | str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource} for actions, resource in statements],
    }


def role_specs(workload: Workload) -> list[RoleSpec]:
    # One role replicates every bucket of the workload.
    sources = [f"arn:aws:s3:::{view.data_bucket}" for view in workload.each_bucket()]
    dests = [f"arn:aws:s3:::{view.backup_bucket}" for view in workload.each_bucket()]
    replication = _policy(
        (["s3:GetReplicationConfiguration", "s3:ListBucket"], sources),
        # The guide's `${DataBucket}/*` is a bucket name, not an ARN; the ARN is what IAM matches.
        (["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
         [f"{s}/*" for s in sources]),
        (["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], [f"{d}/*" for d in dests]),
        (["kms:Decrypt"], "*"),
        (["kms:Encrypt", "kms:GenerateDataKey"], "*"),
    )
    backup = _policy(
        (["dynamodb:CreateBackup", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource",
          "dynamodb:StartAwsBackupJob", "dynamodb:RestoreTableFromAwsBackup"], "*"),
        (["s3:GetBucket*", "s3:GetObject*", "s3:ListBucket*", "s3:GetInventoryConfiguration",
          "s3:PutInventoryConfiguration"], "*"),
        (["fsx:CreateBackup", "fsx:DescribeFileSystems", "fsx:DescribeBackups", "fsx:ListTagsForResource",
          "fsx:TagResource"], "*"),
        (["tag:GetResources", "backup:DescribeBackupVault", "backup:CopyIntoBackupVault"], "*"),
        (["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], "*"),
    )
    batch_service = _policy(
        (["ec2:Describe*", "ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate", "ec2:RunInstances",
          "ec2:TerminateInstances", "ec2:CreateTags", "autoscaling:*", "ecs:*", "iam:PassRole"], "*"),
    )
    batch_instance = _policy(
        (["ecs:CreateCluster", "ecs:DeregisterContainerInstance", "ecs:DiscoverPollEndpoint", "ecs:Poll",
          "ecs:RegisterContainerInstance", "ecs:StartTelemetrySession", "ecs:Submit*", "ecr:GetAuthorizationToken",
          "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
          "logs:CreateLogStream", "logs:PutLogEvents"], "*"),
    )
    return [
        RoleSpec(names.replication_role(workload), "s3.amazonaws.com", replication),
        RoleSpec(names.backup_role(workload), "backup.amazonaws.com", backup),
        RoleSpec(names.batch_service_role(workload), "batch.amazonaws.com", batch_service),
        RoleSpec(names.batch_instance_role(workload), "ec2.amazonaws.com", batch_instance, instance_profile=True),
    ]


def _document(value: Any) -> Any:
    """A policy document as returned (boto3 decodes most, some endpoints leave it URL-encoded)."""
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def role_arn(target: Target, name: str) -> str | None:
    try:
        return str(target.client("iam", GLOBAL_REGION).get_role(RoleName=name)["Role"]["Arn"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def instance_profile_arn(target: Target, name: str) -> str | None:
    try:
        profile = target.client("iam", GLOBAL_REGION).get_instance_profile(InstanceProfileName=name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return str(profile["InstanceProfile"]["Arn"])


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    iam = target.client("iam", GLOBAL_REGION)
    for spec in role_specs(workload):
        action = "unchanged"
        try:
            role = iam.get_role(RoleName=spec.name)["Role"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            role = call(
                f"iam.create_role {spec.name}",
                iam.create_role,
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(_trust(spec.service)),
                Tags=[{"Key": "Purpose", "Value": "DisasterRecovery"}],
            )["Role"]
            action = "created"
        if _document(role.get("AssumeRolePolicyDocument")) != _trust(spec.service):
            call(f"iam.update_assume_role_policy {spec.name}", iam.update_assume_role_policy,
                 RoleName=spec.name, PolicyDocument=json.dumps(_trust(spec.service)))
            action = "updated" if action == "unchanged" else action
        try:
            current = _document(iam.get_role_policy(RoleName=spec.name, PolicyName=POLICY_NAME)["PolicyDocument"])
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            current = None
        if current != spec.policy:
            call(f"iam.put_role_policy {spec.name}", iam.put_role_policy,
                 RoleName=spec.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(spec.policy))
            action = "updated" if action == "unchanged" else action
        if spec.instance_profile and instance_profile_arn(target, spec.name) is None:
            call(f"iam.create_instance_profile {spec.name}", iam.create_instance_profile, InstanceProfileName=spec.name)
            call(f"iam.add_role_to_instance_profile {spec.name}", iam.add_role_to_instance_profile,
                 InstanceProfileName=spec.name, RoleName=spec.name)
            action = "updated" if action == "unchanged" else action
        log.add("iam role", spec.name, "global", action, str(role["Arn"]))


def verify_role(target: Target, arn: str | None, service: str, resource: str, prop: str, check: Checker) -> None:
    """Check that the role `resource` names in `prop` exists and trusts `service`."""
    if not arn:
        check.missing(resource, prop)
        return
    name = arn.rsplit("/", 1)[-1]
    try:
        role = target.client("iam", GLOBAL_REGION).get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        check.expect(resource, f"{prop} (IAM role {name})", "present", None)
        return
    trusted = set()
    for statement in _document(role.get("AssumeRolePolicyDocument") or {}).get("Statement", []):
        principal = (statement.get("Principal") or {}).get("Service", [])
        trusted.update([principal] if isinstance(principal, str) else principal)
    check.expect(resource, f"{prop} (IAM role {name}) trusts", service, service if service in trusted else sorted(trusted))
