"""A world as the tests run it: its fast settings, and the IAM roles it needs as an account has them."""

from __future__ import annotations

import json
from typing import Any

from drharness.config import LagModel, Offline

FAST_LAG = LagModel(distribution="fixed", seconds=0.03)


def fast_offline(**settings: Any) -> Offline:
    """A world with a small fixed replication lag and instant restores (`settings` override any of it)."""
    return Offline(**{"s3_lag": FAST_LAG, "dynamodb_lag": FAST_LAG, "restore_seconds": 0.0, **settings})

REPLICATION_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
REPLICATION_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:ReplicateObject", "s3:ReplicateDelete",
                                   "s3:ReplicateTags", "kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}


def replication_role(world: Any, name: str = "replication") -> str:
    """The role the tests' replication rules name (`arn:aws:iam::<account>:role/replication`), able to replicate,
    as in an account: the world's S3 replication acts as the rule's role."""
    iam = world.client("iam", "us-east-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(REPLICATION_TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="replicate", PolicyDocument=json.dumps(REPLICATION_POLICY))
    return str(arn)
