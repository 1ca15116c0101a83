"""Run settings, resolved once into one frozen object.

Precedence: command line > environment > config file > default.

| setting   | command line               | environment                              | default          |
|-----------|----------------------------|------------------------------------------|------------------|
| target    | --dr-target / --target     | DRHARNESS_TARGET                         | offline          |
| config    | --dr-config / --config     | DRHARNESS_CONFIG                         | ./workload.toml, else built-in |
| endpoint  | --dr-endpoint / --endpoint | DRHARNESS_ENDPOINT, AWS_ENDPOINT_URL     | none (start a world) |
| reports   | --dr-reports / --reports   | DRHARNESS_REPORTS                        | ./reports        |
| seed      | --dr-seed / --seed         | DRHARNESS_SEED                           | config [offline].seed, else random (printed) |
| live opt-in | --dr-live / --live       | and DRHARNESS_LIVE=I-UNDERSTAND (both needed) | off         |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drharness.errors import ConfigError

LIVE_ENV = "DRHARNESS_LIVE"
LIVE_ENV_VALUE = "I-UNDERSTAND"
TARGETS = ("offline", "aws")


@dataclass(frozen=True)
class RunSettings:
    target: Literal["offline", "aws"] = "offline"
    config: Path | None = None
    endpoint: str | None = None
    reports: Path = Path("reports")
    seed: int | None = None
    live_flag: bool = False

    @property
    def live_opted_in(self) -> bool:
        return self.live_flag and os.environ.get(LIVE_ENV) == LIVE_ENV_VALUE


def _first(*values: str | None) -> str | None:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def resolve_settings(
    *,
    target: str | None = None,
    config: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    reports: str | os.PathLike[str] | None = None,
    seed: int | str | None = None,
    live: bool = False,
) -> RunSettings:
    """Merge command-line values over the environment over defaults; validate once."""
    env = os.environ
    chosen_target = _first(target, env.get("DRHARNESS_TARGET")) or "offline"
    if chosen_target not in TARGETS:
        raise ConfigError(f"target {chosen_target!r} is not one of {', '.join(TARGETS)} (from --dr-target or DRHARNESS_TARGET)")
    config_value = _first(str(config) if config else None, env.get("DRHARNESS_CONFIG"))
    config_path = Path(config_value) if config_value else None
    if config_path is not None and not config_path.is_file():
        raise ConfigError(f"config file {str(config_path)!r} does not exist; pass an existing file to --dr-config")
    endpoint_value = _first(endpoint, env.get("DRHARNESS_ENDPOINT"), env.get("AWS_ENDPOINT_URL"))
    if endpoint_value and not endpoint_value.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint {endpoint_value!r} must start with http:// or https://")
    seed_value = _first(str(seed) if seed is not None else None, env.get("DRHARNESS_SEED"))
    try:
        parsed_seed = int(seed_value) if seed_value is not None else None
    except ValueError as exc:
        raise ConfigError(f"seed {seed_value!r} must be a whole number (from --dr-seed or DRHARNESS_SEED)") from exc
    reports_value = _first(str(reports) if reports else None, env.get("DRHARNESS_REPORTS")) or "reports"
    return RunSettings(
        target=chosen_target,  # type: ignore[arg-type]
        config=config_path,
        endpoint=endpoint_value.rstrip("/") if endpoint_value else None,
        reports=Path(reports_value),
        seed=parsed_seed,
        live_flag=live,
    )
