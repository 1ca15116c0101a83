"""A terminal summary of one run's result records (rich)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from drharness.results import ResultRecord

_STYLE = {"pass": "green", "fail": "bold red", "error": "magenta", "info": "cyan"}


def _value(record: ResultRecord) -> str:
    if record.value is None:
        return "-"
    if record.unit == "bool":
        return "yes" if record.value >= 1 else "no"
    return f"{record.value:.4g} {record.unit}".strip()


def _objective(record: ResultRecord) -> str:
    if record.objective is None:
        return "-"
    if record.unit == "bool":
        return "compliant"
    return f"{record.comparison} {record.objective:.4g} {record.unit}".strip()


def render_summary(records: list[ResultRecord], console: Console | None = None, *, title: str = "DR results") -> Counter[str]:
    """Print one line per record and the verdict counts; return the counts."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=180)  # a CI log: lines are cheap, folded cells are not
    table = Table(title=title, show_lines=False)
    for column in ("verdict", "scenario", "check", "resource", "tier", "measured", "objective"):
        table.add_column(column, overflow="fold")
    for record in sorted(records, key=lambda r: (r.verdict == "pass", r.scenario, r.check)):
        table.add_row(
            f"[{_STYLE.get(record.verdict, '')}]{record.verdict}[/]",
            record.scenario,
            record.check,
            record.resource,
            record.tier or "-",
            _value(record),
            _objective(record),
        )
    console.print(table)
    counts = Counter(r.verdict for r in records)
    targets = sorted({r.target for r in records})
    console.print(
        " ".join(f"{k}: {counts.get(k, 0)}" for k in ("pass", "fail", "error", "info"))
        + f"  (target: {', '.join(targets) or '-'})"
    )
    if "offline" in targets:
        console.print("[dim]Offline figures are measurements of the offline world, not a production RTO.[/]")
    return counts
