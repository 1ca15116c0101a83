"""Names of the supporting resources the config does not name (roles, network, queues).

They derive from `${project}-${environment}` so two workloads never share one, and so that a
live run finds the same resources an offline deploy made.
"""

from __future__ import annotations

import re

from drharness.config import Workload
from drharness.errors import DeployError

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BACKUP_SELECTION_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,50}$")
IAM_NAME_MAX = 64
SQS_NAME_MAX = 80
DR_PARAMETERS_KEY = "dr-parameters.json"
DR_ENVIRONMENT_SUFFIX = "-dr"
PRIMARY_VPC_CIDR = "10.40.0.0/16"
SECONDARY_VPC_CIDR = "10.41.0.0/16"


def _base(workload: Workload) -> str:
    return f"{workload.spec.project}-{workload.spec.environment}"


def _bounded(name: str, limit: int, what: str) -> str:
    if len(name) > limit:
        raise DeployError(
            f"derived {what} name {name!r} is {len(name)} characters, over AWS's {limit}; "
            "shorten `project` or `environment` in the workload config"
        )
    return name


def replication_role(workload: Workload) -> str:
    return _bounded(f"{_base(workload)}-s3-replication", IAM_NAME_MAX, "IAM role")


def backup_role(workload: Workload) -> str:
    return _bounded(f"{_base(workload)}-backup", IAM_NAME_MAX, "IAM role")


def batch_service_role(workload: Workload) -> str:
    return _bounded(f"{_base(workload)}-batch-service", IAM_NAME_MAX, "IAM role")


def batch_instance_role(workload: Workload) -> str:
    """The Batch instance role; its instance profile has the same name."""
    return _bounded(f"{_base(workload)}-batch-instance", IAM_NAME_MAX, "IAM role")


def vpc(workload: Workload) -> str:
    return f"{_base(workload)}-vpc"


def subnet(workload: Workload, zone: str) -> str:
    return f"{_base(workload)}-{zone}"


def security_group(workload: Workload) -> str:
    return f"{_base(workload)}-batch"


def job_definition(workload: Workload) -> str:
    return f"{_base(workload)}-embedding-job"


def inbox_queue(topic: str) -> str:
    """The SQS queue subscribed to `topic`, where notices can be read back."""
    return _bounded(f"{topic}-inbox", SQS_NAME_MAX, "SQS queue")


def dr_environment(workload: Workload) -> str:
    """The DR stack's `Environment` parameter, as the guide's failover passes it."""
    return f"{workload.spec.environment}{DR_ENVIRONMENT_SUFFIX}"


def zones(workload: Workload, region: str) -> tuple[str, ...]:
    """The configured availability zones of `region` (region name + suffix letter)."""
    return tuple(f"{region}{suffix}" for suffix in workload.spec.compute.availability_zones)


def all_zones(workload: Workload, region: str) -> tuple[str, ...]:
    """Every zone of `region` that some compute environment of the workload uses, in the config's order."""
    return tuple(dict.fromkeys(zone for view in workload.each_compute() for zone in zones(view, region)))


def replica_key_alias(workload: Workload) -> str:
    return workload.name(workload.spec.bucket.replication.replica_kms_key)


def data_key_alias(workload: Workload) -> str:
    return workload.name(workload.spec.table.kms_key)


def template_url(workload: Workload, region: str, key: str) -> str:
    """The HTTPS URL CloudFormation reads a template object from."""
    return f"https://{workload.templates_bucket}.s3.{region}.amazonaws.com/{key}"


def dr_parameters_key(workload: Workload) -> str:
    """The key of the DR stack in focus's parameter file in its templates bucket: `dr-parameters.json` for the
    first DR stack, `<id>-dr-parameters.json` for the others (two stacks may share one templates bucket)."""
    stack = workload.spec.dr_stack
    return DR_PARAMETERS_KEY if stack is workload.spec.dr_stacks[0] else f"{stack.id}-{DR_PARAMETERS_KEY}"


def check_names(workload: Workload) -> None:
    """Refuse, before any call, a config whose names AWS would reject halfway through a deploy."""
    buckets = (
        *((key, name) for i, view in enumerate(workload.each_bucket())
          for key, name in ((workload.config_key("buckets", i, "name"), view.data_bucket),
                            (workload.config_key("buckets", i, "backup_name"), view.backup_bucket))),
        *((workload.config_key("dr_stacks", i, key), getattr(view, key)) for i, view in enumerate(workload.each_dr_stack())
          for key in ("templates_bucket", "config_backup_bucket")),
    )
    for key, name in buckets:
        if not BUCKET_NAME.match(name):
            raise DeployError(
                f"{workload.source}: {key} resolves to {name!r} ({len(name)} characters); S3 bucket names are "
                "3-63 lower-case letters, digits, dots and hyphens; shorten it in the workload config "
                "(e.g. drop a placeholder)"
            )
    selection = workload.name(workload.spec.backup.selection)
    if not BACKUP_SELECTION_NAME.match(selection):
        raise DeployError(
            f"{workload.source}: backup.selection resolves to {selection!r} ({len(selection)} characters); AWS Backup "
            "selection names are 1-50 letters, digits, '-', '_' and '.'; shorten it in the workload config"
        )
    for make in (replication_role, backup_role, batch_service_role, batch_instance_role):
        make(workload)
    for topic in workload.spec.topics:
        inbox_queue(workload.name(topic.name))
