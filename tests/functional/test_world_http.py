"""The world's HTTP server: connections stay open between requests, and what moto reads from a request
(the path as sent, decoded paths, S3 metadata names with underscores) arrives as moto's own server gave it."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from drharness.target import OfflineTarget
from drharness.world import World


def test_one_connection_serves_many_requests(world: World) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", world.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/_drharness/health")
            answer = connection.getresponse()
            assert answer.status == 200 and b'"ok": true' in answer.read()
            assert (answer.getheader("Connection") or "").lower() != "close"
            assert connection.sock is not None  # the same socket, still open
    finally:
        connection.close()


def test_keys_with_reserved_characters_and_underscored_metadata_survive(target: OfflineTarget) -> None:
    s3 = target.client("s3", "us-east-1")
    s3.create_bucket(Bucket="http-keys")
    keys = ["a/new key&=?", "b/slash%2Fliteral", "c/100%", "d/é+plus"]
    for key in keys:
        s3.put_object(Bucket="http-keys", Key=key, Body=key.encode(), Metadata={"my_key": "v1", "other-key": "v2"})
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="http-keys")["Contents"]) == sorted(keys)
    for key in keys:
        head = s3.head_object(Bucket="http-keys", Key=key)
        assert head["Metadata"] == {"my_key": "v1", "other-key": "v2"}
        assert s3.get_object(Bucket="http-keys", Key=key)["Body"].read() == key.encode()


def test_an_arn_in_the_path_is_decoded_whole(target: OfflineTarget) -> None:
    """REST paths carry ARNs with an encoded slash (`backup%2Fbackup-1`): decoded as werkzeug decoded them."""
    backup = target.client("backup", "us-east-1")
    backup.create_backup_vault(BackupVaultName="http-vault")
    arn = "arn:aws:fsx:us-east-1:123456789012:backup/backup-0001"
    quoted = urllib.parse.quote(arn, safe="")
    assert "%2F" in quoted
    with pytest.raises(backup.exceptions.ResourceNotFoundException) as info:
        backup.describe_recovery_point(BackupVaultName="http-vault", RecoveryPointArn=arn)
    assert arn in str(info.value)  # the message names the ARN decoded, not `backup%2Fbackup-0001`
