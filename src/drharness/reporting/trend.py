"""Statistics over drills: per (check, resource), the distribution of RTO, RPO and lag over every run kept.

One run says whether this month's drill met its objectives; a DR programme needs the run-over-run view:
how each recovery is distributed (count, p50, p95, max), how far its p95 sits from its objective, whether
it is getting slower, and which checks change their verdict from run to run. Made from the records of
the workload's objectives only (self-checks are the harness's, not the workload's), like every report.

- **Series**: the time-valued objective records of one (check, resource): RTO (rto, restore and
  failover seconds), RPO (data-loss window) and replication lag (the p99 of each lag measurement).
  Percentiles are linear-interpolated (numpy's default), over one value per run.
- **Margin**: objective minus p95 for an upper bound (`<=`): negative when the p95 misses it.
- **Regression**: the recent period is the newest `recent_runs` runs (default 2), the previous period
  the `recent_runs` runs before them; a series regressed when its recent p95 is worse than its previous
  p95 by more than `threshold` (default 20 %) and by more than `floor_seconds` (default 0.5 s, so that
  the jitter of sub-second offline figures is no regression).
- **Flaky**: a (check, resource) whose verdict changed between runs (pass in one, fail or error in
  another) among the runs considered.
"""

from __future__ import annotations

import io
import shutil
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy

from drharness.errors import ReportError
from drharness.reporting import charts
from drharness.reporting.evidence import NOT_MEASURED, format_value, parse_time
from drharness.reporting.metrics import is_lag_record, lag_p99_of
from drharness.reporting.runs import (
    LEAKED, OFFLINE_LABEL, RPO_METRICS, RTO_METRICS, SECOND_UNITS, objective_records, records_by_month,
)
from drharness.reporting.scrub import Scrubber, scan_tree
from drharness.results import ResultRecord

VERDICTS = ("fail", "error", "pass")  # worst first
DEFAULT_RECENT_RUNS = 2
DEFAULT_THRESHOLD = 0.20
DEFAULT_FLOOR_S = 0.5
CHART_FILE = "trend.png"
MAX_CHARTED = 12  # series drawn, the regressed and slowest first
NO_RUNS = "no result records to make a trend of under {where}; run the DR suites (or `drharness drill`) a few times first"
BAD_RECENT = "--recent must be 1 or more runs, got {value}"
BAD_MONTHS = "--months must be 1 or more, got {value}"


@dataclass(frozen=True)
class Point:
    run_id: str
    started_at: str
    value_seconds: float


@dataclass(frozen=True)
class Series:
    """One (check, resource)'s time-valued measurements, one per run, oldest first."""

    check: str
    resource: str
    measure: str  # "RTO" | "RPO" | "lag p99"
    tier: str | None
    objective_seconds: float | None
    comparison: str | None
    points: tuple[Point, ...]

    @property
    def values(self) -> list[float]:
        return [p.value_seconds for p in self.points]

    @property
    def count(self) -> int:
        return len(self.points)

    def percentile(self, q: float, points: Sequence[Point] | None = None) -> float | None:
        values = [p.value_seconds for p in (self.points if points is None else points)]
        return float(numpy.percentile(values, q)) if values else None

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    @property
    def max(self) -> float | None:
        return max(self.values, default=None)

    @property
    def margin_seconds(self) -> float | None:
        """How far the p95 is inside the objective (negative: outside); None without an objective."""
        p95 = self.p95
        if p95 is None or self.objective_seconds is None:
            return None
        return self.objective_seconds - p95 if self.comparison != ">=" else p95 - self.objective_seconds


@dataclass(frozen=True)
class Regression:
    series: Series
    previous_p95: float
    recent_p95: float
    previous_runs: tuple[str, ...]
    recent_runs: tuple[str, ...]

    @property
    def ratio(self) -> float:
        return self.recent_p95 / self.previous_p95 if self.previous_p95 > 0 else float("inf")

    def summary(self) -> str:
        worse = f"{(self.ratio - 1) * 100:.0f} %" if self.ratio != float("inf") else "from zero"
        return (f"{self.series.check} ({self.series.resource}): {self.series.measure} p95 "
                f"{format_value(self.recent_p95, 's')} over the last {len(self.recent_runs)} run(s), was "
                f"{format_value(self.previous_p95, 's')} over the {len(self.previous_runs)} before ({worse} worse)")


@dataclass(frozen=True)
class Flaky:
    check: str
    resource: str
    verdicts: tuple[tuple[str, str], ...]  # (run id, verdict), oldest first

    def summary(self) -> str:
        return f"{self.check} ({self.resource}): " + ", ".join(f"{v}" for _, v in self.verdicts)


