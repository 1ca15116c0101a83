"""Reports made from result records only: Allure (labels, charts, report build, quality gate), scrubbing."""

from drharness.reporting.allure import (
    Attachment,
    Parameter,
    Step,
    annotate_allure_test,
    attachments_for,
    labels_for_test,
    parameters_for,
    severity_for,
    steps_for,
    write_allure_results,
)
from drharness.reporting.allure_report import CATEGORIES, build_report, category_of, critical_misses
from drharness.reporting.scrub import Finding, Scrubber, scan_tree

__all__ = [
    "CATEGORIES",
    "Attachment",
    "Finding",
    "Parameter",
    "Scrubber",
    "Step",
    "annotate_allure_test",
    "attachments_for",
    "build_report",
    "category_of",
    "critical_misses",
    "labels_for_test",
    "parameters_for",
    "scan_tree",
    "severity_for",
    "steps_for",
    "write_allure_results",
]
