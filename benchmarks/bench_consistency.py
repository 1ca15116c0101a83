"""Consistency-check benchmark on the offline world (not run in CI).

S3: a source bucket (us-east-1) and a replica bucket (us-west-2) of N small objects with the same seeded
differences (missing, extra, changed with the same size, changed size) are compared by
`drharness compare`, `rclone check` and `aws s3 sync --dryrun --delete`, one after another against one
world that runs in its own process. Each tool runs as its own process: wall time and peak RSS (wait4)
are measured from outside; the differences each tool reports are read from its output and checked
against the seeded ones. A separate run of the same check under tracemalloc gives the Python heap peak.

DynamoDB: two tables of N items with seeded differences are compared by `compare_tables` and by the
plain way (scan both tables into dicts, compare the dicts), each in its own process.

    /work/venv/bin/python benchmarks/bench_consistency.py --objects 20000 200000 --items 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent
EAST, WEST = "us-east-1", "us-west-2"
PREFIX = "embeddings/"
BATCHES = 32
PER_KIND = 25
DDB_SEGMENTS = 2
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": EAST}

# -- the seeded stores (the same in every process: derived from N only) ---------------------------------


def object_key(i: int) -> str:
    return f"{PREFIX}batch-{i % BATCHES:02d}/vec-{i:07d}.npy"


def object_body(i: int, tag: str = "v") -> bytes:
    return f"{tag}{i:07d}".encode() * 8  # 64 bytes; the tag changes content at the same size


@dataclass
class Seeded:
    n: int
    missing: set[str] = field(default_factory=set)
    extra: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    changed_same_size: set[str] = field(default_factory=set)


def seeded_s3(n: int) -> tuple[Seeded, list[int], list[int], list[int], list[int]]:
    rng = random.Random(n)
    picks = rng.sample(range(n), 3 * PER_KIND)
    missing, same_size, resized = picks[:PER_KIND], picks[PER_KIND:2 * PER_KIND], picks[2 * PER_KIND:]
    extra = list(range(n, n + PER_KIND))
    seeded = Seeded(n)
    seeded.missing = {object_key(i)[len(PREFIX):] for i in missing}
    seeded.extra = {object_key(i)[len(PREFIX):] for i in extra}
    seeded.changed_same_size = {object_key(i)[len(PREFIX):] for i in same_size}
    seeded.changed = seeded.changed_same_size | {object_key(i)[len(PREFIX):] for i in resized}
    return seeded, missing, same_size, resized, extra


def bucket_names(n: int) -> tuple[str, str]:
    return f"bench-source-{n}", f"bench-replica-{n}"


def table_item(i: int, score: str = "0.5") -> dict[str, Any]:
    return {"pk": {"S": f"doc#{i % 997:04d}"}, "sk": {"N": str(i)}, "score": {"N": score},
            "model": {"S": "embed-v2"}, "dims": {"N": "768"}, "tags": {"SS": ["batch", f"b{i % 16}"]}}


def seeded_table(n: int) -> tuple[Seeded, list[int], list[int], list[int]]:
    rng = random.Random(n + 1)
    picks = rng.sample(range(n), 2 * PER_KIND)
    missing, changed = picks[:PER_KIND], picks[PER_KIND:]
    extra = list(range(n, n + PER_KIND))
    show = lambda i: f'pk="doc#{i % 997:04d}" sk={i}'  # noqa: E731 - drharness's key display
    seeded = Seeded(n, {show(i) for i in missing}, {show(i) for i in extra}, {show(i) for i in changed})
    return seeded, missing, changed, extra


def table_names(n: int) -> str:
    return f"bench-table-{n}"


# -- the world process ---------------------------------------------------------------------------------------


def serve(objects: list[int], items: list[int]) -> None:
    """Run a world, fill it through moto's backends (fast), print its endpoint, serve until stdin closes."""
    from drharness.world import moto as moto_access
    from drharness.world.server import World

    with World(seed=1) as world:
        s3_east, s3_west = world.client("s3", EAST), world.client("s3", WEST)
        backend = moto_access.s3_backend(world.account_id)
        for n in objects:
            source, replica = bucket_names(n)
            s3_east.create_bucket(Bucket=source)
            s3_west.create_bucket(Bucket=replica, CreateBucketConfiguration={"LocationConstraint": WEST})
            _, missing, same_size, resized, extra = seeded_s3(n)
            skip, same, grown = set(missing), set(same_size), set(resized)
            for i in range(n):
                key, body = object_key(i), object_body(i)
                backend.put_object(source, key, body, disable_notification=True)
                if i in skip:
                    continue
                if i in same:
                    body = object_body(i, "x")
                elif i in grown:
                    body = body + b"+"
                backend.put_object(replica, key, body, disable_notification=True)
            for i in extra:
                backend.put_object(replica, object_key(i), object_body(i), disable_notification=True)
        for n in items:
            name = table_names(n)
            _, missing, changed, extra = seeded_table(n)
            skip, alter = set(missing), set(changed)
            for region in (EAST, WEST):
                world.client("dynamodb", region).create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "N"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            east, west = moto_access.dynamodb_backend(EAST), moto_access.dynamodb_backend(WEST)
            for i in range(n):
                east.put_item(name, table_item(i))
                if i not in skip:
                    west.put_item(name, table_item(i, "0.75" if i in alter else "0.50"))  # 0.50 == 0.5
            for i in extra:
                west.put_item(name, table_item(i))
        warm_listings(world, [name for n in objects for name in bucket_names(n)])
        print(json.dumps({"endpoint": world.endpoint}), flush=True)
        sys.stdin.read()  # the controller closes stdin to stop the world