@dataclass(frozen=True)
class Trend:
    runs: tuple[str, ...]
    months: tuple[str, ...]
    series: tuple[Series, ...]
    regressions: tuple[Regression, ...]
    flaky: tuple[Flaky, ...]
    recent_runs: int
    threshold: float
    floor_seconds: float
    targets: tuple[str, ...]

    @property
    def offline(self) -> bool:
        return "offline" in self.targets

    def rows(self) -> list[tuple[str, ...]]:
        """One formatted row per series: check, resource, measure, tier, n, p50, p95, max, objective, margin, flag."""
        regressed = {(r.series.check, r.series.resource) for r in self.regressions}
        flaky = {(f.check, f.resource) for f in self.flaky}
        out = []
        for s in self.series:
            flags = [flag for flag, on in (("regressed", (s.check, s.resource) in regressed),
                                           ("flaky", (s.check, s.resource) in flaky)) if on]
            objective = (f"{s.comparison} {format_value(s.objective_seconds, 's')}"
                         if s.objective_seconds is not None else NOT_MEASURED)
            margin = s.margin_seconds
            out.append((s.check, s.resource, s.measure, s.tier or "-", str(s.count), _fmt(s.p50), _fmt(s.p95),
                        _fmt(s.max), objective, NOT_MEASURED if margin is None else format_value(margin, "s"),
                        ", ".join(flags) or "-"))
        return out


@dataclass(frozen=True)
class TrendOutput:
    directory: Path
    markdown: Path
    html: Path
    chart: Path | None
    trend: Trend = field(repr=False)


def _fmt(value: float | None) -> str:
    return NOT_MEASURED if value is None else format_value(value, "s")


def _measure(record: ResultRecord) -> tuple[str, float] | None:
    """(measure, seconds) of a time-valued objective record, else None."""
    if is_lag_record(record):
        p99 = lag_p99_of(record)
        return ("lag p99", p99) if p99 is not None else None
    if record.value is None or record.unit not in SECOND_UNITS:
        return None
    if record.metric in RTO_METRICS:
        return "RTO", record.value
    if record.metric in RPO_METRICS:
        return "RPO", record.value
    return None


def _runs_in_order(records: Sequence[ResultRecord]) -> list[str]:
    first: dict[str, str] = {}
    for r in records:
        if r.run_id not in first or r.started_at < first[r.run_id]:
            first[r.run_id] = r.started_at
    return sorted(first, key=lambda run: (parse_time(first[run]) is None, first[run], run))


def build_trend(records: Sequence[ResultRecord], *, months: int | None = None, until: str | None = None,
                recent_runs: int = DEFAULT_RECENT_RUNS, threshold: float = DEFAULT_THRESHOLD,
                floor_seconds: float = DEFAULT_FLOOR_S, where: str = "the results directory") -> Trend:
    """The trend over the runs of the last `months` months up to `until` (default: every run kept)."""
    if recent_runs < 1:
        raise ReportError(BAD_RECENT.format(value=recent_runs))
    if months is not None and months < 1:
        raise ReportError(BAD_MONTHS.format(value=months))
    by_month = records_by_month(records)
    kept = sorted(m for m in by_month if until is None or m <= until)
    if months is not None:
        kept = kept[-months:]
    mine = [r for m in kept for r in by_month[m]]
    if not mine:
        raise ReportError(NO_RUNS.format(where=where))
    runs = _runs_in_order(mine)
    order = {run: i for i, run in enumerate(runs)}
    judged = sorted(objective_records(mine), key=lambda r: (order[r.run_id], r.started_at))
    series = _series(judged, order)
    return Trend(tuple(runs), tuple(kept), tuple(series), tuple(_regressions(series, recent_runs, threshold, floor_seconds)),
                 tuple(_flaky(judged, order)), recent_runs, threshold, floor_seconds,
                 tuple(sorted({r.target for r in mine})))


def _series(judged: Sequence[ResultRecord], order: dict[str, int]) -> list[Series]:
    """One series per (check, resource, measure); a run that measured it twice keeps its worst value."""
    grouped: dict[tuple[str, str, str], dict[str, tuple[Point, ResultRecord]]] = defaultdict(dict)
    for record in judged:
        found = _measure(record)
        if found is None:
            continue
        measure, seconds = found
        per_run = grouped[(record.check, record.resource, measure)]
        held = per_run.get(record.run_id)
        if held is None or seconds > held[0].value_seconds:
            per_run[record.run_id] = (Point(record.run_id, record.started_at, seconds), record)
    series = []
    for (check, resource, measure), per_run in grouped.items():
        ordered = sorted(per_run.values(), key=lambda pair: order[pair[0].run_id])
        latest = ordered[-1][1]
        series.append(Series(check, resource, measure, latest.tier, latest.objective, latest.comparison,
                             tuple(point for point, _ in ordered)))
    return sorted(series, key=lambda s: (s.tier or "~", s.measure, s.check, s.resource))


