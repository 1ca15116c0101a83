"""DynamoDB point-in-time recovery and global tables (2019.11.21) for the offline world."""

from __future__ import annotations

from drharness.world.base import BaseEngine


class DynamoDBEngine(BaseEngine):
    pass
