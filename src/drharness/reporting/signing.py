"""Ed25519 keys for evidence bundles: make a key pair, read the signing key, read a public key, fingerprint one.

Precedence of the signing key: `--key PATH` > the environment variable DRHARNESS_EVIDENCE_KEY (the PEM
text itself, for a CI secret). Keys are unencrypted PKCS#8 / SubjectPublicKeyInfo PEM, as
`openssl pkey` reads them; no message ever carries a key's text.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drharness.errors import ReportError

KEY_ENV = "DRHARNESS_EVIDENCE_KEY"
FINGERPRINT_HEX = 16
PUBLIC_SUFFIX = ".pub"

NO_KEY = (f"no signing key: pass --key PATH (a private key made by `drharness evidence keygen --output PATH`) or set "
          f"{KEY_ENV} to the PEM text of one; nothing was written")
KEY_EXISTS = "{path} already exists; keygen never overwrites a key: choose another --output or move the old key away"
BAD_KEY = ("{where} is not an unencrypted Ed25519 private key in PEM ({why}); make one with "
           "`drharness evidence keygen --output PATH`")
BAD_PUBLIC_KEY = ("{where} is not an Ed25519 public key in PEM ({why}); pass the PATH.pub that "
                  "`drharness evidence keygen --output PATH` wrote")


@dataclass(frozen=True)
class KeyPair:
    """Where keygen wrote a key pair, and the public key's fingerprint."""

    private_path: Path
    public_path: Path
    fingerprint: str


def fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:` and the first hex digits of the SHA-256 of the raw 32-byte public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:FINGERPRINT_HEX]


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_keypair(output: Path) -> KeyPair:
    """Write a new Ed25519 private key at `output` (PEM, mode 0600) and its public key at `output`.pub."""
    output = Path(output)
    public = output.with_name(output.name + PUBLIC_SUFFIX)
    for path in (output, public):
        if path.exists() or path.is_symlink():
            raise ReportError(KEY_EXISTS.format(path=path))
    key = Ed25519PrivateKey.generate()
    output.parent.mkdir(parents=True, exist_ok=True)
    _write_new(output, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), 0o600)
    try:
        _write_new(public, public_pem(key.public_key()), 0o644)
    except BaseException:
        output.unlink(missing_ok=True)  # half a key pair is worse than none
        raise
    return KeyPair(output, public, fingerprint(key.public_key()))


def _write_new(path: Path, body: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # O_EXCL: never overwrite, even in a race
    except FileExistsError as exc:
        raise ReportError(KEY_EXISTS.format(path=path)) from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # whatever the umask
        handle.write(body)


def signing_key(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """The bundle's signing key: the file at `path` (--key), else the PEM text in DRHARNESS_EVIDENCE_KEY."""
    env = os.environ if environ is None else environ
    if path is not None:
        where = f"--key {path}"
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ReportError(BAD_KEY.format(where=where, why=f"cannot be read: {exc.strerror}")) from exc
    elif env.get(KEY_ENV, "").strip():
        where, pem = f"${KEY_ENV}", env[KEY_ENV].strip().encode("utf-8")
    else:
        raise ReportError(NO_KEY)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # the reason only, never the key's text
        raise ReportError(BAD_KEY.format(where=where, why=str(exc).split("\n")[0] or type(exc).__name__)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ReportError(BAD_KEY.format(where=where, why=f"it is a {type(key).__name__}"))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file at `path` (verify --key)."""
    try:
        return public_key_from_pem(Path(path).read_bytes())
    except OSError as exc:
        raise ReportError(BAD_PUBLIC_KEY.format(where=path, why=f"cannot be read: {exc.strerror}")) from exc
    except ValueError as exc:
        raise ReportError(BAD_PUBLIC_KEY.format(where=path, why=exc)) from exc


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in `pem`; ValueError with the reason when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(str(exc).split("\n")[0]) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"it is a {type(key).__name__}")
    return key


__all__ = [
    "KEY_ENV", "KeyPair", "fingerprint", "generate_keypair", "load_public_key", "public_key_from_pem", "public_pem",
    "signing_key",
]
