"""Crash-safe revert: a fault-injecting run killed at random points leaves nothing behind.

One `drharness world serve --deploy` process serves every run. A run is a Python process using the
public faults API under a RunGuard: it injects region-outage, replication-pause, service-fault and
data-corruption in sequence, creates a tagged restore-test table and a canary object, pauses between
steps, reverts, and starts over until it is killed. It is killed 40 times at seeded random points:
- SIGINT (20 times): the run reverts on its way out; the world holds no fault once it has exited;
- SIGKILL (20 times): nothing runs on the way out; `drharness revert --journal DIR` then
  `drharness sweep --endpoint URL` leave no fault, no tagged test resource and no canary write.
The seed is printed; replay a sequence with DRHARNESS_KILL_SEED=<seed>. Each run process is started
while the previous one is checked and waits for "go" on its stdin, so start-up time overlaps checking.
"""

from __future__ import annotations

import functools
import os
import queue
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from drharness.cli import main
from drharness.cli.world import ENDPOINT_LINE
from drharness.config import load_workload
from drharness.faults import Journal
from drharness.instruments.canary import DEFAULT_S3_PREFIX
from drharness.instruments.restore import TEST_TAG_KEY, TEST_TAG_VALUE
from drharness.world.control import WorldClient

import kills

pytestmark = pytest.mark.e2e  # serves the world from `drharness world serve` and kills runs in other processes

DRHARNESS = Path(sys.executable).with_name("drharness")
OFFLINE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
ENDPOINT = re.compile("^" + re.escape(ENDPOINT_LINE).replace(re.escape("{endpoint}"), r"(http://127\.0\.0\.1:\d+)") + "$")
KILLS_PER_SIGNAL = 20
START_TIMEOUT_S = 120.0
RUN_START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 30.0
MAX_DELAY_S = 0.6  # about one injection cycle of the run script: kills land anywhere in it
SEED_ENV = "DRHARNESS_KILL_SEED"

