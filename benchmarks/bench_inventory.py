"""Benchmark: compare two S3 Inventory reports of N objects each with the DuckDB engine, on this machine.

The benchmark writes a source and a replica report (Parquet, AWS's layout: data files, manifest.json,
manifest.checksum, the hive symlink) under a scratch folder, with seeded differences it knows exactly:
`--missing` keys absent from the replica, `--extra` keys only in the replica, `--changed-etag` objects with
another ETag at the same size and `--changed-size` objects with another size. The compare then runs in a
child process (`drharness.instruments.consistency.inventory`: the report verified as a fetched report is —
manifest checksum, each file's size and MD5 — then the one query), measured from outside with `wait4`:
wall time, peak RSS, user + system CPU. The child's findings must equal the seeded differences exactly,
or the benchmark fails.

    .venv/bin/python benchmarks/bench_inventory.py --objects 10000000 --repeat 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb

ROOT_PREFIX = "inventory"
STAMP = "2026-12-04T00-00Z"
PARQUET_SCHEMA = ("message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
                  "optional int64 size; optional binary e_tag (STRING); optional binary replication_status (STRING);}")


def _write_side(root: Path, bucket: str, objects: int, files: int, seeds: dict[str, int], replica: bool) -> None:
    folder = f"{ROOT_PREFIX}/{bucket}/daily"
    (root / folder / "data").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    missing, extra = seeds["missing"], seeds["extra"]
    etag, size = seeds["changed_etag"], seeds["changed_size"]
    stride = objects // max(missing + etag + size, 1)
    # Object i is `data/<i>`; every `stride`-th object is a seeded difference, in turn missing, new ETag, new size.
    status = "'REPLICA'" if replica else "'COMPLETED'"
    seeded = f"(i % {stride} = 0 AND i / {stride} < {missing + etag + size})"
    kind = f"(i / {stride})"
    rows = (
        f"SELECT '{bucket}' AS bucket, 'data/' || lpad(i::VARCHAR, 10, '0') AS key, "
        f"CASE WHEN {replica} AND {seeded} AND {kind} >= {missing + etag} THEN 64 + 1 ELSE 64 END::BIGINT AS size, "
        f"CASE WHEN {replica} AND {seeded} AND {kind} >= {missing} AND {kind} < {missing + etag} "
        f"THEN md5('changed' || i::VARCHAR) ELSE md5(i::VARCHAR) END AS e_tag, {status} AS replication_status "
        f"FROM range({{start}}, {{end}}) t(i)"
        + (f" WHERE NOT ({seeded} AND {kind} < {missing})" if replica else "")
    )
    entries = []
    per_file = -(-objects // files)
    for index in range(files):
        start, end = index * per_file, min(objects, (index + 1) * per_file)
        query = rows.format(start=start, end=end)
        if replica and index == files - 1:  # the extra keys sort after every shared one
            query += (f" UNION ALL SELECT '{bucket}', 'data/zz-extra-' || lpad(i::VARCHAR, 6, '0'), 64, md5('x'), "
                      f"'REPLICA' FROM range({extra}) t(i)")
        key = f"{folder}/data/{uuid.uuid4()}.parquet"
        con.execute(f"COPY ({query}) TO '{root / key}' (FORMAT PARQUET)")
        raw = (root / key).read_bytes()
        entries.append({"key": key, "size": len(raw), "MD5checksum": hashlib.md5(raw).hexdigest()})
    hive = root / folder / "hive" / f"dt={STAMP[:10]}-{STAMP[11:13]}-{STAMP[14:16]}"
    hive.mkdir(parents=True, exist_ok=True)
    (hive / "symlink.txt").write_text("".join(f"s3://dest/{e['key']}\n" for e in entries))
    manifest = json.dumps({"sourceBucket": bucket, "destinationBucket": "arn:aws:s3:::dest", "version": "2016-11-30",
                           "creationTimestamp": "1764806400000", "fileFormat": "Parquet",
                           "fileSchema": PARQUET_SCHEMA, "files": entries}).encode()
    (root / folder / STAMP).mkdir(parents=True, exist_ok=True)
    (root / folder / STAMP / "manifest.json").write_bytes(manifest)
    (root / folder / STAMP / "manifest.checksum").write_text(hashlib.md5(manifest).hexdigest())


def generate(root: Path, objects: int, files: int, seeds: dict[str, int]) -> float:
    start = time.monotonic()
    _write_side(root, "source", objects, files, seeds, replica=False)
    _write_side(root, "replica", objects, files, seeds, replica=True)
    return time.monotonic() - start


def compare_child(root: Path, memory_limit: str | None, threads: int | None) -> None:
    """In the child: verify both reports on disk and compare them; print the findings as JSON."""
    from drharness.instruments.consistency.inventory import (
        DuckDBEngine,
        InventorySide,
        compare_reports,
    )
    from drharness.instruments.consistency.inventory_report import local_report

    start = time.monotonic()
    reports = [local_report(root, f"{ROOT_PREFIX}/{bucket}/daily/{STAMP}/manifest.json")
               for bucket in ("source", "replica")]
    verified = time.monotonic() - start
    limits = {"memory_limit": memory_limit} if memory_limit else {}  # else the engine's own default
    engine = DuckDBEngine(workdir=root, threads=threads, **limits)
    try:
        # Each report's "client" is its verified files: the engine reads them from disk, not from S3.
        engine.attach = engine.attach_files  # type: ignore[method-assign]
        result = compare_reports(InventorySide(None, "source"), InventorySide(None, "replica"), reports[0],
                                 reports[1], engine, max_listed=20)
    finally:
        engine.close()
    print(json.dumps({"missing": result.missing_count, "extra": result.extra_count,
                      "differing": result.differing_count, "compared": result.compared_count,
                      "verify_s": round(verified, 3), "compare_s": round(result.duration_seconds, 3)}))


def measure(root: Path, memory_limit: str | None, threads: int | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(root)]
    if memory_limit:
        command += ["--memory-limit", memory_limit]
    if threads:
        command += ["--threads", str(threads)]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the compare failed (exit {os.waitstatus_to_exitcode(status)})")
    found = json.loads(out.strip().splitlines()[-1])
    return {**found, "wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10, help="data files per report")
    parser.add_argument("--missing", type=int, default=100)
    parser.add_argument("--extra", type=int, default=100)
    parser.add_argument("--changed-etag", type=int, default=50)
    parser.add_argument("--changed-size", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit (default: the engine's)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        compare_child(args.child, args.memory_limit, args.threads)
        return
    seeds = {"missing": args.missing, "extra": args.extra, "changed_etag": args.changed_etag,
             "changed_size": args.changed_size}
    root = Path(tempfile.mkdtemp(prefix="bench-inventory-", dir=args.workdir))
    try:
        generated = generate(root, args.objects, args.files, seeds)
        size_mib = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20
        print(f"generated 2 x {args.objects:,} objects ({size_mib:.0f} MiB of Parquet) in {generated:.1f} s")
        runs = []
        for run in range(args.repeat):
            result = measure(root, args.memory_limit, args.threads)
            expected = (args.missing, args.extra, args.changed_etag + args.changed_size)
            if (result["missing"], result["extra"], result["differing"]) != expected:
                raise SystemExit(f"run {run + 1}: found {result}, seeded {expected}")
            runs.append(result)
            print(json.dumps(result))
        walls = sorted(r["wall_s"] for r in runs)
        print(f"median wall {walls[len(walls) // 2]} s, max peak RSS {max(r['peak_rss_mib'] for r in runs)} MiB, "
              f"load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
