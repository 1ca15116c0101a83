"""ConsistencyCheck internals on synthetic inputs: merge-join, tallies, digests, canonical items, shards."""

from __future__ import annotations

import decimal
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drharness.errors import MeasurementError
from drharness.instruments.consistency.digest import DigestEntry, DigestSide, SpooledStream, digest_compare, hash64
from drharness.instruments.consistency.dynamodb import (
    BAD_NUMBER,
    _Hasher,
    canonical_attribute,
    contrast_items,
    normalize_number,
    typed_attribute,
)
from drharness.instruments.consistency.merge import NOT_IN_ORDER, merge_join
from drharness.instruments.consistency.report import ZERO_DIVERGENCE, Divergence, Tally
from drharness.instruments.consistency.s3 import BucketSide, Shard, list_shard, plan_shards

# -- an oracle: what a comparison must find, computed the obvious way ---------------------------------


def oracle(source: dict[str, int], replica: dict[str, int], limit: int) -> tuple[list[str], list[str], list[str]]:
    missing = sorted(source.keys() - replica.keys())
    extra = sorted(replica.keys() - source.keys())
    differing = sorted(k for k in source.keys() & replica.keys() if source[k] != replica[k])
    return missing, extra, differing


def run_merge(source: dict[str, int], replica: dict[str, int], limit: int = 20) -> Tally:
    return merge_join(sorted(source.items()), sorted(replica.items()), Tally(limit))


def assert_matches_oracle(tally: Tally, source: dict[str, int], replica: dict[str, int], limit: int) -> None:
    missing, extra, differing = oracle(source, replica, limit)
    assert (tally.missing_count, tally.extra_count, tally.differing_count) == (len(missing), len(extra), len(differing))
    assert tally.missing == missing[:limit]
    assert tally.extra == extra[:limit]
    assert [d.key for d in tally.differing] == differing[:limit]
    assert tally.source_count == len(source) and tally.replica_count == len(replica)


# -- merge-join ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "replica"),
    [
        ({}, {}),
        ({"a": 1, "b": 2}, {}),
        ({}, {"a": 1, "b": 2}),
        ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}),
        ({"a": 1, "c": 3, "e": 5}, {"b": 2, "d": 4, "f": 6}),  # perfect interleaving, nothing shared
        ({"a": 1, "b": 2, "c": 3}, {"a": 9, "b": 2, "c": 9}),
        ({"b": 1, "c": 1}, {"a": 1, "b": 1, "c": 1, "d": 1}),  # replica wraps the source
        ({"a": 1, "z": 1}, {"m": 1}),
    ],
)
def test_merge_join_cases(source: dict[str, int], replica: dict[str, int]) -> None:
    assert_matches_oracle(run_merge(source, replica), source, replica, 20)


def test_merge_join_describes_both_sides_of_a_difference() -> None:
    tally = merge_join([("k", 1)], [("k", 2)], Tally(5), describe=lambda v: f"v={v}")
    assert tally.differing == [Divergence("k", "v=1", "v=2")]


def test_merge_join_uses_the_given_equality() -> None:
    tally = merge_join([("k", 1)], [("k", 3)], Tally(5), same=lambda a, b: a % 2 == b % 2)
    assert tally.differing_count == 0


@pytest.mark.parametrize("side", ["source", "replica"])
@pytest.mark.parametrize("keys", [["b", "a"], ["a", "a"]])
def test_merge_join_refuses_unordered_input(side: str, keys: list[str]) -> None:
    bad = [(k, 1) for k in keys]
    good = [("a", 1), ("b", 1)]
    pair = (bad, good) if side == "source" else (good, bad)
    with pytest.raises(MeasurementError) as info:
        merge_join(*pair, Tally(5))
    assert str(info.value) == NOT_IN_ORDER.format(side=side, key=keys[1], previous=keys[0])


