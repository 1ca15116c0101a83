"""A DR session: settings -> workload -> target (and the offline world when the harness starts one) -> sink.

The pytest plugin, the `drharness` commands and the Chaos Toolkit control all open one of these, so
the data flow is the same whichever surface starts the run.
"""

from __future__ import annotations

from types import TracebackType

from drharness.config import Workload, load_workload
from drharness.results import ResultSink
from drharness.settings import RunSettings
from drharness.attach import attach
from drharness.target import OfflineTarget, Target


class DrSession:
    """Open with `with DrSession(settings) as s:`; `s.target`, `s.workload`, `s.sink`, `s.world_client`."""

    def __init__(self, settings: RunSettings, *, deploy: bool = True, source: str = "api") -> None:
        self.settings = settings
        self.deploy = deploy
        self.source = source
        self.world = None
        self.world_client = None
        self.target: Target
        self.workload: Workload
        self.sink: ResultSink
        self.deployed = False

    def open(self) -> "DrSession":
        from drharness.safety import scrub_logs

        workload = load_workload(self.settings.config)
        scrub_logs(workload.spec.offline.account_id, *workload.spec.live.allowed_accounts)
        if self.settings.target == "aws":
            from drharness.safety import open_live_target

            target = open_live_target(self.settings, workload)
        elif self.settings.endpoint:
            attached = attach(self.settings.endpoint, workload.spec.offline.account_id)
            target, self.world_client = attached.target, attached.world
        else:
            from drharness.world import World, WorldClient

            self.world = World(workload.spec.offline, seed=self.settings.seed).start()
            self.world_client = WorldClient(self.world.endpoint)
            target = OfflineTarget(self.world.endpoint, self.world.account_id)
            if self.deploy:
                try:
                    from drharness.deploy import deploy_workload

                    deploy_workload(target, workload.with_account(target.account_id))
                    self.deployed = True
                except BaseException:
                    self.close()
                    raise
        self.target = target
        self.workload = workload.with_account(target.account_id)
        self.sink = ResultSink(self.settings.reports, source=self.source,
                               accounts=(target.account_id, *workload.spec.live.allowed_accounts))
        scrub_logs(target.account_id)
        return self

    def describe(self) -> str:
        if self.world is not None:
            return f"target offline: world started at {self.world.endpoint} (seed {self.world.seed}; replay with --dr-seed {self.world.seed})"
        if self.target.name == "offline":
            return f"target offline: world found at {self.settings.endpoint} (nothing deployed)"
        from drharness.safety import mask_account

        return f"target aws: account {mask_account(self.target.account_id)}, regions {', '.join(self.workload.regions)}"

    def close(self) -> None:
        if self.world is not None:
            try:
                self.world.faults.revert_all()
            finally:
                self.world.stop()
                self.world = None

    def __enter__(self) -> "DrSession":
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
