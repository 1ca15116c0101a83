"""Repository-wide pytest wiring: the drharness plugin is loaded by its entry point, and with it every
fixture the DR suites stand on (`drharness.pytest_plugin.fixtures`); `fixtures/` holds workload configs
the harness's tests deploy."""
