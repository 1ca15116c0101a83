"""CloudFormation: the pilot-light DR stack in the secondary region, and the primary stack.

Each DR stack of the workload is created from the template object in its templates bucket with
`EnableDRResources=false`; failover flips the parameter, and the stack raises Batch compute in the
secondary region, named after the stack (so two DR stacks raise two compute environments), mirroring
the compute environment the stack names (`dr_stacks[].compute`, else the first). The parameter file
next to the template is what the manual runbook's `create-stack --parameters file://dr-parameters.json`
recreates the stack with. The primary stack records the workload's DR wiring, and is what the
configuration backup saves; DR stacks that name one primary stack share it.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import iam, names
from drharness.deploy.batch import find_network
from drharness.deploy.common import ApplyLog, Checker, call, error_code, workload_tags
from drharness.errors import DeployError
from drharness.target import Target
from drharness.waiting import wait_until

DR_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Embedding Batch Workload - secondary region DR stack (pilot light)
Parameters:
  ProjectName:
    Type: String
  Environment:
    Type: String
  PrimaryRegion:
    Type: String
  SecondaryRegion:
    Type: String
  EnableDRResources:
    Type: String
    Default: 'false'
    AllowedValues: ['true', 'false']
  DRSubnetIds:
    Type: String
    Description: Comma-separated subnets of the secondary region, one per availability zone
  DRSecurityGroupId:
    Type: String
  BatchServiceRoleArn:
    Type: String
  BatchInstanceProfileArn:
    Type: String
  MaxvCpus:
    Type: String
  InstanceTypes:
    Type: String
    Description: Comma-separated instance types
  ReplicaBucketName:
    Type: String
  MetadataTableName:
    Type: String
Conditions:
  DRResourcesEnabled: !Equals [!Ref EnableDRResources, 'true']
Resources:
  DRState:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub '/${ProjectName}/${AWS::StackName}/dr-resources-enabled'
      Type: String
      Value: !Ref EnableDRResources
  DRComputeEnvironment:
    Type: AWS::Batch::ComputeEnvironment
    Condition: DRResourcesEnabled
    Properties:
      ComputeEnvironmentName: !Sub '${AWS::StackName}-compute-env'
      Type: MANAGED
      State: ENABLED
      ServiceRole: !Ref BatchServiceRoleArn
      ComputeResources:
        Type: EC2
        AllocationStrategy: BEST_FIT_PROGRESSIVE
        MinvCpus: 0
        DesiredvCpus: 0
        MaxvCpus: !Ref MaxvCpus
        InstanceTypes: !Split [',', !Ref InstanceTypes]
        Subnets: !Split [',', !Ref DRSubnetIds]
        SecurityGroupIds:
          - !Ref DRSecurityGroupId
        InstanceRole: !Ref BatchInstanceProfileArn
        Tags:
          AvailabilityStrategy: MultiAZ
  DRJobQueue:
    Type: AWS::Batch::JobQueue
    Condition: DRResourcesEnabled
    Properties:
      JobQueueName: !Sub '${AWS::StackName}-job-queue'
      Priority: 1
      State: ENABLED
      ComputeEnvironmentOrder:
        - Order: 1
          ComputeEnvironment: !Ref DRComputeEnvironment
Outputs:
  DRResourcesEnabled:
    Value: !Ref EnableDRResources
  PrimaryRegion:
    Value: !Ref PrimaryRegion
  DataBucketName:
    Value: !Ref ReplicaBucketName
  MetadataTableName:
    Value: !Ref MetadataTableName
  ComputeEnvironment:
    Condition: DRResourcesEnabled
    Value: !Ref DRComputeEnvironment
  JobQueue:
    Condition: DRResourcesEnabled
    Value: !Ref DRJobQueue
"""

PRIMARY_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Embedding Batch Workload - primary region DR wiring
Parameters:
  ProjectName:
    Type: String
  Environment:
    Type: String
  SecondaryRegion:
    Type: String
  DataBucketName:
    Type: String
  BackupBucketName:
    Type: String
  MetadataTableName:
    Type: String
  ComputeEnvironmentName:
    Type: String
  DRStackName:
    Type: String
