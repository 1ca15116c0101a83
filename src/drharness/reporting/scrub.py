"""Scan report files for account ids and AWS credentials that got past masking (a report must have none).

What counts as a secret, and the masking itself, live in `drharness.redaction` (the record sink masks
with it too); this module re-exports those names for the report builders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from drharness.redaction import (
    ACCOUNT_ENV,
    ARN_ACCOUNT_MASK,
    ARN_ACCOUNT_PATTERN,
    BARE_SECRET_PATTERN,
    KEY_ID_PATTERN,
    KEY_MASK,
    MAX_SCAN_BYTES,
    NAMED_SECRET_PATTERN,
    NAMED_TOKEN_PATTERN,
    SECRET_MASK,
    STS_TOKEN_PATTERN,
    TEXT_SUFFIXES,
    TOKEN_MASK,
    Scrubber,
    configured_accounts,
    looks_generated,
    mask_account,
)

__all__ = [
    "ACCOUNT_ENV", "ARN_ACCOUNT_MASK", "KEY_MASK", "SECRET_MASK", "TOKEN_MASK", "Finding", "Scrubber",
    "configured_accounts", "mask_account", "scan_text", "scan_tree",
]


@dataclass(frozen=True)
class Finding:
    """One secret-looking string in a file: where, what kind, and a masked excerpt."""

    path: Path
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def scan_text(text: str, accounts: Iterable[str] = ()) -> Iterator[tuple[int, str, str]]:
    """Yield (line number, kind, masked excerpt) for every secret-looking string in `text`."""
    patterns: list[tuple[str, re.Pattern[str]]] = [
        ("arn account id", ARN_ACCOUNT_PATTERN),
        ("access key id", KEY_ID_PATTERN),
        ("secret access key", NAMED_SECRET_PATTERN),
        ("session token", NAMED_TOKEN_PATTERN),
        ("session token", STS_TOKEN_PATTERN),
    ]
    patterns += [("account id", re.compile(rf"(?<!\d){re.escape(a)}(?!\d)")) for a in accounts]
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in patterns:
            for match in pattern.finditer(line):
                yield number, kind, _excerpt(match.group(0))
        for match in BARE_SECRET_PATTERN.finditer(line):
            if looks_generated(match.group(0)):
                yield number, "secret access key", _excerpt(match.group(0))


def scan_tree(root: Path, accounts: Iterable[str] = ()) -> list[Finding]:
    """Every secret-looking string in the text files under `root` (the report must have none)."""
    wanted = tuple(accounts)
    findings = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        if path.suffix.lower() not in TEXT_SUFFIXES or path.stat().st_size > MAX_SCAN_BYTES:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        findings += [Finding(path, number, kind, excerpt) for number, kind, excerpt in scan_text(text, wanted)]
    return findings


def _excerpt(secret: str) -> str:
    """Enough of a finding to locate it, never the whole secret."""
    return f"{secret[:4]}…({len(secret)} chars)"
