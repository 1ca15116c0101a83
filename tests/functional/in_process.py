"""`drharness ARGS` run in this process, for tests that read what a command printed with capsys."""

from __future__ import annotations

from drharness.cli import main


def cli(*args: str) -> int:
    """Run `drharness ARGS`; its exit code (main returns on success, exits otherwise)."""
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
