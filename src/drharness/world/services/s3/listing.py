"""ListObjectsV2 for the offline world, served from a sorted index of each bucket's key names.

moto walks and sorts the whole bucket on every list request, so one page costs O(bucket) and a
full listing O(bucket² / page). This index answers the same request byte for byte as moto does, at
O(page + log bucket): a sorted list of key names per bucket, rebuilt lazily when the bucket changed.

A bucket counts as changed when a mutating S3 request reached it through the world, when the world
wrote into it directly (replication, restores), or when its number of key names differs from the
index's. Each object's <Contents> element is rendered once and kept with the index, for the very
version object it was rendered from: moto replaces that object on every write, so a write the index
was not told of still shows. Anything unusual (an unknown parameter, an unknown continuation token, a
missing bucket) is left to moto, which then answers as it always did.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from drharness.world.moto import s3 as moto_s3
from drharness.world.wire import AwsRequest, CapturedResponse

# What moto answers with FetchOwner: a fixed owner.
_OWNER = "<Owner><DisplayName>webfile</DisplayName><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>"
_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
_KNOWN_PARAMS = frozenset(
    {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "encoding-type", "fetch-owner", "x-id"}
)
_DEFAULT_MAX_KEYS = 1000
_LAST_CODE_POINT = 0x10FFFF
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.~/-]*")  # what urllib.parse.quote and XML escaping leave as it is


class StaleIndex(Exception):
    """The index named a key the bucket no longer holds."""


@dataclass(frozen=True)
class ListQuery:
    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    continuation_token: str | None
    start_after: str
    url_encoded: bool
    fetch_owner: bool


@dataclass(frozen=True)
class _Entry:
    generation: tuple[int, int]
    names: list[str]
    # Per (url_encoded, fetch_owner): key name -> (the version it was rendered from, its <Contents>, or
    # None for a delete marker). A hit counts only for the very same version object, so a write that
    # bypassed the index's notice still shows.
    rendered: dict[tuple[bool, bool], dict[str, tuple[Any, str | None]]] = field(default_factory=dict)


def parse_query(request: AwsRequest) -> ListQuery | None:
    """Read the request's listing parameters; None when moto should answer it instead."""
    bucket = request.s3_bucket
    if request.method != "GET" or bucket is None or request.s3_key is not None:
        return None
    query = request.query
    if not set(query) <= _KNOWN_PARAMS or any(len(v) != 1 for v in query.values()) or query.get("list-type") != ["2"]:
        return None

    def one(name: str) -> str | None:
        return query[name][0] if name in query else None

    try:
        max_keys = int(one("max-keys") or _DEFAULT_MAX_KEYS)
    except ValueError:
        return None
    token = one("continuation-token")
    encoding = one("encoding-type")
    if max_keys < 0 or token == "" or encoding not in (None, "url"):
        return None  # moto's own error (or its own quirk) is the answer
    return ListQuery(
        bucket=bucket,
        prefix=one("prefix") or "",
        delimiter=one("delimiter") or "",
        max_keys=max_keys,
        continuation_token=token,
        start_after=one("start-after") or "",
        url_encoded=encoding == "url",
        fetch_owner="fetch-owner" in query,  # moto adds the owner for any value, "false" included
    )


class ListingIndex:
    """Sorted key names per bucket, and ListObjectsV2 pages served from them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bumps: dict[str, int] = {}
        self._entries: dict[str, _Entry] = {}

    def changed(self, bucket: str) -> None:
        """Note that the bucket's key names may have changed."""
        with self._lock:
            self._bumps[bucket] = self._bumps.get(bucket, 0) + 1

    def _entry(self, bucket: str, force: bool = False) -> _Entry | None:
        with self._lock:
            generation = (self._bumps.get(bucket, 0), moto_s3.s3_write_generation())
            entry = self._entries.get(bucket)
        count = moto_s3.s3_key_count(bucket)
        if count is None:
            return None
        if not force and entry is not None and entry.generation == generation and len(entry.names) == count:
            return entry
        names = moto_s3.s3_key_names(bucket)
        if names is None:
            return None
        names.sort()
        entry = _Entry(generation, names)
        with self._lock:
            self._entries[bucket] = entry
        return entry

    def list_objects_v2(self, request: AwsRequest) -> CapturedResponse | None:
        """Answer a ListObjectsV2 request as moto would; None to leave it to moto."""
        query = parse_query(request)
        if query is None:
            return None
        after = query.start_after or None
        if query.continuation_token is not None:
            after = moto_s3.s3_continuation_key(query.continuation_token)
            if after is None:
                return None
        for force in (False, True):
            entry = self._entry(query.bucket, force)
            if entry is None:
                return None
            try:
                page = _page(query, entry, after)
            except StaleIndex:
                continue
            return _response(query, *page)
        return None