def warm_listings(world: Any, buckets: list[str]) -> None:
    """List every bucket once in each form a tool may ask for (URL-encoded or not, with the owner or not), so
    that no tool's first run pays for building the world's listing index and its rendered entries."""
    from botocore.handlers import set_list_objects_encoding_type_url

    for encoded in (True, False):
        client = world.client("s3", EAST)
        if not encoded:
            client.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url)
        for bucket in buckets:
            for owner in ({}, {"FetchOwner": True}):  # the world, as moto, adds the owner for any value given
                for _ in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **owner):
                    pass


# -- measuring a process ---------------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    n: int
    wall_seconds: float
    peak_rss_mib: float
    exit_code: int
    missing: set[str] = field(default_factory=set)
    extra: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    heap_peak_mib: float | None = None
    server_cpu_seconds: float | None = None
    tool_cpu_seconds: float | None = None
    note: str = ""


@dataclass
class Measured:
    wall: float
    rss: float  # peak RSS, MiB (wait4)
    cpu: float  # user + system CPU seconds (wait4)
    code: int
    out: str
    err: str


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `cmd`; its wall time, peak RSS, CPU, exit code, stdout and stderr."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    # A CA bundle in the environment makes rclone's AWS SDK refuse its own transport; the world is http.
    base = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**base, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    out.seek(0)
    err.seek(0)
    return Measured(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status),
                    out.read().decode(), err.read().decode())


def run_drharness(endpoint: str, n: int, reports: Path) -> Run:
    source, replica = bucket_names(n)
    env = {"DRHARNESS_REPORTS": str(reports), "DRHARNESS_RUN_ID": f"bench-{n}-{time.time_ns()}"}
    m = measure(
        [str(VENV_BIN / "drharness"), "compare", f"s3://{source}/{PREFIX}", f"s3://{replica}/{PREFIX}",
         "--endpoint", endpoint, "--max-listed", "1000", "--record"], env)
    if m.code not in (0, 1):
        raise SystemExit(f"drharness compare failed ({m.code}): {m.err.strip()}")
    record_path = m.out.strip().splitlines()[-1].removeprefix("record: ")
    evidence = json.loads(Path(record_path).read_text())["evidence"]
    return Run("drharness compare", n, m.wall, m.rss, m.code, set(evidence["first_missing"]),
               set(evidence["first_extra"]), {d["key"] for d in evidence["first_differing"]}, tool_cpu_seconds=m.cpu)


def rclone_config(endpoint: str, path: Path) -> Path:
    lines = []
    for name, region in (("src", EAST), ("dst", WEST)):
        lines += [f"[{name}]", "type = s3", "provider = Other", "access_key_id = testing",
                  "secret_access_key = testing", f"region = {region}", f"endpoint = {endpoint}",
                  "force_path_style = true", "list_version = 2", ""]
    path.write_text("\n".join(lines))
    return path


