"""The DR suites: one module per scenario, selected by cadence (`-m daily|weekly|monthly|quarterly`),
tier, scenario and target markers. Every test measures through the instruments and writes its verdicts
as result records; the fixtures come from the drharness pytest plugin."""
