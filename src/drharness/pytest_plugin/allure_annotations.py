"""Result records on the running Allure test of a pytest run (allure-pytest's `allure.dynamic` API).

What the labels, parameters, steps and attachments are is `reporting.allure`'s; this adds them to the
test allure-pytest is writing, and is a no-op without --alluredir.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from drharness.reporting.allure import (
    DR_MARKERS,
    Step,
    attachments_for,
    labels_for_test,
    parameters_for,
    steps_for,
)
from drharness.reporting.scrub import Scrubber
from drharness.results import ResultRecord


class ObjectiveMissed(AssertionError):
    """Raised inside a step so that allure marks it failed with the verdict's reason."""


class HarnessError(RuntimeError):
    """Raised inside a step so that allure marks it broken with the error's reason."""


def allure_active() -> bool:
    """True when a pytest run writes Allure results (--alluredir), so the charts are worth drawing."""
    import allure_commons

    return bool(allure_commons.plugin_manager.hook.report_result.get_hookimpls())


def annotate_allure_test(markers: Iterable[str], records: Sequence[ResultRecord],
                         scrubber: Scrubber | None = None) -> None:
    """Add labels, parameters, steps and attachments to the running Allure test; no-op without --alluredir.

    `markers` are the test's marker names. allure-pytest already tags every marker, so only the labels
    that are not marker tags are added here. A test without records still gets the labels its DR
    markers give (epic, feature, severity).
    """
    markers = list(markers)
    if not allure_active() or not (records or set(markers) & DR_MARKERS):
        return
    import allure

    scrub = scrubber or Scrubber.for_workload()
    for name, value in labels_for_test(markers, records):
        if name == "tag" and value in markers:
            continue
        allure.dynamic.label(name, scrub.text(value))
    for param in parameters_for(records):
        allure.dynamic.parameter(scrub.text(param.name), scrub.text(param.value), excluded=param.excluded)
    for step in steps_for(records):
        _run_step(allure, step, scrub)
    for attachment in attachments_for(records, scrub):
        allure.attach(attachment.body, name=scrub.text(attachment.name), attachment_type=attachment.mime,
                      extension=attachment.extension)


def _run_step(allure, step: Step, scrub: Scrubber) -> None:  # type: ignore[no-untyped-def]
    error: type[Exception] | None = {"failed": ObjectiveMissed, "broken": HarnessError}.get(step.status)
    try:
        with allure.step(scrub.text(step.name)):
            for child in step.steps:
                _run_step(allure, child, scrub)
            if error is not None:
                raise error(scrub.text(step.message or step.status))
    except (ObjectiveMissed, HarnessError):
        pass  # the step carries the verdict; the test's own assertion decides the test's status
