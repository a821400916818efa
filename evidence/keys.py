"""The installation's Ed25519 signing key for ledger entries and checkpoints.

The private key lives in a file (``SAFECASE_SIGNING_KEY_FILE``, default ``var/keys/ledger.key``,
PEM PKCS#8), never in the database. Every public key ever used is registered in
:class:`evidence.models.SigningKey` for display, but a row establishes no trust: verification
trusts the configured key, ``SAFECASE_TRUSTED_KEYS`` and the keys that signed rotation
statements link to them (:mod:`evidence.trust`). ``manage.py create_signing_key`` creates the
first key, publishes its public half to the store and rotates it later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from evidence import verify


class SigningKeyError(Exception):
    """The signing key is missing, unreadable or not registered."""


def key_path() -> Path:
    return Path(settings.SAFECASE_SIGNING_KEY_FILE)


def log_name() -> str:
    """The signer name used in checkpoint signature lines and key ids."""
    return settings.SAFECASE_LOG_NAME


@dataclass(frozen=True)
class LoadedKey:
    private: Ed25519PrivateKey
    public: bytes
    key_id: str  # hex of the C2SP note key id (4 bytes), also the DSSE keyid

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def key_id_for(public: bytes) -> str:
    return verify.note_key_id(log_name(), public).hex()


def fingerprint_for(public: bytes) -> str:
    """The full fingerprint (64 hex digits) the operator publishes for a key of this log."""
    return verify.key_fingerprint(log_name(), public)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> LoadedKey:
    try:
        data = Path(path).read_bytes()
        private = serialization.load_pem_private_key(data, password=None)
    except FileNotFoundError as exc:
        raise SigningKeyError(
            f"signing key not found at {path}: run 'manage.py create_signing_key' first"
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"signing key at {path} cannot be read: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key at {path} is not an Ed25519 key")
    public = public_bytes(private)
    return LoadedKey(private=private, public=public, key_id=key_id_for(public))


def load_signing_key() -> LoadedKey:
    """The current private key, or :class:`SigningKeyError` with a one-line reason."""
    path = key_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _load(str(path), mtime)


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def write_key_file(path: Path, private: Ed25519PrivateKey) -> None:
    """Write ``private`` to ``path`` (mode 0600) by atomic replacement: a reader sees the old
    key or the new one, never a partial file."""
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _load.cache_clear()


def generate_key_file(path: Path) -> bytes:
    """Write a new Ed25519 key to ``path`` (mode 0600), replacing any old one.

    Returns the raw 32-byte public key.
    """
    private = Ed25519PrivateKey.generate()
    write_key_file(path, private)
    return public_bytes(private)
