"""The inline policies of the principal an access key belongs to: an IAM user's, or an assumed role's."""

from __future__ import annotations

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID, settled


def caller_inline_policies(access_key_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[str]:
    """The inline policy documents (JSON text) of the user or assumed role that owns `access_key_id`."""
    if not access_key_id:
        return []
    iam = iam_backends[account_id]["aws"]

    def read() -> list[str]:
        for user in list(iam.users.values()):
            if any(key.access_key_id == access_key_id for key in user.access_keys):
                return list(user.policies.values())
        for assumed in list(sts_backends[account_id]["aws"].assumed_roles):
            if assumed.access_key_id == access_key_id:
                try:
                    return list(iam.get_role_by_arn(arn=assumed.role_arn).policies.values())
                except Exception:  # noqa: BLE001 - moto's IAMNotFoundException: the role is gone, nothing applies
                    return []
        return []

    return list(settled(read) or [])


def is_user_key(access_key_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    """Whether `access_key_id` is an IAM user's key (not an assumed role's, not one the world made up)."""
    if not access_key_id:
        return False
    iam = iam_backends[account_id]["aws"]
    return bool(settled(lambda: any(key.access_key_id == access_key_id
                                    for user in list(iam.users.values()) for key in user.access_keys)))


def role_documents(role_arn: str, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, list[str]] | None:
    """(trust policy, identity policies: inline and attached managed, default versions) of a role; None: no such role."""
    iam = iam_backends[account_id]["aws"]

    def read() -> tuple[str, list[str]] | None:
        try:
            role = iam.get_role_by_arn(arn=role_arn)
        except Exception:  # noqa: BLE001 - moto's IAMNotFoundException
            return None
        documents = [str(d) for d in role.policies.values()]
        for policy in list(role.managed_policies.values()):
            documents += [str(v.document) for v in policy.versions if v.is_default]
        return str(role.assume_role_policy_document or ""), documents

    return settled(read)  # type: ignore[no-any-return]
