"""The DynamoDB canary store's item keys: a config's "no sort key" (`range_key = ""`) is a table without one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from drharness.instruments.canary import DynamoDBCanaryStore

AT = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)


class Puts:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's parameter names
        self.items.append(Item)


@pytest.mark.parametrize("range_key", [None, ""])
def test_a_table_without_a_sort_key_gets_one_partition_per_canary(range_key: str | None) -> None:
    client = Puts()
    store = DynamoDBCanaryStore(client, "sessions", "session_id", range_key, "s1")
    store.put(7, AT)
    assert store.range_key is None
    assert set(client.items[0]) == {"session_id", "seq", "written_at"}
    assert client.items[0]["session_id"] == {"S": "canary#s1#00000007"}


def test_a_table_with_a_sort_key_keeps_the_series_in_one_partition() -> None:
    client = Puts()
    DynamoDBCanaryStore(client, "orders", "pk", "sk", "s1").put(7, AT)
    assert client.items[0]["pk"] == {"S": "canary#s1"} and client.items[0]["sk"] == {"S": "00000007"}
