"""Repository-wide pytest wiring: the drharness plugin is loaded by its entry point; the DR suites'
scenario fixtures come from `fixtures/`."""

pytest_plugins = ["fixtures.scenarios"]
