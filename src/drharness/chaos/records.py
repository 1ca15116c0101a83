"""What a `chaos run` leaves in reports/: a record per activity, the revert and experiment records, Allure, the journal.

The records are the same ResultRecords the pytest runs write (source "chaos"), so every report made
from reports/results/ shows game days beside the DR suites.
"""

import datetime as dt
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from drharness.chaos import runtime
from drharness.results import Objective, ResultRecord, iso, utc_now

ALLURE_DIR = "allure-results"
OUTPUT_LIMIT = 4000
LEFT_ACTIVE = "{count} fault(s) of this run still active after the revert: {ids}"
ALL_REVERTED = "every fault of this run is reverted ({count} reverted at the end)"


def write_results(run: runtime.ChaosRun, journal: Mapping[str, Any], reverted: list[str], left: list[str],
                  problems: list[str], interrupted_in: str = "", *, revert_started: dt.datetime,
                  revert_seconds: float) -> None:
    """Write a record per activity, the revert record, the experiment's record, its Allure result and its journal.

    `revert_started` and `revert_seconds` are when the end-of-run revert began and how long it took.
    """
    from drharness.reporting.allure import Step, write_allure_results
    from drharness.redaction import Scrubber

    activities = list(_activity_runs(journal))
    for phase, item in activities:
        run.sink.write(_activity_record(run, phase, item))
    revert = run.record(_revert_record(run, reverted, left, problems, revert_started, revert_seconds))
    outcome = _experiment_record(run, journal, activities, interrupted_in)
    run.sink.write(outcome)
    scrub = Scrubber.for_workload(run.workload)
    reports = run.settings.reports
    steps = [Step(f"{phase}: {item['activity'].get('name', '?')}", _step_status(item), _time(item.get("start")),
                  _time(item.get("end")), _activity_message(item)) for phase, item in activities]
    status = {"pass": "passed", "fail": "failed"}.get(outcome.verdict, "broken")
    markers = ["quarterly", run.scenario] + ([run.tier] if run.tier else [])
    write_allure_results([*run.records, outcome], reports / ALLURE_DIR, str(journal.get("experiment", {}).get("title") or run.name),
                         status, start=run.started_at, stop=utc_now(), steps=steps, markers=markers,
                         full_name=f"drharness.chaos.{run.name}", description=str(journal.get("experiment", {}).get("description") or ""),
                         source=runtime.SOURCE, scrubber=scrub)
    directory = reports / "journals"
    directory.mkdir(parents=True, exist_ok=True)
    body = json.dumps({**journal, "drharness": {"run_id": run.sink.run_id, "reverted": reverted, "left_active": left,
                                                "revert_verdict": revert.verdict}}, indent=2, default=str, ensure_ascii=False)
    path = directory / f"{run.name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(scrub.text(body), encoding="utf-8")
    tmp.replace(path)