def run_rclone(endpoint: str, n: int, workdir: Path) -> Run:
    source, replica = bucket_names(n)
    config = rclone_config(endpoint, workdir / "rclone.conf")
    combined = workdir / f"rclone-{n}.txt"
    m = measure(
        ["rclone", "check", f"src:{source}/{PREFIX}", f"dst:{replica}/{PREFIX}", "--config", str(config),
         "--combined", str(combined)])
    run = Run("rclone check", n, m.wall, m.rss, m.code, tool_cpu_seconds=m.cpu)
    for line in combined.read_text().splitlines():
        mark, key = line[:1], line[2:]
        # "+": only in the source (missing on the replica), "-": only in the replica, "*": differ.
        {"+": run.missing, "-": run.extra, "*": run.changed}.get(mark, set()).add(key)
    if "!" in {line[:1] for line in combined.read_text().splitlines()}:
        run.note = "rclone reported errors"
    return run


def run_aws(endpoint: str, n: int) -> Run:
    source, replica = bucket_names(n)
    m = measure(
        [str(VENV_BIN / "aws"), "s3", "sync", f"s3://{source}/{PREFIX}", f"s3://{replica}/{PREFIX}", "--dryrun",
         "--delete", "--endpoint-url", endpoint, "--region", WEST], CREDS)
    # No --source-region: the AWS CLI then builds the source client without --endpoint-url (real S3).
    run = Run("aws s3 sync --dryrun", n, m.wall, m.rss, m.code, tool_cpu_seconds=m.cpu)
    src_root, dst_root = f"s3://{source}/{PREFIX}", f"s3://{replica}/{PREFIX}"
    for line in m.out.splitlines():
        if line.startswith("(dryrun) copy: "):
            key = line.split(" to ", 1)[0].removeprefix("(dryrun) copy: ").removeprefix(src_root)
            run.changed.add(key)  # sync copies missing and changed alike; split below
        elif line.startswith("(dryrun) delete: "):
            run.extra.add(line.removeprefix("(dryrun) delete: ").removeprefix(dst_root))
    return run


def heap_probe_s3(endpoint: str, n: int) -> float:
    """Peak Python heap (MiB) of compare_buckets under tracemalloc, in a fresh process."""
    m = measure([sys.executable, str(HERE), "probe-s3", endpoint, str(n)])
    if m.code != 0:
        raise SystemExit(f"probe failed: {m.err.strip()}")
    return json.loads(m.out)["heap_peak_mib"]


def probe_s3(endpoint: str, n: int) -> None:
    import tracemalloc

    from drharness.instruments.consistency import BucketSide, compare_buckets
    from drharness.target import OfflineTarget

    target = OfflineTarget(endpoint)
    source, replica = bucket_names(n)
    sides = (BucketSide.of(target, EAST, source, PREFIX), BucketSide.of(target, WEST, replica, PREFIX))
    tracemalloc.start()
    report = compare_buckets(*sides, max_listed=20)
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"heap_peak_mib": peak / 2**20, "divergent": report.divergent_count}))


# -- DynamoDB: drharness vs scan-both-into-dicts ---------------------------------------------------------------


def probe_ddb(endpoint: str, n: int, way: str, heap: bool) -> None:
    import tracemalloc

    from botocore.config import Config

    from drharness.instruments.consistency import TableSide, compare_tables
    from drharness.target import OFFLINE_CONFIG, OfflineTarget

    # A 1 MB scan page of small items takes the world seconds to serialize; several at once on a busy
    # machine overrun the offline client's 30 s read timeout, so both ways get a longer one.
    target = OfflineTarget(endpoint, config=OFFLINE_CONFIG.merge(Config(read_timeout=600)))
    name = table_names(n)
    east, west = target.client("dynamodb", EAST), target.client("dynamodb", WEST)
    if heap:
        tracemalloc.start()
    if way == "drharness":
        # Two segments per table: the world answers on one core, so more concurrent 1 MB scan pages only
        # queue behind each other (and eight of them overrun the offline client's 30 s read timeout).
        report = compare_tables(TableSide(east, name, EAST), TableSide(west, name, WEST), max_listed=1000,
                                segments=DDB_SEGMENTS, workers=2 * DDB_SEGMENTS)
        found = {"missing": report.first_missing, "extra": report.first_extra,
                 "changed": [d.key for d in report.first_differing]}
    else:
        found = scan_into_dicts(east, west, name)
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if heap else None
    print(json.dumps({**{k: sorted(v) for k, v in found.items()}, "heap_peak_mib": peak}))


