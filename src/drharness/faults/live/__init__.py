"""Live faults in a real account, one module per mechanism.

`fis` (AWS Fault Injection Service experiments), `clientside` (faults in the workload's own SDK
clients where FIS cannot reach), `options` (what `[live]` of the workload config says), and
`backend` (the `LiveFaultBackend` that sends each fault to its mechanism).
"""

from drharness.faults.live.backend import LiveFaultBackend, describe_live_change
from drharness.faults.live.clientside import CLIENT_SIDE, CLIENT_SIDE_SERVICES, ClientSideFaults
from drharness.faults.live.fis import (
    FIS_API_FAULT_SERVICES,
    FIS_FINISHED,
    NO_FIS_ROLE,
    FisFaults,
    FisTemplate,
    experiment_region,
    experiment_template,
)
from drharness.faults.live.options import (
    FAULT_ID_TAG,
    FAULT_NAME_TAG,
    LIVE_NEEDS_AWS,
    NO_LIVE_BACKEND,
    LiveOptions,
    fault_tags,
    live_options,
)

__all__ = [
    "CLIENT_SIDE",
    "CLIENT_SIDE_SERVICES",
    "FAULT_ID_TAG",
    "FAULT_NAME_TAG",
    "FIS_API_FAULT_SERVICES",
    "FIS_FINISHED",
    "LIVE_NEEDS_AWS",
    "NO_FIS_ROLE",
    "NO_LIVE_BACKEND",
    "ClientSideFaults",
    "FisFaults",
    "FisTemplate",
    "LiveFaultBackend",
    "LiveOptions",
    "describe_live_change",
    "experiment_region",
    "experiment_template",
    "fault_tags",
    "live_options",
]
