"""Tamper-evident evidence bundles: a run's (or a month's) records and reports in one signed archive.

One gzip'd tar archive: `manifest.json` (every other member's SHA-256 and size, and the record hash
chain), `manifest.sig` (the raw Ed25519 signature over the exact bytes of manifest.json),
`public_key.pem` (the signer's, for convenience: verify with a key you trust), `controls.json` (which
record evidences which control: `CONTROLS`, mapped by `TOPICS`), `records/<run_id>/<file>.json` (in
chain order: started_at, then file name), `monthly/<YYYY-MM>/` (that month's report, when written) and
`journals/` (the fault revert journals, when any).

Chain: link = sha256(previous link hex + record file sha256 hex), the first previous is 64 zeros; the
last link is the head. Text members are masked (`Scrubber`) and scanned before anything is written, and
the archive is renamed into place, so a refusal or a crash leaves no bundle. Verifying never extracts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drharness.errors import ReportError
from drharness.redaction import TEXT_SUFFIXES
from drharness.reporting.scrub import Finding, Scrubber, scan_text, scan_tree
from drharness.reporting.signing import FINGERPRINT_HEX, fingerprint, public_key_from_pem, public_pem
from drharness.results import ResultRecord, iso, list_runs, utc_now
from drharness.timefmt import parse_iso

FORMAT = "drharness-evidence-bundle/1"
MANIFEST, SIGNATURE, PUBLIC_KEY, CONTROL_MAP = "manifest.json", "manifest.sig", "public_key.pem", "controls.json"
GENESIS = "0" * 64
CHAIN_RULE = "link = sha256(previous link hex + record file sha256 hex); the first previous link is 64 zeros"
BUNDLED_BINARY = frozenset({".png"})  # charts, drawn from already-masked text
MAX_MEMBER_BYTES = 256 * 1024 * 1024
# An account id the scrubber was not told about, in a field that names an account (a journal's account_id).
ACCOUNT_FIELD = re.compile(r"\"[A-Za-z_]*account[A-Za-z_]*\"\s*:\s*\"?\d{12}(?!\d)", re.IGNORECASE)

ONE_SCOPE = "pass exactly one of --run ID or --month YYYY-MM: a bundle holds one run or one month"
NO_SUCH_RUN = "run {run!r} has no result records under {where}; runs there: {runs}"
NO_MONTH_RUNS = "no run under {where} started in {month}; runs there: {runs}"
BAD_RECORD = "result record {path} is not a valid record ({why}); remove or repair it, then bundle again"
LEAKED = ("the evidence bundle would expose {count} account- or secret-looking string(s), first {first}; nothing was "
          "written. Add the account to the workload config (account_id or [live].allowed_accounts) so it is masked, "
          "or remove it at its source")
NO_BUNDLE = "evidence bundle {path} does not exist; pass the FILE.tar.gz that `drharness evidence bundle` wrote"
REORDERED = "is record {position} in the archive, but the chain has {expected} there: the records were reordered"


# -- the control map ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A control a bundle gives evidence for, and which kind of record evidences it."""

    framework: str
    id: str
    title: str
    evidenced_by: str


@dataclass(frozen=True)
class Topic:
    """What a record judges, told by a word of its scenario, check or metric, and the controls that evidences."""

    name: str
    words: frozenset[str]
    controls: tuple[str, ...]