def test_merge_join_reads_lazily_one_entry_ahead() -> None:
    pulled = []

    def stream(name: str) -> Iterator[tuple[str, int]]:
        for i in range(1000):
            pulled.append(name)
            yield f"{i:04d}", 1

    merge_join(stream("s"), stream("r"), Tally(0))
    # Alternating pulls, never a side read far ahead of the other (no materialized listing).
    assert all(abs(pulled[:n].count("s") - pulled[:n].count("r")) <= 1 for n in range(0, 2000, 97))


keys = st.text(alphabet="ab/é0", min_size=1, max_size=4)
stores = st.dictionaries(keys, st.integers(0, 2), max_size=40)


@settings(max_examples=150, deadline=None)
@given(source=stores, replica=stores, limit=st.integers(0, 6))
def test_merge_join_equals_the_oracle(source: dict[str, int], replica: dict[str, int], limit: int) -> None:
    assert_matches_oracle(run_merge(source, replica, limit), source, replica, limit)


@settings(max_examples=100, deadline=None)
@given(source=stores, replica=stores, limit=st.integers(0, 6), cuts=st.lists(keys, max_size=4))
def test_sharded_tallies_absorb_into_the_whole(
    source: dict[str, int], replica: dict[str, int], limit: int, cuts: list[str]
) -> None:
    bounds = [None, *sorted(set(cuts)), None]
    total = Tally(limit)
    for low, high in itertools.pairwise(bounds):
        def part(d: dict[str, int]) -> dict[str, int]:
            return {k: v for k, v in d.items() if (low is None or k > low) and (high is None or k <= high)}

        total.absorb(run_merge(part(source), part(replica), limit))
    assert_matches_oracle(total, source, replica, limit)


def test_tally_keeps_the_smallest_keys_of_an_unordered_feed() -> None:
    tally = Tally(3)
    for key in ["m", "c", "x", "a", "d", "b"]:
        tally.add_missing(key)
        tally.add_differing(key, "s", "r")
    assert tally.missing == ["a", "b", "c"] and tally.missing_count == 6
    assert [d.key for d in tally.differing] == ["a", "b", "c"] and tally.differing_count == 6


def test_report_record_judges_divergence_against_zero() -> None:
    tally = merge_join([("a", 1), ("b", 1)], [("b", 2), ("c", 1)], Tally(5))
    report = tally.report(store="s3", source="s3://x/", replica="s3://y/", method="merge-join",
                          duration_seconds=0.5, started_at="2024-01-01T00:00:00.000+00:00")
    record = report.to_record(target="offline")
    assert not report.equal and report.compared_count == 3
    assert (record.metric, record.value, record.objective, record.comparison) == ("divergent_keys", 3.0, 0, "==")
    assert record.verdict == "fail" and record.target == "offline"
    assert record.evidence["first_missing"] == ["a"] and record.evidence["first_extra"] == ["c"]
    equal = Tally(5).report(store="s3", source="a", replica="b", method="merge-join", duration_seconds=0.1,
                            started_at="2024-01-01T00:00:00.000+00:00")
    assert equal.to_record(target="offline").verdict == "pass" and ZERO_DIVERGENCE.limit == 0


# -- digests ---------------------------------------------------------------------------------------------


def entries(store: dict[str, int]) -> list[DigestEntry]:
    return [DigestEntry(k, hash64(k.encode()), hash64(f"{k}={v}".encode()), f"v={v}") for k, v in store.items()]


def split_streams(store: dict[str, int], n: int) -> list[Any]:
    items = entries(store)
    parts = [items[i::n] for i in range(n)]
    return [lambda detailed, part=part: iter(part) for part in parts]


@settings(max_examples=80, deadline=None)
@given(source=stores, replica=stores, limit=st.integers(0, 6), buckets=st.sampled_from([1, 3, 64]),
       streams=st.integers(1, 3))
