"""`drharness world serve`: run the offline AWS world on loopback until stopped; `drharness world clock advance`:
move a running world's clock on from outside.

    drharness world serve --deploy
    drharness world clock advance 86400 --endpoint http://127.0.0.1:4566   # a day: due backups, inventory reports

The endpoint of `clock` comes from --endpoint, else DRHARNESS_ENDPOINT, else AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from drharness.cli.deploy import CONFIG_HELP
from drharness.config import load_workload
from drharness.errors import ConfigError
from drharness.settings import resolve_settings
from drharness.timefmt import human_seconds, iso
from drharness.world.control import WorldClient

ENDPOINT_LINE = "endpoint: {endpoint}"
SEED_LINE = "seed: {seed}"
DEPLOYED_LINE = "deployed: {kind} {name} ({region})"
READY_LINE = "ready: Ctrl-C or SIGTERM stops the world"
STOPPED_LINE = "stopped"

CLOCK_LINE = "world clock: {now} (moved on {moved})"
NO_ENDPOINT = ("no offline world endpoint: pass --endpoint URL or set DRHARNESS_ENDPOINT or AWS_ENDPOINT_URL (the URL "
               "`drharness world serve` printed)")

world_app = typer.Typer(help="Run the offline AWS world (moto plus drharness's data plane).", no_args_is_help=True)
clock_app = typer.Typer(help="Move a running offline world's clock.", no_args_is_help=True)
world_app.add_typer(clock_app, name="clock")


def _say(line: str) -> None:
    # Another process reads these lines through a pipe: each must arrive as soon as it is printed.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `stop.set()` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[..., Any] | int | None] = {}

    def handle(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def serve_world(
    *, port: int, deploy: bool, config: Path | None, seed: int | None, stop: threading.Event
) -> None:
    """Start a world, optionally deploy the workload into it, announce it, and wait for `stop`."""
    from drharness.deploy import deploy_workload
    from drharness.target import OfflineTarget
    from drharness.world import World

    workload = load_workload(config)
    with World(workload.spec.offline, port=port, seed=seed) as world:
        _say(SEED_LINE.format(seed=world.seed))
        if deploy:
            report = deploy_workload(OfflineTarget(world.endpoint, workload.account_id), workload)
            for item in report.resources:
                _say(DEPLOYED_LINE.format(kind=item.kind, name=item.name, region=item.region))
            for item in report.verification.unverified:
                _say(f"not verified: {item}")
        # The endpoint comes last: whoever waits for it may use the world (and what was deployed) at once.
        _say(ENDPOINT_LINE.format(endpoint=world.endpoint))
        _say(READY_LINE)
        stop.wait()
    _say(STOPPED_LINE)


@world_app.command("serve")
def serve(
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    deploy: bool = typer.Option(False, "--deploy", help="Deploy the workload before announcing the endpoint."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007 - typer needs Optional
    seed: Optional[int] = typer.Option(  # noqa: UP007
        None, "--seed", help="Seed of the world's randomness (printed; replayable)."
    ),
) -> None:
    """Serve the offline world on 127.0.0.1 until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    with _stop_on_signals(stop):
        serve_world(port=port, deploy=deploy, config=config, seed=seed, stop=stop)


@clock_app.command("advance")
def clock_advance(
    seconds: float = typer.Argument(..., min=0, help="How far to move the world clock on (it never goes back)."),
    endpoint: Optional[str] = typer.Option(  # noqa: UP007 - typer needs Optional
        None, "--endpoint", help="World endpoint (default: DRHARNESS_ENDPOINT, AWS_ENDPOINT_URL)."
    ),
) -> None:
    """Move the world clock on by SECONDS; what came due happens (backup plan runs, lifecycle, inventory reports)."""
    chosen = resolve_settings(endpoint=endpoint).endpoint
    if not chosen:
        raise ConfigError(NO_ENDPOINT)
    now = WorldClient(chosen).advance_clock(seconds)
    _say(CLOCK_LINE.format(now=iso(now), moved=human_seconds(seconds, exact=True)))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.add_typer(world_app, name="world")
