"""S3 Inventory configurations as the world reads them, and as it answers them back.

A configuration (PutBucketInventoryConfiguration,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_InventoryConfiguration.html) says which objects a
report lists (`Filter.Prefix`, `IncludedObjectVersions` All or Current), which optional fields it carries,
where it goes (`Destination.S3BucketDestination`: bucket ARN, prefix, format, encryption) and how often
(`Schedule.Frequency` Daily or Weekly). `InventorySpec` is one configuration read once.

moto answers GetBucketInventoryConfiguration and ListBucketInventoryConfigurations with
`IncludedObjectVersions` always "All", the optional fields split into letters and the encryption dropped;
`get_answer` and `list_answer` write the configuration as it was put, as S3 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import xmltodict

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# The elements of an InventoryConfiguration, in the order S3 writes them.
_ELEMENTS = ("Destination", "IsEnabled", "Filter", "Id", "IncludedObjectVersions", "OptionalFields", "Schedule")
_DATA_EXTENSIONS = {"CSV": "csv.gz", "Parquet": "parquet", "ORC": "orc"}
_NOT_A_FOLDER = re.compile(r"^/+|/+$")


@dataclass(frozen=True)
class InventorySpec:
    """One inventory configuration of a source bucket, as the world publishes it."""

    source_bucket: str
    config_id: str
    enabled: bool
    destination_arn: str
    destination_prefix: str  # without leading or trailing '/'
    format: str  # CSV | Parquet | ORC
    frequency: str  # Daily | Weekly
    all_versions: bool
    filter_prefix: str
    optional_fields: tuple[str, ...]  # as configured (order and repeats as given)
    sse: str | None = None  # the report files' encryption: AES256 (SSE-S3), aws:kms (SSE-KMS) or none
    sse_kms_key_id: str | None = None

    @property
    def destination_bucket(self) -> str:
        return self.destination_arn.rsplit(":", 1)[-1]

    @property
    def folder(self) -> str:
        """`destination-prefix/source-bucket/config-ID`: every key of this configuration's reports is under it."""
        base = f"{self.source_bucket}/{self.config_id}"
        return f"{self.destination_prefix}/{base}" if self.destination_prefix else base

    @property
    def data_extension(self) -> str:
        return _DATA_EXTENSIONS.get(self.format, self.format.lower())


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def parse_spec(source_bucket: str, raw: dict[str, Any]) -> InventorySpec:
    """Read a configuration (xmltodict's shape of the InventoryConfiguration that was put)."""
    destination = (raw.get("Destination") or {}).get("S3BucketDestination") or {}
    fields = raw.get("OptionalFields") or {}
    names = _listed(fields.get("Field") if isinstance(fields, dict) else fields)
    encryption = destination.get("Encryption") or {}
    kms = encryption.get("SSE-KMS") if isinstance(encryption, dict) else None
    sse = "aws:kms" if "SSE-KMS" in encryption else "AES256" if "SSE-S3" in encryption else None
    return InventorySpec(
        source_bucket=source_bucket,
        config_id=str(raw.get("Id", "")),
        enabled=_true(raw.get("IsEnabled")),
        destination_arn=str(destination.get("Bucket", "")),
        destination_prefix=_NOT_A_FOLDER.sub("", str(destination.get("Prefix") or "")),
        format=str(destination.get("Format") or "CSV"),
        frequency=str((raw.get("Schedule") or {}).get("Frequency") or "Daily"),
        all_versions=str(raw.get("IncludedObjectVersions") or "All") == "All",
        filter_prefix=str((raw.get("Filter") or {}).get("Prefix") or ""),
        optional_fields=tuple(str(name) for name in names),
        sse=sse,
        sse_kms_key_id=str(kms.get("KeyId")) if isinstance(kms, dict) and kms.get("KeyId") else None,
    )


def _configuration(raw: dict[str, Any]) -> dict[str, Any]:
    """One InventoryConfiguration element's content in S3's order (moto's attributes and unknown keys left out)."""
    return {name: raw[name] for name in _ELEMENTS if raw.get(name) is not None}


def get_answer(raw: dict[str, Any]) -> bytes:
    """The body of GetBucketInventoryConfiguration for this configuration."""
    body = {"InventoryConfiguration": {"@xmlns": S3_NAMESPACE, **_configuration(raw)}}
    return xmltodict.unparse(body).encode()


def list_answer(raws: list[dict[str, Any]]) -> bytes:
    """The body of ListBucketInventoryConfigurations holding these configurations (one page, as moto answers)."""
    result: dict[str, Any] = {"@xmlns": S3_NAMESPACE}
    if raws:
        result["InventoryConfiguration"] = [_configuration(raw) for raw in raws]
    result["IsTruncated"] = "false"
    return xmltodict.unparse({"ListInventoryConfigurationsResult": result}).encode()
