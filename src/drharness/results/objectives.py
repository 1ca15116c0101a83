"""Objectives from tiers: what each resource's measurements are judged against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from drharness.results.records import Objective

if TYPE_CHECKING:
    from drharness.config import TierName, Workload

DIVERGENCE_METRIC = "divergent_keys"
ZERO_DIVERGENCE = Objective(DIVERGENCE_METRIC, 0, "keys", "==", "zero divergence")


@dataclass(frozen=True)
class TierObjectives:
    tier: TierName
    rto: Objective
    rpo: Objective
    replication_lag: Objective
    divergence: Objective


def objectives_for(workload: Workload, tier: TierName, *, rtc_minutes: int | None = None) -> TierObjectives:
    """The objectives of `tier`; replication lag is S3 RTC's window where the rule enables RTC,
    else the tier's `max_replication_lag_minutes`, else its RPO (a lag longer than the RPO loses data)."""
    spec = workload.tier(tier)
    label = f"tier {tier}"
    if rtc_minutes:
        lag_limit, lag_source = rtc_minutes * 60.0, f"S3 RTC {rtc_minutes} min"
    elif spec.max_replication_lag_minutes:
        lag_limit, lag_source = spec.max_replication_lag_minutes * 60.0, f"{label} max replication lag"
    else:
        lag_limit, lag_source = spec.rpo_seconds, f"{label} RPO {spec.rpo_hours:g} h"
    return TierObjectives(
        tier=tier,
        rto=Objective("rto", spec.rto_seconds, "s", "<=", f"{label} RTO {spec.rto_hours:g} h"),
        rpo=Objective("rpo", spec.rpo_seconds, "s", "<=", f"{label} RPO {spec.rpo_hours:g} h"),
        replication_lag=Objective("replication_lag_p99", lag_limit, "s", "<=", lag_source),
        divergence=ZERO_DIVERGENCE,  # the same for every tier: a replica or restore holds exactly its source
    )
