"""drharness: chaos and disaster-recovery test harness for AWS workloads.

Offline by default (an embedded AWS world on moto, started by the harness on 127.0.0.1); against real
accounts only with explicit opt-in.
"""

from drharness.config import Workload, load_workload
from drharness.errors import DrHarnessError
from drharness.results import Objective, ResultRecord, ResultSink
from drharness.target import AwsTarget, OfflineTarget, Target

__version__ = "0.1.0"

__all__ = [
    "AwsTarget",
    "DrHarnessError",
    "Objective",
    "OfflineTarget",
    "ResultRecord",
    "ResultSink",
    "Target",
    "Workload",
    "load_workload",
    "__version__",
]
