"""Targets: where the workload runs. Every other part asks the Target for clients.

`OfflineTarget` talks to an offline world (one it started, or one at a given endpoint).
`AwsTarget` talks to a real account, only after the live safety checks have passed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal, Protocol

import botocore.session
from botocore.config import Config
from botocore.loaders import create_loader


if TYPE_CHECKING:
    import boto3

# One loader for the process: every botocore session reads each service model from disk once. A fresh
# session's first client of a service otherwise costs 60-170 ms of JSON loading; with it, ~12 ms.
# (The loader only caches what it read; sharing it between sessions and threads shares no state that changes.)
_SHARED_LOADER = create_loader()


def botocore_session() -> botocore.session.Session:
    """A new botocore session (its own credentials and clients) that shares the process's service models."""
    session = botocore.session.Session()
    session.register_component("data_loader", _SHARED_LOADER)
    return session


def boto3_session(**kwargs: Any) -> boto3.session.Session:
    """A new boto3 session on `botocore_session()`; `kwargs` as boto3.session.Session takes them."""
    import boto3.session  # not at module level: short commands that need no boto3 start without it

    return boto3.session.Session(botocore_session=botocore_session(), **kwargs)


# The offline world accepts any credentials; these make it obvious in a log that no real key is in use.
OFFLINE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

TargetName = Literal["offline", "aws"]

# Offline calls fail fast: a fault is meant to be seen, not retried away for minutes.
OFFLINE_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=2,
    read_timeout=120,  # a large offline Scan page can take this long; a dropped region fails at once anyway
    account_id_endpoint_mode="disabled",
)
# One attempt per call: for probes and tests that must see a fault the moment it is injected.
FAIL_FAST_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=2,
    read_timeout=10,
    account_id_endpoint_mode="disabled",
)
LIVE_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=5, read_timeout=60)


# How often to poll for a state to be reached: the offline world answers in milliseconds, AWS in seconds
# and throttles the impatient. A probe interval is the finer sampling an instrument's resolution needs.
OFFLINE_POLL_INTERVAL_S = 0.05
OFFLINE_PROBE_INTERVAL_S = 0.02
LIVE_POLL_INTERVAL_S = 5.0
LIVE_PROBE_INTERVAL_S = 1.0


class Target(Protocol):
    name: TargetName
    account_id: str
    endpoint_url: str | None
    poll_interval_s: float
    probe_interval_s: float

    def client(self, service: str, region: str) -> Any: ...


class _ClientCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str], Any] = {}

    def get(self, key: tuple[str, str, str], make: Any) -> Any:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make()
            return self._clients[key]


class OfflineTarget:
    """An offline world at `endpoint_url` (started by the harness, or found running)."""

    name: TargetName = "offline"
    poll_interval_s: float = OFFLINE_POLL_INTERVAL_S
    probe_interval_s: float = OFFLINE_PROBE_INTERVAL_S

    def __init__(self, endpoint_url: str, account_id: str = "123456789012", *, config: Config | None = None) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.account_id = account_id
        self._config = config or OFFLINE_CONFIG
        self._cache = _ClientCache()
        self._sessions: dict[str, botocore.session.Session] = {}

    def client(self, service: str, region: str, *, credentials: dict[str, str] | None = None) -> Any:
        creds = credentials or OFFLINE_CREDENTIALS
        key = (service, region, creds["aws_access_key_id"])

        def make() -> Any:
            # One session per credential set: a session costs far more to build than a client. botocore's
            # own session, not boto3's: offline clients need none of boto3's additions (S3 transfers), and
            # a short command such as `drharness compare` starts ~40 ms sooner without importing them.
            # `make` runs under the cache's lock, so the shared session is never used concurrently here.
            session = self._sessions.get(creds["aws_access_key_id"])
            if session is None:
                session = self._sessions[creds["aws_access_key_id"]] = botocore_session()
                session.set_credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"],
                                        creds.get("aws_session_token"))
            return session.create_client(service, region_name=region, endpoint_url=self.endpoint_url,
                                         config=self._config)

        return self._cache.get(key, make)


class AwsTarget:
    """A real AWS account. Build it through `drharness.safety.open_live_target`, never directly."""

    name: TargetName = "aws"
    endpoint_url: str | None = None
    poll_interval_s: float = LIVE_POLL_INTERVAL_S
    probe_interval_s: float = LIVE_PROBE_INTERVAL_S

    def __init__(self, session: boto3.session.Session, account_id: str, *, config: Config | None = None) -> None:
        self._session = session
        self.account_id = account_id
        self._config = config or LIVE_CONFIG
        self._cache = _ClientCache()

    def client(self, service: str, region: str, *, credentials: dict[str, str] | None = None) -> Any:
        key = (service, region, (credentials or {}).get("aws_access_key_id", ""))

        def make() -> Any:
            if credentials:
                return boto3_session(region_name=region, **credentials).client(service, config=self._config)
            return self._session.client(service, region_name=region, config=self._config)

        return self._cache.get(key, make)


class PrincipalTarget:
    """A target as another principal sees it: the same endpoint and account, clients on `credentials`.

    For the workload's own role (assumed by `assume_role`): what a fault that denies that role does,
    its clients see, while the harness's own clients on the inner target do not.
    """

    def __init__(self, inner: Any, credentials: dict[str, str], principal: str) -> None:
        self.inner = inner
        self.credentials = dict(credentials)
        self.principal = principal
        self.name: TargetName = inner.name
        self.account_id: str = inner.account_id
        self.endpoint_url: str | None = inner.endpoint_url
        self.poll_interval_s: float = inner.poll_interval_s
        self.probe_interval_s: float = inner.probe_interval_s

    def client(self, service: str, region: str) -> Any:
        return self.inner.client(service, region, credentials=self.credentials)


def assume_role(target: Any, role_arn: str, session_name: str, region: str, *, seconds: int = 3600) -> PrincipalTarget:
    """`target` as the role `role_arn` (STS AssumeRole in `region`); its trust policy must let the caller in."""
    answer = target.client("sts", region).assume_role(RoleArn=role_arn, RoleSessionName=session_name,
                                                      DurationSeconds=seconds)["Credentials"]
    credentials = {"aws_access_key_id": answer["AccessKeyId"], "aws_secret_access_key": answer["SecretAccessKey"],
                   "aws_session_token": answer["SessionToken"]}
    return PrincipalTarget(target, credentials, role_arn)
