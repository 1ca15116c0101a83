"""Account ids and credentials never reach a log: `scrub_logs` masks every log record as it is made.

Account ids in records, reports and logs: none, offline included. The offline world's account
(123456789012 unless `[offline].account_id` says otherwise) stands in for a real one and bucket names
carry it, so it is masked exactly like a live account (`mask_account`: last four digits). One rule
keeps a report identical in shape offline and live, and a scan for account ids
(`reporting.scrub.scan_tree`) needs no exception to know about. The result sink is where records are
masked; the console and the report builders mask with `reporting.scrub.Scrubber`; log records are
masked as they are made, once `scrub_logs` has been called (botocore's DEBUG log holds ARNs and
caller identities).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from drharness.redaction import Scrubber, configured_accounts, mask_account

__all__ = ["mask_account", "scrub_logs"]


class _LogScrubbing:
    """The accounts log records are masked for, and whether the record factory is in place."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: tuple[str, ...] = ()
        self.scrub: Any = None
        self.installed = False


_logs = _LogScrubbing()


def scrub_logs(*accounts: str) -> None:
    """From now on mask these account ids, and anything shaped like a credential, in every log record.

    Works at record creation (a log record factory), so every handler — pytest's captured logs, Allure
    attachments, a file — sees only masked text. Calling it again adds accounts; it installs once.
    """
    with _logs.lock:
        _logs.accounts = configured_accounts(*_logs.accounts, *accounts)
        _logs.scrub = Scrubber(_logs.accounts).text
        if _logs.installed:
            return
        _logs.installed = True
        previous = logging.getLogRecordFactory()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a badly formatted record is logging's to report, not ours
            return record
        clean = _logs.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(make)
