"""S3 consistency: a source bucket/prefix against its replica (or against the objects expected there).

Both sides are listed with ListObjectsV2, which returns keys in ascending UTF-8 byte order (the same
order as Python's str comparison), and walked once by a merge-join: memory holds a page per side and
stream, never the bucket. Objects compare by key relative to each side's prefix, size and ETag (a
replica keeps its source's ETag) and, on request, by ChecksumSHA256 where both sides have one (read
with HEAD: listings name the checksum algorithm, not its value). Where the keyspace splits into common
prefixes, each prefix is a shard that is merge-joined in its own thread.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.instruments.consistency.digest import (
    DEFAULT_BUCKETS,
    DigestEntry,
    DigestSide,
    SpooledStream,
    Stream,
    digest_compare,
    hash64,
)
from drharness.instruments.consistency.merge import merge_join
from drharness.instruments.consistency.report import DEFAULT_MAX_LISTED, ConsistencyReport, Tally, started_now
from drharness.instruments.consistency.s3_listing import (  # noqa: F401 - the parsers are read from here too
    _LEAN_FIELD,
    ListedObject,
    _install_lean_hook,
    _lean_listing,
    _parse_listing,
    _parse_listing_tree,
)

if TYPE_CHECKING:
    from drharness.target import Target

PAGE_SIZE = 1000  # ListObjectsV2's own maximum
DEFAULT_WORKERS = 8
DISCOVERY_PAGES = 2  # a level with more entries than this is listed as one stream, not split
DISCOVERY_DEPTH = 3

NO_SUCH_BUCKET = "bucket {bucket!r} does not exist ({label}); check the name, the account and the endpoint"
LISTING_FAILED = "listing {label} failed: {code}: {message}"
UNREACHABLE = "cannot reach S3 for {label}: {error}; check the endpoint or the network"
EXPECTED_OUTSIDE_PREFIX = "expected key {key!r} is outside the compared prefix {prefix!r}"
EXPECTED_LACKS_FIELD = (
    "expected object {key!r} has no {field}; give it one or compare keys only with fields=()"
)


class ObjectFingerprint(NamedTuple):
    """What identifies an object's content in a listing. `key` is the full key (for a checksum HEAD)."""

    size: int
    etag: str
    checksum_sha256: str | None = None
    sha256_listed: bool = False
    key: str = ""

    def matches(self, other: "ObjectFingerprint") -> bool:
        if self.size != other.size or self.etag != other.etag:
            return False
        if self.checksum_sha256 and other.checksum_sha256:
            return self.checksum_sha256 == other.checksum_sha256
        return True

    def describe(self) -> str:
        text = f"size={self.size} etag={self.etag}"
        return f"{text} sha256={self.checksum_sha256}" if self.checksum_sha256 else text


class ExpectedObject(NamedTuple):
    """An object a bucket should hold (e.g. from a canary ledger); None fields are not compared."""

    key: str
    size: int | None = None
    etag: str | None = None


@dataclass(frozen=True)
class BucketSide:
    """One side of a comparison: a client in the bucket's region, the bucket and a key prefix."""

    client: Any
    bucket: str
    prefix: str = ""

    @classmethod
    def of(cls, target: Target, region: str, bucket: str, prefix: str = "") -> "BucketSide":
        """The side `bucket` (in `region`) under `prefix`, with the target's client for that region."""
        return cls(target.client("s3", region), bucket, prefix)

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class Shard:
    """A part of the keyspace: keys under `prefix` (relative), or with `loose_only` the keys directly
    at that level (no delimiter after it); `after`/`upto` bound a range shard (exclusive/inclusive)."""

    prefix: str = ""
    loose_only: bool = False
    after: str | None = None
    upto: str | None = None


@contextlib.contextmanager
def _s3_errors(side: BucketSide) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if code in ("NoSuchBucket", "404"):
            raise MeasurementError(NO_SUCH_BUCKET.format(bucket=side.bucket, label=side.label)) from exc
        raise MeasurementError(
            LISTING_FAILED.format(label=side.label, code=code, message=error.get("Message", exc))
        ) from exc
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(label=side.label, error=exc)) from exc


def _etag(raw: str) -> str:
    return raw.strip('"')



def _list_page(side: BucketSide, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[ListedObject]]:
    _install_lean_hook(side.client)
    with _lean_listing(), _s3_errors(side):
        page = side.client.list_objects_v2(**kwargs)
    objects = page.pop(_LEAN_FIELD, None)
    if objects is None:  # a client without botocore's event system (or the hook did not run)
        objects = [(o["Key"], o["Size"], _etag(o.get("ETag", "")), "SHA256" in o.get("ChecksumAlgorithm", ()))
                   for o in page.get("Contents", ())]
    return page, objects


