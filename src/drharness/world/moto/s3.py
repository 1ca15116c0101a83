"""moto's S3 backend: bucket regions, object captures and restores, what a listing index reads, and the
inventory configurations and object versions an S3 Inventory report is made from."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from moto.s3.models import FakeDeleteMarker, S3Backend
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


# -- S3 Inventory -----------------------------------------------------------------------------------

_AS_PUT = "_drharness_as_put"
_INVENTORY_KEPT = "_drharness_inventory_kept"


def keep_inventory_configurations_as_put() -> None:
    """Make moto keep each inventory configuration whole, as it was put (once per process).

    moto stores a configuration without its IncludedObjectVersions (and answers "All" for every one);
    the world needs it to list current versions only, and to answer GetBucketInventoryConfiguration.
    """
    if getattr(S3Backend, _INVENTORY_KEPT, False):
        return
    original = S3Backend.put_bucket_inventory_configuration

    @functools.wraps(original)
    def put(self: Any, bucket_name: str, inventory_configuration: dict[str, Any]) -> None:
        original(self, bucket_name, inventory_configuration)
        stored = self.get_bucket(bucket_name).inventory_configs[inventory_configuration["Id"]]
        setattr(stored, _AS_PUT, copy.deepcopy(inventory_configuration))

    S3Backend.put_bucket_inventory_configuration = put  # type: ignore[method-assign]
    setattr(S3Backend, _INVENTORY_KEPT, True)


def delete_inventory_configuration(bucket: str, config_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    """Remove one inventory configuration of `bucket`; False when it has none with that id.

    moto routes DeleteBucketInventoryConfiguration to DeleteBucket (and deletes an empty bucket), so the
    world answers it itself with this.
    """
    stored_bucket = s3_backend(account_id).buckets.get(bucket)
    if stored_bucket is None:
        return False
    return stored_bucket.inventory_configs.pop(config_id, None) is not None


def s3_inventory_configurations(bucket: str | None = None, account_id: str = DEFAULT_ACCOUNT_ID) -> list[tuple[str, dict[str, Any]]]:
    """(source bucket, configuration as put, in xmltodict's shape) of every inventory configuration, by bucket
    and id; of `bucket` only when given (none when it does not exist)."""
    buckets = s3_backend(account_id).buckets
    names = sorted(settled(lambda: list(buckets))) if bucket is None else [bucket]
    found = []
    for name in names:
        stored_bucket = buckets.get(name)
        if stored_bucket is None:
            continue
        for config_id, stored in sorted(settled(lambda b=stored_bucket: list(b.inventory_configs.items()))):
            as_put = getattr(stored, _AS_PUT, None) or {  # put before the world kept them: moto's fields
                "Id": stored.id, "IsEnabled": stored.is_enabled, "Destination": stored.destination,
                "Schedule": stored.schedule, "Filter": stored.filters, "OptionalFields": stored.optional_fields}
            found.append((name, copy.deepcopy(as_put)))
    return found


class S3VersionFacts(NamedTuple):
    """One version of a key, or a delete marker, with what an inventory report lists of it."""

    key: str
    version_id: str  # moto's: "null" for a version written while versioning was off
    is_latest: bool
    is_delete_marker: bool
    last_modified: dt.datetime  # aware UTC, whole seconds, as listings show it
    size: int | None
    etag: str | None  # without its quotes
    storage_class: str | None
    multipart: bool
    encryption: str | None  # x-amz-server-side-encryption as stored (AES256, aws:kms, aws:kms:dsse), or None
    bucket_key_enabled: bool
    checksum_algorithm: str | None
    lock_mode: str | None
    lock_until: str | None  # the retain-until date as the request gave it
    legal_hold: str | None


def s3_versions(bucket: str, prefix: str = "", account_id: str = DEFAULT_ACCOUNT_ID) -> list[S3VersionFacts] | None:
    """Every version and delete marker of the keys under `prefix`, by key, the newest version of a key first
    (as ListObjectVersions orders them); None when the bucket does not exist."""
    found = s3_backend(account_id).buckets.get(bucket)
    if found is None:
        return None
    keys = found.keys  # the store maps a key to its versions, the latest last
    entries = settled(lambda: [(str(k), list(v)) for k, v in dict.items(keys) if str(k).startswith(prefix)])
    entries.sort(key=lambda entry: entry[0])
    facts = []
    for key, versions in entries:
        for index in range(len(versions) - 1, -1, -1):
            facts.append(_version_facts(key, versions[index], index == len(versions) - 1))
    return facts


def _version_facts(key: str, version: Any, latest: bool) -> S3VersionFacts:
    modified = version.last_modified.replace(microsecond=0, tzinfo=dt.timezone.utc)
    if isinstance(version, FakeDeleteMarker):
        return S3VersionFacts(key, str(version.version_id), latest, True, modified, None, None, None, False, None,
                              False, None, None, None, None)
    return S3VersionFacts(
        key, str(version.version_id), latest, False, modified, int(version.size), str(version.etag).strip('"'),
        version.storage_class, version.multipart is not None, version.encryption,
        str(version.bucket_key_enabled).lower() == "true",
        version.checksum_algorithm, version.lock_mode, version.lock_until, version.lock_legal_status)
