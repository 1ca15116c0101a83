"""Evidence bundles from a known set of records: a fresh bundle verifies, and every tampering is caught by name.

Everything runs in-process (`drharness.cli.main`); tampering rewrites the archive with one member
altered, removed, added or moved, as an attacker holding the bundle (and maybe a key of their own) would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drharness.faults.journal import BackendRef, Journal
from drharness.faults.spec import parse_fault
from drharness.reporting.bundle import CONTROL_MAP, LEAKED, MANIFEST, ONE_SCOPE, PUBLIC_KEY, REORDERED, SIGNATURE
from drharness.reporting.scrub import mask_account, scan_tree
from drharness.reporting.signing import KEY_ENV, KEY_EXISTS, NO_KEY, fingerprint, load_public_key
from drharness.results import ResultRecord, ResultSink

from in_process import cli

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"  # on no allowlist: nothing masks it
MONTH = "2025-03"
MAR_A, MAR_B, APR = "20250305T090000Z-mar001", "20250320T090000Z-mar002", "20250402T090000Z-apr001"
ENV = (KEY_ENV, "DRHARNESS_ACCOUNT_ID", "DRHARNESS_REPORTS", "DRHARNESS_CONFIG", "DRHARNESS_RUN_ID", "DRHARNESS_JOURNAL")
SIX_CONTROLS = {"A.5.30": "ICT readiness for business continuity", "A.8.13": "Information backup",
                "CP-4": "Contingency plan testing", "CP-9(1)": "System backup: testing for reliability and integrity",
                "CP-10": "System recovery and reconstitution", "A1.3": "Recovery plan testing"}
DRILL = {"CP-4", "A1.3"}
BACKUP, RECOVERY = {"A.8.13", "CP-9(1)"}, {"A.5.30", "CP-10"}
# check -> the controls its record evidences, by what it judges (written out here, not computed by the module)
EXPECTED = {
    "restore:dynamodb-pitr": DRILL | BACKUP,
    "rto:s3:us-west-2": DRILL | RECOVERY,
    "az:fault-reverted": DRILL,  # a self-check: drill evidence, neither backup nor recovery
    "inventory:recovery-points": set(),  # info
    "recover-full:runbook": DRILL | RECOVERY,
    "consistency:restore-vs-before-fault": DRILL | BACKUP,
}


def rec(run: str, day: int, hour: int, check: str, scenario: str, metric: str, verdict: str, *, kind: str | None = None,
        resource: str = "res", reason: str = "", evidence: dict | None = None) -> ResultRecord:
    month = int(run[4:6])
    return ResultRecord(
        check=check, scenario=scenario, resource=resource, tier="critical", target="offline", metric=metric,
        value=None if verdict == "info" else 1.0, unit="s", objective=None if verdict == "info" else 10.0,
        comparison=None if verdict == "info" else "<=", verdict=verdict, reason=reason or f"{check} {verdict}",  # type: ignore[arg-type]
        started_at=dt.datetime(2025, month, day, hour, tzinfo=dt.timezone.utc).isoformat(), duration_seconds=1.0,
        evidence=evidence or {}, run_id=run, kind=kind)  # type: ignore[arg-type]


def known_records() -> list[ResultRecord]:
    arn = f"arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:1"
    return [
        rec(MAR_A, 5, 11, "az:fault-reverted", "az", "compliant", "pass", kind="self-check"),
        rec(MAR_A, 5, 9, "restore:dynamodb-pitr", "backup", "restore_seconds", "pass",
            reason=f"restored the table of account {ACCOUNT} in 1 s"),
        rec(MAR_A, 5, 10, "rto:s3:us-west-2", "region", "rto", "pass", resource=f"data-{ACCOUNT}"),
        rec(MAR_A, 5, 9, "inventory:recovery-points", "inventory", "recovery_points", "info", resource="vault",
            evidence={"recovery_points": [{"recovery_point_arn": arn, "bucket": f"data-{ACCOUNT}"}]}),
        rec(MAR_B, 20, 9, "recover-full:runbook", "recovery", "rto_seconds", "fail", reason="step 3 timed out"),
        rec(MAR_B, 20, 10, "consistency:restore-vs-before-fault", "data_corruption", "divergent_items", "pass"),
        rec(APR, 2, 9, "rto:region", "region", "rto", "pass"),
    ]


@dataclass(frozen=True)
class Built:
    root: Path
    reports: Path
    config: Path
    key: Path
    public: Path
    attacker_key: Path
    attacker_public: Path
    bundle: Path
    sink_files: dict[str, list[Path]]  # run -> the record files the sink wrote
    journal_member: str




@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("evidence")
    with pytest.MonkeyPatch.context() as env:
        for name in ENV:
            env.delenv(name, raising=False)
        reports = root / "reports"
        sinks: dict[str, ResultSink] = {}
        for record in known_records():
            sinks.setdefault(record.run_id, ResultSink(reports, run=record.run_id)).write(record)
        for month in (MONTH, "2025-04"):
            (reports / "monthly" / month).mkdir(parents=True)
            (reports / "monthly" / month / "report.md").write_text(f"# DR report {month}\nbucket data-{ACCOUNT}\n")
            (reports / "monthly" / month / "report.html").write_text(f"<p>account {ACCOUNT}</p>\n")
            (reports / "monthly" / month / "pass-rate.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
        journal = Journal(reports / "journals" / "drill.faults")
        journal.begin("fault0001", "az-outage", parse_fault("az-outage", {"region": "us-east-1", "az": "us-east-1a"}),
                      BackendRef("aws", account_id=ACCOUNT, region="us-east-1"))
        journal.mark("fault0001", "reverted")
        config = root / "workload.toml"
        config.write_text(f'[offline]\naccount_id = "{ACCOUNT}"\n', encoding="utf-8")
        key, attacker = root / "keys" / "signer", root / "keys" / "attacker"
        assert cli("evidence", "keygen", "--output", str(key)) == 0
        assert cli("evidence", "keygen", "--output", str(attacker)) == 0
        bundle = root / "out" / f"evidence-{MONTH}.tar.gz"
        assert cli("evidence", "bundle", "--month", MONTH, "--reports", str(reports), "--config", str(config),
                   "--key", str(key), "--output", str(bundle)) == 0
        yield Built(root, reports, config, key, Path(f"{key}.pub"), attacker, Path(f"{attacker}.pub"), bundle,
                    {run: sorted(sink.directory.glob("*.json")) for run, sink in sinks.items()},
                    "journals/drill.faults/fault0001.json")


# -- archive helpers: what an attacker holding the bundle can do ---------------------------------------


def read_members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]  # type: ignore[union-attr]


def write_members(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def record_names(members: list[tuple[str, bytes]]) -> list[str]:
    return [name for name, _ in members if name.startswith("records/")]


def flip_one_byte(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]


def chain_head(bodies: list[bytes]) -> str:
    link = "0" * 64
    for body in bodies:
        link = hashlib.sha256((link + hashlib.sha256(body).hexdigest()).encode()).hexdigest()
    return link


def resign(members: list[tuple[str, bytes]], key_path: Path) -> list[tuple[str, bytes]]:
    """The forger's bundle: a manifest for `members` as they now stand, signed with the forger's own key,
    whose public key replaces the signer's."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    manifest = json.loads(dict(members)[MANIFEST])
    members = [(n, public if n == PUBLIC_KEY else b) for n, b in members if n not in (MANIFEST, SIGNATURE)]
    manifest["files"] = [{"path": n, "sha256": hashlib.sha256(b).hexdigest(), "size_bytes": len(b)} for n, b in members]
    links, link = [], "0" * 64
    for name, body in ((n, b) for n, b in members if n.startswith("records/")):
        digest = hashlib.sha256(body).hexdigest()
        link = hashlib.sha256((link + digest).encode()).hexdigest()
        links.append({"path": name, "sha256": digest, "link": link})
    manifest["chain"]["records"], manifest["chain"]["head"] = links, link
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return [(MANIFEST, body), (SIGNATURE, key.sign(body)), *members]