def list_shard(
    side: BucketSide, shard: Shard = Shard(), *, delimiter: str = "/", page_size: int = PAGE_SIZE
) -> Iterator[tuple[str, ObjectFingerprint]]:
    """Yield (key relative to the side's prefix, fingerprint) for one shard, ascending, a page at a time."""
    base = side.prefix
    kwargs: dict[str, Any] = {"Bucket": side.bucket, "Prefix": base + shard.prefix, "MaxKeys": page_size}
    if shard.loose_only:
        kwargs["Delimiter"] = delimiter
    if shard.after is not None:
        kwargs["StartAfter"] = base + shard.after
    cut, upto = len(base), shard.upto
    while True:
        page, objects = _list_page(side, kwargs)
        entries = [(key[cut:], ObjectFingerprint(size, etag, None, sha256_listed, key))
                   for key, size, etag, sha256_listed in objects]
        del objects  # one list per page in flight, not two
        if upto is not None and entries and entries[-1][0] > upto:
            yield from itertools.takewhile(lambda entry: entry[0] <= upto, entries)
            return
        yield from entries  # a page at a time, with no Python loop per key
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _level(side: BucketSide, rel: str, delimiter: str, page_size: int) -> tuple[set[str], bool, bool]:
    """Common prefixes (relative) and whether loose keys exist at one level; False when not fully read."""
    prefixes: set[str] = set()
    loose = False
    kwargs: dict[str, Any] = {"Bucket": side.bucket, "Prefix": side.prefix + rel, "Delimiter": delimiter,
                              "MaxKeys": page_size}
    cut = len(side.prefix)
    for _ in range(DISCOVERY_PAGES):
        page, objects = _list_page(side, kwargs)
        prefixes.update(p["Prefix"][cut:] for p in page.get("CommonPrefixes", ()))
        loose = loose or bool(objects)
        if not page.get("IsTruncated"):
            return prefixes, loose, True
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    return prefixes, loose, False


def plan_shards(
    sides: Sequence[BucketSide],
    *,
    delimiter: str = "/",
    shard_prefixes: Sequence[str] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Shard]:
    """Split the keyspace into shards that together cover every key of every side exactly once.

    With `shard_prefixes` (relative keys), they are range boundaries. Otherwise the common prefixes
    under the delimiter, found on all sides, are the shards (descending while one prefix holds
    everything); a level too large to read in a couple of pages stays one shard.
    """
    if shard_prefixes:
        bounds = sorted(set(shard_prefixes))
        edges: list[str | None] = [None, *bounds, None]
        return [Shard(after=edges[i], upto=edges[i + 1]) for i in range(len(edges) - 1)]
    rel = ""
    for depth in range(DISCOVERY_DEPTH + 1):
        levels = [_level(side, rel, delimiter, page_size) for side in sides]
        if not all(complete for _, _, complete in levels):
            return [Shard(prefix=rel)]
        prefixes = sorted(set().union(*(found for found, _, _ in levels)))
        loose = any(has_loose for _, has_loose, _ in levels)
        if not loose and len(prefixes) == 1 and depth < DISCOVERY_DEPTH:
            rel = prefixes[0]
            continue
        shards = [Shard(prefix=p) for p in prefixes]
        if loose or not shards:
            shards.append(Shard(prefix=rel, loose_only=True))
        return shards
    return [Shard(prefix=rel)]


def _run_shards(shards: list[Shard], job: Callable[[Shard], Tally], workers: int, max_listed: int) -> Tally:
    total = Tally(max_listed)
    if workers <= 1 or len(shards) == 1:
        for shard in shards:
            total.absorb(job(shard))
        return total
    with ThreadPoolExecutor(max_workers=min(workers, len(shards)), thread_name_prefix="drharness-s3") as pool:
        for tally in pool.map(job, shards):
            total.absorb(tally)
    return total


def _head_checksum(side: BucketSide, key: str) -> str | None:
    with _s3_errors(side):
        head = side.client.head_object(Bucket=side.bucket, Key=key, ChecksumMode="ENABLED")
    return head.get("ChecksumSHA256")


def compare_buckets(
    source: BucketSide,
    replica: BucketSide,
    *,
    max_listed: int = DEFAULT_MAX_LISTED,
    workers: int = DEFAULT_WORKERS,
    page_size: int = PAGE_SIZE,
    delimiter: str = "/",
    shard_prefixes: Sequence[str] | None = None,
    verify_checksums: bool = False,
) -> ConsistencyReport:
    """Compare every object under the source prefix with the replica prefix, streaming both listings.

    `verify_checksums` reads ChecksumSHA256 with a HEAD on both sides for keys whose size and ETag
    agree and that both list a SHA256 checksum (listings name the algorithm, not the value).
    """
    started, start = started_now(), time.monotonic()
    shards = plan_shards((source, replica), delimiter=delimiter, shard_prefixes=shard_prefixes, page_size=page_size)

    def same(a: ObjectFingerprint, b: ObjectFingerprint) -> bool:
        if not a.matches(b):
            return False
        if verify_checksums and a.sha256_listed and b.sha256_listed and not (a.checksum_sha256 and b.checksum_sha256):
            return _head_checksum(source, a.key) == _head_checksum(replica, b.key)
        return True

    def job(shard: Shard) -> Tally:
        return merge_join(
            list_shard(source, shard, delimiter=delimiter, page_size=page_size),
            list_shard(replica, shard, delimiter=delimiter, page_size=page_size),
            Tally(max_listed),
            same=same,
            describe=ObjectFingerprint.describe,
        )

    tally = _run_shards(shards, job, workers, max_listed)
    return tally.report(store="s3", source=source.label, replica=replica.label, method="merge-join",
                        duration_seconds=time.monotonic() - start, started_at=started)


