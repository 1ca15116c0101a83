"""The offline AWS world: moto on loopback plus replication, PITR, global tables, faults and ground truth.

The names below load on first use (PEP 562): a process that only talks to a world through
`drharness.world.control.WorldClient` never imports moto or werkzeug.
"""

from drharness._lazy import lazy_exports

__all__ = ["World", "WorldClient"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "drharness.world.server": ["World"],
        "drharness.world.control": ["WorldClient"],
    },
)
