"""moto's S3 backend: bucket regions, object captures and restores, what a listing index reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from moto.s3.models import FakeDeleteMarker
from moto.s3.models import s3_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID, settled


def s3_backend(account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    return s3_backends[account_id]["aws"]


def bucket_region(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The region a bucket was created in, or None when it does not exist."""
    try:
        return s3_backend(account_id).buckets[bucket].region_name
    except KeyError:
        return None


class S3ObjectCopy(NamedTuple):
    """One current object version of a bucket, as a backup keeps it."""

    key: str
    version_id: str
    etag: str
    body: bytes
    metadata: dict[str, str]


def s3_bucket_versioned(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool | None:
    """Whether versioning is enabled; None when the bucket does not exist."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else bool(found.is_versioned)


def s3_capture(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[S3ObjectCopy] | None:
    """Every current object version (delete markers excluded); None when the bucket does not exist."""
    found = s3_backend(account_id).buckets.get(bucket)
    if found is None:
        return None
    copies = []
    for key, latest in settled(lambda: list(found.keys.items())):
        if not hasattr(latest, "value"):  # a delete marker: the key has no current version
            continue
        copies.append(
            S3ObjectCopy(str(key), str(latest.version_id), str(latest.etag).strip('"'), bytes(latest.value), dict(latest._metadata))
        )
    return copies


def s3_restore_objects(
    bucket: str, region: str, objects: list[S3ObjectCopy], create: bool, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Write the objects into `bucket` (created, versioned, in `region` when `create`); ValueError if that fails."""
    backend = s3_backend(account_id)
    if create:
        if bucket in backend.buckets:
            raise ValueError(f"bucket {bucket} already exists")
        try:
            backend.create_bucket(bucket, region)
        except Exception as exc:  # noqa: BLE001 - moto's own error says why (name taken, invalid name)
            raise ValueError(f"cannot create bucket {bucket}: {exc}") from exc
        backend.buckets[bucket]._is_versioned = True
    elif bucket not in backend.buckets:
        raise ValueError(f"destination bucket {bucket} does not exist")
    for obj in objects:
        stored = backend.put_object(bucket, obj.key, obj.body, disable_notification=True)
        stored._metadata.update(obj.metadata)
    s3_note_write()


class S3ListedObject(NamedTuple):
    """The fields moto lists for an object's current version."""

    last_modified_iso: str
    etag: str
    size: int
    storage_class: str
    checksum_algorithm: str | None


_s3_write_generation = 0


def s3_note_write() -> None:
    """Count a write made into some bucket outside the HTTP path, so listing indexes rebuild."""
    global _s3_write_generation
    _s3_write_generation += 1


def s3_write_generation() -> int:
    return _s3_write_generation


def s3_key_count(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> int | None:
    """How many key names (current objects and delete markers) the bucket holds; None without the bucket."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else len(found.keys)


def s3_key_names(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[str] | None:
    """Every key name of the bucket, delete markers included; None without the bucket."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else settled(lambda: list(dict.keys(found.keys)))


def s3_latest_versions(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Callable[[str], Any]:
    """A reader of each key's latest version object in `bucket` (the bucket is looked up once). The reader
    raises KeyError or IndexError for a key that is gone; creating it raises KeyError when the bucket is.
    moto replaces the object on every write, so the same object means the same listing."""
    versions = dict.__getitem__  # the store maps a key to its versions, the latest last
    keys = s3_backend(account_id).buckets[bucket].keys
    return lambda key: versions(keys, key)[-1]


def s3_listed(version: Any) -> S3ListedObject | None:
    """What a listing shows of a latest version; None for a delete marker."""
    if isinstance(version, FakeDeleteMarker):
        return None
    return S3ListedObject(
        _listed_time(version), str(version.etag), int(version.size), str(version.storage_class), version.checksum_algorithm
    )


_LISTED_TIMES: dict[tuple[int, ...], str] = {}


def _listed_time(key: Any) -> str:
    """moto's listing timestamp of a key (whole seconds), formatted once per second: objects share them."""
    stamp = key.last_modified
    second = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    text = _LISTED_TIMES.get(second)
    if text is None:
        if len(_LISTED_TIMES) > 4096:
            _LISTED_TIMES.clear()
        text = _LISTED_TIMES[second] = str(key.last_modified_ISO8601)
    return text


def s3_continuation_key(token: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The last key of the page that handed out this continuation token; None for an unknown token."""
    return s3_backend(account_id)._pagination_tokens.get(token)


def s3_remember_continuation(token: str, key: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Register a continuation token where moto keeps its own, so either path can resume the listing."""
    s3_backend(account_id)._pagination_tokens[token] = key