def scan_into_dicts(east: Any, west: Any, name: str) -> dict[str, list[str]]:
    """The plain way: every item of both tables in a dict, then compare the dicts."""
    from drharness.instruments.consistency.dynamodb import canonical_attribute

    def load(client: Any) -> dict[str, str]:
        items: dict[str, str] = {}
        for page in client.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                key = f'pk="{item["pk"]["S"]}" sk={item["sk"]["N"]}'
                items[key] = json.dumps({k: canonical_attribute(v) for k, v in item.items()}, sort_keys=True)
        return items

    left, right = load(east), load(west)
    return {"missing": sorted(left.keys() - right.keys()), "extra": sorted(right.keys() - left.keys()),
            "changed": sorted(k for k in left.keys() & right.keys() if left[k] != right[k])}


def run_ddb(endpoint: str, n: int, way: str) -> Run:
    m = measure([sys.executable, str(HERE), "probe-ddb", endpoint, str(n), way])
    if m.code != 0:
        raise SystemExit(f"{way} failed: {m.err.strip()}")
    found = json.loads(m.out)
    label = "drharness compare_tables" if way == "drharness" else "scan both into dicts"
    return Run(label, n, m.wall, m.rss, m.code, set(found["missing"]), set(found["extra"]), set(found["changed"]),
               tool_cpu_seconds=m.cpu)


# -- the controller ---------------------------------------------------------------------------------------------


def verdict(run: Run, seeded: Seeded) -> str:
    found = (run.missing == seeded.missing, run.extra == seeded.extra, run.changed == seeded.changed)
    if all(found):
        return "all seeded differences, nothing else"
    parts = [f"missing {len(run.missing & seeded.missing)}/{len(seeded.missing)}",
             f"extra {len(run.extra & seeded.extra)}/{len(seeded.extra)}",
             f"changed {len(run.changed & seeded.changed)}/{len(seeded.changed)}"]
    spurious = (run.missing - seeded.missing) | (run.extra - seeded.extra) | (run.changed - seeded.changed)
    return ", ".join(parts) + (f", {len(spurious)} not seeded" if spurious else "")


def aws_verdict(run: Run, seeded: Seeded) -> str:
    # sync reports one "copy" per missing or changed key; it cannot tell them apart.
    copies = seeded.missing | seeded.changed
    return (f"copy {len(run.changed & copies)}/{len(copies)} (missing+changed; same-size changes "
            f"{len(run.changed & seeded.changed_same_size)}/{len(seeded.changed_same_size)}), "
            f"delete {len(run.extra & seeded.extra)}/{len(seeded.extra)}")