Resources:
  DRConfig:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub '/${ProjectName}/${Environment}/dr-config'
      Type: String
      Value: !Sub '{"secondary_region": "${SecondaryRegion}", "dr_stack": "${DRStackName}"}'
Outputs:
  DataBucketName:
    Value: !Ref DataBucketName
  BackupBucketName:
    Value: !Ref BackupBucketName
  MetadataTableName:
    Value: !Ref MetadataTableName
  ComputeEnvironmentName:
    Value: !Ref ComputeEnvironmentName
  DRStackName:
    Value: !Ref DRStackName
"""

ENABLE_DEFAULT = "false"
STACK_STATUS = "StackStatus"
STABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
STACK_TIMEOUT_S = 1800.0
TEMPLATE_OBJECT = "TemplateObject"
PARAMETER_OBJECT = "ParameterFile"


def stack_resource(name: str, region: str) -> str:
    return f"cloudformation stack {name} ({region})"


def dr_parameters(target: Target, workload: Workload) -> dict[str, str]:
    """The DR stack's parameters, except `EnableDRResources` (failover owns that one)."""
    region = workload.secondary_region
    network = find_network(target, workload, region)
    if network is None:
        raise DeployError(f"the secondary-region network of {workload.dr_stack} is missing in {region}; deploy it first")
    mirrored = workload.mirrored_compute()
    compute = mirrored.spec.compute
    return {
        "ProjectName": workload.spec.project,
        "Environment": names.dr_environment(workload),
        "PrimaryRegion": workload.primary_region,
        "SecondaryRegion": region,
        "DRSubnetIds": ",".join(network.subnets_in(names.zones(mirrored, region))),
        "DRSecurityGroupId": network.security_group_id,
        "BatchServiceRoleArn": iam.role_arn(target, names.batch_service_role(workload)) or "",
        "BatchInstanceProfileArn": iam.instance_profile_arn(target, names.batch_instance_role(workload)) or "",
        "MaxvCpus": str(compute.max_vcpus),
        "InstanceTypes": ",".join(compute.instance_types),
        "ReplicaBucketName": workload.backup_bucket,
        "MetadataTableName": workload.metadata_table,
    }


def primary_parameters(workload: Workload) -> dict[str, str]:
    """The primary stack's parameters: the workload's DR wiring, with every DR stack that names this primary stack."""
    stacks = [view.dr_stack for view in workload.each_dr_stack() if view.primary_stack == workload.primary_stack]
    return {
        "ProjectName": workload.spec.project,
        "Environment": workload.spec.environment,
        "SecondaryRegion": workload.secondary_region,
        "DataBucketName": workload.data_bucket,
        "BackupBucketName": workload.backup_bucket,
        "MetadataTableName": workload.metadata_table,
        "ComputeEnvironmentName": workload.compute_environment,
        "DRStackName": ",".join(stacks),
    }