def test_digest_compare_equals_the_oracle(
    source: dict[str, int], replica: dict[str, int], limit: int, buckets: int, streams: int
) -> None:
    tally = digest_compare(DigestSide("s", split_streams(source, streams)),
                           DigestSide("r", split_streams(replica, streams)),
                           max_listed=limit, buckets=buckets, workers=2)
    assert_matches_oracle(tally, source, replica, limit)


def test_digest_pass_two_keeps_only_mismatching_buckets() -> None:
    source = {f"k{i}": 1 for i in range(2000)}
    replica = dict(source, k7=2)
    seen: list[int] = []

    def counting(store: dict[str, int]) -> Any:
        def run(detailed: bool) -> Iterator[DigestEntry]:
            for entry in entries(store):
                if detailed:
                    seen.append(1)
                yield entry

        return run

    kept_sizes = []
    import drharness.instruments.consistency.digest as digest

    original = digest._collect

    def spy(stream: Any, mismatched: bytearray, buckets: int, into: dict[str, Any], lock: Any) -> None:
        original(stream, mismatched, buckets, into, lock)
        kept_sizes.append(len(into))

    digest._collect = spy
    try:
        tally = digest_compare(DigestSide("s", [counting(source)]), DigestSide("r", [counting(replica)]),
                               max_listed=5, buckets=4096, workers=1)
    finally:
        digest._collect = original
    assert tally.differing == [Divergence("k7", "v=1", "v=2")]
    assert max(kept_sizes) <= 5  # a bucket's worth of entries, not the 2000 of the store


def test_spooled_stream_replays_a_generator() -> None:
    source = {f"k{i}": i % 3 for i in range(50)}
    replica = dict(source, k3=9)
    del replica["k4"]
    spooled = SpooledStream(iter(entries(source)))
    tally = digest_compare(DigestSide("s", [spooled]), DigestSide("r", split_streams(replica, 1)),
                           max_listed=5, buckets=16, workers=1)
    assert_matches_oracle(tally, source, replica, 5)
    assert spooled._file is None  # closed by the comparison


# -- canonical DynamoDB items ----------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("1.0", "1"), ("1e2", "100"), ("0.00", "0"), ("-0", "0"), ("01.50", "1.5"),
    ("12345678901234567890123456789012345678", "1.2345678901234567890123456789012345678E+37"),
])
def test_equal_numbers_normalize_equally(a: str, b: str) -> None:
    assert normalize_number(a) == normalize_number(b)


def test_distinct_numbers_stay_distinct() -> None:
    assert normalize_number("12345678901234567890123456789012345678") != normalize_number(
        "12345678901234567890123456789012345679")


@pytest.mark.parametrize("text", ["0", "7", "-7", "768", "100", "-1000", "9" * 38, "-" + "1" * 60, "1" + "0" * 59])
def test_plain_integers_are_their_own_canonical_text(text: str) -> None:
    # The short way for integers gives what the Decimal way gives them.
    assert normalize_number(text) == format(decimal.Context(prec=60).create_decimal(text).normalize(
        decimal.Context(prec=60)), "f") == text


def test_a_non_number_is_refused() -> None:
    with pytest.raises(MeasurementError, match="not a DynamoDB number"):
        normalize_number("one")
    assert BAD_NUMBER.format(value="x")


def test_canonical_attribute_ignores_set_and_map_order() -> None:
    a = {"M": {"x": {"NS": ["2", "1.0"]}, "y": {"SS": ["b", "a"]}, "z": {"B": b"\x00\x01"}}}
    b = {"M": {"z": {"B": "AAE="}, "y": {"SS": ["a", "b"]}, "x": {"NS": ["1", "2.00"]}}}
    assert canonical_attribute(a) == canonical_attribute(b)
    assert canonical_attribute({"L": [{"N": "1"}, {"N": "2"}]}) != canonical_attribute({"L": [{"N": "2"}, {"N": "1"}]})