RUN_SCRIPT = textwrap.dedent('''
    """A DR run that injects faults and makes test resources until it is stopped."""
    import faulthandler
    import signal as _signal
    faulthandler.register(_signal.SIGUSR1, all_threads=True)  # kills.DUMP_SIGNAL: where a hung run is
    import sys

    from drharness import faults
    from drharness.config import load_workload
    from drharness.safety.guard import RunGuard
    from drharness.instruments.canary import DEFAULT_S3_PREFIX
    from drharness.instruments.restore import TEST_TAG_KEY, TEST_TAG_VALUE
    from drharness.target import OfflineTarget
    from drharness.waiting import pause

    endpoint, journal_dir, label = sys.argv[1:4]
    STEP_S = 0.04
    workload = load_workload()
    target = OfflineTarget(endpoint, workload.account_id)
    backend = faults.OfflineFaultBackend(endpoint)
    journal = faults.Journal(journal_dir)
    dynamodb = target.client("dynamodb", workload.primary_region)
    s3 = target.client("s3", workload.primary_region)
    steps = [
        ("region-outage", {"region": "eu-west-1"}),
        ("replication-pause", {"bucket": workload.data_bucket, "region": workload.secondary_region}),
        ("service-fault", {"service": "dynamodb", "operation": "Query", "mode": "throttle", "rate": 0.5}),
        ("data-corruption", {"bucket": workload.data_bucket, "prefix": "embeddings/corpus/", "count": 2}),
    ]
    sys.stdin.readline()  # started ahead of time; the test says when to begin
    try:
        with RunGuard(target, workload, journal, backend, poll_interval_s=0.5):
            print("started", flush=True)
            cycle = 0
            while True:
                cycle += 1
                table = f"{label}-restore-test-{cycle}"
                for name, params in steps:
                    faults.inject(backend, name, params, journal)
                    pause(STEP_S)
                dynamodb.create_table(
                    TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST", Tags=[{"Key": TEST_TAG_KEY, "Value": TEST_TAG_VALUE}])
                s3.put_object(Bucket=workload.data_bucket, Key=f"{DEFAULT_S3_PREFIX}{label}/{cycle:08d}", Body=b"{}")
                pause(STEP_S)
                dynamodb.delete_table(TableName=table)
                faults.revert_all(backend, journal)
    except KeyboardInterrupt:
        sys.exit(130)
''')


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One deployed world in its own process, for every run of this module."""
    home = tmp_path_factory.mktemp("world")
    log = home / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([str(DRHARNESS), "world", "serve", "--deploy", "--seed", "11"], cwd=home,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, **OFFLINE_ENV})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=kills.read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        try:
            endpoint = kills.wait_for(lines, ENDPOINT, START_TIMEOUT_S, "endpoint line").group(1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; world stderr: {log.read_text()[-2000:]}") from exc
        yield endpoint
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def command(capsys, *argv: str) -> str:
    try:
        main(list(argv))
    except SystemExit as exc:
        out, err = capsys.readouterr()
        assert not exc.code, f"drharness {' '.join(argv)} exited {exc.code}: {err}{out}"
        return out
    return capsys.readouterr().out


def _clients(endpoint: str, workload):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    config = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 3, "mode": "standard"})

    @functools.cache
    def client(service: str, region: str):
        return session.client(service, region_name=region, endpoint_url=endpoint, config=config)

    return client


def tagged_tables(client, workload) -> list[str]:
    found = []
    for region in workload.regions:
        dynamodb = client("dynamodb", region)
        for name in dynamodb.list_tables()["TableNames"]:
            arn = f"arn:aws:dynamodb:{region}:{workload.account_id}:table/{name}"
            tags = dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
            if {"Key": TEST_TAG_KEY, "Value": TEST_TAG_VALUE} in tags:
                found.append(f"{name} ({region})")
    return found


def canary_versions(client, workload) -> list[str]:
    found = []
    for bucket, region in ((workload.data_bucket, workload.primary_region), (workload.backup_bucket, workload.secondary_region)):
        page = client("s3", region).list_object_versions(Bucket=bucket, Prefix=DEFAULT_S3_PREFIX)
        found += [f"{bucket}/{v['Key']}" for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))]
    return found


def test_killed_runs_leave_nothing_behind(served, tmp_path, monkeypatch, capsys):
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**31))
    print(f"kill sequence seed: {seed} (replay with {SEED_ENV}={seed})")
    rng = random.Random(seed)
    monkeypatch.chdir(tmp_path)  # the built-in workload, as the served world deployed it
    monkeypatch.setenv("DRHARNESS_STOP_FILE", str(tmp_path / "STOP"))
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    world = WorldClient(served)
    workload = load_workload().with_account(str(world.health()["account_id"]))
    client = _clients(served, workload)
    for n in range(3):  # something for data-corruption to corrupt, outside the canary prefix
        client("s3", workload.primary_region).put_object(
            Bucket=workload.data_bucket, Key=f"embeddings/corpus/part-{n:04d}.npy", Body=b"\x93NUMPY" + bytes([n]) * 64)
    script = tmp_path / "run_faults.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")

    def spawn(number: int) -> kills.Run:
        """Start run `number`; it imports and builds its clients, then waits to be told to begin."""
        journal = tmp_path / f"journal-{number:02d}"
        return kills.spawn([sys.executable, str(script), served, str(journal), f"run{number:02d}"], cwd=tmp_path,
                           env={**os.environ, **OFFLINE_ENV}, journal=journal)

    def check(signum: int, journal: Path, where: str) -> None:
        if signum == signal.SIGINT:
            assert world.faults() == [], f"{where}: faults left after SIGINT: {world.faults()}"
            assert Journal(journal).pending() == [], f"{where}: journal still pending after SIGINT"
            return
        command(capsys, "revert", "--journal", str(journal))
        command(capsys, "sweep", "--endpoint", served)
        assert world.faults() == [], f"{where}: faults left after revert: {world.faults()}"
        assert Journal(journal).pending() == [], f"{where}: journal still pending after revert"
        assert tagged_tables(client, workload) == [], f"{where}: tagged tables left after sweep"
        assert canary_versions(client, workload) == [], f"{where}: canary objects left after sweep"

    kills.kill_sequence(spawn, [signal.SIGINT, signal.SIGKILL] * KILLS_PER_SIGNAL, rng, MAX_DELAY_S, seed=seed,
                        start_timeout_s=RUN_START_TIMEOUT_S, exit_timeout_s=EXIT_TIMEOUT_S, check=check)
    # Corruption was always undone: the corpus reads back as it was written.
    for n in range(3):
        body = client("s3", workload.primary_region).get_object(
            Bucket=workload.data_bucket, Key=f"embeddings/corpus/part-{n:04d}.npy")["Body"].read()
        assert body == b"\x93NUMPY" + bytes([n]) * 64, f"part-{n:04d} still corrupted (seed {seed})"


def test_sweep_dry_run_lists_and_deletes_nothing_then_sweeps(served, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    workload = load_workload().with_account(str(WorldClient(served).health()["account_id"]))
    client = _clients(served, workload)
    tag = [{"Key": TEST_TAG_KEY, "Value": TEST_TAG_VALUE}]
    dynamodb = client("dynamodb", workload.secondary_region)
    dynamodb.create_table(TableName="restored-copy", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST", Tags=tag)
    s3 = client("s3", workload.primary_region)
    s3.create_bucket(Bucket="drharness-restore-target")
    s3.put_bucket_tagging(Bucket="drharness-restore-target", Tagging={"TagSet": tag})
    s3.put_object(Bucket="drharness-restore-target", Key="restored/part-0001.npy", Body=b"x")
    s3.create_bucket(Bucket="someone-elses-bucket")  # untagged: never touched
    client("cloudformation", workload.secondary_region).create_stack(
        StackName="drharness-restore-stack", Tags=tag,
        TemplateBody='{"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}')
    subnet = client("ec2", workload.primary_region).describe_subnets()["Subnets"][0]["SubnetId"]
    fsx = client("fsx", workload.primary_region)
    restored_fs = fsx.create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200, SubnetIds=[subnet],
                                         Tags=tag)["FileSystem"]["FileSystemId"]
    s3.put_object(Bucket=workload.data_bucket, Key=f"{DEFAULT_S3_PREFIX}sweep/00000001", Body=b"{}")
    table = client("dynamodb", workload.primary_region)
    table.put_item(TableName=workload.metadata_table, Item={"pk": {"S": "canary#sweep"}, "sk": {"S": "00000001"}})
    table.put_item(TableName=workload.metadata_table, Item={"pk": {"S": "job#1"}, "sk": {"S": "meta"}})
    before = WorldClient(served).requests(mutating_only=True)

    out = command(capsys, "sweep", "--endpoint", served, "--dry-run")
    assert WorldClient(served).requests(mutating_only=True) == before
    for expected in ("would delete dynamodb table restored-copy (us-west-2)",
                     "would delete s3 bucket drharness-restore-target (us-east-1)",
                     "would delete cloudformation stack drharness-restore-stack (us-west-2)",
                     f"would delete fsx file system {restored_fs} (us-east-1)",
                     f"would delete canary objects s3://", "would delete canary items"):
        assert expected in out, out
    assert "someone-elses-bucket" not in out

    out = command(capsys, "sweep", "--endpoint", served)
    assert "deleted dynamodb table restored-copy" in out and "swept" in out
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "drharness-restore-target" not in buckets and "someone-elses-bucket" in buckets
    assert tagged_tables(client, workload) == [] and canary_versions(client, workload) == []
    stacks = client("cloudformation", workload.secondary_region).describe_stacks()["Stacks"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == "drharness-restore-stack")
    assert all(f["FileSystemId"] != restored_fs or f["Lifecycle"] == "DELETING"
               for f in fsx.describe_file_systems()["FileSystems"])
    assert any(s["StackName"] == workload.dr_stack and s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)
    kept = table.get_item(TableName=workload.metadata_table, Key={"pk": {"S": "job#1"}, "sk": {"S": "meta"}})
    gone = table.get_item(TableName=workload.metadata_table, Key={"pk": {"S": "canary#sweep"}, "sk": {"S": "00000001"}})
    assert "Item" in kept and "Item" not in gone
    assert command(capsys, "sweep", "--endpoint", served).strip().endswith("no canary write left")
