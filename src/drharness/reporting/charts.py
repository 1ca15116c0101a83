"""Charts of a record's evidence as PNG bytes: the RTO timeline, the lag distribution, the canary ledger.

Each function returns None when the record's evidence has nothing to draw. Charts use matplotlib's
object API (no pyplot): no global figure state, safe beside pytest-xdist workers and threads.
Every text drawn passes through the caller's scrubber first: a PNG cannot be scrubbed afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.figure import Figure

from drharness.reporting.evidence import canaries_of, format_value, human_seconds, lags_of, objective_text, phases_of
from drharness.results import ResultRecord

Clean = Callable[[str], str]
PASS_COLOUR, FAIL_COLOUR, NEUTRAL_COLOUR, FAULT_COLOUR = "#3c9a5f", "#d0453a", "#8a8f98", "#e08a00"
# An objective far outside the measured range (offline RTO of seconds vs a 4 h objective) would squash
# the data into one pixel column; beyond this factor it is stated in the title instead of drawn.
OBJECTIVE_DRAW_FACTOR = 3.0


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _title(record: ResultRecord, clean: Clean, what: str) -> str:
    measured = format_value(record.value, record.unit)
    return clean(f"{what}: {record.resource}\n{record.metric} {measured} vs objective "
                 f"{objective_text(record)} — {record.verdict} ({record.target})")


def _verdict_colour(record: ResultRecord) -> str:
    return {"pass": PASS_COLOUR, "fail": FAIL_COLOUR}.get(record.verdict, NEUTRAL_COLOUR)


def timeline_png(record: ResultRecord, clean: Clean = str) -> bytes | None:
    """Phases from fault to verified recovery on one time axis, each gap labelled with its duration."""
    phases = phases_of(record)
    if not phases:
        return None
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(phases)))
    ax = fig.subplots()
    end = max(p.offset_seconds for p in phases) or 1.0
    for row, (phase, following) in enumerate(zip(phases, (*phases[1:], None))):
        y = len(phases) - row
        if following is not None:
            width = following.offset_seconds - phase.offset_seconds
            ax.barh(y, width, left=phase.offset_seconds, height=0.5, color=_verdict_colour(record), alpha=0.55)
            ax.text(phase.offset_seconds + width / 2, y, human_seconds(width), ha="center", va="center", fontsize=8)
        ax.plot([phase.offset_seconds], [y], marker="o", color="black")
        ax.text(phase.offset_seconds, y + 0.32, f"+{human_seconds(phase.offset_seconds)}", fontsize=7, ha="center")
    ax.set_yticks(range(len(phases), 0, -1), [clean(p.phase) for p in phases])
    if record.objective is not None and record.unit == "s" and record.objective <= end * OBJECTIVE_DRAW_FACTOR:
        ax.axvline(record.objective, color=FAIL_COLOUR, linestyle="--", label=f"objective {human_seconds(record.objective)}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("seconds since the first phase")
    ax.set_ylim(0.4, len(phases) + 0.7)
    ax.set_title(_title(record, clean, "Recovery timeline"), fontsize=9)
    return _png(fig)


def lag_png(record: ResultRecord, clean: Clean = str) -> bytes | None:
    """A histogram of the lag samples (or bars of the percentiles), with the objective when in range."""
    lags = lags_of(record)
    if lags is None:
        return None
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    top = 0.0
    if lags.samples_seconds:
        ax.hist(lags.samples_seconds, bins=min(40, max(5, len(lags.samples_seconds) // 5)), color="#4a78c2")
        for name, value in lags.percentiles_seconds:
            ax.axvline(value, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1)
            ax.text(value, ax.get_ylim()[1] * 0.95, name, fontsize=7, rotation=90, va="top")
        ax.set_xlabel("replication lag (s)")
        ax.set_ylabel("writes")
        top = max(lags.samples_seconds)
        if record.objective is not None and record.unit == "s" and record.objective <= top * OBJECTIVE_DRAW_FACTOR:
            ax.axvline(record.objective, color=FAIL_COLOUR, linestyle="--", label="objective")
            ax.legend(fontsize=8)
    else:
        names = [name for name, _ in lags.percentiles_seconds]
        values = [value for _, value in lags.percentiles_seconds]
        ax.bar(names, values, color="#4a78c2")
        for x, value in enumerate(values):
            ax.text(x, value, human_seconds(value), ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("replication lag (s)")
        top = max(values)
        if record.objective is not None and record.unit == "s" and record.objective <= top * OBJECTIVE_DRAW_FACTOR:
            ax.axhline(record.objective, color=FAIL_COLOUR, linestyle="--", label="objective")
            ax.legend(fontsize=8)
    ax.set_title(_title(record, clean, "Replication lag"), fontsize=9)
    return _png(fig)


def canary_png(record: ResultRecord, clean: Clean = str) -> bytes | None:
    """Each canary by sequence: survived, lost or failed to write; the fault time when known."""
    ledger = canaries_of(record)
    if ledger is None or not ledger.points:
        return None
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    timed = all(p.offset_seconds is not None for p in ledger.points)
    styles = {"present": (PASS_COLOUR, "o"), "lost": (FAIL_COLOUR, "x"), "failed": (NEUTRAL_COLOUR, "s")}
    for status, (colour, marker) in styles.items():
        points = [p for p in ledger.points if p.status == status]
        if not points:
            continue
        xs = [p.offset_seconds if timed else p.seq for p in points]
        ys = [p.seq if timed else {"present": 1, "lost": 0, "failed": -1}[status] for p in points]
        ax.scatter(xs, ys, color=colour, marker=marker, s=14, label=f"{status} ({len(points)})")
    if timed:
        ax.set_xlabel("seconds since the first canary")
        ax.set_ylabel("canary sequence")
        if ledger.fault_offset_seconds is not None:
            ax.axvline(ledger.fault_offset_seconds, color=FAULT_COLOUR, linestyle="--", label="fault")
    else:
        ax.set_xlabel("canary sequence")
        ax.set_yticks([-1, 0, 1], ["failed", "lost", "survived"])
        ax.set_ylim(-1.6, 1.6)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_title(record, clean, f"Canary ledger ({ledger.written} written, {ledger.lost} lost)"), fontsize=9)
    return _png(fig)
