"""Compare two unordered stores by hash-bucket digests, then look closer only where the digests differ.

Pass 1 streams every entry of both sides once and folds it into B buckets chosen by the hash of its key:
each bucket keeps a count and the sum of its entries' content hashes mod 2^64. Equal stores give equal
buckets. Pass 2 streams both sides again and keeps only the entries whose key falls into a mismatching
bucket, so what is held in memory is bounded by the differences (times the entries per bucket), never by
the store. Two different bucket contents with the same count and sum go unnoticed with probability
about 2^-64 per bucket.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, NamedTuple

from drharness.instruments.consistency.report import Tally

DEFAULT_BUCKETS = 65_536
_MASK = (1 << 64) - 1
_BATCH = 1024


class DigestEntry(NamedTuple):
    """One key of one side: its order/display key, the hashes that place and fingerprint it."""

    key: str
    key_hash: int
    item_hash: int
    detail: str = ""  # how the content is shown in a listing; filled only in the detailed pass


# A stream of one side (a scan segment, a listing shard, an expected iterable); `detailed` asks for `detail`.
Stream = Callable[[bool], Iterator[DigestEntry]]
# Render a differing pair for a listing (e.g. keep only the attributes that differ).
Contrast = Callable[[str, str], tuple[str, str]]


@dataclass(frozen=True)
class DigestSide:
    label: str
    streams: Sequence[Stream]


def hash64(data: bytes) -> int:
    """A stable 64-bit hash (not Python's per-process `hash`)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class _Digests:
    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self.sums = array("Q", bytes(8 * buckets))
        self.counts = array("Q", bytes(8 * buckets))
        self.total = 0
        self._lock = threading.Lock()

    def fold(self, batch: list[tuple[int, int]]) -> None:
        with self._lock:
            sums, counts, n = self.sums, self.counts, self.buckets
            for key_hash, item_hash in batch:
                b = key_hash % n
                sums[b] = (sums[b] + item_hash) & _MASK
                counts[b] += 1
            self.total += len(batch)


def _fold_stream(stream: Stream, digests: _Digests) -> None:
    batch: list[tuple[int, int]] = []
    for entry in stream(False):
        batch.append((entry.key_hash, entry.item_hash))
        if len(batch) >= _BATCH:
            digests.fold(batch)
            batch = []
    if batch:
        digests.fold(batch)


def _collect(stream: Stream, mismatched: bytearray, buckets: int, into: dict[str, tuple[int, str]],
             lock: threading.Lock) -> None:
    kept: list[DigestEntry] = []
    for entry in stream(True):
        if mismatched[entry.key_hash % buckets]:
            kept.append(entry)
    with lock:
        for entry in kept:
            into[entry.key] = (entry.item_hash, entry.detail)


def _run_all(jobs: list[Callable[[], None]], workers: int) -> None:
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="drharness-digest") as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            future.result()  # the first failure propagates with its own message


def digest_compare(
    source: DigestSide,
    replica: DigestSide,
    *,
    max_listed: int,
    buckets: int = DEFAULT_BUCKETS,
    workers: int = 8,
    contrast: Contrast | None = None,
) -> Tally:
    """Count missing, extra and differing keys of two sides given as hash streams."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    tally = Tally(max_listed)
    try:
        left, right = _Digests(buckets), _Digests(buckets)
        _run_all(
            [lambda s=s: _fold_stream(s, left) for s in source.streams]
            + [lambda s=s: _fold_stream(s, right) for s in replica.streams],
            workers,
        )
        tally.source_count, tally.replica_count = left.total, right.total
        mismatched = bytearray(buckets)
        any_mismatch = False
        for b in range(buckets):
            if left.sums[b] != right.sums[b] or left.counts[b] != right.counts[b]:
                mismatched[b] = 1
                any_mismatch = True
        del left, right
        if not any_mismatch:
            return tally
        lock = threading.Lock()
        src: dict[str, tuple[int, str]] = {}
        rep: dict[str, tuple[int, str]] = {}
        _run_all(
            [lambda s=s: _collect(s, mismatched, buckets, src, lock) for s in source.streams]
            + [lambda s=s: _collect(s, mismatched, buckets, rep, lock) for s in replica.streams],
            workers,
        )
        for key in sorted(src.keys() | rep.keys()):
            s, r = src.get(key), rep.get(key)
            if r is None:
                tally.add_missing(key)
            elif s is None:
                tally.add_extra(key)
            elif s[0] != r[0]:
                shown = contrast(s[1], r[1]) if contrast else (s[1], r[1])
                tally.add_differing(key, *shown)
        return tally
    finally:
        for stream in (*source.streams, *replica.streams):
            close = getattr(stream, "close", None)
            if close is not None:
                close()


class SpooledStream:
    """A stream over a one-shot iterable: the first pass spools entries to a temporary file, later
    passes replay the file, so a generator can be compared without holding it in memory."""

    def __init__(self, entries: Iterable[DigestEntry]) -> None:
        self._entries: Iterable[DigestEntry] | None = entries
        self._file: IO[str] | None = None

    def __call__(self, detailed: bool) -> Iterator[DigestEntry]:
        if self._entries is not None:
            entries, self._entries = self._entries, None
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8")
            for entry in entries:
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                yield entry
            return
        if self._file is None:
            return
        self._file.seek(0)
        for line in self._file:
            yield DigestEntry(*json.loads(line))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