ISO, NIST, SOC2 = "ISO/IEC 27001:2022", "NIST SP 800-53 Rev. 5", "SOC 2 (AICPA Trust Services Criteria)"
BACKUP_RECORDS = "backup, restore, PITR and restore-consistency records (objective or self-check)"
RECOVERY_RECORDS = "failover, RTO, runbook and recovery records (objective or self-check)"
DRILL_RECORDS = "every drill record of kind objective or self-check"
CONTROLS: tuple[Control, ...] = (
    #       framework  id         title                                                  evidenced by
    Control(ISO,       "A.5.30",  "ICT readiness for business continuity",               RECOVERY_RECORDS),
    Control(ISO,       "A.8.13",  "Information backup",                                  BACKUP_RECORDS),
    Control(NIST,      "CP-4",    "Contingency plan testing",                            DRILL_RECORDS),
    Control(NIST,      "CP-9(1)", "System backup: testing for reliability and integrity", BACKUP_RECORDS),
    Control(NIST,      "CP-10",   "System recovery and reconstitution",                  RECOVERY_RECORDS),
    Control(SOC2,      "A1.3",    "Recovery plan testing",                               DRILL_RECORDS),
)
TOPICS: tuple[Topic, ...] = (
    Topic("backup and restore", frozenset({"backup", "backups", "restore", "restored", "restores", "pitr",
                                           "snapshot", "corruption"}), ("A.8.13", "CP-9(1)")),
    Topic("failover and recovery", frozenset({"failover", "rto", "runbook", "recover", "recovery", "recovered",
                                              "reconstitution"}), ("CP-10", "A.5.30")),
)
DRILL_KINDS = frozenset({"objective", "self-check"})
DRILL_CONTROLS = ("CP-4", "A1.3")
INFO_MAPS_TO_NOTHING = "an info record judges nothing, so it evidences no control"


def controls_for(record: ResultRecord) -> tuple[str, ...]:
    """The ids of the controls `record` evidences, in `CONTROLS` order; none for an info record."""
    if record.kind not in DRILL_KINDS:
        return ()
    words = set(re.split(r"[^a-z0-9]+", f"{record.scenario} {record.check} {record.metric}".lower()))
    wanted = set(DRILL_CONTROLS) | {c for topic in TOPICS if topic.words & words for c in topic.controls}
    return tuple(c.id for c in CONTROLS if c.id in wanted)


def controls_document(records: Sequence[tuple[str, ResultRecord]]) -> str:
    """`controls.json` for (member name, record) pairs: the rules, each control with the records that
    evidence it, and the records that evidence none."""
    mapped = [(name, record, controls_for(record)) for name, record in records]

    def row(name: str, r: ResultRecord) -> dict[str, str]:
        return {"file": name, "check": r.check, "scenario": r.scenario, "kind": r.kind or "", "verdict": r.verdict}

    document = {
        "rules": [f"{t.name} ({', '.join(sorted(t.words))}) -> {', '.join(t.controls)}" for t in TOPICS]
        + [f"{DRILL_RECORDS} -> {', '.join(DRILL_CONTROLS)}", INFO_MAPS_TO_NOTHING],
        "controls": [{"framework": c.framework, "id": c.id, "title": c.title, "evidenced_by": c.evidenced_by,
                      "records": [row(n, r) for n, r, ids in mapped if c.id in ids]} for c in CONTROLS],
        "unmapped": [{**row(n, r), "why": INFO_MAPS_TO_NOTHING} for n, r, ids in mapped if not ids],
    }
    return json.dumps(document, indent=2) + "\n"


# -- the manifest and the chain -----------------------------------------------------------------------


@dataclass(frozen=True)
class BundleFile:
    """One member of a bundle as the manifest lists it."""

    path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ChainLink:
    """One record in the chain: its member, its file's digest, and the link that digest makes."""

    path: str
    sha256: str
    link: str


