"""Result records: every measurement and verdict, one typed record, one JSON file under reports/results/.

Records are the only input of every report (Allure, the monthly report, CloudWatch DR metrics, trends).
A run's records live in `reports/results/<run_id>/`; each record is its own file, so parallel writers
(pytest-xdist workers, a `chaos run` beside pytest) never contend for one file.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from drharness.redaction import Scrubber, configured_accounts
from drharness.timefmt import iso, utc_now
from drharness.results.evidence import Evidence, JsonValue, evidence_from_json, evidence_json

Status = Literal["pass", "fail", "error", "info"]
TargetName = Literal["offline", "aws"]
Comparison = Literal["<=", ">=", "=="]
# What a record judges: the workload against one of its objectives, the harness itself (an instrument
# seeing a loss it caused, a fault taking effect, the steady state back after a revert), or nothing.
RecordKind = Literal["objective", "self-check", "info"]
RECORD_KINDS: tuple[RecordKind, ...] = ("objective", "self-check", "info")

RUN_ID_ENV = "DRHARNESS_RUN_ID"
REPORTS_ENV = "DRHARNESS_REPORTS"
SCHEMA_VERSION = 2  # 2: records say their kind (schema 1 records: info if verdict info, else objective)


def new_run_id() -> str:
    return utc_now().strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_id() -> str:
    """This run's id: DRHARNESS_RUN_ID when a controller set it, else one made (and exported) now."""
    value = os.environ.get(RUN_ID_ENV)
    if not value:
        value = new_run_id()
        os.environ[RUN_ID_ENV] = value
    return value


def reports_dir() -> Path:
    return Path(os.environ.get(REPORTS_ENV, "reports"))


@dataclass(frozen=True)
class Objective:
    """A limit a measured value is judged against, and where the limit comes from."""

    metric: str
    limit: float
    unit: str
    comparison: Comparison = "<="
    source: str = ""

    def met_by(self, value: float) -> bool:
        if self.comparison == "<=":
            return value <= self.limit
        if self.comparison == ">=":
            return value >= self.limit
        return value == self.limit


@dataclass(frozen=True)
class ResultRecord:
    check: str
    scenario: str
    resource: str
    tier: str | None
    target: TargetName
    metric: str
    value: float | None
    unit: str
    objective: float | None
    comparison: Comparison | None
    verdict: Status
    reason: str
    started_at: str
    duration_seconds: float
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)
    source: str = "api"  # "pytest" | "chaos" | "cli" | "api"
    test_id: str = ""
    run_id: str = ""
    kind: RecordKind | None = None  # None: "info" for an info verdict, else "objective"
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", "info" if self.verdict == "info" else "objective")
        elif self.kind not in RECORD_KINDS:
            raise ValueError(f"record kind {self.kind!r} is not one of {', '.join(RECORD_KINDS)}")

    @property
    def judges_objective(self) -> bool:
        """Whether this record is a verdict on the workload's objectives (not a self-check, not information)."""
        return self.kind == "objective"

    @classmethod
    def against(cls, objective: Objective | None, *, evidence: Evidence | Mapping[str, JsonValue] | None = None,
                **fields: object) -> "ResultRecord":
        """The one way a measured record is made: judged against `objective` (its limit and comparison
        copied in, none without one), its typed evidence serialised with its kind."""
        return cls(objective=objective.limit if objective else None,  # type: ignore[arg-type]
                   comparison=objective.comparison if objective else None,
                   evidence=evidence_json(evidence), **fields)

    @property
    def typed_evidence(self) -> Evidence | None:
        """The instrument's evidence as its dataclass, or None for evidence that names no known kind."""
        return evidence_from_json(self.evidence)

    def to_json(self) -> dict[str, JsonValue]:
        data = asdict(self)
        data["evidence"] = dict(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> "ResultRecord":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]


def failed_self_checks(records: Iterable[ResultRecord]) -> list[ResultRecord]:
    """The harness's self-checks among `records` that did not pass: while any stands, the objective
    verdicts beside it are untrusted (an instrument or a fault did not do what they rely on)."""
    return [r for r in records if r.kind == "self-check" and r.verdict in ("fail", "error")]


def judge(value: float | None, objective: Objective | None, *, reason_if_missing: str = "") -> tuple[Status, str]:
    """Compare a measured value with its objective; no value is a failed verdict with its reason."""
    if value is None:
        return "fail", reason_if_missing or "no measurement was taken"
    if objective is None:
        return "info", "measured; no objective applies"
    if objective.met_by(value):
        return "pass", f"{objective.metric} {value:g} {objective.unit} {objective.comparison} {objective.limit:g} {objective.unit}"
    return "fail", (
        f"{objective.metric} {value:g} {objective.unit} misses the objective "
        f"{objective.comparison} {objective.limit:g} {objective.unit}" + (f" ({objective.source})" if objective.source else "")
    )


class ResultSink:
    """Write records as JSON files under `<reports>/results/<run_id>/`; thread- and process-safe."""

    def __init__(self, root: Path | None = None, run: str | None = None, source: str = "api",
                 *, accounts: Iterable[str] = ()) -> None:
        # Account ids never reach a record (bucket names carry them): masked at the one door records pass.
        self._scrubber = Scrubber(configured_accounts(*accounts))
        self.run_id = run or run_id()
        self.directory = (root or reports_dir()) / "results" / self.run_id
        self.source = source
        self._lock = threading.Lock()
        self._seq = 0

    def write(self, record: ResultRecord) -> Path:
        return self.write_record(record)[0]

    def write_record(self, record: ResultRecord) -> tuple[Path, ResultRecord]:
        """Stamp the record with this run and source, write it; return the path and the stamped record."""
        record = ResultRecord.from_json(_scrub(record.to_json(), self._scrubber.text))
        if not record.run_id or record.source == "api":
            record = replace(record, run_id=record.run_id or self.run_id,
                             source=self.source if record.source == "api" else record.source)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._seq += 1
            name = f"{os.getpid()}-{self._seq:05d}-{secrets.token_hex(2)}-{_slug(record.check)}.json"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=2, sort_keys=True, default=str), encoding="utf-8")
        tmp.replace(path)  # readers never see half a record
        return path, record


def _scrub(value: JsonValue, text: Callable[[str], str]) -> JsonValue:
    """Mask strings only, so JSON numbers stay numbers."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_scrub(v, text) for v in value]
    if isinstance(value, dict):
        return {text(str(k)): _scrub(v, text) for k, v in value.items()}
    return value


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:60]


def read_records(root: Path | None = None, run: str | None = None) -> list[ResultRecord]:
    """Every record of one run (or of all runs), oldest first."""
    base = (root or reports_dir()) / "results"
    dirs = [base / run] if run else sorted(p for p in base.glob("*") if p.is_dir())
    records = []
    for directory in dirs:
        for path in sorted(directory.glob("*.json")):
            records.append(ResultRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
    return records


def list_runs(root: Path | None = None) -> list[str]:
    base = (root or reports_dir()) / "results"
    return sorted(p.name for p in base.glob("*") if p.is_dir())