def verify(bundle: Path, key: Path | None, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli("evidence", "verify", str(bundle), *(("--key", str(key)) if key else ()))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- a fresh bundle -------------------------------------------------------------------------------------


def test_a_fresh_bundle_verifies_with_the_signers_key_and_says_when_the_key_was_its_own(
        built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    members = read_members(built.bundle)
    manifest = json.loads(dict(members)[MANIFEST])
    code, out, err = verify(built.bundle, built.public, capsys)
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert f"{len(record_names(members))} records, {len(members)} files" in out
    assert f"chain head {manifest['chain']['head'][:16]}" in out
    assert fingerprint(load_public_key(built.public)) in out and "given with --key" in out
    code, out, _ = verify(built.bundle, None, capsys)
    assert code == 0 and "the bundle's own public_key.pem" in out and "not who signed it" in out


def test_the_bundle_holds_the_months_records_in_order_its_report_journals_and_a_signed_manifest(built: Built) -> None:
    members = read_members(built.bundle)
    names = [n for n, _ in members]
    by_name = dict(members)
    sink_files = built.sink_files[MAR_A] + built.sink_files[MAR_B]
    started = {p: json.loads(p.read_text())["started_at"] for p in sink_files}
    wanted = sorted(sink_files, key=lambda p: (dt.datetime.fromisoformat(started[p]), p.name))
    assert record_names(members) == [f"records/{p.parent.name}/{p.name}" for p in wanted]
    assert not any(APR in n or "2025-04" in n for n in names)  # April's run and report are another bundle's
    assert {f"monthly/{MONTH}/report.md", f"monthly/{MONTH}/report.html", f"monthly/{MONTH}/pass-rate.png",
            built.journal_member, CONTROL_MAP, PUBLIC_KEY, MANIFEST, SIGNATURE} <= set(names)
    manifest = json.loads(by_name[MANIFEST])
    assert [f["path"] for f in manifest["files"]] == [n for n in names if n not in (MANIFEST, SIGNATURE)]
    for entry in manifest["files"]:
        body = by_name[entry["path"]]
        assert (entry["sha256"], entry["size_bytes"]) == (hashlib.sha256(body).hexdigest(), len(body))
    assert manifest["chain"]["head"] == chain_head([by_name[n] for n in record_names(members)])
    assert manifest["runs"] == [MAR_A, MAR_B] and manifest["month"] == MONTH
    public = serialization.load_pem_public_key(built.public.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(by_name[SIGNATURE], by_name[MANIFEST])  # raises if not the signer's signature of these bytes
    assert by_name[PUBLIC_KEY] == built.public.read_bytes()


# -- tampering ------------------------------------------------------------------------------------------

PICKS: dict[str, Callable[[list[str]], str]] = {
    "a record": lambda names: [n for n in names if n.startswith("records/")][1],
    "a report file": lambda names: f"monthly/{MONTH}/report.md",
    "a chart": lambda names: f"monthly/{MONTH}/pass-rate.png",
    "a journal": lambda names: next(n for n in names if n.startswith("journals/")),
    "the control map": lambda names: CONTROL_MAP,
    "the public key": lambda names: PUBLIC_KEY,
    "the manifest": lambda names: MANIFEST,
    "the signature": lambda names: SIGNATURE,
}


@pytest.mark.parametrize("what", list(PICKS))
def test_one_changed_byte_anywhere_fails_naming_the_file(built: Built, tmp_path: Path, what: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    members = read_members(built.bundle)
    target = PICKS[what]([n for n, _ in members])
    changed = write_members(tmp_path / "changed.tar.gz",
                            [(n, flip_one_byte(b) if n == target else b) for n, b in members])
    code, out, err = verify(changed, built.public, capsys)
    assert code == 1 and out == ""
    named = MANIFEST if target == SIGNATURE else target  # a bad signature is told as the manifest not verifying
    assert f"{named}: " in err, err
    if target in (MANIFEST, SIGNATURE):
        assert "signature" in err and SIGNATURE in err
    else:
        assert "sha256" in err and "the manifest says" in err


def test_a_removed_record_fails_and_a_manifest_resigned_by_another_key_fails_against_the_real_key(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = read_members(built.bundle)
    gone = record_names(members)[2]
    kept = [(n, b) for n, b in members if n != gone]
    code, _, err = verify(write_members(tmp_path / "removed.tar.gz", kept), built.public, capsys)
    assert code == 1 and f"{gone}: is in the manifest but missing from the archive" in err
    forged = write_members(tmp_path / "forged.tar.gz", resign(kept, built.attacker_key))
    code, _, err = verify(forged, built.public, capsys)
    assert code == 1 and f"{MANIFEST}: the signature" in err and "given with --key" in err
    code, out, _ = verify(forged, None, capsys)  # what --key guards against: a forger's own key in the bundle
    assert code == 0 and "the bundle's own public_key.pem" in out


def test_reordered_records_fail_on_the_chain_and_a_resigned_reorder_fails_against_the_real_key(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = read_members(built.bundle)
    first, second = [i for i, (n, _) in enumerate(members) if n.startswith("records/")][:2]
    swapped = list(members)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    code, _, err = verify(write_members(tmp_path / "swapped.tar.gz", swapped), built.public, capsys)
    expected = REORDERED.format(position=1, expected=members[first][0])
    assert code == 1 and f"{members[second][0]}: {expected}" in err, err
    forged = write_members(tmp_path / "forged.tar.gz", resign(swapped, built.attacker_key))
    code, _, err = verify(forged, built.public, capsys)
    assert code == 1 and f"{MANIFEST}: the signature" in err
    assert verify(forged, None, capsys)[0] == 0  # the forgery is self-consistent: only the real key tells it apart


def test_an_added_file_or_another_public_key_fails(built: Built, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    members = read_members(built.bundle)
    extra = f"records/{MAR_A}/zz-planted.json"
    code, _, err = verify(write_members(tmp_path / "added.tar.gz", [*members, (extra, b"{}")]), built.public, capsys)
    assert code == 1 and f"{extra}: is in the archive but not in the manifest" in err
    code, _, err = verify(built.bundle, built.attacker_public, capsys)
    assert code == 1 and f"{MANIFEST}: the signature in {SIGNATURE} does not verify" in err
    assert fingerprint(load_public_key(built.attacker_public)) in err


# -- keys -----------------------------------------------------------------------------------------------


def test_bundle_refuses_without_a_key_and_leaves_no_file_and_takes_one_from_the_environment(
        built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ("evidence", "bundle", "--month", MONTH, "--reports", str(built.reports), "--config", str(built.config),
            "--output", str(out_dir / "b.tar.gz"))
    assert cli(*args) == 2
    assert capsys.readouterr().err.strip() == f"drharness: error: {NO_KEY}"
    assert list(out_dir.iterdir()) == []
    monkeypatch.setenv(KEY_ENV, built.key.read_text())
    assert cli(*args) == 0
    assert verify(out_dir / "b.tar.gz", built.public, capsys)[0] == 0
    assert [p.name for p in out_dir.iterdir()] == ["b.tar.gz"]  # no temporary file left beside it


def test_keygen_writes_a_private_key_only_its_owner_reads_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k"
    assert cli("evidence", "keygen", "--output", str(key)) == 0
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert isinstance(load_public_key(Path(f"{key}.pub")), Ed25519PublicKey)
    before = key.read_bytes(), Path(f"{key}.pub").read_bytes()
    capsys.readouterr()
    assert cli("evidence", "keygen", "--output", str(key)) == 2
    assert KEY_EXISTS.format(path=key) in capsys.readouterr().err
    assert (key.read_bytes(), Path(f"{key}.pub").read_bytes()) == before
    lone = tmp_path / "lone"
    Path(f"{lone}.pub").write_text("someone's public key")
    assert cli("evidence", "keygen", "--output", str(lone)) == 2
    assert not lone.exists() and Path(f"{lone}.pub").read_text() == "someone's public key"


# -- what is inside -------------------------------------------------------------------------------------


def test_no_account_id_is_in_any_member_and_masking_not_omission_removed_it(built: Built, tmp_path: Path) -> None:
    raw = [p.read_text() for files in built.sink_files.values() for p in files]
    assert any(ACCOUNT in text for text in raw)  # the sink left it (no account configured): the bundle must mask it
    members = read_members(built.bundle)
    extracted = tmp_path / "extracted"
    for name, body in members:
        (extracted / name).parent.mkdir(parents=True, exist_ok=True)
        (extracted / name).write_bytes(body)
    assert scan_tree(extracted, (ACCOUNT, OTHER_ACCOUNT)) == []
    assert not [name for name, body in members if ACCOUNT.encode() in body or ACCOUNT in name]
    restore = next(body for name, body in members if name.endswith("restore-dynamodb-pitr.json"))
    assert f"account {mask_account(ACCOUNT)}" in json.loads(restore)["reason"]
    assert json.loads(dict(members)[built.journal_member])["account_id"] == mask_account(ACCOUNT)


def test_a_bundle_that_would_expose_an_account_is_refused_and_nothing_is_replaced(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    reports = tmp_path / "reports"
    shutil.copytree(built.reports, reports)
    Journal(reports / "journals" / "other.faults").begin(
        "fault0002", "az-outage", parse_fault("az-outage", {"region": "us-east-1", "az": "us-east-1b"}),
        BackendRef("aws", account_id=OTHER_ACCOUNT, region="us-east-1"))
    output = tmp_path / "out" / "b.tar.gz"
    output.parent.mkdir()
    output.write_bytes(b"the previous bundle")
    assert cli("evidence", "bundle", "--month", MONTH, "--reports", str(reports), "--config", str(built.config),
               "--key", str(built.key), "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert LEAKED.split("{count}")[0] in err and "journals/other.faults/fault0002.json" in err
    assert OTHER_ACCOUNT not in err  # the refusal does not print what it refused to expose
    assert output.read_bytes() == b"the previous bundle" and [p.name for p in output.parent.iterdir()] == ["b.tar.gz"]


def test_the_control_map_names_all_six_controls_with_records_and_maps_info_records_to_none(built: Built) -> None:
    members = read_members(built.bundle)
    controls = json.loads(dict(members)[CONTROL_MAP])
    by_id = {c["id"]: c for c in controls["controls"]}
    assert {i: c["title"] for i, c in by_id.items()} == SIX_CONTROLS
    checks = {json.loads(body)["check"]: name for name, body in members if name.startswith("records/")}
    assert set(checks) == set(EXPECTED)
    for control in by_id.values():
        assert control["records"], f"{control['id']} has no record"
        assert {r["check"] for r in control["records"]} == {c for c, ids in EXPECTED.items() if control["id"] in ids}
        assert all(r["file"] == checks[r["check"]] for r in control["records"])
    assert [(u["check"], u["kind"]) for u in controls["unmapped"]] == [("inventory:recovery-points", "info")]
    assert by_id["CP-10"]["records"][-1]["verdict"] == "fail"  # a failed drill is still evidence it was tested


def test_one_run_bundles_alone_and_the_scope_must_be_one_run_or_one_month(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("evidence", "bundle", "--reports", str(built.reports), "--config", str(built.config), "--key", str(built.key))
    one = tmp_path / "one.tar.gz"
    assert cli(*base, "--run", MAR_B, "--output", str(one)) == 0
    members = read_members(one)
    assert record_names(members) == [f"records/{MAR_B}/{p.name}" for p in built.sink_files[MAR_B]]
    assert f"monthly/{MONTH}/report.md" in dict(members)
    assert verify(one, built.public, capsys)[0] == 0
    for scope in ((), ("--run", MAR_A, "--month", MONTH)):
        assert cli(*base, *scope, "--output", str(tmp_path / "x.tar.gz")) == 2
        assert ONE_SCOPE in capsys.readouterr().err
    assert cli(*base, "--run", "no-such-run", "--output", str(tmp_path / "x.tar.gz")) == 2
    assert "no-such-run" in capsys.readouterr().err and not (tmp_path / "x.tar.gz").exists()
