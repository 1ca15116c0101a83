"""What importing a part of the package loads: the fault vocabulary and the live-safety gate never load the emulator.

Each check runs in a fresh interpreter, so modules other tests imported cannot hide an import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

EMULATOR = ("moto", "werkzeug", "drharness.world")

LOAD_AND_LIST = """
import importlib, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", ()):
        getattr(module, attr)  # a lazy package imports each module on first use: use them all
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {"moto", "werkzeug"} or m.startswith("drharness.world"))))
"""


def loaded_emulator_modules(*modules: str) -> set[str]:
    """The emulator modules a fresh interpreter holds after importing `modules` and every name they export."""
    done = subprocess.run([sys.executable, "-c", LOAD_AND_LIST, *modules],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("modules", [
    ("drharness.faults.spec",),
    ("drharness.faults.spec", "drharness.safety"),
    ("drharness.safety.guard", "drharness.safety.plan", "drharness.safety.sweep", "drharness.safety.redaction"),
    ("drharness.faults.lifecycle", "drharness.faults.live"),
])
def test_the_fault_vocabulary_and_the_safety_gate_do_not_load_the_emulator(modules):
    assert loaded_emulator_modules(*modules) == set()


def test_the_check_sees_the_emulator_where_it_is_loaded():
    assert "moto" in loaded_emulator_modules("drharness.faults.offline")


def test_importing_the_faults_package_loads_no_backend():
    done = subprocess.run(
        [sys.executable, "-c", "import drharness.faults, sys; "
         "print(sorted(m for m in sys.modules if m.startswith('drharness.faults.')))"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "offline" not in done.stdout and "live" not in done.stdout, done.stdout
