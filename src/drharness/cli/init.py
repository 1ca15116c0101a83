"""`drharness init`: write a workload config from what an offline world (or, opted in, an account) holds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from drharness.errors import ConfigError

TAG_HELP = "Find the workload's resources by this tag (KEY=VALUE; repeat for several, all must match)."
STACK_HELP = "Find the workload's resources in this CloudFormation stack (in --region)."
ENDPOINT_HELP = "Read an offline world (or another stand-in) at this URL, as `drharness world serve` printed it."
LIVE_HELP = ("Read a real account: also needs DRHARNESS_LIVE=I-UNDERSTAND, --allow-account and --allow-region; "
             "init only reads, and refuses any other account")


def _tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--tag {value!r} must be KEY=VALUE, e.g. --tag Project=my-app")
        tags[key.strip()] = tag_value.strip()
    return tags


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""

    @app.command("init")
    def init(
        output: Path = typer.Option(..., "--output", help="Where to write the config (refused if it exists, unless --force)."),
        stack: Optional[str] = typer.Option(None, "--stack", help=STACK_HELP),  # noqa: UP007 - typer needs Optional
        tag: list[str] = typer.Option([], "--tag", help=TAG_HELP),  # noqa: B008
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
        region: str = typer.Option("us-east-1", "--region", help="The workload's primary region."),
        default_tier: str = typer.Option("critical", "--default-tier",
                                         help="The tier of a resource without a DRTier tag (said in the file)."),
        live: bool = typer.Option(False, "--live", help=LIVE_HELP),
        allow_account: Optional[str] = typer.Option(None, "--allow-account", help="The one account a live init may read."),  # noqa: UP007
        allow_region: list[str] = typer.Option([], "--allow-region", help="A region a live init may read (repeat)."),  # noqa: B008
        force: bool = typer.Option(False, "--force", help="Overwrite --output if it exists."),
    ) -> None:
        """Write a workload config from the resources of a stack and/or those carrying tags; each DR setting read back."""
        from drharness.discovery import discover, render

        if output.exists() and not force:
            raise ConfigError(f"{output} exists: pass --force to overwrite it, or choose another --output")
        tags = _tags(tag)
        target, source, account = _open(endpoint, live, allow_account, allow_region, region)
        text = render(discover(target, region, stack=stack, tags=tags, default_tier=default_tier, source=source),
                      allowed_account=account)
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_name(f".{output.name}.partial")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(output)  # a file that is there is a whole one
        typer.echo(f"wrote {output} ({source}); check the comments in it, then run: pytest drtests -m monthly "
                   f"--dr-config {output}{f' --dr-endpoint {endpoint}' if endpoint and not live else ''}")


def _open(endpoint: str | None, live: bool, allow_account: str | None, allow_regions: list[str],
          region: str) -> tuple[object, str, str | None]:
    """The target to read, what to call it in the file, and the account to allow live runs on (live only)."""
    if not live:
        if not endpoint:
            raise ConfigError("say what to read: --endpoint URL (an offline world), or --live with --allow-account "
                              "and --allow-region for an account")
        from drharness.attach import attach

        attachment = attach(endpoint, "123456789012")
        return attachment.target, endpoint, None
    from drharness.cli.live_gate import open_gated_target

    if not allow_account:
        raise ConfigError("a live init needs --allow-account ID: the one account it may read")
    others = [r for r in allow_regions if r != region]
    if not others:
        raise ConfigError(f"a live init needs --allow-region for the DR region too (besides {region}): "
                          "replicas are read there")
    target = open_gated_target(endpoint, allow_account, region, others[0], [region, *others], "drharness init",
                               "init reads only the account it is given")
    return target, f"account {allow_account}", allow_account
