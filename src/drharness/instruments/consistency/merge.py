"""Streaming merge-join of two key-ordered listings: memory of one entry per side, not of the store."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from drharness.errors import MeasurementError
from drharness.instruments.consistency.report import Tally

F = TypeVar("F")

NOT_IN_ORDER = "the {side} listing is not in ascending key order ({key!r} came after {previous!r})"


def merge_join(
    source: Iterable[tuple[str, F]],
    replica: Iterable[tuple[str, F]],
    tally: Tally,
    *,
    same: Callable[[F, F], bool] = operator.eq,
    describe: Callable[[F], str] = str,
) -> Tally:
    """Walk two ascending (key, fingerprint) streams once, counting missing, extra and differing keys.

    `same(source_fp, replica_fp)` decides whether a key present on both sides holds the same content;
    `describe` renders a fingerprint for the first differences listed. A stream that goes backwards
    (or repeats a key) raises MeasurementError: a merge-join over unordered input would miscount.
    """
    src = _ordered(source, "source")
    rep = _ordered(replica, "replica")
    s = next(src, None)
    r = next(rep, None)
    while s is not None and r is not None:
        s_key, r_key = s[0], r[0]
        if s_key < r_key:
            tally.source_count += 1
            tally.add_missing(s_key)
            s = next(src, None)
        elif r_key < s_key:
            tally.replica_count += 1
            tally.add_extra(r_key)
            r = next(rep, None)
        else:
            tally.source_count += 1
            tally.replica_count += 1
            if not same(s[1], r[1]):
                tally.add_differing(s_key, describe(s[1]), describe(r[1]))
            s = next(src, None)
            r = next(rep, None)
    while s is not None:
        tally.source_count += 1
        tally.add_missing(s[0])
        s = next(src, None)
    while r is not None:
        tally.replica_count += 1
        tally.add_extra(r[0])
        r = next(rep, None)
    return tally


def _ordered(entries: Iterable[tuple[str, F]], side: str) -> Iterator[tuple[str, F]]:
    previous: str | None = None
    for entry in entries:
        key = entry[0]
        if previous is not None and key <= previous:
            raise MeasurementError(NOT_IN_ORDER.format(side=side, key=key, previous=previous))
        previous = key
        yield entry