def cpu_seconds(pid: int) -> float:
    """User+system CPU a process has used so far (Linux /proc), for the world's share of each run."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(world_pid: int, tool: Any) -> Run:
    before = cpu_seconds(world_pid)
    run = tool()
    run.server_cpu_seconds = cpu_seconds(world_pid) - before
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="*", default=[20_000, 200_000])
    parser.add_argument("--items", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each S3 tool per size up to 50,000 objects")
    parser.add_argument("--repeat-large", type=int, default=1, help="runs of each S3 tool per larger size")
    parser.add_argument("--skip", nargs="*", default=[], choices=["rclone", "aws", "heap"])
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    if "rclone" not in args.skip and shutil.which("rclone") is None:
        raise SystemExit("rclone is not installed: apt-get install -y rclone (or --skip rclone)")
    world = subprocess.Popen(
        [sys.executable, str(HERE), "serve", "--objects", *map(str, args.objects), "--items", *map(str, args.items)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    start = time.monotonic()
    runs: list[dict[str, Any]] = []
    try:
        line = world.stdout.readline() if world.stdout else ""
        if not line:
            raise SystemExit("the world process did not start")
        endpoint = json.loads(line)["endpoint"]
        print(f"world at {endpoint} (pid {world.pid}), filled in {time.monotonic() - start:.0f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for n in args.objects:
                seeded = seeded_s3(n)[0]
                tools = [lambda n=n: run_drharness(endpoint, n, workdir)]
                if "rclone" not in args.skip:
                    tools.append(lambda n=n: run_rclone(endpoint, n, workdir))
                if "aws" not in args.skip:
                    tools.append(lambda n=n: run_aws(endpoint, n))
                for _ in range(args.repeat if n <= 50_000 else args.repeat_large):
                    for tool in tools:  # interleaved, so a change in the machine's load hits every tool
                        run = timed(world.pid, tool)
                        found = aws_verdict(run, seeded) if run.tool.startswith("aws") else verdict(run, seeded)
                        report(runs, run, found)
                if "heap" not in args.skip:
                    heap = heap_probe_s3(endpoint, n)
                    print(f"{'drharness compare':26s} n={n:<7d} Python heap peak under tracemalloc {heap:.1f} MiB",
                          flush=True)
                    runs.append({"tool": "drharness compare (tracemalloc)", "n": n, "heap_peak_mib": round(heap, 2)})
            for n in args.items:
                seeded = seeded_table(n)[0]
                for way in ("drharness", "dicts"):
                    run = timed(world.pid, lambda n=n, way=way: run_ddb(endpoint, n, way))
                    report(runs, run, verdict(run, seeded))
    finally:
        if args.json:
            args.json.write_text(json.dumps(runs, indent=2))
        if world.stdin:
            world.stdin.close()
        world.wait(timeout=60)
    summarize(runs)


def summarize(runs: list[dict[str, Any]]) -> None:
    """Median wall time and world CPU per tool and size; drharness's ratio to rclone."""
    import statistics

    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        if "wall_seconds" in run:
            groups.setdefault((run["tool"], run["n"]), []).append(run)
    print("\nmedians:")
    for (tool, n), group in groups.items():
        wall = statistics.median(r["wall_seconds"] for r in group)
        cpu = statistics.median(r["server_cpu_seconds"] for r in group)
        own = statistics.median(r["tool_cpu_seconds"] for r in group)
        rss = max(r["peak_rss_mib"] for r in group)
        line = (f"  {tool:26s} n={n:<7d} wall {wall:7.2f} s  world CPU {cpu:7.2f} s  tool CPU {own:6.2f} s  "
                f"peak RSS {rss:6.1f} MiB")
        rclone = groups.get(("rclone check", n))
        if tool == "drharness compare" and rclone:
            ratio = wall / statistics.median(r["wall_seconds"] for r in rclone)
            line += f"  ({ratio:.2f} x rclone's wall time)"
        print(line, flush=True)


def report(runs: list[dict[str, Any]], run: Run, found: str) -> None:
    heap = f"  heap peak {run.heap_peak_mib:.1f} MiB" if run.heap_peak_mib is not None else ""
    cpu = run.server_cpu_seconds or 0
    print(f"{run.tool:26s} n={run.n:<7d} wall {run.wall_seconds:7.2f} s  world CPU {cpu:7.2f} s  "
          f"tool CPU {run.tool_cpu_seconds or 0:6.2f} s  "
          f"peak RSS {run.peak_rss_mib:6.1f} MiB{heap}  exit {run.exit_code}  found: {found} {run.note}", flush=True)
    runs.append({"tool": run.tool, "n": run.n, "wall_seconds": round(run.wall_seconds, 3),
                 "server_cpu_seconds": round(run.server_cpu_seconds or 0, 2),
                 "tool_cpu_seconds": round(run.tool_cpu_seconds or 0, 2),
                 "peak_rss_mib": round(run.peak_rss_mib, 1), "exit_code": run.exit_code, "found": found})


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "serve":
        sub = argparse.ArgumentParser()
        sub.add_argument("--objects", type=int, nargs="*", default=[])
        sub.add_argument("--items", type=int, nargs="*", default=[])
        opts = sub.parse_args(sys.argv[2:])
        serve(opts.objects, opts.items)
    elif mode == "probe-s3":
        probe_s3(sys.argv[2], int(sys.argv[3]))
    elif mode == "probe-ddb":
        probe_ddb(sys.argv[2], int(sys.argv[3]), sys.argv[4], "--heap" in sys.argv[5:])
    else:
        main()
