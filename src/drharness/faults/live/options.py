"""How live faults run in an account: the options every live mechanism shares, read from `[live]`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drharness.faults.spec import FaultParams

if TYPE_CHECKING:
    from drharness.config import Workload

FAULT_ID_TAG = "drharness:fault-id"
FAULT_NAME_TAG = "drharness:fault"
PARAMS_TAG = "drharness:params"
NO_LIVE_BACKEND = "fault {name} has no live backend yet ({why}); run it against the offline world instead"
SEED_FOLDER = "drharness-seed/"  # the harness's own objects: this folder of the replicated prefix
LIVE_NEEDS_AWS = "the live fault backend needs the 'aws' target (got {got!r}); open it with drharness.safety.open_live_target"


@dataclass(frozen=True)
class LiveOptions:
    """How faults are run in the account.

    role_arn: the role FIS assumes to act. region: where experiments run unless the fault names one.
    duration: ISO 8601 cap on every action. tag_scope: only resources with these tags are targeted
    by tag. stop_alarm_arns: CloudWatch alarms that stop an experiment. api_fault_role_arns: the
    roles whose API calls a service-fault impairs. seed_bucket, seed_prefix: where the harness's own
    seed objects live in the workload's first bucket (the only data a live leaked key may read).
    seed_folders: (bucket, seed prefix) of every replicated bucket of the workload, the only data a live
    data-corruption may overwrite (empty: the first bucket's alone).
    """

    role_arn: str
    region: str
    duration: str = "PT30M"
    tag_scope: Mapping[str, str] = field(default_factory=lambda: {"DRHarness": "allowed"})
    stop_alarm_arns: tuple[str, ...] = ()
    api_fault_role_arns: tuple[str, ...] = ()
    stop_timeout_s: float = 300.0
    seed_bucket: str = ""
    seed_prefix: str = SEED_FOLDER
    seed_folders: tuple[tuple[str, str], ...] = ()

    def folders(self) -> tuple[tuple[str, str], ...]:
        """Every seed folder a live data fault may touch: `seed_folders`, or the first bucket's alone."""
        if self.seed_folders:
            return self.seed_folders
        return ((self.seed_bucket, self.seed_prefix),) if self.seed_bucket else ()


def live_options(workload: Workload, *, region: str | None = None) -> LiveOptions:
    """The live options `[live]` of the workload config gives: FIS role, duration cap, api-fault roles.

    The tag scope and stop alarms are filled in by `drharness.safety.live_fault_backend`, the one place
    every live backend is made.
    """
    live = workload.spec.live
    return LiveOptions(role_arn=live.fis_role_arn, region=region or workload.primary_region,
                       duration=live.fis_duration, tag_scope=dict(live.tag_scope),
                       api_fault_role_arns=tuple(live.api_fault_roles), seed_bucket=workload.data_bucket,
                       seed_prefix=workload.spec.bucket.replication.prefix + SEED_FOLDER,
                       seed_folders=tuple((view.data_bucket, view.spec.bucket.replication.prefix + SEED_FOLDER)
                                          for view in workload.each_bucket()))


def fault_tags(fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
    """The tags every live resource a fault makes carries: its id, its name and (if short enough) its params."""
    tags = {"Name": f"drharness-{name}-{fault_id}", FAULT_ID_TAG: fault_id, FAULT_NAME_TAG: name}
    encoded = json.dumps(params.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))
    if len(encoded) <= 256:  # the FIS and IAM limit on a tag value
        tags[PARAMS_TAG] = encoded
    return tags
