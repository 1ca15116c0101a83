"""`drharness world serve`: announce the endpoint, serve other processes, stop cleanly on a signal."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drharness.cli import main
from drharness.cli.world import ENDPOINT_LINE, SEED_LINE, STOPPED_LINE, serve_world
from drharness.config import load_workload
from drharness.waiting import wait_until

import kills

AWS = Path(sys.executable).with_name("aws")
DRHARNESS = Path(sys.executable).with_name("drharness")
ENDPOINT = re.compile("^" + re.escape(ENDPOINT_LINE).replace(re.escape("{endpoint}"), r"(http://127\.0\.0\.1:\d+)") + "$")
START_TIMEOUT_S = 120.0
REPLICATION_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
OFFLINE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def test_serve_announces_seed_and_endpoint_and_stops_when_told(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    kwargs = {"port": 0, "deploy": False, "config": None, "seed": 3, "stop": stop}
    thread = threading.Thread(target=serve_world, kwargs=kwargs)
    thread.start()
    out = ""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not any(ENDPOINT.match(line) for line in out.splitlines()) and time.monotonic() < deadline:
        thread.join(0.05)
        out += capsys.readouterr().out
    stop.set()
    thread.join(STOP_TIMEOUT_S)
    lines = (out + capsys.readouterr().out).splitlines()
    assert not thread.is_alive()
    assert lines[0] == SEED_LINE.format(seed=3)
    assert any(ENDPOINT.match(line) for line in lines)
    assert lines[-1] == STOPPED_LINE


def test_deploy_into_an_endpoint_where_no_world_answers_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["deploy", "--endpoint", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("drharness: error: no offline world answers at http://127.0.0.1:9")
    assert err.count("\n") == 1


def _wait_for_endpoint(process: subprocess.Popen[str], lines: queue.Queue[str | None], seen: list[str]) -> str:
    try:
        return kills.wait_for(lines, ENDPOINT, START_TIMEOUT_S, "endpoint line", seen).group(1)
    except AssertionError as exc:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
        raise AssertionError(f"{exc}; stderr: {process.stderr.read()[-2000:]}") from exc


def _replication_status(s3, bucket: str, key: str) -> str | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key).get("ReplicationStatus")
    except ClientError:
        return None


@pytest.mark.e2e
def test_served_world_replicates_an_aws_cli_upload_and_stops_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "workload.toml"
    config.write_text("", encoding="utf-8")  # every default
    workload = load_workload(config)
    process = subprocess.Popen(
        [str(DRHARNESS), "world", "serve", "--deploy", "--config", str(config), "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **OFFLINE_ENV},
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=kills.read_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        endpoint = _wait_for_endpoint(process, lines, seen)
        assert SEED_LINE.format(seed=3) in seen
        assert any(workload.data_bucket in line for line in seen)
        prefix = workload.spec.bucket.replication.prefix
        upload = tmp_path / "upload"
        for key in (f"{prefix}part-0001.npy", "raw/part-0001.npy"):  # one inside the rule's prefix, one outside
            (upload / key).parent.mkdir(parents=True, exist_ok=True)
            (upload / key).write_bytes(b"\x93NUMPY embedding")
        subprocess.run(
            [str(AWS), "--endpoint-url", endpoint, "s3", "cp", "--recursive", str(upload), f"s3://{workload.data_bucket}/"],
            check=True, capture_output=True, env={**os.environ, **OFFLINE_ENV}, timeout=60,
        )
        session = boto3.session.Session(region_name=workload.primary_region, aws_access_key_id="testing",
                                        aws_secret_access_key="testing")
        config_ = Config(account_id_endpoint_mode="disabled")
        primary = session.client("s3", endpoint_url=endpoint, config=config_)
        secondary = session.client("s3", endpoint_url=endpoint, region_name=workload.secondary_region, config=config_)
        key = f"{prefix}part-0001.npy"
        replicated = wait_until(lambda: _replication_status(primary, workload.data_bucket, key) == "COMPLETED",
                                REPLICATION_TIMEOUT_S, what=f"replication of {key} to COMPLETED")
        assert replicated.ok, replicated.reason
        replica = secondary.get_object(Bucket=workload.backup_bucket, Key=key)
        assert replica["Body"].read() == (upload / key).read_bytes()
        assert replica["ReplicationStatus"] == "REPLICA"
        listed = secondary.list_objects_v2(Bucket=workload.backup_bucket).get("Contents", [])
        assert [o["Key"] for o in listed] == [key]
        assert _replication_status(primary, workload.data_bucket, "raw/part-0001.npy") is None
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    rest = [line for line in iter(lines.get, None)]
    assert code == 0, process.stderr.read()[-2000:]
    assert (seen + rest)[-1] == STOPPED_LINE
