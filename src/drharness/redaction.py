"""Mask account ids and AWS credentials in text: records are masked at the sink, reports before they are written.

What counts as a secret here:
- the configured account ids (12 digits, wherever they stand: bucket names end with one) and any
  account id in the account field of an ARN;
- access key ids (`AKIA...` long-term, `ASIA...` temporary);
- secret access keys (40 characters of base64 after a key-like name, or a bare 40-character run that
  mixes upper case, lower case and digits, as only generated secrets do);
- session tokens (after a token-like name, or the base64 prefixes STS tokens start with).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drharness.config import Workload

ACCOUNT_ENV = "DRHARNESS_ACCOUNT_ID"
KEY_MASK = "****MASKED-KEY****"
SECRET_MASK = "****MASKED-SECRET****"
TOKEN_MASK = "****MASKED-TOKEN****"
ARN_ACCOUNT_MASK = "************"


def mask_account(account_id: str) -> str:
    """Show only the last four digits of an account id."""
    return "********" + account_id[-4:] if len(account_id) >= 4 else "****"


# Text files worth reading; binary attachments (PNG) are made from scrubbed text and skipped here.
TEXT_SUFFIXES = frozenset({".json", ".txt", ".html", ".htm", ".csv", ".properties", ".xml", ".log", ".md",
                           ".js", ".css", ".svg", ".tsv", ".yaml", ".yml", ".uri", ".attach"})
MAX_SCAN_BYTES = 20 * 1024 * 1024

TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")
KEY_ID_PATTERN = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
ARN_ACCOUNT_PATTERN = re.compile(r"(arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:)(\d{12})(?=[:/])")
_B64 = r"[A-Za-z0-9/+=]"
NAMED_SECRET_PATTERN = re.compile(
    r"((?:aws_?)?secret_?(?:access_?)?key[\"']?\s*(?::|=>|=)\s*[\"']?)"
    r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    re.IGNORECASE,
)
BARE_SECRET_PATTERN = re.compile(rf"(?<!{_B64})[A-Za-z0-9/+]{{40}}(?!{_B64})")
NAMED_TOKEN_PATTERN = re.compile(
    r"((?:aws_?)?(?:session|security)_?token[\"']?\s*(?::|=>|=)\s*[\"']?)([A-Za-z0-9/+=%]{16,})",
    re.IGNORECASE,
)
# STS session tokens are base64 of a protobuf-like blob and start with one of these.
STS_TOKEN_PATTERN = re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=%]{20,}")


def looks_generated(text: str) -> bool:
    """A 40-character run counts as a secret only if it mixes cases and digits (hex digests and words do not)."""
    return (any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
            and not re.fullmatch(r"[0-9a-fA-F]+", text))


def configured_accounts(*accounts: str | None) -> tuple[str, ...]:
    """The account ids to mask: the given ones plus DRHARNESS_ACCOUNT_ID, each a 12-digit string."""
    found = [a for a in (*accounts, os.environ.get(ACCOUNT_ENV)) if a]
    return tuple(dict.fromkeys(a for a in found if len(a) == 12 and a.isdigit()))


@dataclass(frozen=True)
class Scrubber:
    """Mask the given account ids and anything that looks like an AWS credential in text.

    `every_account_like` also masks any standalone 12-digit number: for text that cannot be scrubbed
    later (drawn into a chart), where a false positive costs nothing.
    """

    accounts: tuple[str, ...] = ()
    every_account_like: bool = False

    @classmethod
    def for_workload(cls, workload: "Workload | None" = None) -> "Scrubber":
        """Mask the workload's account, its live allowlist and DRHARNESS_ACCOUNT_ID (default: ./workload.toml)."""
        from drharness.config import load_workload
        from drharness.errors import ConfigError

        if workload is None:
            try:
                workload = load_workload()
            except ConfigError:
                return cls(configured_accounts())
        return cls(configured_accounts(workload.account_id, *workload.spec.live.allowed_accounts))

    def text(self, text: str) -> str:
        text = ARN_ACCOUNT_PATTERN.sub(lambda m: m.group(1) + ARN_ACCOUNT_MASK, text)
        for account in self.accounts:
            text = re.sub(rf"(?<!\d){re.escape(account)}(?!\d)", mask_account(account), text)
        if self.every_account_like:
            text = TWELVE_DIGITS.sub(lambda m: mask_account(m.group(0)), text)
        text = KEY_ID_PATTERN.sub(KEY_MASK, text)
        text = NAMED_SECRET_PATTERN.sub(lambda m: m.group(1) + SECRET_MASK, text)
        text = BARE_SECRET_PATTERN.sub(lambda m: SECRET_MASK if looks_generated(m.group(0)) else m.group(0), text)
        text = NAMED_TOKEN_PATTERN.sub(lambda m: m.group(1) + TOKEN_MASK, text)
        return STS_TOKEN_PATTERN.sub(TOKEN_MASK, text)

    def bytes(self, body: bytes) -> bytes:
        """Scrub UTF-8 text; leave anything that is not text (an image) as it is."""
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        return self.text(decoded).encode("utf-8")

    def file(self, path: Path) -> bool:
        """Scrub a text file in place; True if it changed."""
        if path.suffix.lower() not in TEXT_SUFFIXES or path.stat().st_size > MAX_SCAN_BYTES:
            return False
        body = path.read_bytes()
        scrubbed = self.bytes(body)
        if scrubbed == body:
            return False
        path.write_bytes(scrubbed)
        return True

    def tree(self, root: Path) -> int:
        """Scrub every text file under `root` in place; the number of files changed."""
        return sum(self.file(path) for path in sorted(root.rglob("*")) if path.is_file())
