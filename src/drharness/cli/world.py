"""`drharness world serve`: run the offline AWS world on loopback until stopped."""

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

ENDPOINT_LINE = "endpoint: {endpoint}"
SEED_LINE = "seed: {seed}"
DEPLOYED_LINE = "deployed: {kind} {name} ({region})"
READY_LINE = "ready: Ctrl-C or SIGTERM stops the world"
STOPPED_LINE = "stopped"

world_app = typer.Typer(help="Run the offline AWS world (moto plus drharness's data plane).", no_args_is_help=True)


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


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.add_typer(world_app, name="world")
