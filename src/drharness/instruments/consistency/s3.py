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
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore import handlers as botocore_handlers
from botocore.compat import unquote_str
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


# botocore's generic parser costs about 0.2 ms of CPU per listed object (most of it parsing LastModified
# with dateutil), and its check for an error inside a 200 answer parses every S3 page once more before
# that. A large comparison would be CPU-bound in the client. So our own listing calls take the Contents
# out of the raw page first (`_parse_listing`), in one handler that runs ahead of botocore's (and then
# calls botocore's 200 check on what is left), and hand botocore a page without them. The flag is per
# thread, so other callers of the same client get botocore's full parse as usual.
_LEAN = threading.local()
_BEFORE_PARSE = "before-parse.s3.*"
_LEAN_UNIQUE_ID = "drharness-lean-listing"
_LEAN_FIELD = "DrharnessObjects"
# The tree fallback holds one page's element tree at a time: parsing holds the GIL anyway, and
# concurrent trees (about 1 MiB per 1000 objects) would make peak memory depend on thread timing.
_PARSE_LOCK = threading.Lock()
_INSTALL_LOCK = threading.Lock()

ListedObject = tuple[str, int, str, bool]  # key, size, ETag without quotes, a SHA256 checksum listed


_CONTENTS_TAG = re.compile(rb"<(?:[\w.-]+:)?Contents[\s/>]")  # any Contents element, as S3 writes it or not


class _Unusual(Exception):
    """A page laid out differently from S3's own (whitespace, other prefixes): parse it as a tree."""


