"""IAM keys for the offline world: a deactivated or deleted access key is refused, as AWS refuses it.

moto does not check signatures by default, so isolation of a compromised credential would otherwise
be invisible; this engine makes the isolation measurable.
"""

from __future__ import annotations

import threading
import urllib.parse

from drharness.faults.spec import CredentialCompromise
from drharness.world.base import BaseEngine
from drharness.world.requests import AwsRequest


class IamEngine(BaseEngine):
    def __init__(self, world) -> None:  # type: ignore[no-untyped-def]
        super().__init__(world)
        self._lock = threading.Lock()
        self._refused: set[str] = set()

    def deny(self, request: AwsRequest):  # type: ignore[no-untyped-def]
        with self._lock:
            refused = request.access_key_id in self._refused
        if not refused:
            return None
        from drharness.world.server import error_response

        code = "InvalidAccessKeyId" if request.service == "s3" else "UnrecognizedClientException"
        if request.service in ("sts", "iam", "ec2"):
            code = "InvalidClientTokenId"
        return error_response(
            request.service, 403, code, "The security token included in the request is invalid."
        )

    def after(self, request: AwsRequest, response) -> None:  # type: ignore[no-untyped-def]
        if request.service != "iam" or not response.ok:
            return
        form = urllib.parse.parse_qs((request.body or b"").decode("utf-8", "replace"))
        key = form.get("AccessKeyId", [""])[0]
        if not key:
            return
        with self._lock:
            if request.operation == "UpdateAccessKey":
                if form.get("Status", [""])[0] == "Inactive":
                    self._refused.add(key)
                else:
                    self._refused.discard(key)
            elif request.operation == "DeleteAccessKey":
                self._refused.add(key)

    # -- the credential-compromise fault --------------------------------------------------------

    def compromise(self, params: CredentialCompromise) -> dict[str, str]:
        iam = self.world.client("iam", params.region or "us-east-1")
        try:
            iam.create_user(UserName=params.user, Tags=[{"Key": "drharness:test-resource", "Value": "true"}])
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        key = iam.create_access_key(UserName=params.user)["AccessKey"]
        return {"user": params.user, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    def remove(self, params: CredentialCompromise, state: dict[str, str]) -> None:
        iam = self.world.client("iam", params.region or "us-east-1")
        user = state.get("user", params.user)
        try:
            keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except iam.exceptions.NoSuchEntityException:
            return
        for key in keys:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
            iam.delete_user_policy(UserName=user, PolicyName=policy)
        for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
        iam.delete_user(UserName=user)
