"""`drharness compare`: is a replica (or a restore) the same as its source? Exit 0 equal, 1 differ, 2 error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from drharness.cli import start_up
from drharness.cli.compare_at_rest import (
    WRITES,
    AthenaOptions,
    ExportOptions,
    compare_by_export,
    compare_by_inventory,
    live_clients,
)
from drharness.cli.locations import (  # noqa: F401 - the messages are read from here too
    BAD_LOCATION,
    LOCATION_HELP,
    MIXED_STORES,
    NO_SUCH_BUCKET,
    REGION,
    Clients,
    S3Location,
    TableLocation,
    bucket_region,
    parse_location,
)
from drharness.errors import ConfigError

if TYPE_CHECKING:
    from drharness.instruments.consistency import ConsistencyReport

METHODS = ("listing", "inventory", "export")
METHOD_HELP = ("listing: list (S3) or Scan (DynamoDB) both sides; inventory: S3 only, from each bucket's newest S3 "
               "Inventory report; export: DynamoDB only, from table exports to S3.")
ENGINE_HELP = "inventory: duckdb (in this process) or athena (the query runs in Athena; needs --athena-output)."
LIVE_HELP = ("A compare that writes to an account (Athena tables, new exports) is a live run: also needs "
             "DRHARNESS_LIVE=I-UNDERSTAND, --allow-account and --allow-region; with --endpoint, the world there "
             "stands in for the account.")
ENGINES = ("duckdb", "athena")

def compare(
    source: str = typer.Argument(..., help=f"The source: {LOCATION_HELP}."),
    replica: str = typer.Argument(..., help=f"The replica or restore: {LOCATION_HELP}."),
    source_region: str | None = typer.Option(None, "--source-region", help="S3: the source bucket's region "
                                             "(default: asked with GetBucketLocation)."),
    replica_region: str | None = typer.Option(None, "--replica-region", help="S3: the replica bucket's region "
                                              "(default: asked with GetBucketLocation)."),
    endpoint: str | None = typer.Option(None, "--endpoint", envvar="AWS_ENDPOINT_URL",
                                        help="An offline world's endpoint; without it, real AWS."),
    max_listed: int = typer.Option(20, "--max-listed", min=0, help="List the first N keys of each kind."),
    workers: int = typer.Option(8, "--workers", min=1, help="Listing or scan threads."),
    page_size: int | None = typer.Option(None, "--page-size", min=1,
                                         help="Keys per request: S3 MaxKeys (at most 1000) or DynamoDB Scan "
                                         "Limit (default 1000 for both)."),
    segments: int = typer.Option(4, "--segments", min=1, help="DynamoDB: parallel Scan segments per table."),
    record: bool = typer.Option(False, "--record", help="Also write the result record under reports/."),
    method: str = typer.Option("listing", "--method", help=METHOD_HELP),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    inventory_id: str | None = typer.Option(None, "--inventory-id", help="inventory: the inventory configuration "
                                            "of both buckets (default: each bucket's only one)."),
    athena_output: str | None = typer.Option(None, "--athena-output", help="athena: s3://BUCKET/PREFIX/ for "
                                             "query results, in the source's region."),
    athena_workgroup: str | None = typer.Option(None, "--athena-workgroup", help="athena: the work group."),
    athena_database: str = typer.Option("drharness", "--athena-database", help="athena: the database the "
                                        "compare's temporary tables go in (created if missing)."),
    source_export: str | None = typer.Option(None, "--source-export", help="export: the source's completed "
                                             "export (its ARN); without it, one is made with --export-to."),
    replica_export: str | None = typer.Option(None, "--replica-export", help="export: the replica's completed "
                                              "export (its ARN); without it, one is made with --export-to."),
    export_to: str | None = typer.Option(None, "--export-to", help="export: s3://BUCKET/PREFIX where new exports "
                                         "of both tables (as at one instant, now) are written."),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    allow_account: str | None = typer.Option(None, "--allow-account", help="live: the one account it may write to."),
    allow_region: list[str] = typer.Option([], "--allow-region", help="live: a region it may act in (repeat)."),  # noqa: B008
) -> None:
    """Compare two S3 prefixes or two DynamoDB tables, each in its own region (exit 0 equal, 1 differ)."""
    src = parse_location(source, "SOURCE")
    rep = parse_location(replica, "REPLICA")
    if type(src) is not type(rep):
        raise ConfigError(MIXED_STORES.format(source=source, replica=replica))
    _check_options(method, engine, src, regions=(source_region, replica_region), athena_output=athena_output,
                   exports=(source_export, replica_export, export_to))
    regions = [r for r in (getattr(src, "region", source_region), getattr(rep, "region", replica_region)) if r]
    with start_up():
        clients = _open_clients(endpoint, _writes(method, engine, source_export, replica_export), live=live,
                                allow=(allow_account, allow_region), regions=regions)
    athena = AthenaOptions(athena_output, athena_workgroup, athena_database) if engine == "athena" else None
    report, regions = _measure(clients, src, rep, method, (source_region, replica_region), athena=athena,
                               exports=ExportOptions(source_export, replica_export, export_to),
                               inventory_id=inventory_id, max_listed=max_listed, workers=workers,
                               page_size=page_size, segments=segments)
    render(report, regions=regions, target=clients.target_name)
    if record:
        from drharness.results import ResultSink

        path = ResultSink(source="cli").write(report.to_record(target=clients.target_name))  # type: ignore[arg-type]
        typer.echo(f"record: {path}")
    raise typer.Exit(code=0 if report.equal else 1)


def _open_clients(endpoint: str | None, writes: str, *, live: bool, allow: tuple[str | None, list[str]],
                  regions: list[str]) -> Clients:
    """The compare's clients: through the live gate with --live; refused when it would write to AWS without it."""
    if live:
        return live_clients(endpoint, allow[0], allow[1], regions, writes or "reads only")
    if writes and not endpoint:
        raise ConfigError(WRITES.format(what=writes))
    return Clients(endpoint)


def _writes(method: str, engine: str, source_export: str | None, replica_export: str | None) -> str:
    """What the compare would write to the account it reads, if anything ("" when it only reads)."""
    if method == "inventory" and engine == "athena":
        return "Athena tables and query results"
    if method == "export" and not (source_export and replica_export):
        return "new table exports"
    return ""


def _measure(
    clients: Clients, src: S3Location | TableLocation, rep: S3Location | TableLocation, method: str,
    regions: tuple[str | None, str | None], *, athena: AthenaOptions | None, exports: ExportOptions,
    inventory_id: str | None, max_listed: int, workers: int, page_size: int | None, segments: int,
) -> tuple[ConsistencyReport, tuple[str, str]]:
    """Run the compare `method` names on the two (already checked) locations."""
    if isinstance(src, S3Location) and isinstance(rep, S3Location):
        if method == "inventory":
            return compare_by_inventory(clients, src, rep, *regions, athena=athena, inventory_id=inventory_id,
                                        max_listed=max_listed, workers=workers)
        return _compare_s3(clients, src, rep, *regions, max_listed=max_listed, workers=workers, page_size=page_size)
    assert isinstance(src, TableLocation) and isinstance(rep, TableLocation)
    if method == "export":
        return compare_by_export(clients, src, rep, exports, max_listed=max_listed, workers=workers)
    return _compare_tables(clients, src, rep, max_listed=max_listed, workers=workers, segments=segments,
                           page_size=page_size)


def _check_options(method: str, engine: str, src: S3Location | TableLocation, *,
                   regions: tuple[str | None, str | None], athena_output: str | None,
                   exports: tuple[str | None, str | None, str | None]) -> None:
    for option, value in zip(("--source-region", "--replica-region"), regions):
        if value is not None and not REGION.match(value):
            raise ConfigError(f"{option} {value!r} is not a region name (e.g. us-west-2)")
    if method not in METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    if method == "inventory" and not isinstance(src, S3Location):
        raise ConfigError("--method inventory compares S3 buckets; for DynamoDB tables use --method export")
    if method == "export" and not isinstance(src, TableLocation):
        raise ConfigError("--method export compares DynamoDB tables; for S3 buckets use --method inventory")
    if engine == "athena" and method != "inventory":
        raise ConfigError(f"--engine athena runs the inventory compare's query; --method {method} runs here")
    if engine == "athena" and not (athena_output or "").startswith("s3://"):
        raise ConfigError("--engine athena needs --athena-output s3://BUCKET/PREFIX/ (where Athena writes results)")
    source_export, replica_export, export_to = exports
    if method == "export" and not export_to and not (source_export and replica_export):
        raise ConfigError("--method export needs --source-export and --replica-export (completed exports' ARNs), "
                          "or --export-to s3://BUCKET/PREFIX to export both tables now")


