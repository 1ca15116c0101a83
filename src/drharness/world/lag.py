"""Lag models: how long the offline world's asynchronous replication takes, drawn from a seeded RNG."""

from __future__ import annotations

import math
import random

from drharness.config import LagModel


class LagSampler:
    """Draw replication delays (seconds) from a configured distribution."""

    def __init__(self, model: LagModel, rng: random.Random) -> None:
        self.model = model
        self._rng = rng

    def sample(self) -> float:
        m, rng = self.model, self._rng
        if m.distribution == "fixed":
            return m.seconds
        if m.distribution == "uniform":
            return rng.uniform(m.low_seconds, m.high_seconds)
        if m.distribution == "normal":
            return max(0.0, rng.gauss(m.seconds, m.sigma))
        if m.distribution == "lognormal":
            # `seconds` is the median; sigma is the shape of the underlying normal.
            return rng.lognormvariate(math.log(max(m.seconds, 1e-9)), m.sigma)
        return rng.expovariate(1.0 / max(m.seconds, 1e-9))
