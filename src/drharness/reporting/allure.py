"""Result records in Allure terms: labels, parameters, steps and attachments, for both producers.

- pytest runs: the pytest plugin adds them to the running test through allure-pytest's
  `allure.dynamic` API (`drharness.pytest_plugin.allure_annotations.annotate_allure_test`).
- runs outside pytest (Chaos Toolkit experiments, commands): `write_allure_results(...)` writes one
  Allure 2 result file with its attachments, so game days land in the same report.

Everything here is built from the records alone, and every text passes through a `Scrubber`.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from drharness.reporting.evidence import (
    differences_csv,
    differences_html,
    differences_of,
    format_value,
    lags_of,
    objective_text,
    parse_time,
    phases_of,
)
from drharness.reporting.scrub import Scrubber
from drharness.results import ResultRecord

EPIC = "Disaster Recovery"
SEVERITY_BY_TIER = {"critical": "critical", "important": "normal", "standard": "minor"}
SEVERITY_ORDER = ("trivial", "minor", "normal", "critical", "blocker")
DEFAULT_SEVERITY = "normal"
BLOCKER = "blocker"  # a critical-tier objective missed
CADENCES = ("daily", "weekly", "monthly", "quarterly")
TIERS = tuple(SEVERITY_BY_TIER)
TARGETS = ("offline", "aws")
SCENARIO_TITLES = {
    "config": "Configuration compliance",
    "configuration": "Configuration compliance",
    "backup": "Backup and restore",
    "replication": "Cross-region replication",
    "consistency": "Data consistency",
    "az": "AZ outage",
    "region": "Region outage",
    "service": "Service fault",
    "data_corruption": "Data corruption",
    "security": "Security breach",
    "recovery": "Recovery procedures",
}
ALLURE_STATUS = {"pass": "passed", "fail": "failed", "error": "broken", "info": "passed"}
DR_MARKERS = frozenset({*CADENCES, *TIERS, *SCENARIO_TITLES})
SOURCE_SUITES = {"chaos": "Game days", "cli": "Commands", "api": "Library runs", "pytest": "DR suites"}

Label = tuple[str, str]


@dataclass(frozen=True)
class Parameter:
    """An Allure parameter; measured values are `excluded` so they do not change the test's history id."""

    name: str
    value: str
    excluded: bool = True


@dataclass(frozen=True)
class Attachment:
    name: str
    body: bytes
    mime: str
    extension: str


@dataclass(frozen=True)
class Step:
    """A step of a result: a timeline phase, a record's verdict, or an experiment's activity."""

    name: str
    status: str = "passed"  # passed | failed | broken | skipped
    start: dt.datetime | None = None
    stop: dt.datetime | None = None
    message: str = ""
    steps: tuple["Step", ...] = ()


def scenario_title(scenario: str) -> str:
    return SCENARIO_TITLES.get(scenario, scenario.replace("_", " ").replace("-", " ").capitalize())


def missed_critical(record: ResultRecord) -> bool:
    """A critical-tier record whose objective was missed (the quality gate and the blocker severity)."""
    return record.tier == "critical" and record.verdict == "fail" and record.judges_objective


def severity_for(markers: Iterable[str], records: Sequence[ResultRecord]) -> str:
    """Blocker if a critical objective was missed, else the highest tier's severity (critical, normal, minor)."""
    if any(missed_critical(r) for r in records):
        return BLOCKER
    tiers = {r.tier for r in records if r.tier} | {m for m in markers if m in SEVERITY_BY_TIER}
    severities = [SEVERITY_BY_TIER[t] for t in tiers if t in SEVERITY_BY_TIER]
    return max(severities, key=SEVERITY_ORDER.index, default=DEFAULT_SEVERITY)


def labels_for_test(markers: Iterable[str], records: Sequence[ResultRecord]) -> list[Label]:
    """Allure labels from the DR model: epic, feature = scenario, story = check, severity, tags, tier."""
    markers = list(markers)
    labels: list[Label] = [("epic", EPIC)]
    scenarios = [r.scenario for r in records if r.scenario] or [m for m in markers if m in SCENARIO_TITLES]
    labels += [("feature", scenario_title(s)) for s in dict.fromkeys(scenarios)]
    labels += [("story", check) for check in dict.fromkeys(r.check for r in records if r.check)]
    labels.append(("severity", severity_for(markers, records)))
    tags = [m for m in markers if m in CADENCES] + [r.target for r in records if r.target in TARGETS]
    labels += [("tag", tag) for tag in dict.fromkeys(tags)]
    tiers = [r.tier for r in records if r.tier] or [m for m in markers if m in TIERS]
    labels += [("tier", tier) for tier in dict.fromkeys(tiers)]
    return labels


