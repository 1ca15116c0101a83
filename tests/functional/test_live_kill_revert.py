"""Crash-safe revert live: a run injecting live faults, killed at random points, leaves the account clean.

The world stands in for the account. A run opens the live backend through the safety gates (opt-in,
STS, the allowlist, the tag scope) and, under a RunGuard, injects in a loop the live faults that leave
something in an account: az-outage and replication-pause (FIS experiments and templates),
credential-compromise (an IAM user and key), region-outage (an explicit deny on the workload's role),
data-corruption (the seed objects overwritten). It is
killed at seeded random points:
- SIGINT: the run reverts on its way out; the account holds nothing of it once it has exited;
- SIGKILL: nothing runs on the way out; `drharness revert --target aws --live` then leaves nothing.
The seed is printed; replay with DRHARNESS_KILL_SEED=<seed>. DRHARNESS_LIVE_KILLS sets the kills per
signal (default 20).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.faults import Journal
from drharness.faults.live import live_options
from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE
from drharness.world.control import WorldClient

import kills
from in_process import cli
from live_world import as_an_account, nothing_left

pytestmark = pytest.mark.e2e

DRHARNESS = Path(sys.executable).with_name("drharness")
KILLS_PER_SIGNAL = int(os.environ.get("DRHARNESS_LIVE_KILLS") or 20)
RUN_START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 60.0
MAX_DELAY_S = 0.8  # about one injection cycle of the run script: kills land anywhere in it
SEED_ENV = "DRHARNESS_KILL_SEED"
SEED_OBJECTS = 3

RUN_SCRIPT = textwrap.dedent('''
    """A live DR run that injects faults until it is stopped."""
    import faulthandler
    import signal as _signal
    faulthandler.register(_signal.SIGUSR1, all_threads=True)  # kills.DUMP_SIGNAL: where a hung run is
    import sys
    from pathlib import Path

    from drharness import faults
    from drharness.config import load_workload
    from drharness.faults.live import live_options
    from drharness.safety import open_live_backend, open_live_target
    from drharness.safety.guard import RunGuard
    from drharness.settings import RunSettings
    from drharness.waiting import pause

    config, journal_dir = Path(sys.argv[1]), sys.argv[2]
    settings = RunSettings(target="aws", config=config, live_flag=True)
    loaded = load_workload(config)
    target = open_live_target(settings, loaded)
    workload = loaded.with_account(target.account_id)
    backend = open_live_backend(settings, workload, live_options(workload))
    journal = faults.Journal(journal_dir)
    region = workload.primary_region
    steps = [
        ("az-outage", {"region": region, "az": "a"}),
        ("replication-pause", {"bucket": workload.data_bucket, "region": workload.secondary_region}),
        ("credential-compromise", {"region": region}),
        ("region-outage", {"region": region}),
        ("data-corruption", {"bucket": workload.data_bucket, "prefix": live_options(workload).seed_prefix,
                             "count": 2, "region": region}),
    ]
    sys.stdin.readline()  # started ahead of time; the test says when to begin
    try:
        with RunGuard(target, workload, journal, backend, poll_interval_s=0.5):
            print("started", flush=True)
            while True:
                for name, params in steps:
                    faults.inject(backend, name, params, journal)
                    pause(0.02)
                faults.revert_all(backend, journal)
    except KeyboardInterrupt:
        sys.exit(130)
''')


def _seed(world, workload) -> dict[str, bytes]:
    """The harness's seed objects, which data-corruption may overwrite; their bytes as written."""
    s3 = world.client("s3", workload.primary_region)
    written = {}
    for n in range(SEED_OBJECTS):
        key = f"{live_options(workload).seed_prefix}kill/{n:04d}.json"
        written[key] = b'{"n": %d, "embedding": [0.5, 0.25]}' % n
        s3.put_object(Bucket=workload.data_bucket, Key=key, Body=written[key])
    return written