def _parameter_list(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def describe_stack(target: Target, region: str, name: str) -> dict[str, Any] | None:
    try:
        stacks = target.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError":  # CloudFormation's answer for "does not exist"
            return None
        raise
    return dict(stacks[0]) if stacks else None


def _stack_parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def _template_body(target: Target, region: str, name: str) -> str:
    body = target.client("cloudformation", region).get_template(StackName=name)["TemplateBody"]
    return body if isinstance(body, str) else json.dumps(body)


def _wait_stable(target: Target, region: str, name: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        stack = describe_stack(target, region, name)
        return stack if stack is not None and not stack[STACK_STATUS].endswith("IN_PROGRESS") else None

    outcome = wait_until(
        settled,
        STACK_TIMEOUT_S,
        target.poll_interval_s,
        what=f"stack {name} in {region} to finish",
    )
    if not outcome.ok:
        raise DeployError(f"{outcome.reason}; look at the stack events, then run the deploy again")
    stack: dict[str, Any] = outcome.value  # type: ignore[assignment]
    if stack[STACK_STATUS] not in STABLE:
        raise DeployError(
            f"stack {name} in {region} ended {stack[STACK_STATUS]}: {stack.get('StackStatusReason', 'no reason given')}; "
            "fix the cause, delete the stack if it cannot be updated, and run the deploy again"
        )
    return stack


def _put_object(target: Target, region: str, bucket: str, key: str, body: str) -> str:
    s3 = target.client("s3", region)
    try:
        current = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ClientError as exc:
        if error_code(exc) not in ("NoSuchKey", "404"):
            raise
        current = None
    if current == body:
        return "unchanged"
    call(f"s3.put_object s3://{bucket}/{key}", s3.put_object, Bucket=bucket, Key=key, Body=body.encode("utf-8"))
    return "created" if current is None else "updated"


def _ensure_stack(
    target: Target, region: str, name: str, *, template: dict[str, str], parameters: list[dict[str, Any]],
    tags: dict[str, str], log: ApplyLog, wanted_body: str, wanted_values: dict[str, str],
) -> None:
    cfn = target.client("cloudformation", region)
    stack = describe_stack(target, region, name)
    common = {"Parameters": parameters, "Capabilities": ["CAPABILITY_IAM"],
              "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    if stack is None:
        call(f"cloudformation.create_stack {name} in {region}", cfn.create_stack, StackName=name, **template, **common)
        stack = _wait_stable(target, region, name)
        log.add("cloudformation stack", name, region, "created", stack.get("StackId", ""))
        return
    stack = _wait_stable(target, region, name)
    current = _stack_parameters(stack)
    same = _template_body(target, region, name).strip() == wanted_body.strip() and all(
        current.get(k) == v for k, v in wanted_values.items()
    )
    if same:
        log.add("cloudformation stack", name, region, "unchanged", stack.get("StackId", ""))
        return
    call(f"cloudformation.update_stack {name} in {region}", cfn.update_stack, StackName=name, **template, **common)
    stack = _wait_stable(target, region, name)
    log.add("cloudformation stack", name, region, "updated", stack.get("StackId", ""))


def _primaries(workload: Workload) -> dict[str, Workload]:
    """Each primary stack the DR stacks name, once, seen from the first DR stack that names it."""
    primaries: dict[str, Workload] = {}
    for view in workload.each_dr_stack():
        primaries.setdefault(view.primary_stack, view)
    return primaries


def stack_tags(workload: Workload) -> dict[str, str]:
    """The tags of a DR stack: the workload's, and what the guide's failover tags it with."""
    return {**workload_tags(workload), "Purpose": "DisasterRecovery", "PrimaryRegion": workload.primary_region}


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for view in workload.each_dr_stack():
        _apply_dr_stack(target, view, log)
    for name, view in _primaries(workload).items():
        primary_values = primary_parameters(view)
        _ensure_stack(
            target, workload.primary_region, name,
            template={"TemplateBody": PRIMARY_TEMPLATE},
            parameters=_parameter_list(primary_values),
            tags=workload_tags(workload),
            log=log, wanted_body=PRIMARY_TEMPLATE, wanted_values=primary_values,
        )


def _apply_dr_stack(target: Target, workload: Workload, log: ApplyLog) -> None:
    """The DR stack in focus: its template and parameter file in its templates bucket, then the stack itself."""
    spec = workload.spec.dr_stack
    region = workload.secondary_region
    bucket = workload.templates_bucket
    action = _put_object(target, region, bucket, spec.template_key, DR_TEMPLATE)
    log.add("dr template", f"s3://{bucket}/{spec.template_key}", region, action)
    values = dr_parameters(target, workload)
    parameter_file = _parameter_list({**values, spec.enable_parameter: ENABLE_DEFAULT})
    key = names.dr_parameters_key(workload)
    action = _put_object(target, region, bucket, key, json.dumps(parameter_file, indent=2) + "\n")
    log.add("dr parameter file", f"s3://{bucket}/{key}", region, action)
    exists = describe_stack(target, region, workload.dr_stack) is not None
    # A deploy never turns the DR resources off again: after a failover the stack keeps its value.
    enable = (
        {"ParameterKey": spec.enable_parameter, "UsePreviousValue": True}
        if exists
        else {"ParameterKey": spec.enable_parameter, "ParameterValue": ENABLE_DEFAULT}
    )
    _ensure_stack(
        target, region, workload.dr_stack,
        template={"TemplateURL": names.template_url(workload, region, spec.template_key)},
        parameters=[*_parameter_list(values), enable],
        tags=stack_tags(workload),
        log=log, wanted_body=DR_TEMPLATE, wanted_values=values,
    )


def _object_text(target: Target, region: str, bucket: str, key: str) -> str | None:
    try:
        return str(target.client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
            return None
        raise


def _verify_dr_compute(
    target: Target, workload: Workload, parameters: dict[str, str], resource: str, check: Checker
) -> None:
    """Check that what the stack raises on failover can be raised: subnets, group and roles exist."""
    region = workload.secondary_region
    ec2 = target.client("ec2", region)
    subnet_ids = [s for s in parameters.get("DRSubnetIds", "").split(",") if s]
    zones: list[str] = []
    if subnet_ids:
        try:
            zones = sorted({s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]})
        except ClientError as exc:
            if error_code(exc) != "InvalidSubnetID.NotFound":
                raise
    check.expect(resource, "Parameters.DRSubnetIds (zones)", sorted(names.zones(workload.mirrored_compute(), region)), zones)
    group = parameters.get("DRSecurityGroupId", "")
    try:
        found = bool(group) and bool(ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"])
    except ClientError as exc:
        if error_code(exc) != "InvalidGroup.NotFound":
            raise
        found = False
    check.expect(resource, "Parameters.DRSecurityGroupId", "present", "present" if found else None)
    iam.verify_role(target, parameters.get("BatchServiceRoleArn"), "batch.amazonaws.com", resource,
                    "Parameters.BatchServiceRoleArn", check)
    profile = parameters.get("BatchInstanceProfileArn", "").rsplit("/", 1)[-1]
    check.expect(resource, "Parameters.BatchInstanceProfileArn", "present",
                 "present" if profile and iam.instance_profile_arn(target, profile) else None)


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_dr_stack():
        _verify_dr_stack(target, view, check)
    for name in _primaries(workload):
        primary = describe_stack(target, workload.primary_region, name)
        primary_resource = stack_resource(name, workload.primary_region)
        if primary is None:
            check.missing(primary_resource)
        else:
            check.expect(primary_resource, STACK_STATUS, "CREATE_COMPLETE or UPDATE_COMPLETE",
                         "CREATE_COMPLETE or UPDATE_COMPLETE" if primary[STACK_STATUS] in STABLE else primary[STACK_STATUS])


def _verify_dr_stack(target: Target, workload: Workload, check: Checker) -> None:
    """The DR stack in focus: its template and parameter file, its status, parameters and what it would raise."""
    spec = workload.spec.dr_stack
    region = workload.secondary_region
    resource = stack_resource(workload.dr_stack, region)
    template_text = _object_text(target, region, workload.templates_bucket, spec.template_key)
    template_where = f"s3://{workload.templates_bucket}/{spec.template_key}"
    if template_text is None:
        check.missing(resource, TEMPLATE_OBJECT, template_where)
    parameter_key = names.dr_parameters_key(workload)
    if _object_text(target, region, workload.templates_bucket, parameter_key) is None:
        check.missing(resource, PARAMETER_OBJECT, f"s3://{workload.templates_bucket}/{parameter_key}")
    stack = describe_stack(target, region, workload.dr_stack)
    if stack is None:
        check.missing(resource)
    else:
        check.expect(resource, STACK_STATUS, "CREATE_COMPLETE or UPDATE_COMPLETE",
                     "CREATE_COMPLETE or UPDATE_COMPLETE" if stack[STACK_STATUS] in STABLE else stack[STACK_STATUS])
        parameters = _stack_parameters(stack)
        expected = {
            "ProjectName": workload.spec.project,
            "Environment": names.dr_environment(workload),
            "PrimaryRegion": workload.primary_region,
            "SecondaryRegion": region,
        }
        for key, value in expected.items():
            check.expect(resource, f"Parameters.{key}", value, parameters.get(key))
        check.expect(resource, f"Parameters.{spec.enable_parameter}", "present",
                     "present" if spec.enable_parameter in parameters else None)
        _verify_dr_compute(target, workload, parameters, resource, check)
        if template_text is not None:
            # A failover that recreates the stack from the bucket must get this very stack back.
            same = _template_body(target, region, workload.dr_stack).strip() == template_text.strip()
            check.expect(resource, f"TemplateBody == {template_where}", True, same)
