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


BATCH_GET_MAX = 100  # keys per BatchGetItem


class DynamoDBProbeStore:
    """Probes as items {hash_key: "lagprobe#<series>", range_key: "<seq:08d>"}; the replica is queried.

    A table with no sort key gets one item per probe, {hash_key: "lagprobe#<series>#<seq:08d>"}, and the
    replica is read by key (BatchGetItem) for the probes not yet seen.
    """

    store = "dynamodb"

    def __init__(
        self, source: Any, replica: Any, table: str, replica_table: str, hash_key: str, range_key: str | None,
        series: str,
    ) -> None:
        self.source_client, self.replica_client = source, replica
        self.table, self.replica_table = table, replica_table
        self.hash_key, self.range_key = hash_key, range_key
        self.written: list[int] = []
        self.partition = f"lagprobe#{series}"
        self.source = f"{table}@{source.meta.region_name}"
        self.replica = f"{replica_table}@{replica.meta.region_name}"

    def key(self, seq: int) -> str:
        return f"{seq:08d}"

    def write(self, seq: int) -> None:
        if self.range_key is None:
            item = {self.hash_key: {"S": f"{self.partition}#{self.key(seq)}"}, "seq": {"N": str(seq)}}
        else:
            item = {self.hash_key: {"S": self.partition}, self.range_key: {"S": self.key(seq)}, "seq": {"N": str(seq)}}
        self.source_client.put_item(TableName=self.table, Item=item)
        self.written.append(seq)

    def visible(self, after_seq: int) -> set[str]:
        if self.range_key is None:
            return self._visible_by_key(after_seq)
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

    def _visible_by_key(self, after_seq: int) -> set[str]:
        wanted = [self.key(seq) for seq in self.written if seq > after_seq]
        seen: set[str] = set()
        for start in range(0, len(wanted), BATCH_GET_MAX):
            keys = [{self.hash_key: {"S": f"{self.partition}#{k}"}} for k in wanted[start:start + BATCH_GET_MAX]]
            request = {self.replica_table: {"Keys": keys, "ProjectionExpression": "#h", "ExpressionAttributeNames": {"#h": self.hash_key}}}
            while request:
                answer = self.replica_client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.replica_table, []):
                    seen.add(item[self.hash_key]["S"].rsplit("#", 1)[-1])
                request = answer.get("UnprocessedKeys") or {}
        return seen