def test_plain_items_hash_like_their_typed_form() -> None:
    from decimal import Decimal

    hasher = _Hasher(("pk", "sk"), (), keys_only=False)
    plain = {"pk": "a", "sk": 1, "n": Decimal("1.0"), "f": 0.5, "s": {"x", "y"}, "m": {"k": [True, None, b"b"]}}
    typed = {"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "1"}, "f": {"N": "0.50"}, "s": {"SS": ["y", "x"]},
             "m": {"M": {"k": {"L": [{"BOOL": True}, {"NULL": True}, {"B": b"b"}]}}}}
    converted = {k: typed_attribute(v) for k, v in plain.items()}
    assert hasher.entry(converted, False)[:3] == hasher.entry(typed, False)[:3]


def test_contrast_keeps_only_differing_attributes() -> None:
    left = '{"a":{"N":"1"},"b":{"S":"x"},"pk":{"S":"k"}}'
    right = '{"a":{"N":"2"},"pk":{"S":"k"}}'
    assert contrast_items(left, right) == ('{"a":{"N":"1"},"b":{"S":"x"}}', '{"a":{"N":"2"},"b":"(absent)"}')


# -- S3 shards over a fake ListObjectsV2 -----------------------------------------------------------------


class FakeS3:
    """ListObjectsV2 over a sorted key list, with Prefix, Delimiter, StartAfter, MaxKeys and tokens."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.calls = 0

    def list_objects_v2(self, Bucket: str, Prefix: str = "", MaxKeys: int = 1000, Delimiter: str | None = None,
                        StartAfter: str | None = None, ContinuationToken: str | None = None) -> dict[str, Any]:
        self.calls += 1
        entries: list[tuple[str, bool]] = []
        for key in self.keys:
            if not key.startswith(Prefix):
                continue
            rest = key[len(Prefix):]
            if Delimiter and Delimiter in rest:
                common = Prefix + rest.split(Delimiter, 1)[0] + Delimiter
                if not entries or entries[-1] != (common, True):
                    entries.append((common, True))
            else:
                entries.append((key, False))
        after = ContinuationToken or StartAfter
        if after is not None:
            entries = [e for e in entries if e[0] > after]
        page, more = entries[:MaxKeys], len(entries) > MaxKeys
        out: dict[str, Any] = {
            "Contents": [{"Key": k, "Size": 1, "ETag": '"e"'} for k, common in page if not common],
            "CommonPrefixes": [{"Prefix": k} for k, common in page if common],
            "IsTruncated": more,
        }
        if more:
            out["NextContinuationToken"] = page[-1][0]
        return out


LAYOUT = ["a/1", "a/2", "a/b/3", "b/1", "loose1", "loose2", "c/", "c/x", "d/1/2", "zz"]


@pytest.mark.parametrize("prefix", ["", "a/", "d/"])
@pytest.mark.parametrize("given", [None, ["b/", "c/x"], ["0", "zzz"]])
def test_shards_cover_every_key_exactly_once(prefix: str, given: list[str] | None) -> None:
    client = FakeS3(LAYOUT)
    side = BucketSide(client, "bucket", prefix)
    shards = plan_shards([side], shard_prefixes=given, page_size=2)
    listed = [rel for shard in shards for rel, _ in list_shard(side, shard, page_size=2)]
    assert sorted(listed) == sorted(k[len(prefix):] for k in LAYOUT if k.startswith(prefix))
    assert len(listed) == len(set(listed))


def test_discovery_descends_through_a_single_prefix() -> None:
    client = FakeS3([f"top/mid/p{i}/k{j}" for i in range(3) for j in range(2)])
    shards = plan_shards([BucketSide(client, "bucket")])
    assert shards == [Shard(prefix=f"top/mid/p{i}/") for i in range(3)]


def test_a_level_too_large_to_discover_stays_one_shard() -> None:
    client = FakeS3([f"k{i:04d}" for i in range(5000)])
    assert plan_shards([BucketSide(client, "bucket")], page_size=1000) == [Shard(prefix="")]
    assert client.calls == 2  # gave up after the discovery budget, not after a full listing
