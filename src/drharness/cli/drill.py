"""`drharness drill`: run a cadence of the DR suites and summarize the verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from drharness.errors import ConfigError
from drharness.results import RUN_ID_ENV, new_run_id, read_records
from drharness.settings import resolve_settings

CADENCES = ("daily", "weekly", "monthly", "quarterly")
SUITE_HELP = ("the DR suites: a directory, or an installed package such as drtests (drharness's own, the default); "
              "repeat to add your own, e.g. --suite drtests --suite dr_checks")


def _suite_path(suite: str) -> Path:
    """A suite given as a directory, or as the name of an installed package (drharness's `drtests`)."""
    if Path(suite).is_dir():
        return Path(suite)
    import importlib.util

    spec = importlib.util.find_spec(suite) if suite.isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise ConfigError(f"suite {suite!r} is neither a directory nor an installed package; pass a directory of DR "
                      "tests, or drtests for drharness's own suites")


def register(app: typer.Typer) -> None:
    @app.command()
    def drill(
        cadence: str = typer.Option("monthly", help=f"which checklist to run: {', '.join(CADENCES)}"),
        suite: list[str] = typer.Option(["drtests"], help=SUITE_HELP),  # noqa: B008
        target: str = typer.Option(None, help="offline (default) or aws"),
        config: Path = typer.Option(None, help="workload config (default ./workload.toml)"),
        endpoint: str = typer.Option(None, help="use an already-running world (deploys nothing)"),
        reports: Path = typer.Option(None, help="where result records go (default ./reports)"),
        seed: int = typer.Option(None, help="seed of the offline world (replays a run)"),
        workers: int = typer.Option(0, "--workers", "-n", help="pytest-xdist workers (0: one process)"),
        live: bool = typer.Option(False, help="opt in to a live run (also needs DRHARNESS_LIVE=I-UNDERSTAND)"),
    ) -> None:
        """Run the DR suites of one cadence (the monthly drill by default) and summarize the verdicts."""
        if cadence not in CADENCES:
            raise ConfigError(f"cadence {cadence!r} is not one of {', '.join(CADENCES)}")
        suites = [str(_suite_path(s)) for s in suite]
        settings = resolve_settings(target=target, config=config, endpoint=endpoint, reports=reports, seed=seed, live=live)
        if settings.target == "aws":
            # Refuse up front (opt-in, STS account, allowlists), even for a suite that never opens a session.
            from drharness.config import load_workload
            from drharness.safety import open_live_target

            open_live_target(settings, load_workload(settings.config))
        run = new_run_id()
        args = [sys.executable, "-m", "pytest", *suites, "-m", cadence, "-q", "-rfEs", "-p", "no:cacheprovider",
                "--dr-target", settings.target, "--dr-reports", str(settings.reports),
                "--alluredir", str(settings.reports / "allure-results")]
        for option, value in (("--dr-config", settings.config), ("--dr-endpoint", settings.endpoint), ("--dr-seed", settings.seed)):
            if value is not None:
                args += [option, str(value)]
        if settings.live_flag:
            args.append("--dr-live")
        if workers:
            args += ["-n", str(workers)]
        typer.echo(f"drharness drill: {cadence} checklist, target {settings.target}, run {run}")
        code = subprocess.call(args, env={**os.environ, RUN_ID_ENV: run})
        records = read_records(settings.reports, run)
        from drharness.summary import render_summary

        counts = render_summary(records, title=f"{cadence} DR drill — run {run}")
        typer.echo(f"result records: {settings.reports / 'results' / run}")
        if code == 0 and (counts.get("fail") or counts.get("error")):
            code = 1
        raise typer.Exit(code)
