"""The one module that reaches into moto's in-process backends.

The world's engines use these to read state that no API returns cheaply (a bucket's region, an
object version's bytes) and to write replicas without re-entering the HTTP path. Keeping every such
access here keeps a moto upgrade's blast radius to one file.
"""

from __future__ import annotations

from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID


def s3_backend(account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


def dynamodb_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region]


def ec2_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def bucket_region(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The region a bucket was created in, or None when it does not exist."""
    try:
        return s3_backend(account_id).buckets[bucket].region_name
    except KeyError:
        return None


def reset_all() -> None:
    """Forget every resource in every moto backend (a new, empty world)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
