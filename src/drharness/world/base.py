"""The base of the world's engines: by default an engine ignores every request."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from drharness.world.requests import AwsRequest

if TYPE_CHECKING:
    from drharness.world.server import CapturedResponse, World


class BaseEngine:
    def __init__(self, world: "World") -> None:
        self.world = world

    def before(self, request: AwsRequest) -> "CapturedResponse | None":
        return None

    def after(self, request: AwsRequest, response: "CapturedResponse") -> None:
        return None

    def guard(self, request: AwsRequest) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()
