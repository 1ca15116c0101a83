"""Put/list throughput through the offline world vs a plain moto server, in the same run.

Each server runs in its own process on 127.0.0.1; the same client load (threads of boto3 put_object
of 1 KiB objects, then full ListObjectsV2 sweeps) is sent to each, alternating rounds so that machine
noise hits both alike. Prints a table and the world's overhead (1 - world/moto throughput).

    .venv/bin/python benchmarks/bench_world_overhead.py [--objects 2000] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

BIN = Path(sys.executable).parent
CONFIG = Config(retries={"total_max_attempts": 1}, account_id_endpoint_mode="disabled", max_pool_connections=32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(kind: str):
    port = free_port()
    if kind == "moto":
        cmd = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    else:
        cmd = [str(BIN / "drharness"), "world", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.05)  # benchmark harness: waiting for a child process to listen
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def client(endpoint: str, region: str = "us-east-1"):
    return boto3.client("s3", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=CONFIG)


def run_load(endpoint: str, objects: int, threads: int, replicate: bool, tag: str) -> tuple[float, float]:
    s3 = client(endpoint)
    bucket = f"bench-{tag}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if replicate:
        west = client(endpoint, "us-west-2")
        west.create_bucket(Bucket=f"{bucket}-dst", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        west.put_bucket_versioning(Bucket=f"{bucket}-dst", VersioningConfiguration={"Status": "Enabled"})
        # The world replicates as the rule's role (moto ignores it): give both the same role that may replicate.
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                           aws_secret_access_key="testing", config=CONFIG)
        trust = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        allow = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:ReplicateObject"], "Resource": "*"}]}
        role = iam.create_role(RoleName=f"r-{tag}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=f"r-{tag}", PolicyName="replicate", PolicyDocument=json.dumps(allow))
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
            "Role": role,
            "Rules": [{"ID": "r", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                       "DeleteMarkerReplication": {"Status": "Disabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::{bucket}-dst"}}]})
    body = b"x" * 1024
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"embeddings/{i:07d}", Body=body), range(objects)))
    put_rate = objects / (time.perf_counter() - start)
    sweeps = 5
    start = time.perf_counter()
    listed = 0
    for _ in range(sweeps):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed += page.get("KeyCount", 0)
    list_rate = listed / (time.perf_counter() - start)
    return put_rate, list_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"moto": [], "world": [], "world+replication": []}
    for round_no in range(args.rounds):
        for kind in ("moto", "world", "world+replication"):
            with server("moto" if kind == "moto" else "world") as endpoint:
                results[kind].append(run_load(endpoint, args.objects, args.threads, kind.endswith("replication"), f"r{round_no}"))
    print(f"objects={args.objects} threads={args.threads} rounds={args.rounds} (medians)")
    print(f"{'server':<20}{'put/s':>10}{'listed keys/s':>16}")
    medians = {}
    for kind, runs in results.items():
        put = statistics.median(r[0] for r in runs)
        lst = statistics.median(r[1] for r in runs)
        medians[kind] = (put, lst)
        print(f"{kind:<20}{put:>10.0f}{lst:>16.0f}")
    for kind in ("world", "world+replication"):
        put_over = 1 - medians[kind][0] / medians["moto"][0]
        list_over = 1 - medians[kind][1] / medians["moto"][1]
        print(f"overhead of {kind} vs moto: put {put_over:+.1%}, list {list_over:+.1%}")


if __name__ == "__main__":
    main()
