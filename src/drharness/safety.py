"""Live-account safety: opt-in, account and region allowlists, checked before any AWS call that changes anything."""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from drharness.config import Workload
from drharness.errors import SafetyError
from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE, RunSettings
from drharness.target import AwsTarget

OPT_IN_HELP = (
    f"live runs need an explicit opt-in: pass --dr-live (CLI: --live) AND set {LIVE_ENV}={LIVE_ENV_VALUE}, "
    "and list the account in [live].allowed_accounts and the regions in [live].allowed_regions of the workload config"
)


def mask_account(account_id: str) -> str:
    """Show only the last four digits of an account id."""
    return "********" + account_id[-4:] if len(account_id) >= 4 else "****"


def check_live_allowed(settings: RunSettings, workload: Workload, account_id: str) -> None:
    """Raise SafetyError unless opt-in, account allowlist and region allowlist all hold."""
    if not settings.live_opted_in:
        raise SafetyError(OPT_IN_HELP)
    live = workload.spec.live
    if account_id not in live.allowed_accounts:
        raise SafetyError(
            f"account {mask_account(account_id)} is not in [live].allowed_accounts of {workload.source}; "
            "refusing before any change. Add it there if this account is meant for DR drills."
        )
    for region in workload.regions:
        if region not in live.allowed_regions:
            raise SafetyError(
                f"region {region} is not in [live].allowed_regions of {workload.source}; refusing before any change"
            )


def open_live_target(settings: RunSettings, workload: Workload, session: boto3.session.Session | None = None,
                     *, endpoint_url: str | None = None) -> AwsTarget:
    """Check opt-in, ask STS who we are, check the allowlists; only then hand out an AwsTarget."""
    if not settings.live_opted_in:
        raise SafetyError(OPT_IN_HELP)
    session = session or boto3.session.Session()
    try:
        sts = session.client("sts", region_name=workload.primary_region, endpoint_url=endpoint_url)
        account_id = sts.get_caller_identity()["Account"]
    except NoCredentialsError as exc:
        raise SafetyError(
            "no AWS credentials found for the live run; configure a profile (AWS_PROFILE) or environment credentials"
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise SafetyError(f"cannot confirm the account with STS GetCallerIdentity: {exc}") from exc
    check_live_allowed(settings, workload, account_id)
    return AwsTarget(session, account_id)
