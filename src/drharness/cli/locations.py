"""Where a compare reads: `s3://BUCKET/PREFIX` or `dynamodb://REGION/TABLE`, and the clients to read it with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import ConfigError, MeasurementError

LOCATION_HELP = "s3://BUCKET, s3://BUCKET/PREFIX or dynamodb://REGION/TABLE"
BAD_LOCATION = "{role} {text!r} is not a location: use " + LOCATION_HELP
MIXED_STORES = "cannot compare {source} with {replica}: both sides must be S3 or both DynamoDB"
REGION_UNKNOWN = "cannot find the region of bucket {bucket!r}: {error}; give it with {option}"
NO_SUCH_BUCKET = "bucket {bucket!r} does not exist ({role} {text}); check the name, the account and the endpoint"

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


@dataclass(frozen=True)
class S3Location:
    text: str
    bucket: str
    prefix: str


@dataclass(frozen=True)
class TableLocation:
    text: str
    region: str
    table: str


def parse_location(text: str, role: str) -> S3Location | TableLocation:
    """Read `s3://BUCKET/PREFIX` (prefix optional) or `dynamodb://REGION/TABLE`; `role` names the argument."""
    scheme, sep, rest = text.partition("://")
    if sep and scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if _BUCKET.match(bucket):
            return S3Location(text, bucket, prefix)
    elif sep and scheme == "dynamodb":
        region, _, table = rest.partition("/")
        if REGION.match(region) and _TABLE.match(table):
            return TableLocation(text, region, table)
    raise ConfigError(BAD_LOCATION.format(role=role, text=text))


class Clients:
    """Clients for the offline world at `endpoint`, for AWS through the default boto3 session, or for a
    target that passed the live-safety gate (`target`: every client then comes from it)."""

    def __init__(self, endpoint: str | None, target: Any = None, allowed_regions: tuple[str, ...] = ()) -> None:
        self.endpoint = endpoint
        self._target = target
        self.allowed_regions = allowed_regions
        self.target_name = "aws" if target is not None or not endpoint else "offline"
        if target is not None:
            return
        if endpoint:
            from drharness.target import OfflineTarget

            self._offline: Any = OfflineTarget(endpoint)
        else:
            import boto3

            self._session = boto3.session.Session()

    @property
    def polls_fast(self) -> bool:
        """An offline world answers in milliseconds; AWS is polled every few seconds."""
        return self.target_name == "offline"

    def check_region(self, region: str, what: str) -> None:
        """A gated (live) target only acts in the regions --allow-region names."""
        if self._target is not None and region not in self.allowed_regions:
            from drharness.errors import SafetyError

            raise SafetyError(f"{what} is in {region}, which --allow-region does not allow; allow it or compare "
                              "other locations (nothing was written)")

    def client(self, service: str, region: str) -> Any:
        if self._target is not None:
            return self._target.client(service, region)
        if self.endpoint:
            return self._offline.client(service, region)
        from drharness.target import LIVE_CONFIG

        return self._session.client(service, region_name=region, config=LIVE_CONFIG)


def bucket_region(clients: Clients, location: S3Location, role: str, option: str) -> str:
    """The bucket's region from GetBucketLocation (None means us-east-1, "EU" eu-west-1)."""
    try:
        answer = clients.client("s3", "us-east-1").get_bucket_location(Bucket=location.bucket)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "NoSuchBucket":
            message = NO_SUCH_BUCKET.format(bucket=location.bucket, role=role, text=location.text)
            raise MeasurementError(message) from exc
        raise MeasurementError(REGION_UNKNOWN.format(bucket=location.bucket, error=error.get("Message", exc),
                                                     option=option)) from exc
    except BotoCoreError as exc:
        raise MeasurementError(REGION_UNKNOWN.format(bucket=location.bucket, error=exc, option=option)) from exc
    constraint = answer.get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint
