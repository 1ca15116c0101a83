"""The credential-compromise fault in an account: a harness-made IAM user whose key is handed out as leaked.

The user is named after the fault id (`drharness-cc-<fault id>`), so the revert record names it before
anything exists; it is tagged with the fault id and `[live].tag_scope`. Its one inline policy allows
only `s3:GetObject` on the harness's seed folder (`<replicated prefix>drharness-seed/`) and
`s3:ListBucket` of that folder: the "attacker" can read nothing the harness did not write. Isolation is
the drill's own (`UpdateAccessKey Inactive`, a deny-all policy); revert deletes the keys, the inline
policies and the user, and finding none of them is not an error.

IAM is global and eventually consistent: a fresh key can take seconds before AWS accepts it, which the
drill's first calls must allow for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import FaultError
from drharness.faults.base import AccessKey, InjectedFault
from drharness.faults.live.options import FAULT_ID_TAG, LiveOptions, fault_tags
from drharness.faults.spec import CredentialCompromise, FaultParams
from drharness.target import Target

CREDENTIALS = "iam-user"
IAM_REGION = "us-east-1"  # IAM is global; its API lives in us-east-1
USER_PREFIX = "drharness-cc-"
READ_POLICY = "drharness-read-seed-only"
NO_SEED_BUCKET = "live credential-compromise needs the workload's data bucket (LiveOptions.seed_bucket is empty)"


def user_name(fault_id: str) -> str:
    """The IAM user a credential-compromise fault makes: known from its id alone."""
    return f"{USER_PREFIX}{fault_id}"


def read_seed_policy(options: LiveOptions) -> dict[str, Any]:
    """The harness-made user's only permission: read the harness's own seed objects, list their folder."""
    bucket, prefix = options.seed_bucket, options.seed_prefix
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadSeedObjects", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"},
            {"Sid": "ListSeedFolder", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        ],
    }


class CredentialFaults:
    """credential-compromise as a real IAM user with a real, narrowly scoped access key."""

    mechanism = CREDENTIALS

    def __init__(self, target: Target, options: LiveOptions) -> None:
        self.target = target
        self.options = options

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        if not isinstance(params, CredentialCompromise):
            raise FaultError(f"{name}: the IAM-user mechanism makes credential-compromise only")
        if not self.options.seed_bucket:
            raise FaultError(NO_SEED_BUCKET)
        return {"mechanism": self.mechanism, "user": user_name(fault_id), "policy": READ_POLICY}

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        refs = self.prepare(fault_id, name, params)
        iam = self.target.client("iam", IAM_REGION)
        tags = {**fault_tags(fault_id, name, params), **self.options.tag_scope}
        user = refs["user"]
        try:
            try:
                iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            except iam.exceptions.EntityAlreadyExistsException:
                pass  # a retried injection of the same fault
            iam.put_user_policy(UserName=user, PolicyName=READ_POLICY,
                                PolicyDocument=json.dumps(read_seed_policy(self.options)))
            key = iam.create_access_key(UserName=user)["AccessKey"]
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"IAM refused {name} {fault_id} (user {user}): {exc}") from exc
        access_key = AccessKey(user=user, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
        return InjectedFault(id=fault_id, name=name, params=params, injected_at=datetime.now(timezone.utc),
                             target="aws", refs={**refs, "access_key_id": access_key.access_key_id},
                             access_key=access_key)

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        """Delete the user's keys, inline and attached policies, then the user; what is gone stays gone."""
        user = refs.get("user") or user_name(fault_id)
        iam = self.target.client("iam", IAM_REGION)
        try:
            _delete_user(iam, user)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"cannot revert {fault_id}: deleting IAM user {user} failed ({exc}); "
                             f"delete it in the IAM console") from exc

    def _users(self) -> list[dict[str, Any]]:
        iam = self.target.client("iam", IAM_REGION)
        found = []
        try:
            for page in iam.get_paginator("list_users").paginate(PathPrefix="/"):
                for item in page.get("Users", []):
                    if item["UserName"].startswith(USER_PREFIX):
                        found.append(item)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"cannot list IAM users: {exc}") from exc
        return found

    def active_ids(self) -> list[str]:
        """Ids of the credential-compromise faults whose user still exists."""
        return [item["UserName"][len(USER_PREFIX):] for item in self._users()]

    def active(self) -> list[InjectedFault]:
        found = []
        for item in self._users():
            fault_id = item["UserName"][len(USER_PREFIX):]
            created = item.get("CreateDate")
            found.append(InjectedFault(
                id=fault_id, name="credential-compromise", params=CredentialCompromise(user=item["UserName"]),
                target="aws", refs={"mechanism": self.mechanism, "user": item["UserName"], FAULT_ID_TAG: fault_id},
                injected_at=created if isinstance(created, datetime) else datetime.now(timezone.utc),
            ))
        return found


def _delete_user(iam: Any, user: str) -> None:
    gone = iam.exceptions.NoSuchEntityException
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        for key in keys:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
            iam.delete_user_policy(UserName=user, PolicyName=policy)
        for attached in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=user, PolicyArn=attached["PolicyArn"])
        iam.delete_user(UserName=user)
    except gone:
        return
