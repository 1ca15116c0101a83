"""Access keys: a deactivated or deleted key is refused, as AWS refuses it; the credential-compromise fault.

moto does not check signatures by default, so isolation of a compromised credential would otherwise
be invisible; `AccessKeys` makes the isolation measurable, and `Credentials` plants the leaked key.
"""

from __future__ import annotations

import threading
import urllib.parse

from drharness.faults.spec import CredentialCompromise
from drharness.world.engine import BaseEngine
from drharness.world.plane import ClientFactory
from drharness.world.wire import AwsRequest, CapturedResponse, error_response

INVALID_TOKEN = "The security token included in the request is invalid."


class AccessKeys(BaseEngine):
    """The keys IAM has deactivated or deleted: it watches IAM's answers and refuses their requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refused: set[str] = set()

    def deny(self, request: AwsRequest) -> CapturedResponse | None:
        with self._lock:
            refused = request.access_key_id in self._refused
        if not refused:
            return None
        code = "InvalidAccessKeyId" if request.service == "s3" else "UnrecognizedClientException"
        if request.service in ("sts", "iam", "ec2"):
            code = "InvalidClientTokenId"
        return error_response(request.service, 403, code, INVALID_TOKEN)

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
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


class Credentials:
    """The credential-compromise effect: a user with a fresh access key, removed with all it holds on revert."""

    def __init__(self, client: ClientFactory) -> None:
        self._client = client

    def compromise(self, params: CredentialCompromise) -> dict[str, str]:
        iam = self._client("iam", params.region or "us-east-1")
        try:
            iam.create_user(UserName=params.user, Tags=[{"Key": "drharness:test-resource", "Value": "true"}])
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        key = iam.create_access_key(UserName=params.user)["AccessKey"]
        return {"user": params.user, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    def remove(self, params: CredentialCompromise, state: dict[str, str]) -> None:
        iam = self._client("iam", params.region or "us-east-1")
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