def _end_of(names: list[str], folder: str, start: int) -> int:
    """Find the first name at or after `start` that does not begin with `folder`."""
    last = ord(folder[-1])
    if last < _LAST_CODE_POINT:
        return bisect.bisect_left(names, folder[:-1] + chr(last + 1), start)
    while start < len(names) and names[start].startswith(folder):
        start += 1
    return start


def _page(query: ListQuery, entry: _Entry, after: str | None) -> tuple[list[tuple[str, str | None]], bool]:
    """Collect the page's keys (with their <Contents>) and common prefixes (with None) in order, and
    whether it is truncated."""
    names = entry.names
    prefix, delimiter = query.prefix, query.delimiter
    i = bisect.bisect_left(names, prefix) if prefix else 0
    if after is not None:
        i = max(i, bisect.bisect_right(names, after))
    wanted = query.max_keys + 1  # one more than a page says whether the listing is truncated
    found: list[tuple[str, str | None]] = []
    try:
        latest = moto_s3.s3_latest_versions(query.bucket)
    except KeyError as exc:
        raise StaleIndex(query.bucket) from exc
    rendered = entry.rendered.setdefault((query.url_encoded, query.fetch_owner), {})
    while i < len(names) and len(found) < wanted:
        name = names[i]
        if prefix and not name.startswith(prefix):
            break
        if delimiter:
            at = name.find(delimiter, len(prefix))
            if at >= 0:
                folder = name[: at + len(delimiter)]
                if after is None or folder > after:
                    found.append((folder, None))
                i = _end_of(names, folder, i)
                continue
        try:
            version = latest(name)
        except (KeyError, IndexError) as exc:
            raise StaleIndex(name) from exc
        hit = rendered.get(name)
        if hit is None or hit[0] is not version:
            listed = moto_s3.s3_listed(version)
            hit = rendered[name] = (version, None if listed is None else _contents(query, name, listed))
        if hit[1] is not None:
            found.append((name, hit[1]))
        i += 1
    if query.max_keys == 0:
        return [], False
    return found[: query.max_keys], len(found) > query.max_keys


def _name_of(query: ListQuery, name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):  # most names: nothing to quote or escape
        return name
    return escape(urllib.parse.quote(name) if query.url_encoded else name)


def _contents(query: ListQuery, name: str, listed: moto_s3.S3ListedObject) -> str:
    """One object's <Contents> element, as moto's serializer writes it."""
    algorithm = f"<ChecksumAlgorithm>{escape(listed.checksum_algorithm)}</ChecksumAlgorithm>" if listed.checksum_algorithm else ""
    return (f"<Contents><Key>{_name_of(query, name)}</Key><LastModified>{listed.last_modified_iso}</LastModified>"
            f"<ETag>{escape(listed.etag)}</ETag>{algorithm}<Size>{listed.size}</Size>"
            f"<StorageClass>{escape(listed.storage_class)}</StorageClass>{_OWNER if query.fetch_owner else ''}</Contents>")


def _response(query: ListQuery, items: list[tuple[str, str | None]], truncated: bool) -> CapturedResponse:
    """Render the page as moto's serializer does."""
    parts = [_HEAD, f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    folders = []
    for name, contents in items:
        if contents is None:
            folders.append(name)
        else:
            parts.append(contents)
    parts.append(f"<Name>{escape(query.bucket)}</Name>")
    prefix = urllib.parse.quote(query.prefix) if query.url_encoded else query.prefix
    parts.append(f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "<Prefix/>")
    if query.delimiter:
        parts.append(f"<Delimiter>{escape(query.delimiter)}</Delimiter>")
    parts.append(f"<MaxKeys>{query.max_keys}</MaxKeys>")
    if query.delimiter:
        parts.extend(f"<CommonPrefixes><Prefix>{_name_of(query, folder)}</Prefix></CommonPrefixes>" for folder in folders)
    if query.url_encoded:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<KeyCount>{len(items)}</KeyCount>")
    if truncated:
        last = items[-1][0]
        token = hashlib.md5(last.encode("utf-8"), usedforsecurity=False).hexdigest()
        moto_s3.s3_remember_continuation(token, last)
        parts.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
    if query.continuation_token is None and query.start_after:
        parts.append(f"<StartAfter>{escape(query.start_after)}</StartAfter>")
    parts.append("</ListBucketResult>")
    response = CapturedResponse(200, [("Content-Type", "application/xml"), ("x-amzn-requestid", uuid.uuid4().hex)])
    response.set_body("".join(parts).encode("utf-8"))
    return response
