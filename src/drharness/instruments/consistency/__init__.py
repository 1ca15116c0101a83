"""ConsistencyCheck: primary vs replica, and source-at-T vs restore, in memory bounded by the differences.

S3 sides are key-ordered listings walked by a streaming merge-join; DynamoDB tables (and any unordered
expected side) are compared by hash-bucket digests with a second look only where digests differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.instruments.consistency.dynamodb import TableSide, compare_table_to_expected, compare_tables
    from drharness.instruments.consistency.report import ZERO_DIVERGENCE, ConsistencyReport, Divergence
    from drharness.instruments.consistency.s3 import (
        BucketSide,
        ExpectedObject,
        ObjectFingerprint,
        compare_bucket_to_expected,
        compare_buckets,
    )

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.instruments.consistency.dynamodb": ("TableSide", "compare_table_to_expected", "compare_tables"),
    "drharness.instruments.consistency.report": ("ZERO_DIVERGENCE", "ConsistencyReport", "Divergence"),
    "drharness.instruments.consistency.s3": (
        "BucketSide", "ExpectedObject", "ObjectFingerprint", "compare_bucket_to_expected", "compare_buckets",
    ),
})

__all__ = [
    "BucketSide",
    "ConsistencyReport",
    "Divergence",
    "ExpectedObject",
    "ObjectFingerprint",
    "TableSide",
    "ZERO_DIVERGENCE",
    "compare_bucket_to_expected",
    "compare_buckets",
    "compare_table_to_expected",
    "compare_tables",
]