def parameters_for(records: Sequence[ResultRecord]) -> list[Parameter]:
    """Objective and measured value with units, verdict, tier and target of each record."""
    params: list[Parameter] = []
    for record in records:
        prefix = f"{record.check}: " if len(records) > 1 else ""
        params += [
            Parameter(f"{prefix}objective", objective_text(record)),
            Parameter(f"{prefix}measured", f"{record.metric} {format_value(record.value, record.unit)}"),
            Parameter(f"{prefix}verdict", record.verdict),
            Parameter(f"{prefix}tier", record.tier or "none"),
            Parameter(f"{prefix}target", record.target),
        ]
    return params


def steps_for(records: Sequence[ResultRecord]) -> list[Step]:
    """One step per record (its verdict), holding one step per timeline phase when the evidence has them."""
    steps = []
    for record in records:
        phases = phases_of(record)
        children = tuple(
            Step(f"{phase.phase} at +{phase.offset_seconds:.3f} s" + (f": {phase.note}" if phase.note else ""),
                 start=phase.at, stop=following.at if following else phase.at)
            for phase, following in zip(phases, (*phases[1:], None))
        )
        started = parse_time(record.started_at)
        stopped = started + dt.timedelta(seconds=record.duration_seconds) if started else None
        steps.append(Step(
            f"{record.check}: {record.verdict} ({record.metric} {format_value(record.value, record.unit)}, "
            f"objective {objective_text(record)})",
            status=ALLURE_STATUS.get(record.verdict, "unknown"),
            start=started,
            stop=stopped,
            message=record.reason if record.verdict in ("fail", "error") else "",
            steps=children,
        ))
    return steps


def attachments_for(records: Sequence[ResultRecord], scrubber: Scrubber | None = None) -> list[Attachment]:
    """The raw record JSON, the charts its evidence allows, and the consistency differences as tables."""
    from drharness.reporting import charts  # matplotlib only where a chart is drawn

    scrub = scrubber or Scrubber.for_workload()
    drawn = replace(scrub, every_account_like=True).text  # a PNG cannot be scrubbed after it is drawn
    found: list[Attachment] = []
    for record in records:
        base = record.check or record.metric
        body = json.dumps(record.to_json(), indent=2, sort_keys=True, default=str)
        found.append(Attachment(f"record {base}", scrub.text(body).encode(), "application/json", "json"))
        chart_makers = (("timeline", charts.timeline_png), ("canary ledger", charts.canary_png))
        lags = lags_of(record)  # a bare max or mean in the evidence alone does not make a record a lag measurement
        if "lag" in record.metric or (lags is not None and lags.samples_seconds):
            chart_makers += (("lag distribution", charts.lag_png),)
        for title, make in chart_makers:
            png = make(record, drawn)
            if png is not None:
                found.append(Attachment(f"{title} {base}", png, "image/png", "png"))
        differences = differences_of(record)
        if differences:
            found.append(Attachment(f"differences {base}", scrub.text(differences_html(record, differences)).encode(),
                                    "text/html", "html"))
            found.append(Attachment(f"differences {base} (csv)", scrub.text(differences_csv(differences)).encode(),
                                    "text/csv", "csv"))
    return found


def status_for(records: Sequence[ResultRecord]) -> str:
    """broken if any record is a harness error, failed if any objective was missed, else passed."""
    verdicts = {r.verdict for r in records}
    if "error" in verdicts:
        return "broken"
    if "fail" in verdicts:
        return "failed"
    return "passed" if records else "unknown"


def status_message(records: Sequence[ResultRecord], status: str) -> str:
    """The reasons behind a failed or broken status, one record per line (what the categories match)."""
    wanted = {"broken": ("error",), "failed": ("fail",)}.get(status, ())
    return "\n".join(f"{r.check}: {r.reason}" for r in records if r.verdict in wanted)


# ---- producer outside pytest -----------------------------------------------------------------------


