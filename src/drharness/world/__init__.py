"""The offline AWS world: moto on loopback plus replication, PITR, global tables, faults and ground truth."""

from drharness.world.control import WorldClient
from drharness.world.server import World

__all__ = ["World", "WorldClient"]