def _regressions(series: Sequence[Series], recent_runs: int, threshold: float, floor_seconds: float) -> list[Regression]:
    found = []
    for s in series:
        if s.count < recent_runs + 1:
            continue
        recent, previous = s.points[-recent_runs:], s.points[-2 * recent_runs:-recent_runs]
        before, now = s.percentile(95, previous), s.percentile(95, recent)
        if before is not None and now is not None and now - before > floor_seconds and now > before * (1.0 + threshold):
            found.append(Regression(s, before, now, tuple(p.run_id for p in previous), tuple(p.run_id for p in recent)))
    return found


def _flaky(judged: Sequence[ResultRecord], order: dict[str, int]) -> list[Flaky]:
    """The (check, resource)s that passed in one run and failed or errored in another."""
    seen: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for record in judged:
        if record.verdict in VERDICTS:
            seen[(record.check, record.resource)][record.run_id].add(record.verdict)
    flaky = []
    for (check, resource), by_run in seen.items():
        # a run's verdict on a check: its worst (a fail beats an error beats a pass)
        verdicts = {run: next(v for v in VERDICTS if v in found) for run, found in by_run.items()}
        if "pass" in verdicts.values() and {"fail", "error"} & set(verdicts.values()):
            flaky.append(Flaky(check, resource, tuple(sorted(verdicts.items(), key=lambda kv: order[kv[0]]))))
    return sorted(flaky, key=lambda f: (f.check, f.resource))


def trend_chart(trend: Trend, clean: charts.Clean) -> bytes | None:
    """Small multiples: each charted series' value per run, its objective dashed, regressed ones in red."""
    if not trend.series:
        return None
    from matplotlib.figure import Figure

    regressed = {(r.series.check, r.series.resource) for r in trend.regressions}
    ranked = sorted(trend.series, key=lambda s: ((s.check, s.resource) not in regressed, -(s.p95 or 0.0)))
    shown = ranked[:MAX_CHARTED]
    columns = 2 if len(shown) > 1 else 1
    rows = (len(shown) + columns - 1) // columns
    fig = Figure(figsize=(7 * columns / 1.4, 2.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, shown):
        bad = (s.check, s.resource) in regressed
        xs = list(range(1, s.count + 1))
        ax.plot(xs, s.values, marker="o", color=charts.FAIL_COLOUR if bad else charts.PASS_COLOUR)
        if s.objective_seconds is not None and s.objective_seconds <= 10 * max(s.values):
            ax.axhline(s.objective_seconds, linestyle="--", color="#888888", linewidth=1)
        ax.set_title(clean(f"{s.measure} {s.check} — {s.resource}")[:70] + (" (regressed)" if bad else ""), fontsize=8)
        ax.set_xlabel("run", fontsize=7)
        ax.set_ylabel("s", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def render_trend(trend: Trend, template: str, chart_file: str | None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("drharness.reporting", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ").strip() or " "
    return env.get_template(template).render(t=trend, rows=trend.rows(), chart=chart_file, offline_label=OFFLINE_LABEL,
                                             header=TREND_HEADER)


TREND_HEADER = ("check", "resource", "measure", "tier", "runs", "p50", "p95", "max", "objective", "margin", "flag")


def write_trend(records: Sequence[ResultRecord], output_dir: Path, *, scrubber: Scrubber | None = None,
                **options: object) -> TrendOutput:
    """Write `<output_dir>/trend.md`, `trend.html` and `trend.png` (scrubbed and scanned, as the monthly report)."""
    scrub = scrubber or Scrubber()
    trend = build_trend(records, **options)  # type: ignore[arg-type]
    output_dir = Path(output_dir)
    staging = output_dir.with_name(f".{output_dir.name}.tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    png = trend_chart(trend, replace(scrub, every_account_like=True).text)
    chart = CHART_FILE if png else None
    if png:
        (staging / CHART_FILE).write_bytes(png)
    (staging / "trend.md").write_text(scrub.text(render_trend(trend, "trend.md.j2", chart)), encoding="utf-8")
    (staging / "trend.html").write_text(scrub.text(render_trend(trend, "trend.html.j2", chart)), encoding="utf-8")
    findings = scan_tree(staging, scrub.accounts)
    if findings:
        shutil.rmtree(staging)
        raise ReportError(LEAKED.format(what="trend report", count=len(findings), first=findings[0]))
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.replace(output_dir)  # the old trend goes only once the new one is complete and clean
    return TrendOutput(output_dir, output_dir / "trend.md", output_dir / "trend.html",
                       output_dir / CHART_FILE if png else None, trend)


__all__ = ["Flaky", "Point", "Regression", "Series", "Trend", "TrendOutput", "build_trend", "write_trend"]
