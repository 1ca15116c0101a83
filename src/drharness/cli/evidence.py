"""`drharness evidence keygen|bundle|verify`: tamper-evident evidence bundles for auditors.

A bundle is one signed archive of a run's (or a month's) result records, that month's report, the fault
journals and a control map (ISO/IEC 27001, NIST SP 800-53, SOC 2). Like every report it reads records
only. `verify` exits 0 when the bundle is intact, 1 naming the first member that does not match.
"""

from __future__ import annotations

from pathlib import Path

import typer

from drharness.errors import ReportError

evidence_app = typer.Typer(
    name="evidence",
    help="Tamper-evident evidence bundles: make a signing key, bundle a run or a month, verify a bundle.",
    no_args_is_help=True,
)

TAMPERED = "drharness: evidence bundle {bundle} failed verification: {mismatch}"


def register(app: typer.Typer) -> None:
    """Add the `evidence` group to the `drharness` app."""
    app.add_typer(evidence_app, name="evidence")


@evidence_app.command("keygen")
def keygen(
    output: Path = typer.Option(..., "--output", help="where the private key goes (PEM, mode 0600); the public key goes to OUTPUT.pub"),
) -> None:
    """Make an Ed25519 signing key pair; never overwrites an existing file."""
    from drharness.reporting.signing import generate_keypair

    pair = generate_keypair(output)
    typer.echo(f"evidence signing key {pair.fingerprint}: private {pair.private_path} (mode 0600; keep it secret, e.g. "
               f"as a CI secret in DRHARNESS_EVIDENCE_KEY), public {pair.public_path} (give it to whoever verifies)")


@evidence_app.command("bundle")
def bundle(
    output: Path = typer.Option(..., "--output", help="the bundle to write (FILE.tar.gz)"),
    run: str = typer.Option(None, "--run", help="bundle this run's records"),
    month: str = typer.Option(None, "--month", help="bundle the records of every run started in YYYY-MM"),
    reports: Path = typer.Option(None, "--reports", help="reports root holding results/<run_id>/ (default ./reports)"),
    config: Path = typer.Option(None, "--config", help="workload config: the accounts to mask (default ./workload.toml)"),
    key: Path = typer.Option(None, "--key", help="the private signing key (default: the PEM text in $DRHARNESS_EVIDENCE_KEY)"),
) -> None:
    """Write one signed, scrubbed archive of a run's or a month's records, report and fault journals."""
    from drharness.config import load_workload
    from drharness.reporting.bundle import ONE_SCOPE, build_bundle
    from drharness.reporting.scrub import Scrubber
    from drharness.reporting.signing import signing_key
    from drharness.settings import resolve_settings

    if (run is None) == (month is None):
        raise ReportError(ONE_SCOPE)
    signer = signing_key(key)  # before anything is read: without a key nothing is written
    settings = resolve_settings(config=config, reports=reports)
    workload = load_workload(settings.config)
    out = build_bundle(settings.reports, output, signer, Scrubber.for_workload(workload), run=run, month=month)
    manifest = out.manifest
    typer.echo(f"evidence bundle {out.path}: {len(manifest.chain)} records of {len(manifest.runs)} run(s)"
               f"{f' ({manifest.month})' if manifest.month else ''}, {len(manifest.files) + 2} files, chain head "
               f"{manifest.head[:16]}…, signed by {manifest.public_key}")
    for path in out.skipped:
        typer.echo(f"  left out (neither text nor a chart, so it cannot be masked): {path}", err=True)


@evidence_app.command("verify")
def verify(
    bundle_path: Path = typer.Argument(..., metavar="BUNDLE", help="the FILE.tar.gz to verify"),
    key: Path = typer.Option(None, "--key", help="the signer's public key (PEM); default: the bundle's own, which proves integrity only"),
) -> None:
    """Check the signature, every member's digest and size, the member list and the record chain."""
    from drharness.reporting.bundle import TamperedBundle, verify_bundle
    from drharness.reporting.signing import load_public_key

    public = load_public_key(key) if key is not None else None
    try:
        verified = verify_bundle(bundle_path, public)
    except TamperedBundle as exc:
        typer.echo(TAMPERED.format(bundle=bundle_path, mismatch=exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(verified.summary())
