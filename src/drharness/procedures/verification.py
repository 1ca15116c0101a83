"""Verify a recovery: are the serving bucket and table what they should be?

The reference is the freshest truth available: the primary itself when it answers (replica vs
primary), else the last known source listing (saved while the primary was up). Canary ledgers, when
given, are checked as well: every acknowledged canary must be in the serving copy. Without any
reference the verdict is an error that says so, never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from drharness.config import Workload
from drharness.errors import ProcedureError
from drharness.instruments.canary import CanaryLedger
from drharness.instruments.consistency import (
    BucketSide,
    ConsistencyReport,
    TableSide,
    compare_bucket_to_expected,
    compare_buckets,
    compare_table_to_expected,
    compare_tables,
)
from drharness.instruments.consistency.merge import merge_join
from drharness.instruments.consistency.report import Tally, started_now
from drharness.procedures.health import DEFAULT_TIMEOUT_S, data_plane_probes
from drharness.procedures.listing import SourceListing
from drharness.results import Status
from drharness.target import Target

Reference = Literal["primary", "listing", "ledger", "none"]

NO_REFERENCE = (
    "no reference to verify against: the primary {region} is unreachable ({why}), no source listing was found "
    "and no canary ledger was given; capture listings while the primary is up (drharness capture-listing) "
    "or pass --listing PATH"
)
LISTING_MISMATCH = (
    "source listing {path} was taken from s3://{bucket}/{prefix} and table {table}, not from this workload's "
    "s3://{want_bucket}/{want_prefix} and table {want_table}; pass a listing of this workload"
)


@dataclass(frozen=True)
class Serving:
    """The bucket and table that serve after the recovery."""

    bucket: str
    bucket_region: str
    prefix: str
    table: str
    table_region: str


@dataclass(frozen=True)
class RecoveryVerification:
    """The consistency verdict of a recovery: what it was compared with, and every report."""

    reference: str
    reference_detail: str
    reports: tuple[ConsistencyReport, ...]
    verdict: Status
    reason: str

    @property
    def divergent_count(self) -> int:
        return sum(r.divergent_count for r in self.reports)


def check_listing(listing: SourceListing, workload: Workload) -> None:
    """Refuse a listing taken from another bucket, prefix or table."""
    want = (workload.data_bucket, workload.spec.bucket.replication.prefix, workload.metadata_table)
    if (listing.bucket, listing.prefix, listing.table) != want:
        raise ProcedureError(LISTING_MISMATCH.format(
            path=listing.path, bucket=listing.bucket, prefix=listing.prefix, table=listing.table,
            want_bucket=want[0], want_prefix=want[1], want_table=want[2]))


def _ledger_report(target: Target, ledger: CanaryLedger, serving: Serving) -> ConsistencyReport:
    """Every acknowledged canary of `ledger` against the canaries present in the serving copy."""
    started, start = started_now(), time.monotonic()
    store = ledger.store
    region = serving.bucket_region if store.store == "s3" else serving.table_region
    resource = serving.bucket if store.store == "s3" else serving.table
    client = target.client(store.store, region)
    acked = sorted(store.key(c.seq) for c in ledger.canaries() if c.acknowledged)
    present = sorted(store.key(seq) for seq in set(store.present(client, resource)))

    def keyed(keys: list[str]) -> Iterator[tuple[str, str]]:
        return ((k, "present") for k in keys)

    tally = merge_join(keyed(acked), keyed(present), Tally())
    return tally.report(store="s3" if store.store == "s3" else "dynamodb", source=f"canary ledger {ledger.series}",
                        replica=f"{store.store}://{region}/{resource} (canaries of {ledger.series})", method="merge-join",
                        duration_seconds=time.monotonic() - start, started_at=started)


def verify_serving(
    target: Target,
    workload: Workload,
    serving: Serving,
    *,
    listing: SourceListing | None = None,
    ledgers: Sequence[CanaryLedger] = (),
    primary_timeout_s: float = DEFAULT_TIMEOUT_S,
    observer: Target | None = None,
) -> RecoveryVerification:
    """Compare the serving bucket and table with the primary (if reachable), else the listing; and each ledger.

    `observer`: whose view decides whether the primary is reachable (the workload's role, which a live
    region-outage denies); the comparison itself reads as `target`.
    """
    primary = workload.primary_region
    probes = data_plane_probes(observer or target, workload, primary, primary_timeout_s)
    reports: list[ConsistencyReport] = []
    serving_s3 = BucketSide(target.client("s3", serving.bucket_region), serving.bucket, serving.prefix)
    serving_table = TableSide(target.client("dynamodb", serving.table_region), serving.table, serving.table_region)
    reference: Reference
    if all(p.ok for p in probes):
        reference, detail = "primary", f"the primary {primary}, reachable"
        reports.append(compare_buckets(
            BucketSide(target.client("s3", primary), workload.data_bucket, workload.spec.bucket.replication.prefix),
            serving_s3))
        reports.append(compare_tables(TableSide(target.client("dynamodb", primary), workload.metadata_table, primary),
                                      serving_table))
    elif listing is not None:
        check_listing(listing, workload)
        reference, detail = "listing", listing.describe()
        reports.append(compare_bucket_to_expected(
            serving_s3.client, serving.bucket, listing.objects, prefix=listing.prefix,
            source_label=f"s3://{listing.bucket}/{listing.prefix} as listed {listing.captured_at}"))
        reports.append(compare_table_to_expected(
            serving_table.client, serving.table, listing.items, listing.key_names, attribute_format="typed",
            region=serving.table_region, source_label=f"table {listing.table} as listed {listing.captured_at}"))
    else:
        reference, detail = "none", ""
    for ledger in ledgers:
        reports.append(_ledger_report(target, ledger, serving))
    if reference == "none" and ledgers:
        reference, detail = "ledger", ", ".join(f"canary ledger {ledger.series}" for ledger in ledgers)
    if reference == "none":
        why = "; ".join(p.detail for p in probes if not p.ok)
        return RecoveryVerification("none", "", (), "error", NO_REFERENCE.format(region=primary, why=why))
    diverged = [r for r in reports if not r.equal]
    verdict: Status = "fail" if diverged else "pass"
    reason = "; ".join(r.summary() for r in (diverged or reports))
    return RecoveryVerification(reference, detail, tuple(reports), verdict, f"against {detail}: {reason}")
