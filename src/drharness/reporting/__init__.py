"""Reports made from result records only: Allure (labels, charts, report build, quality gate), scrubbing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.reporting.allure import (
        Attachment,
        Parameter,
        Step,
        attachments_for,
        labels_for_test,
        parameters_for,
        severity_for,
        steps_for,
        write_allure_results,
    )
    from drharness.reporting.allure_report import CATEGORIES, build_report, category_of, critical_misses
    from drharness.reporting.scrub import Finding, Scrubber, scan_tree

# Imported on first use: writing a result record needs the scrubber, not Allure or the world behind it.
__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.reporting.allure": (
        "Attachment", "Parameter", "Step", "attachments_for", "labels_for_test",
        "parameters_for", "severity_for", "steps_for", "write_allure_results",
    ),
    "drharness.reporting.allure_report": ("CATEGORIES", "build_report", "category_of", "critical_misses"),
    "drharness.reporting.scrub": ("Finding", "Scrubber", "scan_tree"),
})

__all__ = [
    "CATEGORIES",
    "Attachment",
    "Finding",
    "Parameter",
    "Scrubber",
    "Step",
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
