"""Open a live target: only after the opt-in, STS and the allowlists say so (see `safety.scope`)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from drharness.config import Workload
from drharness.errors import SafetyError
from drharness.safety.scope import OPT_IN_HELP, check_live_allowed
from drharness.settings import RunSettings
from drharness.target import LIVE_CONFIG, AwsTarget, boto3_session

NO_CREDENTIALS = "no AWS credentials found for the live run; configure a profile (AWS_PROFILE) or environment credentials"
STS_FAILED = "cannot confirm the account with STS GetCallerIdentity at {where}: {error}"


class _EndpointAwsTarget(AwsTarget):
    """An AwsTarget whose every client goes to the endpoint STS was asked at (an account stand-in in tests)."""

    def __init__(self, session: boto3.session.Session, account_id: str, endpoint_url: str) -> None:
        # The offline world serves every service on one port and needs account-id endpoints off.
        super().__init__(session, account_id, config=LIVE_CONFIG.merge(Config(account_id_endpoint_mode="disabled")))
        self.endpoint_url = endpoint_url

    def client(self, service: str, region: str, *, credentials: dict[str, str] | None = None) -> Any:
        key = (service, region, (credentials or {}).get("aws_access_key_id", ""))

        def make() -> Any:
            session = boto3_session(region_name=region, **credentials) if credentials else self._session
            return session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=self._config)

        return self._cache.get(key, make)


def caller_account(session: boto3.session.Session, region: str, endpoint_url: str | None = None) -> str:
    """Ask STS which account the credentials belong to (a read: it changes nothing)."""
    where = endpoint_url or f"sts.{region}.amazonaws.com"
    try:
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url,
                             config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=20))
        return str(sts.get_caller_identity()["Account"])
    except NoCredentialsError as exc:
        raise SafetyError(NO_CREDENTIALS) from exc
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise SafetyError(STS_FAILED.format(where=where, error=exc)) from exc


def open_live_target(settings: RunSettings, workload: Workload, session: boto3.session.Session | None = None,
                     *, endpoint_url: str | None = None) -> AwsTarget:
    """Check opt-in, ask STS who we are, check the allowlists; only then hand out an AwsTarget.

    `endpoint_url` (else the run settings' endpoint) sends STS and every client of the target to one
    endpoint, so the account checked is the account used; the offline world plays an account that way.
    """
    if not settings.live_opted_in:
        raise SafetyError(OPT_IN_HELP)
    endpoint = endpoint_url or settings.endpoint
    session = session or boto3_session()
    account_id = caller_account(session, workload.primary_region, endpoint)
    check_live_allowed(settings, workload, account_id)
    target = _EndpointAwsTarget(session, account_id, endpoint) if endpoint else AwsTarget(session, account_id)
    target.poll_interval_s, target.probe_interval_s = workload.spec.live.poll_seconds, workload.spec.live.probe_seconds
    return target
