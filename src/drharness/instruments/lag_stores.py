"""Where lag probes are written and how the replica shows which of them it holds: S3 and DynamoDB.

`lag` writes and polls through these; one List or Query per round answers for every outstanding probe.
"""

from __future__ import annotations

from typing import Any, Protocol


class ProbeStore(Protocol):
    """Where probes are written and how the replica shows which of them it holds."""

    store: str
    source: str
    replica: str

    def key(self, seq: int) -> str: ...

    def write(self, seq: int) -> None: ...

    def visible(self, after_seq: int) -> set[str]: ...


class S3ProbeStore:
    """Probes as objects `<prefix><series>/<seq:08d>`; the replica is listed under that folder."""

    store = "s3"

    def __init__(self, source: Any, source_bucket: str, replica: Any, replica_bucket: str, prefix: str, series: str) -> None:
        self.source_client, self.source_bucket = source, source_bucket
        self.replica_client, self.replica_bucket = replica, replica_bucket
        self.folder = f"{prefix}{series}/"
        self.source = f"{source_bucket}@{source.meta.region_name}"
        self.replica = f"{replica_bucket}@{replica.meta.region_name}"

    def key(self, seq: int) -> str:
        return f"{self.folder}{seq:08d}"

    def write(self, seq: int) -> None:
        self.source_client.put_object(Bucket=self.source_bucket, Key=self.key(seq), Body=f"lag probe {seq}".encode())

    def visible(self, after_seq: int) -> set[str]:
        seen: set[str] = set()
        # Listing only past the settled probes keeps each round's answer, and so the round, short.
        for page in self.replica_client.get_paginator("list_objects_v2").paginate(
            Bucket=self.replica_bucket, Prefix=self.folder, StartAfter=self.key(after_seq)
        ):
            seen.update(obj["Key"] for obj in page.get("Contents", []))
        return seen

    def status(self, key: str) -> str:
        return str(self.source_client.head_object(Bucket=self.source_bucket, Key=key).get("ReplicationStatus") or "")


class DynamoDBProbeStore:
    """Probes as items {hash_key: "lagprobe#<series>", range_key: "<seq:08d>"}; the replica is queried."""

    store = "dynamodb"

    def __init__(
        self, source: Any, replica: Any, table: str, replica_table: str, hash_key: str, range_key: str, series: str
    ) -> None:
        self.source_client, self.replica_client = source, replica
        self.table, self.replica_table = table, replica_table
        self.hash_key, self.range_key = hash_key, range_key
        self.partition = f"lagprobe#{series}"
        self.source = f"{table}@{source.meta.region_name}"
        self.replica = f"{replica_table}@{replica.meta.region_name}"

    def key(self, seq: int) -> str:
        return f"{seq:08d}"

    def write(self, seq: int) -> None:
        self.source_client.put_item(
            TableName=self.table,
            Item={self.hash_key: {"S": self.partition}, self.range_key: {"S": self.key(seq)}, "seq": {"N": str(seq)}},
        )

    def visible(self, after_seq: int) -> set[str]:
        seen: set[str] = set()
        for page in self.replica_client.get_paginator("query").paginate(
            TableName=self.replica_table,
            KeyConditionExpression="#h = :h AND #r > :after",
            ExpressionAttributeNames={"#h": self.hash_key, "#r": self.range_key},
            ExpressionAttributeValues={":h": {"S": self.partition}, ":after": {"S": self.key(after_seq)}},
            ProjectionExpression="#r",
        ):
            seen.update(item[self.range_key]["S"] for item in page.get("Items", []) if self.range_key in item)
        return seen