def _compare_s3(
    clients: Clients, src: S3Location, rep: S3Location, source_region: str | None, replica_region: str | None,
    *, max_listed: int, workers: int, page_size: int | None,
) -> tuple[ConsistencyReport, tuple[str, str]]:
    with start_up():
        from drharness.instruments.consistency.s3 import (
            PAGE_SIZE,
            BucketSide,
            compare_buckets,
        )

        src_region = source_region or bucket_region(clients, src, "SOURCE", "--source-region")
        rep_region = replica_region or bucket_region(clients, rep, "REPLICA", "--replica-region")
        sides = (BucketSide(clients.client("s3", src_region), src.bucket, src.prefix),
                 BucketSide(clients.client("s3", rep_region), rep.bucket, rep.prefix))
    report = compare_buckets(*sides, max_listed=max_listed, workers=workers,
                             page_size=min(page_size or PAGE_SIZE, PAGE_SIZE))
    return report, (src_region, rep_region)


def _compare_tables(
    clients: Clients, src: TableLocation, rep: TableLocation,
    *, max_listed: int, workers: int, segments: int, page_size: int | None,
) -> tuple[ConsistencyReport, tuple[str, str]]:
    with start_up():
        from drharness.instruments.consistency.dynamodb import (
            DEFAULT_PAGE_LIMIT,
            TableSide,
            compare_tables,
        )

        tables = (TableSide(clients.client("dynamodb", src.region), src.table, src.region),
                  TableSide(clients.client("dynamodb", rep.region), rep.table, rep.region))
    report = compare_tables(*tables, max_listed=max_listed, workers=workers, segments=segments,
                            page_limit=page_size or DEFAULT_PAGE_LIMIT)
    return report, (src.region, rep.region)


def _shown(key: str) -> str:
    """A key as printed: verbatim, or quoted when it holds characters a terminal would act on."""
    return key if key.isprintable() else repr(key)


def render(report: ConsistencyReport, *, regions: tuple[str, str], target: str) -> None:
    """Print the counts and the first differences of each kind (colour only on a terminal)."""
    def bold(text: str) -> str:
        return typer.style(text, bold=True)

    lines = [f"{bold(report.source)} ({regions[0]}) vs {bold(report.replica)} ({regions[1]})  "
             + typer.style(f"target {target}, {report.method}, {report.duration_seconds:.2f} s", dim=True)]
    columns = ("compared", "source", "replica", "missing", "extra", "differing")
    counts = (report.compared_count, report.source_count, report.replica_count,
              report.missing_count, report.extra_count, report.differing_count)
    widths = [max(len(c), len(str(n))) for c, n in zip(columns, counts)]
    lines.append(bold("  ".join(c.rjust(w) for c, w in zip(columns, widths))))
    lines.append("  ".join(str(n).rjust(w) for n, w in zip(counts, widths)))
    for title, total, keys in (("missing in the replica", report.missing_count, report.first_missing),
                               ("extra in the replica", report.extra_count, report.first_extra)):
        if total:
            lines.append(f"{bold(title)} (first {len(keys)} of {total}):")
            lines.extend(f"  {_shown(key)}" for key in keys)
    if report.differing_count:
        lines.append(f"{bold('differing')} (first {len(report.first_differing)} of {report.differing_count}):")
        for d in report.first_differing:
            lines += [f"  {_shown(d.key)}", f"    source:  {d.source}", f"    replica: {d.replica}"]
    if report.equal:
        lines.append(typer.style("EQUAL", fg="green"))
    else:
        lines.append(f"{typer.style('DIFFERENT', fg='red')}: {report.divergent_count} divergent keys")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.command("compare")(compare)