_XML_REFERENCE = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9A-Fa-f]+));")
_XML_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _xml_reference(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    return _XML_ENTITIES[name] if name else chr(int(decimal) if decimal else int(hexadecimal, 16))


def _xml_text(text: str) -> str:
    """XML character data as text: S3 writes &quot; around ETags, &amp; and &#13; in keys; a literal
    carriage return reads as a line feed, as in every XML parser."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" not in text:
        return text
    if "&" in _XML_REFERENCE.sub("", text):
        raise _Unusual  # not well-formed: let the XML parser say so
    return _XML_REFERENCE.sub(_xml_reference, text)


# One listed object as S3 writes it (moto writes the same, without the optional elements). No `<` is
# literal in XML text, so each match is exactly one element and cannot run into the next.
_S3_CONTENTS = re.compile(
    r"<Contents><Key>([^<]*)</Key><LastModified>[^<]*</LastModified><ETag>([^<]*)</ETag>"
    r"((?:<ChecksumAlgorithm>[^<]*</ChecksumAlgorithm>)*)(?:<ChecksumType>[^<]*</ChecksumType>)?"
    r"<Size>([0-9]+)</Size>.*?</Contents>",
    re.S,
)


def _scan_contents(region: str, encoded: bool) -> list[ListedObject]:
    """The objects of a run of adjacent `<Contents>` elements in S3's own layout (about 0.6 µs each)."""
    count = region.count("<Contents>")
    rows = _S3_CONTENTS.findall(region)
    if len(rows) != count or region.count("</Contents><Contents>") != count - 1:
        raise _Unusual  # an element laid out otherwise, or something between two of them
    objects: list[ListedObject] = []
    for key, etag, algorithms, size in rows:
        if "&" in key or "\r" in key:
            key = _xml_text(key)
        if encoded and ("%" in key or "+" in key):
            key = unquote_str(key)
        if "&" in etag or "\r" in etag:
            etag = _xml_text(etag)
        objects.append((key, int(size), etag.strip('"'), ">SHA256<" in algorithms))
    return objects


def _parse_listing(body: bytes) -> tuple[list[ListedObject], bytes]:
    """(key, size, ETag, SHA256 listed) of each listed object, and the page without its Contents.

    S3 writes the Contents of a page one after the other, so they are cut out as one run and read with
    one regular expression; a page laid out any other way is parsed as an XML tree (the same answer,
    about three times slower).
    """
    first = body.find(b"<Contents>")
    if first < 0:
        return _parse_listing_tree(body) if _CONTENTS_TAG.search(body) else ([], body)
    end = body.rfind(b"</Contents>") + len(b"</Contents>")
    rest = body[:first] + body[end:]
    if _CONTENTS_TAG.search(rest):
        return _parse_listing_tree(body)
    try:
        objects = _scan_contents(body[first:end].decode("utf-8"), b"<EncodingType>url</EncodingType>" in rest)
    except (_Unusual, ValueError, UnicodeDecodeError):
        return _parse_listing_tree(body)
    return objects, rest


def _parse_listing_tree(body: bytes) -> tuple[list[ListedObject], bytes]:
    with _PARSE_LOCK:
        root = ET.fromstring(body)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        encoded = root.findtext(f"{ns}EncodingType") == "url"
        key_tag, size_tag, etag_tag, algo_tag = f"{ns}Key", f"{ns}Size", f"{ns}ETag", f"{ns}ChecksumAlgorithm"
        contents_tag = f"{ns}Contents"
        objects = []
        for element in root.iterfind(contents_tag):
            key = element.findtext(key_tag) or ""
            objects.append((
                unquote_str(key) if encoded else key,
                int(element.findtext(size_tag) or 0),
                (element.findtext(etag_tag) or "").strip('"'),
                any(a.text == "SHA256" for a in element.iterfind(algo_tag)),
            ))
        root[:] = [child for child in root if child.tag != contents_tag]
        return objects, ET.tostring(root)


def _lean_hook(check_200: Callable[..., Any] | None) -> Callable[..., None]:
    def before_parse(operation_model: Any, response_dict: dict[str, Any],
                     customized_response_dict: dict[str, Any], **kwargs: Any) -> None:
        if (getattr(_LEAN, "active", False) and operation_model.name == "ListObjectsV2"
                and response_dict.get("status_code", 500) < 300 and response_dict.get("body")):
            objects, response_dict["body"] = _parse_listing(response_dict["body"])
            customized_response_dict[_LEAN_FIELD] = objects
        if check_200 is not None:
            check_200(operation_model=operation_model, response_dict=response_dict,
                      customized_response_dict=customized_response_dict, **kwargs)

    return before_parse


def _install_lean_hook(client: Any) -> None:
    """Put the lean listing ahead of botocore's 200 check on this client (once per client)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None or getattr(client.meta, "drharness_lean", False):
        return
    with _INSTALL_LOCK:
        if getattr(client.meta, "drharness_lean", False):
            return
        check_200 = getattr(botocore_handlers, "_handle_200_error", None)
        # Ours first, then botocore's own out: a call made meanwhile on another thread runs the check
        # twice, never not at all.
        events.register_first(_BEFORE_PARSE, _lean_hook(check_200), unique_id=_LEAN_UNIQUE_ID)
        if check_200 is not None:
            events.unregister(_BEFORE_PARSE, check_200)
        client.meta.drharness_lean = True


def _list_page(side: BucketSide, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[ListedObject]]:
    _install_lean_hook(side.client)
    _LEAN.active = True
    try:
        with _s3_errors(side):
            page = side.client.list_objects_v2(**kwargs)
    finally:
        _LEAN.active = False
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
    use_size, use_etag = "size" in fields, "etag" in fields
    unknown = set(fields) - {"size", "etag"}
    if unknown:
        raise MeasurementError(f"unknown field(s) {sorted(unknown)} to compare; use 'size' and/or 'etag'")
    side = BucketSide(client, bucket, prefix)

    def expected_entries(detailed: bool, items: Iterable[ExpectedObject | str]) -> Iterator[DigestEntry]:
        for item in items:
            obj = ExpectedObject(item) if isinstance(item, str) else item
            if not obj.key.startswith(prefix):
                raise MeasurementError(EXPECTED_OUTSIDE_PREFIX.format(key=obj.key, prefix=prefix))
            for name, used, value in (("size", use_size, obj.size), ("etag", use_etag, obj.etag)):
                if used and value is None:
                    raise MeasurementError(EXPECTED_LACKS_FIELD.format(key=obj.key, field=name))
            size = obj.size if use_size else None
            etag = _etag(obj.etag) if use_etag and obj.etag is not None else None
            yield DigestEntry(obj.key, hash64(obj.key.encode()), _fields_hash(obj.key, size, etag),
                              _describe(size, etag) if detailed else "")

    def actual_entries(detailed: bool) -> Iterator[DigestEntry]:
        for rel, fp in list_shard(side, page_size=page_size):
            size = fp.size if use_size else None
            etag = fp.etag if use_etag else None
            yield DigestEntry(fp.key, hash64(fp.key.encode()), _fields_hash(fp.key, size, etag),
                              _describe(size, etag) if detailed else "")

    expected_stream: Stream
    if callable(expected):
        factory = expected
        expected_stream = lambda detailed: expected_entries(detailed, factory())  # noqa: E731
    elif iter(expected) is expected:  # a one-shot iterator: replay it from disk
        expected_stream = SpooledStream(expected_entries(True, expected))
    else:
        items = expected
        expected_stream = lambda detailed: expected_entries(detailed, items)  # noqa: E731
    tally = digest_compare(
        DigestSide(source_label, [expected_stream]),
        DigestSide(side.label, [actual_entries]),
        max_listed=max_listed,
        buckets=buckets,
        workers=workers,
    )
    return tally.report(store="s3", source=source_label, replica=side.label, method="bucket-digest",
                        duration_seconds=time.monotonic() - start, started_at=started)