def _millis(moment: dt.datetime | float | None) -> int | None:
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return int(moment.timestamp() * 1000)
    return int(float(moment) * 1000)


def _span(records: Sequence[ResultRecord]) -> tuple[dt.datetime | None, dt.datetime | None]:
    starts = [(t, r.duration_seconds) for r in records if (t := parse_time(r.started_at)) is not None]
    if not starts:
        return None, None
    return min(t for t, _ in starts), max(t + dt.timedelta(seconds=d) for t, d in starts)


def write_allure_results(
    records: Sequence[ResultRecord],
    results_dir: Path,
    name: str,
    status: str | None = None,
    start: dt.datetime | float | None = None,
    stop: dt.datetime | float | None = None,
    *,
    steps: Sequence[Step] = (),
    markers: Iterable[str] = (),
    full_name: str | None = None,
    description: str = "",
    source: str | None = None,
    scrubber: Scrubber | None = None,
) -> Path:
    """Write one Allure 2 result (and its attachments) for a run outside pytest; the result file's path.

    `status` defaults to the records' (`status_for`); `start`/`stop` (datetime or epoch seconds) to their
    span; `steps` come first (an experiment's activities), then one step per record. `full_name` must be
    stable between runs: it is the history id that trends follow (default `drharness.<source>.<name>`).
    """
    import attr
    from allure_commons import model2
    from allure_commons.utils import md5

    scrub = scrubber or Scrubber.for_workload()
    source = source or next((r.source for r in records), "api")
    status = status or status_for(records)
    full_name = full_name or f"drharness.{source}.{name}"
    first, last = _span(records)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    result_uuid = str(uuidlib.uuid4())
    attachments = _write_attachments(records, results_dir, scrub)
    message = status_message(records, status)
    labels = _run_labels(markers, records, source, name)
    result = model2.TestResult(
        uuid=result_uuid,
        historyId=md5(full_name),
        testCaseId=md5(full_name),
        fullName=scrub.text(full_name),
        name=scrub.text(name),
        status=status,
        statusDetails=model2.StatusDetails(message=scrub.text(message)) if message else None,
        stage="finished",
        description=scrub.text(description) or None,
        start=_millis(start if start is not None else first),
        stop=_millis(stop if stop is not None else last),
        labels=[model2.Label(name=k, value=scrub.text(v)) for k, v in labels],
        parameters=[model2.Parameter(name=scrub.text(p.name), value=scrub.text(p.value), excluded=p.excluded)
                    for p in parameters_for(records)],
        steps=[_model_step(s, scrub) for s in (*steps, *steps_for(records))],
        attachments=attachments,
    )
    path = results_dir / f"{result_uuid}-result.json"
    data = attr.asdict(result, filter=lambda _, value: value or value is False)
    _write_atomically(path, json.dumps(data, ensure_ascii=False).encode("utf-8"))
    return path


def _write_attachments(records: Sequence[ResultRecord], results_dir: Path, scrub: Scrubber) -> list[object]:
    """Write each attachment of `records` beside the result; the Allure models that point at them."""
    from allure_commons import model2

    attachments = []
    for attachment in attachments_for(records, scrub):
        file_name = f"{uuidlib.uuid4()}-attachment.{attachment.extension}"
        _write_atomically(results_dir / file_name, attachment.body)
        attachments.append(model2.Attachment(name=scrub.text(attachment.name), source=file_name, type=attachment.mime))
    return attachments


def _run_labels(markers: Iterable[str], records: Sequence[ResultRecord], source: str, name: str) -> list[Label]:
    """The labels of a run outside pytest: the records' and markers', then where the run came from."""
    return [*labels_for_test(markers, records),
            ("parentSuite", SOURCE_SUITES.get(source, "Runs")), ("suite", name),
            ("framework", "chaostoolkit" if source == "chaos" else "drharness"), ("host", socket.gethostname())]


def _write_atomically(path: Path, body: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(path)  # the report builder never reads half a file


def _model_step(step: Step, scrub: Scrubber):  # type: ignore[no-untyped-def]
    from allure_commons import model2

    return model2.TestStepResult(
        name=scrub.text(step.name),
        status=step.status,
        statusDetails=model2.StatusDetails(message=scrub.text(step.message)) if step.message else None,
        stage="finished",
        start=_millis(step.start),
        stop=_millis(step.stop),
        steps=[_model_step(child, scrub) for child in step.steps],
    )