def _activity_runs(journal: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    states = journal.get("steady_states") or {}
    for phase, items in (("hypothesis-before", (states.get("before") or {}).get("probes")),
                         ("method", journal.get("run")),
                         ("hypothesis-after", (states.get("after") or {}).get("probes")),
                         ("rollback", journal.get("rollbacks"))):
        for item in items or []:
            if isinstance(item, Mapping) and isinstance(item.get("activity"), Mapping):
                yield phase, item


def _activity_verdict(item: Mapping[str, Any]) -> tuple[str, str]:
    if item.get("status") != "succeeded":
        return "error", _activity_message(item) or f"activity {item.get('status')}"
    if item.get("tolerance_met") is False:
        return "fail", f"output outside the tolerance {json.dumps(item['activity'].get('tolerance'), default=str)}"
    if "tolerance_met" in item:
        return "pass", "output within the tolerance"
    return "info", "ran"


def _activity_message(item: Mapping[str, Any]) -> str:
    exception = item.get("exception")
    if isinstance(exception, list) and exception:
        return str(exception[-1]).strip()
    return str(exception or "")


def _activity_record(run: runtime.ChaosRun, phase: str, item: Mapping[str, Any]) -> ResultRecord:
    activity = item["activity"]
    provider = activity.get("provider") or {}
    verdict, reason = _activity_verdict(item)
    output = json.dumps(item.get("output"), default=str)
    return ResultRecord(
        check=f"{phase}:{activity.get('name', '?')}", scenario=run.scenario,
        resource=f"{provider.get('module', provider.get('type', '?'))}.{provider.get('func', '')}".rstrip("."),
        tier=run.tier, target=run.target.name, metric="activity_seconds", value=item.get("duration"), unit="s",
        objective=None, comparison=None, verdict=verdict, reason=reason,  # type: ignore[arg-type]
        started_at=str(item.get("start") or iso(utc_now())), duration_seconds=float(item.get("duration") or 0.0),
        evidence={"phase": phase, "type": activity.get("type"), "status": item.get("status"),
                  "tolerance_met": item.get("tolerance_met"), "output": output[:OUTPUT_LIMIT],
                  "output_truncated": len(output) > OUTPUT_LIMIT},
        test_id=run.recorder.test_id,
    )


def _revert_record(run: runtime.ChaosRun, reverted: list[str], left: list[str], problems: list[str],
                   started: dt.datetime, seconds: float) -> ResultRecord:
    objective = Objective("faults_left_active", 0, "faults", "==", "every injected fault is reverted")
    ok = not left
    return ResultRecord(
        check="revert", scenario=run.scenario, resource=_where(run), tier=run.tier, target=run.target.name,
        metric=objective.metric, value=float(len(left)), unit=objective.unit, objective=objective.limit,
        comparison=objective.comparison, verdict="pass" if ok else "fail",
        reason=ALL_REVERTED.format(count=len(reverted)) if ok else LEFT_ACTIVE.format(count=len(left), ids=", ".join(left)),
        started_at=iso(started), duration_seconds=round(seconds, 3),
        evidence={"reverted": list(reverted), "left_active": list(left), "problems": list(problems),
                  "journal": str(run.journal.directory)},
        test_id=run.recorder.test_id,
    )


def _experiment_record(run: runtime.ChaosRun, journal: Mapping[str, Any],
                       activities: list[tuple[str, Mapping[str, Any]]], interrupted_in: str) -> ResultRecord:
    status, deviated = str(journal.get("status") or "unknown"), bool(journal.get("deviated"))
    missed = [r for r in run.records if r.verdict in ("fail", "error")]
    outside = [f"{phase}:{item['activity'].get('name')}" for phase, item in activities if item.get("tolerance_met") is False]
    # chaoslib keeps a run "completed" when a method action throws: an activity that did not succeed is an error.
    errored = [f"{phase}:{item['activity'].get('name')} {item.get('status')}" for phase, item in activities
               if item.get("status") != "succeeded"]
    if status == "completed" and not deviated and not missed and not errored:
        verdict, reason = "pass", "completed: the steady state held before and after the method"
    elif status == "completed" and (deviated or missed):
        verdict = "fail"
        reason = "deviated: " + "; ".join(outside or [r.reason for r in missed]) if deviated else \
            "completed, but measurements missed their objectives: " + "; ".join(r.reason for r in missed)
        reason += f"; activities that did not succeed: {'; '.join(errored)}" if errored else ""
    elif status == "completed":
        verdict, reason = "error", f"completed, but activities did not succeed: {'; '.join(errored)}"
    else:
        verdict = "error"
        reason = f"{status}" + (f" during {interrupted_in}" if status == "interrupted" and interrupted_in else "") + \
            (f": {'; '.join(outside)}" if outside else "")
    return ResultRecord(
        check=f"experiment:{run.name}", scenario=run.scenario, resource=_where(run), tier=run.tier,
        target=run.target.name, metric="experiment_status", value=None, unit="", objective=None, comparison=None,
        verdict=verdict, reason=reason, started_at=iso(run.started_at),  # type: ignore[arg-type]
        duration_seconds=float(journal.get("duration") or time.monotonic() - run.started_monotonic),
        evidence={"status": status, "deviated": deviated, "title": str(journal.get("experiment", {}).get("title", "")),
                  "activities": len(activities), "activities_not_succeeded": errored, "measurements": len(run.records)},
        test_id=run.recorder.test_id,
    )


def _where(run: runtime.ChaosRun) -> str:
    if run.offline:
        return f"offline world {run.target.endpoint_url}"
    return f"aws {', '.join(run.workload.regions)}"


def _step_status(item: Mapping[str, Any]) -> str:
    verdict, _ = _activity_verdict(item)
    return {"error": "broken", "fail": "failed"}.get(verdict, "passed")


def _time(value: Any) -> dt.datetime | None:
    from drharness.reporting.evidence import parse_time

    return parse_time(value) if value else None
