"""`drharness compare --method inventory|export`: compare at rest, from what S3 and DynamoDB already wrote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from drharness.cli import start_up
from drharness.cli.locations import Clients, S3Location, TableLocation, bucket_region

if TYPE_CHECKING:
    from drharness.instruments.consistency import ConsistencyReport
    from drharness.instruments.consistency.inventory import QueryEngine


@dataclass(frozen=True)
class AthenaOptions:
    output_location: str | None
    workgroup: str | None
    database: str


def _engine(clients: Clients, region: str, athena: AthenaOptions | None, workers: int) -> QueryEngine:
    from drharness.instruments.consistency.inventory import AthenaEngine, DuckDBEngine

    if athena is None:
        return DuckDBEngine(workers=workers)
    assert athena.output_location is not None
    poll = 0.05 if clients.endpoint else 1.0
    return AthenaEngine(clients.client("athena", region), athena.output_location, database=athena.database,
                        workgroup=athena.workgroup, poll_interval_s=poll)


def compare_by_inventory(
    clients: Clients, src: S3Location, rep: S3Location, source_region: str | None, replica_region: str | None,
    *, athena: AthenaOptions | None, inventory_id: str | None, max_listed: int, workers: int,
) -> tuple[ConsistencyReport, tuple[str, str]]:
    """Each bucket's newest complete inventory report, compared with DuckDB here or with Athena."""
    with start_up():
        from drharness.instruments.consistency.inventory import (
            InventorySide,
            compare_inventories,
        )

        src_region = source_region or bucket_region(clients, src, "SOURCE", "--source-region")
        rep_region = replica_region or bucket_region(clients, rep, "REPLICA", "--replica-region")
        sides = (InventorySide(clients.client("s3", src_region), src.bucket, src.prefix, inventory_id),
                 InventorySide(clients.client("s3", rep_region), rep.bucket, rep.prefix, inventory_id))
        engine = _engine(clients, src_region, athena, workers)
    return compare_inventories(*sides, engine, max_listed=max_listed), (src_region, rep_region)


@dataclass(frozen=True)
class ExportOptions:
    source_arn: str | None
    replica_arn: str | None
    export_to: str | None


def compare_by_export(
    clients: Clients, src: TableLocation, rep: TableLocation, exports: ExportOptions, *, max_listed: int,
    workers: int,
) -> tuple[ConsistencyReport, tuple[str, str]]:
    """Both tables' exports (given, or made now to --export-to), compared item by item."""
    with start_up():
        from drharness.instruments.consistency.dynamodb import TableSide, table_key_names
        from drharness.instruments.consistency.export import compare_exports, read_export, start_export, wait_export

        poll = 0.05 if clients.endpoint else 10.0
        key_names = table_key_names(TableSide(clients.client("dynamodb", src.region), src.table, src.region))
        pending = []
        for location, arn in ((src, exports.source_arn), (rep, exports.replica_arn)):
            dynamodb = clients.client("dynamodb", location.region)
            if arn is None:
                assert exports.export_to is not None
                bucket, _, prefix = exports.export_to.removeprefix("s3://").partition("/")
                table_arn = dynamodb.describe_table(TableName=location.table)["Table"]["TableArn"]
                arn = start_export(dynamodb, table_arn, bucket, prefix.rstrip("/"), label=location.text)
            pending.append((dynamodb, arn, location))
        read = []
        for dynamodb, arn, location in pending:
            description = wait_export(dynamodb, arn, label=location.text, poll_interval_s=poll)
            s3 = clients.client("s3", _bucket_region(clients, description["S3Bucket"]))
            read.append((s3, read_export(s3, description)))
    report = compare_exports(read[0], read[1], key_names, max_listed=max_listed, workers=workers,
                             labels=(src.text, rep.text))
    return report, (src.region, rep.region)


def _bucket_region(clients: Clients, bucket: str) -> str:
    return bucket_region(clients, S3Location(f"s3://{bucket}", bucket, ""), "export bucket", "--export-to")
