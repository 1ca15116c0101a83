"""The recovery steps of the runbook: serve the data, raise every DR stack, enable their services, verify.

Each step is a function of the run's context and the facts of the steps before it, and is safe to
run twice (a resumed run retries the step it stopped in).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.deploy.common import error_code
from drharness.errors import ProcedureError
from drharness.instruments.canary import CanaryLedger
from drharness.procedures.health import call_within
from drharness.procedures.listing import SourceListing, latest_listing
from drharness.procedures.stack import activate_dr_stack, read_dr_stack
from drharness.procedures.steps import StepOutcome
from drharness.procedures.verification import RecoveryVerification, Serving, verify_serving
from drharness.target import Target
from drharness.waiting import wait_until

# Facts the steps leave for the steps after them (and for a resumed run).
SERVING_BUCKET, SERVING_BUCKET_REGION = "serving_bucket", "serving_bucket_region"
SERVING_TABLE, SERVING_TABLE_REGION, TABLE_SOURCE = "serving_table", "serving_table_region", "table_source"
TABLE_RESTORE_POINT = "table_restore_point"  # the time a point-in-time restore holds the table as of
STACK_ACTION, COMPUTE_ENVIRONMENT, JOB_QUEUE = "stack_action", "compute_environment", "job_queue"
STACK_BUCKET, STACK_TABLE = "stack_data_bucket", "stack_table"
CONSISTENCY_VERDICT, CONSISTENCY_REASON = "consistency_verdict", "consistency_reason"

BACKUP_BUCKET_MISSING = (
    "backup bucket {bucket} does not exist in {region}: there is no replica to serve; "
    "check bucket.backup_name in the workload config, or deploy the workload"
)
BACKUP_BUCKET_UNREADABLE = "backup bucket {bucket} in {region} cannot be read: {error}; check the permissions and the endpoint"
BACKUP_BUCKET_EMPTY = (
    "backup bucket {bucket} ({region}) holds no objects under {prefix!r}: replication never delivered data to "
    "serve; check it with `drharness compare` before recovering"
)
TABLE_UNRECOVERABLE = (
    "table {table} has no replica in {secondary}, and point-in-time recovery of it in {primary} cannot be "
    "confirmed ({why}); add {secondary} to table.replica_regions or enable PITR"
)
TABLE_NOT_ACTIVE = "table {table} in {region} did not become ACTIVE: {reason}; look at the table, then resume the run"
NO_STACK_COMPUTE = (
    "DR stack {stack} ({region}) has no {output} output: its DR resources are off; run the infrastructure "
    "step first (drharness recover partial)"
)
NOT_ENABLED = "{what} {name} in {region} did not become VALID and ENABLED: {reason}; look at it, then resume the run"


@dataclass(frozen=True)
class RecoveryContext:
    """What every step of one run needs."""

    target: Target
    workload: Workload
    run_id: str
    kind: str
    stack_timeout_s: float
    services_timeout_s: float
    restore_timeout_s: float
    primary_timeout_s: float
    listing: SourceListing | None
    listing_dir: Path
    ledgers: tuple[CanaryLedger, ...]
    observer: Target | None = None  # whose view of the primary decides whether it answers

    @property
    def interval_s(self) -> float:
        return self.target.poll_interval_s


@contextlib.contextmanager
def _aws(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProcedureError(f"{what} failed: {error.get('Code', '?')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise ProcedureError(f"{what} failed: {exc}; check the endpoint and the network") from exc


def backup_bucket_problem(target: Target, workload: Workload) -> str | None:
    """Why the backup bucket cannot serve (None: it exists and answers)."""
    bucket, region = workload.backup_bucket, workload.secondary_region
    try:
        target.client("s3", region).head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return BACKUP_BUCKET_MISSING.format(bucket=bucket, region=region)
        return BACKUP_BUCKET_UNREADABLE.format(bucket=bucket, region=region, error=exc)
    except BotoCoreError as exc:
        return BACKUP_BUCKET_UNREADABLE.format(bucket=bucket, region=region, error=exc)
    return None


def _table(target: Target, region: str, name: str) -> Mapping[str, Any] | None:
    try:
        return target.client("dynamodb", region).describe_table(TableName=name)["Table"]  # type: ignore[no-any-return]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def table_problem(target: Target, workload: Workload, timeout_s: float) -> str | None:
    """Why the table can be neither promoted nor restored in the secondary region (None: it can)."""
    table, primary, secondary = workload.metadata_table, workload.primary_region, workload.secondary_region
    try:
        if _table(target, secondary, table) is not None:
            return None
        answer = call_within(lambda: target.client("dynamodb", primary).describe_continuous_backups(TableName=table), timeout_s)
        status = answer["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        why = f"its PITR status is {status}"
        if status == "ENABLED":
            return None
    except Exception as exc:  # noqa: BLE001 - unreachable or refused: the restore cannot be confirmed either way
        why = f"{type(exc).__name__}: {exc}"
    return TABLE_UNRECOVERABLE.format(table=table, secondary=secondary, primary=primary, why=why)


def restored_table_name(table: str, run_id: str) -> str:
    """The name a point-in-time restore of `table` gets in this run (the same on every resume)."""
    return f"{table}-dr-{run_id.rsplit('-', 1)[-1]}"


def _wait_table_active(ctx: RecoveryContext, region: str, name: str) -> None:
    outcome = wait_until(lambda: (_table(ctx.target, region, name) or {}).get("TableStatus") == "ACTIVE",
                         ctx.restore_timeout_s, ctx.interval_s, what=f"table {name} in {region} to be ACTIVE",
                         swallow=(ClientError, BotoCoreError))
    if not outcome.ok:
        raise ProcedureError(TABLE_NOT_ACTIVE.format(table=name, region=region, reason=outcome.reason))


def _serve_table(ctx: RecoveryContext) -> tuple[dict[str, str], str]:
    workload, target = ctx.workload, ctx.target
    table, region = workload.metadata_table, workload.secondary_region
    with _aws(f"dynamodb.describe_table {table} ({region})"):
        replica = _table(target, region, table)
    if replica is not None:
        _wait_table_active(ctx, region, table)
        with _aws(f"reading table {table} ({region})"):
            target.client("dynamodb", region).scan(TableName=table, Limit=1)
        return {SERVING_TABLE: table, SERVING_TABLE_REGION: region, TABLE_SOURCE: "replica"}, (
            f"replica table {table} ({region}) is ACTIVE and answers: serving it")
    restored = restored_table_name(table, ctx.run_id)
    with _aws(f"restoring table {table} to {restored} ({region})"):
        if _table(target, region, restored) is None:
            arn = f"arn:aws:dynamodb:{workload.primary_region}:{target.account_id}:table/{table}"
            target.client("dynamodb", region).restore_table_to_point_in_time(
                SourceTableArn=arn, TargetTableName=restored, UseLatestRestorableTime=True)
    _wait_table_active(ctx, region, restored)
    # The latest restorable time trails the present (about five minutes in DynamoDB): what was written
    # after it is not in the restored table, and is part of this recovery's data loss.
    with _aws(f"dynamodb.describe_table {restored} ({region})"):
        summary = (_table(target, region, restored) or {}).get("RestoreSummary") or {}
    point = summary.get("RestoreDateTime")
    shown = point.isoformat() if hasattr(point, "isoformat") else str(point or "unknown")
    return {SERVING_TABLE: restored, SERVING_TABLE_REGION: region, TABLE_SOURCE: "pitr-restore",
            TABLE_RESTORE_POINT: shown}, (
        f"no replica of {table} in {region}: restored its latest restorable time ({shown}) into {restored}, "
        f"serving it; writes after {shown} are not in it")


def recover_data(ctx: RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
    """Serve the replica bucket (it must hold the replicated data) and the replica table, or restore one."""
    workload = ctx.workload
    bucket, region, prefix = workload.backup_bucket, workload.secondary_region, workload.spec.bucket.replication.prefix
    problem = backup_bucket_problem(ctx.target, workload)
    if problem:
        raise ProcedureError(problem)
    with _aws(f"listing s3://{bucket}/{prefix} ({region})"):
        page = ctx.target.client("s3", region).list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    if not page.get("KeyCount"):
        raise ProcedureError(BACKUP_BUCKET_EMPTY.format(bucket=bucket, region=region, prefix=prefix))
    table_facts, table_detail = _serve_table(ctx)
    detail = f"s3://{bucket} ({region}) holds replicated data under {prefix}: serving it; {table_detail}"
    return StepOutcome(detail, {SERVING_BUCKET: bucket, SERVING_BUCKET_REGION: region, **table_facts})


def recover_infrastructure(ctx: RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
    """Switch every DR stack's DR resources on (as the failover does) and note what the first one raised (what
    serves); a stack that cannot be switched on fails the step, and a resumed run finds the others on already."""
    activations = [activate_dr_stack(ctx.target, view, timeout_s=ctx.stack_timeout_s)
                   for view in ctx.workload.each_dr_stack()]
    outputs = read_dr_stack(ctx.target, ctx.workload).outputs
    return StepOutcome("; ".join(activation.detail for activation in activations), {
        STACK_ACTION: activations[0].action,
        COMPUTE_ENVIRONMENT: outputs.get("ComputeEnvironment", ""),
        JOB_QUEUE: outputs.get("JobQueue", ""),
        STACK_BUCKET: outputs.get("DataBucketName", ""),
        STACK_TABLE: outputs.get("MetadataTableName", ""),
    })


def _enable(ctx: RecoveryContext, what: str, name: str, describe: Callable[[], list[dict[str, Any]]],
            update: Callable[[], object]) -> str:
    region = ctx.workload.secondary_region
    with _aws(f"describing {what} {name} ({region})"):
        found = describe()
    if not found:
        raise ProcedureError(f"{what} {name} does not exist in {region}; run the infrastructure step (drharness recover partial)")
    changed = found[0].get("state") != "ENABLED"
    if changed:
        with _aws(f"enabling {what} {name} ({region})"):
            update()

    def ready() -> bool:
        current = describe()
        return bool(current) and current[0].get("state") == "ENABLED" and current[0].get("status") == "VALID"

    outcome = wait_until(ready, ctx.services_timeout_s, ctx.interval_s, what=f"{what} {name} to be VALID and ENABLED",
                         swallow=(ClientError, BotoCoreError))
    if not outcome.ok:
        raise ProcedureError(NOT_ENABLED.format(what=what, name=name, region=region, reason=outcome.reason))
    return f"{what} {name.rsplit('/', 1)[-1]} {'enabled' if changed else 'already ENABLED'}"


def recover_services(ctx: RecoveryContext, facts: Mapping[str, str]) -> StepOutcome:
    """Make every DR stack's Batch compute environment and job queue ENABLED and VALID (the facts keep the first's)."""
    enabled = [_enable_stack_compute(ctx, view) for view in ctx.workload.each_dr_stack()]
    ce, queue, _ = enabled[0]
    return StepOutcome("; ".join(detail for _, _, detail in enabled), {COMPUTE_ENVIRONMENT: ce, JOB_QUEUE: queue})


def _enable_stack_compute(ctx: RecoveryContext, workload: Workload) -> tuple[str, str, str]:
    """One DR stack's compute environment and job queue enabled: (their names, what was done)."""
    view = read_dr_stack(ctx.target, workload)
    batch = ctx.target.client("batch", workload.secondary_region)
    ce, queue = view.outputs.get("ComputeEnvironment", ""), view.outputs.get("JobQueue", "")
    for output, value in (("ComputeEnvironment", ce), ("JobQueue", queue)):
        if not value:
            raise ProcedureError(NO_STACK_COMPUTE.format(stack=view.name, region=view.region, output=output))
    ce_detail = _enable(ctx, "batch compute environment", ce,
                        lambda: batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"],
                        lambda: batch.update_compute_environment(computeEnvironment=ce, state="ENABLED"))
    queue_detail = _enable(ctx, "batch job queue", queue,
                           lambda: batch.describe_job_queues(jobQueues=[queue])["jobQueues"],
                           lambda: batch.update_job_queue(jobQueue=queue, state="ENABLED"))
    return ce, queue, f"{ce_detail}; {queue_detail} ({workload.secondary_region})"


def serving_from(facts: Mapping[str, str], workload: Workload) -> Serving:
    """What serves now: what the data step chose, else what the DR stack points at, else the replicas."""
    secondary = workload.secondary_region
    return Serving(
        bucket=facts.get(SERVING_BUCKET) or facts.get(STACK_BUCKET) or workload.backup_bucket,
        bucket_region=facts.get(SERVING_BUCKET_REGION) or secondary,
        prefix=workload.spec.bucket.replication.prefix,
        table=facts.get(SERVING_TABLE) or facts.get(STACK_TABLE) or workload.metadata_table,
        table_region=facts.get(SERVING_TABLE_REGION) or secondary,
    )


def verify_recovery(ctx: RecoveryContext, facts: Mapping[str, str]) -> RecoveryVerification:
    """The consistency verdict of what serves, against the primary, the last known listing, or the ledgers."""
    listing = ctx.listing or latest_listing(ctx.workload, ctx.listing_dir)
    return verify_serving(ctx.target, ctx.workload, serving_from(facts, ctx.workload), listing=listing,
                          ledgers=ctx.ledgers, primary_timeout_s=ctx.primary_timeout_s, observer=ctx.observer)