@dataclass(frozen=True)
class Manifest:
    """What `manifest.json` says: the bundle's scope, its members, its record chain and its signer."""

    created_at: str
    runs: tuple[str, ...]
    month: str
    files: tuple[BundleFile, ...]
    chain: tuple[ChainLink, ...]
    public_key: str  # the signer's fingerprint

    @property
    def head(self) -> str:
        return self.chain[-1].link if self.chain else GENESIS

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, "created_at": self.created_at, "runs": list(self.runs), "month": self.month,
                "public_key": self.public_key, "files": [vars(f) for f in self.files],
                "chain": {"rule": CHAIN_RULE, "records": [vars(link) for link in self.chain], "head": self.head}}
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, body: bytes) -> "Manifest":
        """Parse a manifest; ValueError, KeyError, TypeError or AttributeError when it is not one."""
        data = json.loads(body.decode("utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
        chain = data["chain"]
        manifest = cls(str(data["created_at"]), tuple(map(str, data["runs"])), str(data["month"]),
                       tuple(BundleFile(str(f["path"]), str(f["sha256"]), int(f["size_bytes"])) for f in data["files"]),
                       tuple(ChainLink(str(c["path"]), str(c["sha256"]), str(c["link"])) for c in chain["records"]),
                       str(data["public_key"]))
        if chain["head"] != manifest.head:
            raise ValueError("its chain head is not its last link")
        return manifest


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def chain_link(previous_hex: str, record_sha256_hex: str) -> str:
    """One link of the record chain (`CHAIN_RULE`)."""
    return sha256_hex((previous_hex + record_sha256_hex).encode("ascii"))


def record_chain(records: Sequence[tuple[str, bytes]]) -> tuple[ChainLink, ...]:
    """The chain over (member name, file bytes) pairs, in their order."""
    links, previous = [], GENESIS
    for name, body in records:
        digest = sha256_hex(body)
        previous = chain_link(previous, digest)
        links.append(ChainLink(name, digest, previous))
    return tuple(links)


# -- building -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleOutput:
    """What `build_bundle` wrote, and the files of the report or journals it left out (neither text nor chart)."""

    path: Path
    manifest: Manifest
    skipped: tuple[str, ...]


def select_runs(reports: Path, run: str | None, month: str | None) -> tuple[tuple[str, ...], str]:
    """The runs a bundle holds and their month: one run (`run`), or every run that started in `month`."""
    # Imported here so that keygen and verify start without the monthly report's charting library.
    from drharness.reporting.monthly import check_month, run_month

    if (run is None) == (month is None):
        raise ReportError(ONE_SCOPE)
    where, runs = reports / "results", list_runs(reports)
    if run is not None:
        records = [r for _, r in _run_records(reports, run)] if run in runs else []
        if not records:
            raise ReportError(NO_SUCH_RUN.format(run=run, where=where, runs=", ".join(runs[-5:]) or "none"))
        return (run,), run_month(records, run)
    month = check_month(month or "")
    chosen = tuple(r for r in runs if run_month([rec for _, rec in _run_records(reports, r)], r) == month)
    if not chosen:
        raise ReportError(NO_MONTH_RUNS.format(where=where, month=month, runs=", ".join(runs[-5:]) or "none"))
    return chosen, month


def _run_records(reports: Path, run: str) -> list[tuple[Path, ResultRecord]]:
    return [(path, _parse_record(path.read_bytes(), path)) for path in sorted((reports / "results" / run).glob("*.json"))]


def _parse_record(body: bytes, where: object) -> ResultRecord:
    try:
        return ResultRecord.from_json(json.loads(body.decode("utf-8")))
    except (ValueError, TypeError) as exc:
        raise ReportError(BAD_RECORD.format(path=where, why=exc)) from exc


def _record_order(item: tuple[Path, ResultRecord]) -> tuple[float, str, str]:
    """started_at (a record without one last), then file name, then run."""
    moment = parse_iso(item[1].started_at)
    return (moment.timestamp() if moment else float("inf"), item[0].name, item[0].parent.name)


def build_bundle(reports: Path, output: Path, key: Ed25519PrivateKey, scrubber: Scrubber, *, run: str | None = None,
                 month: str | None = None) -> BundleOutput:
    """Write the signed evidence bundle of one run or of one month's runs under `reports` to `output`.

    Every text member is masked with `scrubber`, then the staged content is scanned for account ids
    (`scrubber.accounts`, ARN accounts, account fields) and credentials: a finding refuses the bundle."""
    reports, output = Path(reports), Path(output)
    runs, month_of = select_runs(reports, run, month)
    records = sorted((item for r in runs for item in _run_records(reports, r)), key=_record_order)
    with tempfile.TemporaryDirectory(prefix="drharness-evidence-") as temp:
        staging = Path(temp)
        names = [_stage(staging, scrubber, path, "records", path.parent.name, path.name) for path, _ in records]
        monthly = _stage_tree(staging, scrubber, reports / "monthly" / month_of, ("monthly", month_of)) if month_of \
            else ([], [])
        journals = _stage_tree(staging, scrubber, reports / "journals", ("journals",))
        bodies = [(name, (staging / name).read_bytes()) for name in names]
        controls = controls_document([(name, _parse_record(body, name)) for name, body in bodies])
        (staging / CONTROL_MAP).write_text(scrubber.text(controls), encoding="utf-8")
        (staging / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
        members = [CONTROL_MAP, PUBLIC_KEY, *names, *monthly[0], *journals[0]]
        _refuse_leaks(staging, members, scrubber.accounts)
        blobs = {member: (staging / member).read_bytes() for member in members}
        manifest = Manifest(iso(utc_now()), tuple(scrubber.text(r) for r in runs), month_of,
                            tuple(BundleFile(m, sha256_hex(b), len(b)) for m, b in blobs.items()),
                            record_chain(bodies), fingerprint(key.public_key()))
        body = manifest.to_bytes()
        _write_archive(output, [(MANIFEST, body), (SIGNATURE, key.sign(body)), *blobs.items()], int(utc_now().timestamp()))
    return BundleOutput(output, manifest, (*monthly[1], *journals[1]))


def _stage(staging: Path, scrubber: Scrubber, source: Path, *parts: str) -> str:
    """Copy `source` in as member `parts`, masked; the member's name is masked too (a bucket name holds an account)."""
    name = str(PurePosixPath(*(scrubber.text(part) for part in parts)))
    target = staging / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    scrubber.file(target)
    return name


def _stage_tree(staging: Path, scrubber: Scrubber, root: Path, prefix: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Stage the text files and charts under `root` (not links, not hidden temporary files): (staged, skipped)."""
    staged: list[str] = []
    skipped: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else []:
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative):
            continue  # a half-written report or journal entry (`.name.tmp`)
        if path.suffix.lower() in TEXT_SUFFIXES | BUNDLED_BINARY:
            staged.append(_stage(staging, scrubber, path, *prefix, *relative))
        else:
            skipped.append(str(path))
    return staged, skipped


def _refuse_leaks(staging: Path, members: Sequence[str], accounts: Sequence[str]) -> None:
    """Refuse the bundle when anything account- or key-like is left in a member or in a member's name."""
    findings = [Finding(f.path.relative_to(staging), f.line, f.kind, f.excerpt) for f in scan_tree(staging, accounts)]
    for name in (m for m in members if PurePosixPath(m).suffix.lower() in TEXT_SUFFIXES):
        for number, line in enumerate((staging / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            findings += [Finding(Path(name), number, "account id field", m.group(0).split(":")[0] + ": ****…")
                         for m in ACCOUNT_FIELD.finditer(line)]
    findings += [Finding(Path(name), 1, f"{kind} in the file name", excerpt)
                 for name in members for _, kind, excerpt in scan_text(name, accounts)]
    if findings:
        raise ReportError(LEAKED.format(count=len(findings), first=findings[0]))


def _write_archive(output: Path, members: Sequence[tuple[str, bytes]], mtime: int) -> None:
    """Write the archive to a temporary file beside `output`, then rename it: never half a bundle."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            # No file name, owner or group in the headers: nothing about who or where the bundle was made.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as zipped, \
                    tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, body in members:
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(body), mtime, 0o644
                    tar.addfile(info, io.BytesIO(body))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, output)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- verifying ----------------------------------------------------------------------------------------


class TamperedBundle(ReportError):
    """The first thing in a bundle that did not match: the member named (or the bundle itself), and what."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: {what}")
        self.path, self.what = path, what


@dataclass(frozen=True)
class Verification:
    """What `verify_bundle` proved, and with which key."""

    bundle: Path
    records: int
    files: int
    chain_head: str
    fingerprint: str
    key_source: Literal["given", "bundle"]

    def summary(self) -> str:
        key = ("the key given with --key" if self.key_source == "given" else
               "the bundle's own public_key.pem: this proves the bundle is intact, not who signed it; "
               "pass --key with the signer's public key to prove that")
        return (f"verified {self.bundle}: {self.records} records, {self.files} files, chain head "
                f"{self.chain_head[:FINGERPRINT_HEX]}…, key {self.fingerprint} ({key})")


def verify_bundle(path: Path, public_key: Ed25519PublicKey | None = None) -> Verification:
    """Check, in order: the manifest's signature (with `public_key`, else the bundle's own key), every
    member's digest and size, that no member is unlisted and none missing, then the record chain over
    the records in the order the archive holds them. The first mismatch raises `TamperedBundle`."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(NO_BUNDLE.format(path=path))
    members = _read_archive(path)
    manifest, key = _check_signature(members, public_key)
    _check_files(members, manifest)
    _check_chain(members, manifest)
    return Verification(path, len(manifest.chain), len(members), manifest.head, fingerprint(key),
                        "given" if public_key is not None else "bundle")


def _read_archive(path: Path) -> dict[str, bytes]:
    """Every member's bytes by name, in the archive's order."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                name = info.name
                if not info.isfile():
                    raise TamperedBundle(name, "is not a regular file; a bundle holds files only")
                if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                    raise TamperedBundle(name, "is a path outside the bundle")
                if name in members:
                    raise TamperedBundle(name, "appears twice in the archive")
                if info.size > MAX_MEMBER_BYTES:
                    raise TamperedBundle(name, f"is {info.size} bytes, over the {MAX_MEMBER_BYTES} a member may be")
                handle = tar.extractfile(info)
                members[name] = handle.read() if handle else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise TamperedBundle(path.name, f"is not a readable gzip'd tar archive ({exc})") from exc
    return members


def _check_signature(members: Mapping[str, bytes], given: Ed25519PublicKey | None
                     ) -> tuple[Manifest, Ed25519PublicKey]:
    for name in (MANIFEST, SIGNATURE) + (() if given else (PUBLIC_KEY,)):
        if name not in members:
            raise TamperedBundle(name, "is missing from the archive")
    try:
        key = given or public_key_from_pem(members[PUBLIC_KEY])
    except ValueError as exc:
        raise TamperedBundle(PUBLIC_KEY, f"is not an Ed25519 public key in PEM ({exc})") from exc
    try:
        key.verify(members[SIGNATURE], members[MANIFEST])
    except InvalidSignature as exc:
        whose = "the key given with --key" if given else f"the bundle's own {PUBLIC_KEY}"
        raise TamperedBundle(MANIFEST, f"the signature in {SIGNATURE} does not verify with {whose} ({fingerprint(key)}):"
                                       " the manifest or its signature was changed, or another key signed it") from exc
    try:
        return Manifest.from_bytes(members[MANIFEST]), key
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TamperedBundle(MANIFEST, f"is signed but is not a drharness evidence manifest ({exc})") from exc


def _check_files(members: Mapping[str, bytes], manifest: Manifest) -> None:
    listed = {f.path: f for f in manifest.files}
    for name, entry in ((n, listed[n]) for n in members if n in listed):
        size, digest = len(members[name]), sha256_hex(members[name])
        if size != entry.size_bytes:
            raise TamperedBundle(name, f"is {size} bytes; the manifest says {entry.size_bytes}")
        if digest != entry.sha256:
            raise TamperedBundle(name, f"has sha256 {digest}; the manifest says {entry.sha256}")
    for name in members:
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            raise TamperedBundle(name, "is in the archive but not in the manifest")
    for entry in manifest.files:
        if entry.path not in members:
            raise TamperedBundle(entry.path, "is in the manifest but missing from the archive")


def _check_chain(members: Mapping[str, bytes], manifest: Manifest) -> None:
    """Recompute the record chain over the records in the order the archive holds them."""
    chained = {link.path for link in manifest.chain}
    held = [name for name in members if name in chained]
    previous = GENESIS
    for position, (expected, name) in enumerate(zip(manifest.chain, held), start=1):
        if name != expected.path:
            raise TamperedBundle(name, REORDERED.format(position=position, expected=expected.path))
        previous = chain_link(previous, sha256_hex(members[name]))
        if previous != expected.link:
            raise TamperedBundle(name, f"chain link {position} recomputes to {previous}; the manifest says {expected.link}")
    if len(held) != len(manifest.chain):
        raise TamperedBundle(manifest.chain[len(held)].path, f"is record {len(held) + 1} of the chain but not in the archive")
    if previous != manifest.head:
        raise TamperedBundle(MANIFEST, f"the record chain recomputes to head {previous}; the manifest says {manifest.head}")


__all__ = [
    "CONTROLS", "TOPICS", "BundleFile", "BundleOutput", "ChainLink", "Control", "Manifest", "TamperedBundle", "Topic",
    "Verification", "build_bundle", "chain_link", "controls_document", "controls_for", "record_chain", "select_runs",
    "verify_bundle",
]
