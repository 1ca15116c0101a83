"""The IAM roles a world needs as an account has them: the role replication rules name."""

from __future__ import annotations

import json
from typing import Any

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
