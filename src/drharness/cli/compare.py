"""`drharness compare`: is a replica (or a restore) the same as its source? Exit 0 equal, 1 differ, 2 error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError

from drharness.cli import start_up
from drharness.errors import ConfigError, MeasurementError

if TYPE_CHECKING:
    from drharness.instruments.consistency import ConsistencyReport

LOCATION_HELP = "s3://BUCKET, s3://BUCKET/PREFIX or dynamodb://REGION/TABLE"
BAD_LOCATION = "{role} {text!r} is not a location: use " + LOCATION_HELP
MIXED_STORES = "cannot compare {source} with {replica}: both sides must be S3 or both DynamoDB"
REGION_UNKNOWN = "cannot find the region of bucket {bucket!r}: {error}; give it with {option}"
NO_SUCH_BUCKET = "bucket {bucket!r} does not exist ({role} {text}); check the name, the account and the endpoint"

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


@dataclass(frozen=True)
class S3Location:
    text: str
    bucket: str
    prefix: str


@dataclass(frozen=True)
class TableLocation:
    text: str
    region: str
    table: str


def parse_location(text: str, role: str) -> S3Location | TableLocation:
    """Read `s3://BUCKET/PREFIX` (prefix optional) or `dynamodb://REGION/TABLE`; `role` names the argument."""
    scheme, sep, rest = text.partition("://")
    if sep and scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if _BUCKET.match(bucket):
            return S3Location(text, bucket, prefix)
    elif sep and scheme == "dynamodb":
        region, _, table = rest.partition("/")
        if _REGION.match(region) and _TABLE.match(table):
            return TableLocation(text, region, table)
    raise ConfigError(BAD_LOCATION.format(role=role, text=text))


class _Clients:
    """Clients for the offline world at `endpoint`, or for AWS through the default boto3 session."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self.target_name = "offline" if endpoint else "aws"
        if endpoint:
            from drharness.target import OfflineTarget

            self._offline: Any = OfflineTarget(endpoint)
        else:
            import boto3

            self._session = boto3.session.Session()

    def client(self, service: str, region: str) -> Any:
        if self.endpoint:
            return self._offline.client(service, region)
        from drharness.target import LIVE_CONFIG

        return self._session.client(service, region_name=region, config=LIVE_CONFIG)


def bucket_region(clients: _Clients, location: S3Location, role: str, option: str) -> str:
    """The bucket's region from GetBucketLocation (None means us-east-1, "EU" eu-west-1)."""
    try:
        answer = clients.client("s3", "us-east-1").get_bucket_location(Bucket=location.bucket)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "NoSuchBucket":
            message = NO_SUCH_BUCKET.format(bucket=location.bucket, role=role, text=location.text)
            raise MeasurementError(message) from exc
        raise MeasurementError(REGION_UNKNOWN.format(bucket=location.bucket, error=error.get("Message", exc),
                                                     option=option)) from exc
    except BotoCoreError as exc:
        raise MeasurementError(REGION_UNKNOWN.format(bucket=location.bucket, error=exc, option=option)) from exc
    constraint = answer.get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


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
) -> None:
    """Compare two S3 prefixes or two DynamoDB tables, each in its own region (exit 0 equal, 1 differ)."""
    src = parse_location(source, "SOURCE")
    rep = parse_location(replica, "REPLICA")
    if type(src) is not type(rep):
        raise ConfigError(MIXED_STORES.format(source=source, replica=replica))
    for option, value in (("--source-region", source_region), ("--replica-region", replica_region)):
        if value is not None and not _REGION.match(value):
            raise ConfigError(f"{option} {value!r} is not a region name (e.g. us-west-2)")
    with start_up():
        clients = _Clients(endpoint)
    if isinstance(src, S3Location) and isinstance(rep, S3Location):
        report, regions = _compare_s3(clients, src, rep, source_region, replica_region, max_listed=max_listed,
                                      workers=workers, page_size=page_size)
    else:
        assert isinstance(src, TableLocation) and isinstance(rep, TableLocation)
        report, regions = _compare_tables(clients, src, rep, max_listed=max_listed, workers=workers,
                                          segments=segments, page_size=page_size)
    render(report, regions=regions, target=clients.target_name)
    if record:
        from drharness.results import ResultSink

        path = ResultSink(source="cli").write(report.to_record(target=clients.target_name))  # type: ignore[arg-type]
        typer.echo(f"record: {path}")
    raise typer.Exit(code=0 if report.equal else 1)


def _compare_s3(
    clients: _Clients, src: S3Location, rep: S3Location, source_region: str | None, replica_region: str | None,
    *, max_listed: int, workers: int, page_size: int | None,
) -> tuple["ConsistencyReport", tuple[str, str]]:
    with start_up():
        from drharness.instruments.consistency.s3 import PAGE_SIZE, BucketSide, compare_buckets

        src_region = source_region or bucket_region(clients, src, "SOURCE", "--source-region")
        rep_region = replica_region or bucket_region(clients, rep, "REPLICA", "--replica-region")
        sides = (BucketSide(clients.client("s3", src_region), src.bucket, src.prefix),
                 BucketSide(clients.client("s3", rep_region), rep.bucket, rep.prefix))
    report = compare_buckets(*sides, max_listed=max_listed, workers=workers,
                             page_size=min(page_size or PAGE_SIZE, PAGE_SIZE))
    return report, (src_region, rep_region)


def _compare_tables(
    clients: _Clients, src: TableLocation, rep: TableLocation,
    *, max_listed: int, workers: int, segments: int, page_size: int | None,
) -> tuple["ConsistencyReport", tuple[str, str]]:
    with start_up():
        from drharness.instruments.consistency.dynamodb import DEFAULT_PAGE_LIMIT, TableSide, compare_tables

        tables = (TableSide(clients.client("dynamodb", src.region), src.table, src.region),
                  TableSide(clients.client("dynamodb", rep.region), rep.table, rep.region))
    report = compare_tables(*tables, max_listed=max_listed, workers=workers, segments=segments,
                            page_limit=page_size or DEFAULT_PAGE_LIMIT)
    return report, (src.region, rep.region)


def _shown(key: str) -> str:
    """A key as printed: verbatim, or quoted when it holds characters a terminal would act on."""
    return key if key.isprintable() else repr(key)


def render(report: "ConsistencyReport", *, regions: tuple[str, str], target: str) -> None:
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
