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


WRITES = ("an at-rest compare that writes to the account ({what}) is a live run: pass --live with "
          "--allow-account ID and --allow-region for each region it touches (two at least: the source's and the "
          "replica's), and set DRHARNESS_LIVE=I-UNDERSTAND")


def live_clients(endpoint: str | None, allow_account: str | None, allow_regions: list[str], regions: list[str],
                 what: str) -> Clients:
    """Clients from a target that passed the live gate: opt-in, STS first, account and regions allowlisted."""
    from drharness.cli.live_gate import open_gated_target
    from drharness.errors import ConfigError, SafetyError

    allowed = list(dict.fromkeys(allow_regions))
    if not allow_account or len(allowed) < 2:
        raise ConfigError(WRITES.format(what=what))
    outside = sorted(set(regions) - set(allowed))
    if outside:
        raise SafetyError(f"the compare touches {', '.join(outside)}, which --allow-region does not allow; allow it "
                          "or compare other locations")
    primary = regions[0] if regions else allowed[0]
    secondary = next(r for r in allowed if r != primary)
    target = open_gated_target(endpoint, allow_account, primary, secondary, allowed, "drharness compare",
                               "the compare writes only to the account it is given")
    return Clients(endpoint, target=target, allowed_regions=tuple(allowed))


def _engine(clients: Clients, region: str, athena: AthenaOptions | None, workers: int) -> QueryEngine:
    from drharness.instruments.consistency.inventory import AthenaEngine, DuckDBEngine

    if athena is None:
        return DuckDBEngine(workers=workers)
    assert athena.output_location is not None
    poll = 0.05 if clients.polls_fast else 1.0
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
        for region, what in ((src_region, src.text), (rep_region, rep.text)):
            clients.check_region(region, what)
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
        from drharness.instruments.consistency.dynamodb import (
            TableSide,
            table_key_names,
        )
        from drharness.instruments.consistency.export import (
            compare_exports,
            read_export,
            start_export,
            wait_export,
        )

        poll = 0.05 if clients.polls_fast else 10.0
        key_names = table_key_names(TableSide(clients.client("dynamodb", src.region), src.table, src.region))
        pending = []
        for location, arn in ((src, exports.source_arn), (rep, exports.replica_arn)):
            dynamodb = clients.client("dynamodb", location.region)
            clients.check_region(location.region, location.text)
            if arn is None:
                assert exports.export_to is not None
                bucket, _, prefix = exports.export_to.removeprefix("s3://").partition("/")
                table_arn = dynamodb.describe_table(TableName=location.table)["Table"]["TableArn"]
                arn = start_export(dynamodb, table_arn, bucket, prefix.rstrip("/"), label=location.text)
            pending.append((dynamodb, arn, location))
        read = []
        for dynamodb, arn, location in pending:
            description = wait_export(dynamodb, arn, label=location.text, poll_interval_s=poll)
            export_region = _bucket_region(clients, description["S3Bucket"])
            clients.check_region(export_region, f"export bucket {description['S3Bucket']}")
            s3 = clients.client("s3", export_region)
            read.append((s3, read_export(s3, description)))
    report = compare_exports(read[0], read[1], key_names, max_listed=max_listed, workers=workers,
                             labels=(src.text, rep.text))
    return report, (src.region, rep.region)


def _bucket_region(clients: Clients, bucket: str) -> str:
    return bucket_region(clients, S3Location(f"s3://{bucket}", bucket, ""), "export bucket", "--export-to")