def _fields_hash(key: str, size: int | None, etag: str | None) -> int:
    return hash64(json.dumps([key, size, etag], ensure_ascii=False).encode())


def _describe(size: int | None, etag: str | None) -> str:
    parts = ([f"size={size}"] if size is not None else []) + ([f"etag={etag}"] if etag is not None else [])
    return " ".join(parts) or "present"


def _compared_fields(fields: Sequence[str]) -> tuple[bool, bool]:
    """Whether size and whether ETag are compared; any other field name is an error."""
    unknown = set(fields) - {"size", "etag"}
    if unknown:
        raise MeasurementError(f"unknown field(s) {sorted(unknown)} to compare; use 'size' and/or 'etag'")
    return "size" in fields, "etag" in fields


def _entry(key: str, size: int | None, etag: str | None, detailed: bool) -> DigestEntry:
    return DigestEntry(key, hash64(key.encode()), _fields_hash(key, size, etag), _describe(size, etag) if detailed else "")


def _expected_entries(items: Iterable[ExpectedObject | str], prefix: str, use_size: bool, use_etag: bool,
                      detailed: bool) -> Iterator[DigestEntry]:
    for item in items:
        obj = ExpectedObject(item) if isinstance(item, str) else item
        if not obj.key.startswith(prefix):
            raise MeasurementError(EXPECTED_OUTSIDE_PREFIX.format(key=obj.key, prefix=prefix))
        for name, used, value in (("size", use_size, obj.size), ("etag", use_etag, obj.etag)):
            if used and value is None:
                raise MeasurementError(EXPECTED_LACKS_FIELD.format(key=obj.key, field=name))
        size = obj.size if use_size else None
        etag = _etag(obj.etag) if use_etag and obj.etag is not None else None
        yield _entry(obj.key, size, etag, detailed)


def _expected_stream(
    expected: Iterable[ExpectedObject | str] | Callable[[], Iterable[ExpectedObject | str]],
    entries: Callable[[bool, Iterable[ExpectedObject | str]], Iterator[DigestEntry]],
) -> Stream:
    """The expected objects as a stream that can be read twice, however they were given."""
    if callable(expected):
        factory = expected
        return lambda detailed: entries(detailed, factory())
    if iter(expected) is expected:  # a one-shot iterator: replay it from disk
        return SpooledStream(entries(True, expected))
    items = expected
    return lambda detailed: entries(detailed, items)


def compare_bucket_to_expected(
    client: Any,
    bucket: str,
    expected: Iterable[ExpectedObject | str] | Callable[[], Iterable[ExpectedObject | str]],
    *,
    prefix: str = "",
    fields: Sequence[str] = ("size", "etag"),
    max_listed: int = DEFAULT_MAX_LISTED,
    page_size: int = PAGE_SIZE,
    buckets: int = DEFAULT_BUCKETS,
    workers: int = DEFAULT_WORKERS,
    source_label: str = "expected",
) -> ConsistencyReport:
    """Compare a bucket (under `prefix`) with the objects expected in it, in any order, in bounded memory.

    `expected` yields full keys (plain strings when `fields=()`) or ExpectedObject; it may be a list, a
    generator (spooled to a temporary file for the second pass) or a function returning a fresh iterable.
    Missing keys are expected and absent; extra keys are present and not expected.
    """
    started, start = started_now(), time.monotonic()
    use_size, use_etag = _compared_fields(fields)
    side = BucketSide(client, bucket, prefix)

    def expected_entries(detailed: bool, items: Iterable[ExpectedObject | str]) -> Iterator[DigestEntry]:
        return _expected_entries(items, prefix, use_size, use_etag, detailed)

    def actual_entries(detailed: bool) -> Iterator[DigestEntry]:
        for _, fp in list_shard(side, page_size=page_size):
            yield _entry(fp.key, fp.size if use_size else None, fp.etag if use_etag else None, detailed)

    tally = digest_compare(
        DigestSide(source_label, [_expected_stream(expected, expected_entries)]),
        DigestSide(side.label, [actual_entries]),
        max_listed=max_listed,
        buckets=buckets,
        workers=workers,
    )
    return tally.report(store="s3", source=source_label, replica=side.label, method="bucket-digest",
                        duration_seconds=time.monotonic() - start, started_at=started)
