"""Time the offline monthly drill and check that healthy runs give the same verdicts.

Runs `pytest drtests -m monthly` N times in one process per run (world start and deploy included) and
N times with `-n 2`, prints each wall time, and compares the verdicts of every run: the multiset of
(check, verdict) must be identical (resource names may carry random restore or fault ids).

    .venv/bin/python benchmarks/bench_drill.py [--runs 5]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(reports: Path, run_id: str, workers: int) -> tuple[float, collections.Counter[tuple[str, str]], int]:
    args = [sys.executable, "-m", "pytest", "drtests", "-m", "monthly", "-q", "-p", "no:randomly",
            "--dr-reports", str(reports)] + (["-n", str(workers)] if workers else [])
    start = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, "DRHARNESS_RUN_ID": run_id}, capture_output=True, text=True)
    wall = time.monotonic() - start
    verdicts: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in (reports / "results" / run_id).glob("*.json"):
        record = json.loads(path.read_text())
        verdicts[(record["check"], record["verdict"])] += 1
    return wall, verdicts, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp)
        results = {}
        for workers in (0, 2):
            for i in range(args.runs):
                results[(workers, i)] = run(reports, f"bench-{workers}-{i}", workers)
                wall, verdicts, code = results[(workers, i)]
                print(f"-n {workers}: run {i + 1}: {wall:.1f} s, exit {code}, {sum(verdicts.values())} records, "
                      f"{sum(n for (c, v), n in verdicts.items() if v == 'pass')} pass")
        for workers in (0, 2):
            walls = [results[(workers, i)][0] for i in range(args.runs)]
            print(f"-n {workers}: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s")
        first = results[(0, 0)][1]
        same = all(v == first for _, v, _ in results.values())
        print(f"identical (check, verdict) sets across all {len(results)} runs: {same}")
        if not same:
            for key, (_, verdicts, _) in results.items():
                if verdicts != first:
                    print(f"  -n {key[0]} run {key[1] + 1} differs: {sorted((verdicts - first) + (first - verdicts))[:8]}")


if __name__ == "__main__":
    main()
