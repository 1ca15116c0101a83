"""The world's engines: the data plane moto lacks, shown each request before and after moto answers."""

from __future__ import annotations

import contextlib
from typing import Protocol

from drharness.world.wire import AwsRequest, CapturedResponse


class Engine(Protocol):
    """A part of the data plane: sees each request before and after moto answers it."""

    def before(self, request: AwsRequest) -> CapturedResponse | None: ...

    def after(self, request: AwsRequest, response: CapturedResponse) -> None: ...

    def guard(self, request: AwsRequest) -> contextlib.AbstractContextManager[None]: ...

    def tick(self) -> None: ...


class BaseEngine:
    """By default an engine ignores every request and has nothing to do when the clock moves."""

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        return None

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        return None

    def guard(self, request: AwsRequest) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def tick(self) -> None:
        """Act on what came due by the world clock (scheduled backups, lifecycle)."""
        return None
