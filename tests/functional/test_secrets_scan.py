"""Credentials, session tokens and account ids never reach logs, results, reports or evidence bundles.

A full offline run (the pytest plugin starts and deploys its own world, a small DR suite measures and
records, the monthly report, the trend, the DR metrics and an evidence bundle are built from the
records) runs with a live-looking
credential set in its environment. Afterwards a scan of `reports/` and of the run's console logs
finds no credential and no account id — the offline world's account included (see drharness.safety).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from drharness.reporting.scrub import scan_text, scan_tree
from drharness.results import RUN_ID_ENV

DRHARNESS = Path(sys.executable).with_name("drharness")
OFFLINE_ACCOUNT = "123456789012"
# Shaped like real ones; none of them is valid anywhere.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAZ7QK3EXAMPLE2QPX",
    "AWS_SECRET_ACCESS_KEY": "q8Jd2mT0vXb7Lk1sPzR4yWn6Ah9Gc3Ee5Fu0Io2K",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEFakeSessionTokenForDrharnessScan0123456789abcdefABCDEF+/==",
}
RUN_TIMEOUT_S = 300.0

SUITE = textwrap.dedent('''
    """A small DR suite that touches the account id everywhere a real one would."""
    import pytest
    from botocore.exceptions import ClientError

    from drharness.results.objectives import objectives_for
    from drharness.waiting import wait_until


    @pytest.mark.monthly
    @pytest.mark.critical
    @pytest.mark.config
    def test_data_bucket_replicates(dr_target, dr_workload, dr_record):
        s3 = dr_target.client("s3", dr_workload.primary_region)
        rules = s3.get_bucket_replication(Bucket=dr_workload.data_bucket)["ReplicationConfiguration"]["Rules"]
        destination = rules[0]["Destination"]["Bucket"]
        dr_record.compliance(check="s3-replication-configured", resource=dr_workload.data_bucket, ok=bool(rules),
                             expected=f"replication to arn:aws:s3:::{dr_workload.backup_bucket}", actual=destination,
                             tier="critical")


    @pytest.mark.monthly
    @pytest.mark.critical
    @pytest.mark.replication
    def test_replication_lag_is_measured(dr_target, dr_workload, dr_record):
        primary = dr_target.client("s3", dr_workload.primary_region)
        replica = dr_target.client("s3", dr_workload.secondary_region)
        key = dr_workload.spec.bucket.replication.prefix + "secrets-scan/object-0001"
        caller = dr_target.client("sts", dr_workload.primary_region).get_caller_identity()
        with dr_record.timed() as clock:
            primary.put_object(Bucket=dr_workload.data_bucket, Key=key, Body=b"embedding")
            outcome = wait_until(lambda: replica.head_object(Bucket=dr_workload.backup_bucket, Key=key), 30.0, 0.02,
                                 what=f"s3://{dr_workload.backup_bucket}/{key}", swallow=(ClientError,))
        table_arn = f"arn:aws:dynamodb:{dr_workload.primary_region}:{dr_target.account_id}:table/{dr_workload.metadata_table}"
        dr_record.measure(
            check="s3-replication-lag", resource=dr_workload.data_bucket, metric="replication_lag_p99",
            value=outcome.elapsed_seconds if outcome.ok else None, unit="s",
            objective=objectives_for(dr_workload, "critical").replication_lag, tier="critical", scenario="replication",
            reason=outcome.reason, started_at=clock.started_at, duration_seconds=outcome.elapsed_seconds,
            evidence={"source": f"s3://{dr_workload.data_bucket}/{key}", "table": table_arn,
                      "account": dr_target.account_id, "caller": dict(caller, ResponseMetadata=None)},
        )
        assert outcome.ok, outcome.reason
''')


@pytest.mark.e2e
def test_a_full_offline_run_leaves_no_credential_or_account_id_in_reports_or_logs(tmp_path):
    suite = tmp_path / "drtests"
    suite.mkdir()
    (suite / "test_dr.py").write_text(SUITE, encoding="utf-8")
    reports = tmp_path / "reports"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRHARNESS_", "AWS_"))}
    env.update(FAKE_CREDENTIALS)
    env.update({"DRHARNESS_REPORTS": str(reports), RUN_ID_ENV: "20240101T000000Z-5ec7e7", "AWS_DEFAULT_REGION": "us-east-1"})

    def run(name: str, *argv: str) -> None:
        done = subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        (logs / f"{name}.log").write_text(f"$ {' '.join(argv[1:])}\n{done.stdout}\n{done.stderr}", encoding="utf-8")
        assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    run("pytest", sys.executable, "-m", "pytest", str(suite), "-m", "monthly", "-rA", "-p", "no:randomly",
        "-p", "no:cacheprovider", "--dr-reports", str(reports), "--alluredir", str(reports / "allure-results"),
        "--junitxml", str(reports / "junit.xml"), "--log-level", "DEBUG")
    run("monthly", str(DRHARNESS), "report", "monthly", "--reports", str(reports))
    run("metrics", str(DRHARNESS), "report", "metrics", "--reports", str(reports))
    run("trend", str(DRHARNESS), "report", "trend", "--reports", str(reports))
    # The auditor's bundle of the same run, unpacked where the scan below reads
    key = tmp_path / "keys" / "evidence"
    key.parent.mkdir()
    run("keygen", str(DRHARNESS), "evidence", "keygen", "--output", str(key))
    bundle = tmp_path / "evidence.tar.gz"
    run("bundle", str(DRHARNESS), "evidence", "bundle", "--run", env[RUN_ID_ENV], "--reports", str(reports),
        "--key", str(key), "--output", str(bundle))
    with tarfile.open(bundle) as archive:
        archive.extractall(reports / "evidence-unpacked", filter="data")
    assert (reports / "evidence-unpacked" / "manifest.json").is_file()

    records = list((reports / "results").rglob("*.json"))
    assert len(records) == 2, "the suite wrote its two records"
    findings = scan_tree(reports, [OFFLINE_ACCOUNT]) + scan_tree(logs, [OFFLINE_ACCOUNT])
    assert findings == [], "\n".join(str(f) for f in findings[:20])
    for path in [*reports.rglob("*"), *logs.rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".log", ".md", ".html", ".xml", ".txt"):
            text = path.read_text(encoding="utf-8", errors="replace")
            for name, secret in FAKE_CREDENTIALS.items():
                assert secret not in text, f"{name} leaked into {path}"


def test_the_scan_would_see_a_leak():
    """The scan the test above relies on finds each kind of secret it is meant to find."""
    line = (f"bucket data-{OFFLINE_ACCOUNT} arn:aws:iam::{OFFLINE_ACCOUNT}:role/x "
            f"key {FAKE_CREDENTIALS['AWS_ACCESS_KEY_ID']} aws_secret_access_key={FAKE_CREDENTIALS['AWS_SECRET_ACCESS_KEY']} "
            f"token {FAKE_CREDENTIALS['AWS_SESSION_TOKEN']}")
    kinds = {kind for _, kind, _ in scan_text(line, [OFFLINE_ACCOUNT])}
    assert kinds == {"account id", "arn account id", "access key id", "secret access key", "session token"}


@pytest.mark.e2e
def test_scrub_logs_masks_every_record_at_its_making(tmp_path):
    """What botocore's DEBUG log says about a caller is masked before any handler formats it."""
    log = tmp_path / "run.log"
    snippet = textwrap.dedent(f"""
        import logging
        from drharness.safety import scrub_logs

        logging.basicConfig(filename={str(log)!r}, level=logging.DEBUG)
        scrub_logs({OFFLINE_ACCOUNT!r})
        logging.getLogger("botocore.parsers").debug(
            "Response body: %s", {{"UserId": {FAKE_CREDENTIALS['AWS_ACCESS_KEY_ID']!r},
                                  "Account": {OFFLINE_ACCOUNT!r}, "Arn": "arn:aws:sts::{OFFLINE_ACCOUNT}:user/moto"}})
        logging.getLogger("drharness").warning("bucket data-%s, token %s", {OFFLINE_ACCOUNT!r},
                                               {FAKE_CREDENTIALS['AWS_SESSION_TOKEN']!r})
    """)
    subprocess.run([sys.executable, "-c", snippet], check=True, timeout=60)
    text = log.read_text(encoding="utf-8")
    assert "Response body" in text and "bucket data-********9012" in text
    assert list(scan_text(text, [OFFLINE_ACCOUNT])) == []