def _clean(world, workload, seeded: dict[str, bytes], journal: Path, where: str) -> None:
    nothing_left(world)
    iam = world.client("iam", "us-east-1")
    denies = iam.list_role_policies(RoleName="embedding-worker")["PolicyNames"]
    assert denies == [], f"{where}: region-outage denies left on the workload's role: {denies}"
    users = [u["UserName"] for u in world.client("iam", "us-east-1").list_users()["Users"]]
    assert [u for u in users if u.startswith("drharness-cc-")] == [], f"{where}: users left: {users}"
    assert Journal(journal).pending() == [], f"{where}: journal still pending"
    s3 = world.client("s3", workload.primary_region)
    for key, body in seeded.items():
        assert s3.get_object(Bucket=workload.data_bucket, Key=key)["Body"].read() == body, f"{where}: {key} corrupted"


def test_killed_live_runs_leave_nothing_in_the_account(world, tmp_path, monkeypatch, capsys):
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**31))
    print(f"kill sequence seed: {seed} (replay with {SEED_ENV}={seed})")
    rng = random.Random(seed)
    # The workload's own role (as_an_account makes it, in the scope): region-outage denies the region to it.
    config, env = as_an_account(world, tmp_path)
    workload = load_workload(config).with_account(world.account_id)
    seeded = _seed(world, workload)
    for name, value in env.items():  # `drharness revert` runs here, in the environment a live run gets
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    script = tmp_path / "run_live_faults.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")

    def spawn_run(number: int) -> kills.Run:
        journal = tmp_path / f"journal-{number:02d}"
        return kills.spawn([sys.executable, str(script), str(config), str(journal)], cwd=tmp_path, env=env,
                           journal=journal)

    signals = [signal.SIGINT, signal.SIGKILL] * KILLS_PER_SIGNAL
    counts = {"injected": 0, "left_by_kills": 0}

    def check(signum: int, journal: Path, where: str) -> None:
        if signum == signal.SIGKILL:
            counts["left_by_kills"] += len(Journal(journal).pending())
            code = cli("revert", "--journal", str(journal), "--target", "aws", "--live", "--config", str(config))
            said = capsys.readouterr()
            assert code == 0, f"{where}: revert exited {code}: {said.out}{said.err}"
        _clean(world, workload, seeded, journal, where)
        counts["injected"] += len(list(journal.glob("*.json"))) if journal.is_dir() else 0

    kills.kill_sequence(spawn_run, signals, rng, MAX_DELAY_S, seed=seed, start_timeout_s=RUN_START_TIMEOUT_S,
                        exit_timeout_s=EXIT_TIMEOUT_S, check=check)
    assert WorldClient(world.endpoint).faults() == []
    # Not vacuous: the runs injected faults, and killed runs left some that only the revert took off.
    assert counts["injected"] > 0 and counts["left_by_kills"] > 0, counts
    print(f"{len(signals)} kills: {counts['injected']} faults journalled, {counts['left_by_kills']} left by SIGKILL "
          "and reverted")


def test_revert_of_a_live_journal_without_live_opt_in_says_how(world, tmp_path):
    config, env = as_an_account(world, tmp_path)
    script = tmp_path / "inject_once.py"
    script.write_text(textwrap.dedent('''
        import sys
        from pathlib import Path
        from drharness import faults
        from drharness.config import load_workload
        from drharness.faults.live import live_options
        from drharness.safety import open_live_backend
        from drharness.settings import RunSettings
        config = Path(sys.argv[1])
        settings = RunSettings(target="aws", config=config, live_flag=True)
        workload = load_workload(config)
        backend = open_live_backend(settings, workload, live_options(workload))
        faults.inject(backend, "credential-compromise", {"region": "us-east-1"}, faults.Journal(sys.argv[2]))
    '''), encoding="utf-8")
    journal = tmp_path / "journal"
    subprocess.run([sys.executable, str(script), str(config), str(journal)], env=env, check=True, timeout=120)
    offline_env = {k: v for k, v in env.items() if k != LIVE_ENV}
    refused = subprocess.run([str(DRHARNESS), "revert", "--journal", str(journal)], env=offline_env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0
    assert "--target aws --live" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert Journal(journal).pending() != []  # nothing was half-done
    done = subprocess.run([str(DRHARNESS), "revert", "--journal", str(journal), "--target", "aws", "--live",
                           "--config", str(config)], env={**env, LIVE_ENV: LIVE_ENV_VALUE}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Journal(journal).pending() == []
    users = [u["UserName"] for u in world.client("iam", "us-east-1").list_users()["Users"]]
    assert [u for u in users if u.startswith("drharness-cc-")] == []
