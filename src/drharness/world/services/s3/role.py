"""S3 replication acts as the rule's role, as in AWS: what it may do decides whether an object replicates.

S3 assumes the replication configuration's `Role` for every object it copies. The object goes FAILED
(and stays FAILED: AWS re-replicates it only through S3 Batch Replication, which the world does not
model) when, at the moment of the copy:

- the role does not exist, or its trust policy does not let `s3.amazonaws.com` assume it;
- its identity policies (inline and attached) do not allow `s3:GetObjectVersionForReplication` on the
  source object and `s3:ReplicateObject` (`s3:ReplicateDelete` for a delete marker) on the destination
  object, or an explicit deny refuses one of them;
- the rule names a replica KMS key that does not exist in the destination region or is not enabled,
  or the role may not `kms:Encrypt` with it;
- the source object is SSE-KMS and its key is not enabled, or the role may not `kms:Decrypt` with it.

Conditions are evaluated on `aws:RequestedRegion`, `kms:ViaService` (`s3.<region>.amazonaws.com`) and
`kms:EncryptionContext:aws:s3:arn`; a statement with another condition key is not applied. Source:
AWS S3 User Guide, "Setting up permissions for live replication" and "Replicating objects created with
server-side encryption (SSE-KMS)".
"""

from __future__ import annotations

from drharness.world.faults.policies import principal_may, trusts_service
from drharness.world.moto import iam as moto_iam
from drharness.world.moto import kms as moto_kms
from drharness.world.moto.core import DEFAULT_ACCOUNT_ID

S3_SERVICE = "s3.amazonaws.com"


def _account(role_arn: str) -> str:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else DEFAULT_ACCOUNT_ID


def replication_refusal(
    role_arn: str | None, *, source_bucket: str, dest_bucket: str, key: str, kind: str, source_region: str,
    dest_region: str, replica_kms_key: str | None, source_kms_key: str | None,
) -> str | None:
    """Why S3, acting as `role_arn`, cannot replicate this write; None: it can."""
    if not role_arn:
        return "the replication configuration names no role"
    found = moto_iam.role_documents(role_arn, _account(role_arn))
    if found is None:
        return f"replication role {role_arn} does not exist"
    trust, documents = found
    if not trusts_service(trust, S3_SERVICE):
        return f"replication role {role_arn} cannot be assumed by {S3_SERVICE} (its trust policy)"
    source_arn, dest_arn = f"arn:aws:s3:::{source_bucket}/{key}", f"arn:aws:s3:::{dest_bucket}/{key}"
    needed = [("s3:ReplicateDelete" if kind == "delete-marker" else "s3:ReplicateObject", dest_arn, dest_region)]
    if kind != "delete-marker":
        needed.insert(0, ("s3:GetObjectVersionForReplication", source_arn, source_region))
    for action, resource, region in needed:
        if not principal_may(documents, action, resource, {"aws:RequestedRegion": region}):
            return f"replication role {role_arn} is not allowed {action} on {resource}"
    for key_ref, action, region, object_arn in ((replica_kms_key, "kms:Encrypt", dest_region, dest_arn),
                                                (source_kms_key, "kms:Decrypt", source_region, source_arn)):
        if not key_ref or kind == "delete-marker":
            continue
        state = moto_kms.key_state(key_ref, region, _account(role_arn))
        if state != "Enabled":
            return f"KMS key {key_ref} ({region}) is {'missing' if state is None else state}"
        context = {"aws:RequestedRegion": region, "kms:ViaService": f"s3.{region}.amazonaws.com",
                   "kms:EncryptionContext:aws:s3:arn": object_arn}
        if not principal_may(documents, action, _key_arn(key_ref, region, _account(role_arn)), context):
            return f"replication role {role_arn} is not allowed {action} with KMS key {key_ref}"
    return None


def _key_arn(key_ref: str, region: str, account_id: str) -> str:
    return key_ref if key_ref.startswith("arn:") else f"arn:aws:kms:{region}:{account_id}:key/{key_ref}"
