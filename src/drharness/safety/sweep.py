"""Sweep what tests leave behind: resources tagged `drharness:test-resource=true` and canary writes.

A restore test creates tables, buckets, stacks and file systems and tags them as test resources
(instruments/restore.py); canary ledgers write objects under `embeddings/_canary/` of the data bucket
(and its replica) and items in `canary#...` partitions of the metadata table (instruments/canary.py).
A run that finishes cleans up after itself; a killed one does not, and `drharness sweep` does:

    drharness sweep --endpoint http://127.0.0.1:4566 --dry-run    # list only
    drharness sweep --endpoint http://127.0.0.1:4566

Nothing untagged is ever deleted, except the canary writes, which live only under their own prefix
and partitions. Every item is attempted even when another fails; the report says which failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.instruments.canary import DEFAULT_S3_PREFIX
from drharness.instruments.restore import TEST_TAG_KEY, TEST_TAG_VALUE
from drharness.target import Target

CANARY_PARTITION_PREFIX = "canary#"  # DynamoDBCanaryStore partitions are canary#<series>

Action = Literal["deleted", "would delete", "failed"]


@dataclass(frozen=True)
class SweptItem:
    """One leftover: what it is, where, and what the sweep did with it."""

    kind: str
    name: str
    region: str
    action: Action
    detail: str = ""

    def describe(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.action} {self.kind} {self.name} ({self.region}){tail}"


@dataclass(frozen=True)
class SweepReport:
    """What a sweep found and did."""

    dry_run: bool
    items: tuple[SweptItem, ...] = field(default_factory=tuple)

    @property
    def deleted(self) -> tuple[SweptItem, ...]:
        return tuple(i for i in self.items if i.action == "deleted")

    @property
    def failed(self) -> tuple[SweptItem, ...]:
        return tuple(i for i in self.items if i.action == "failed")

    @property
    def found(self) -> int:
        return len(self.items)

    def summary(self) -> str:
        if not self.items:
            return "nothing to sweep: no test resource and no canary write left"
        if self.dry_run:
            return f"dry run: {self.found} leftover(s) would be deleted"
        tail = f", {len(self.failed)} failed (run the sweep again, or delete them by hand)" if self.failed else ""
        return f"swept {len(self.deleted)} of {self.found} leftover(s){tail}"


def _tagged(tags: list[dict[str, str]] | None) -> bool:
    return any(t.get("Key") == TEST_TAG_KEY and t.get("Value") == TEST_TAG_VALUE for t in tags or [])


def _code(exc: BaseException) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


class _Sweeper:
    def __init__(self, target: Target, workload: Workload, dry_run: bool) -> None:
        self.target = target
        self.workload = workload
        self.dry_run = dry_run
        self.items: list[SweptItem] = []

    def act(self, kind: str, name: str, region: str, delete: Callable[[], object]) -> None:
        """Delete one leftover (unless this is a dry run); a string `delete` returns is the item's detail."""
        if self.dry_run:
            self.items.append(SweptItem(kind, name, region, "would delete"))
            return
        try:
            answer = delete()
            detail = answer if isinstance(answer, str) else ""
        except (ClientError, BotoCoreError) as exc:
            self.items.append(SweptItem(kind, name, region, "failed", f"{type(exc).__name__}: {exc}"))
        else:
            self.items.append(SweptItem(kind, name, region, "deleted", detail))

    def listing(self, kind: str, region: str, read: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Read a listing; a listing that fails is reported as a failed item rather than ending the sweep."""
        try:
            yield from read()
        except (ClientError, BotoCoreError) as exc:
            self.items.append(SweptItem(kind, "(listing)", region, "failed", f"{type(exc).__name__}: {exc}"))

    # -- tagged resources ------------------------------------------------------------------------

    def tables(self, region: str) -> None:
        dynamodb = self.target.client("dynamodb", region)

        def read() -> Iterator[str]:
            for page in dynamodb.get_paginator("list_tables").paginate():
                yield from page.get("TableNames", [])

        for name in list(self.listing("dynamodb table", region, read)):
            arn = f"arn:aws:dynamodb:{region}:{self.target.account_id}:table/{name}"
            try:
                tags = dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
            except (ClientError, BotoCoreError):
                continue  # gone meanwhile, or not ours to read
            if _tagged(tags):
                self.act("dynamodb table", name, region, lambda n=name: dynamodb.delete_table(TableName=n))

    def stacks(self, region: str) -> None:
        cloudformation = self.target.client("cloudformation", region)

        def read() -> Iterator[dict[str, Any]]:
            for page in cloudformation.get_paginator("describe_stacks").paginate():
                yield from page.get("Stacks", [])

        for stack in list(self.listing("cloudformation stack", region, read)):
            if stack.get("StackStatus") == "DELETE_COMPLETE" or not _tagged(stack.get("Tags")):
                continue
            name = stack["StackName"]
            self.act("cloudformation stack", name, region, lambda n=name: cloudformation.delete_stack(StackName=n))

    def file_systems(self, region: str) -> None:
        fsx = self.target.client("fsx", region)

        def read() -> Iterator[dict[str, Any]]:
            for page in fsx.get_paginator("describe_file_systems").paginate():
                yield from page.get("FileSystems", [])

        for system in list(self.listing("fsx file system", region, read)):
            if system.get("Lifecycle") == "DELETING" or not _tagged(system.get("Tags")):
                continue
            fs_id = system["FileSystemId"]
            self.act("fsx file system", fs_id, region, lambda i=fs_id: fsx.delete_file_system(FileSystemId=i))

    def buckets(self, region: str) -> None:
        """Tagged buckets: S3 lists every bucket from any region; each is emptied and deleted in its own."""
        s3 = self.target.client("s3", region)

        def read() -> Iterator[str]:
            yield from (b["Name"] for b in s3.list_buckets().get("Buckets", []))

        for name in list(self.listing("s3 bucket", region, read)):
            try:
                tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
            except (ClientError, BotoCoreError):
                continue  # NoSuchTagSet: untagged, not ours
            if not _tagged(tags):
                continue
            home = self.bucket_region(name, region)
            self.act("s3 bucket", name, home, lambda n=name, r=home: self.delete_bucket(n, r))

    def bucket_region(self, bucket: str, fallback: str) -> str:
        try:
            location = self.target.client("s3", fallback).get_bucket_location(Bucket=bucket).get("LocationConstraint")
        except (ClientError, BotoCoreError):
            return fallback
        return location or "us-east-1"

    def delete_bucket(self, bucket: str, region: str) -> str:
        s3 = self.target.client("s3", region)
        removed = self.delete_versions(s3, bucket, "")
        s3.delete_bucket(Bucket=bucket)
        return f"{removed} object version(s) removed first" if removed else ""

    @staticmethod
    def delete_versions(s3: Any, bucket: str, prefix: str) -> int:
        """Delete every version and delete marker under `prefix` for good (no marker is left to replicate)."""
        removed = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))]
            for start in range(0, len(batch), 1000):  # DeleteObjects takes at most 1000 keys
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start:start + 1000], "Quiet": True})
            removed += len(batch)
        return removed

    # -- canary writes ---------------------------------------------------------------------------

    def canary_objects(self, bucket: str, region: str, prefix: str) -> None:
        s3 = self.target.client("s3", region)
        try:
            page = s3.list_object_versions(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except ClientError as exc:
            if _code(exc) in ("NoSuchBucket", "AccessDenied"):
                return  # not deployed here: nothing of ours can be in it
            self.items.append(SweptItem("canary objects", f"s3://{bucket}/{prefix}", region, "failed", str(exc)))
            return
        except BotoCoreError as exc:
            self.items.append(SweptItem("canary objects", f"s3://{bucket}/{prefix}", region, "failed", str(exc)))
            return
        if not (page.get("Versions") or page.get("DeleteMarkers")):
            return
        self.act("canary objects", f"s3://{bucket}/{prefix}", region,
                 lambda: f"{self.delete_versions(s3, bucket, prefix)} object version(s)")

    def canary_items(self, table: str, region: str) -> None:
        dynamodb = self.target.client("dynamodb", region)
        spec = self.workload.spec.table
        keys = [spec.hash_key] + ([spec.range_key] if spec.range_key else [])
        names = {f"#k{i}": key for i, key in enumerate(keys)}

        def read() -> Iterator[dict[str, Any]]:
            paginator = dynamodb.get_paginator("scan")
            for page in paginator.paginate(
                TableName=table, FilterExpression="begins_with(#k0, :p)", ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names, ExpressionAttributeValues={":p": {"S": CANARY_PARTITION_PREFIX}},
            ):
                yield from page.get("Items", [])

        try:
            dynamodb.describe_table(TableName=table)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return
        except BotoCoreError:
            pass  # the listing below reports it
        items = list(self.listing("canary items", region, read))
        if not items:
            return

        def delete() -> str:
            for item in items:
                dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys if k in item})
            return f"{len(items)} item(s)"

        self.act("canary items", f"{table} {CANARY_PARTITION_PREFIX}*", region, delete)


def sweep(
    target: Target, workload: Workload, *, dry_run: bool = False, regions: tuple[str, ...] | None = None,
    canary_prefix: str = DEFAULT_S3_PREFIX,
) -> SweepReport:
    """Find every tagged test resource and canary write of the workload's regions; delete them unless `dry_run`."""
    sweeper = _Sweeper(target, workload, dry_run)
    chosen = regions or tuple(dict.fromkeys((*workload.regions, *workload.table_replica_regions)))
    for region in chosen:
        sweeper.tables(region)
        sweeper.stacks(region)
        sweeper.file_systems(region)
    sweeper.buckets(chosen[0])
    sweeper.canary_objects(workload.data_bucket, workload.primary_region, canary_prefix)
    sweeper.canary_objects(workload.backup_bucket, workload.secondary_region, canary_prefix)
    for region in dict.fromkeys((workload.primary_region, *workload.table_replica_regions)):
        sweeper.canary_items(workload.metadata_table, region)
    return SweepReport(dry_run, tuple(sweeper.items))
