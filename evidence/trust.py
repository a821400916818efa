"""Which public keys the ledger trusts, established only from outside the database.

Anyone who can write to the database can add a row to the signing-key table, so a row proves
nothing. The trust roots are what the operator configures outside it:

- the public half of the configured signing key (``SAFECASE_SIGNING_KEY_FILE``);
- ``SAFECASE_TRUSTED_KEYS``: verifier-key files (``name+keyid+base64`` text, one key a line)
  or 64-hex fingerprints. A fingerprint is itself out of band, so it may pick its key from any
  candidate: the store's ``keys/`` folder, a rotation statement or a database row.

From the roots, trust extends only through key rotation statements that both keys signed
(:func:`evidence.verify.trusted_closure`), read from the store (``keys/rotations/*.json``) and
from key-rotation ledger entries. A key that none of this reaches is untrusted, whatever the
database says about it.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from evidence import verify
from evidence.keys import SigningKeyError, load_signing_key, log_name
from evidence.models import EntryKind, LogEntry, SigningKey
from evidence.storage import StorageError, default_store

logger = logging.getLogger(__name__)

ROTATIONS_FOLDER = "keys/rotations"


def vkey_store_key(key_id: str) -> str:
    return f"keys/{key_id}.vkey"


def rotation_store_key(previous_id: str, next_id: str) -> str:
    return f"{ROTATIONS_FOLDER}/{previous_id}-{next_id}.json"


@dataclass
class Trust:
    """The trusted keys by key id, and what went wrong while establishing them."""

    keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, bytes]]:
        return list(self.keys.values())

    def by_id(self) -> dict[str, bytes]:
        return {key_id: public for key_id, (_, public) in self.keys.items()}

    def trusts(self, key_id: str, name: str, public: bytes) -> bool:
        return self.keys.get(key_id) == (name, bytes(public))

    def untrusted_rows(self) -> list[SigningKey]:
        """Signing-key rows that no trust root reaches: planted, or an unrotated old key."""
        return [
            row
            for row in SigningKey.objects.order_by("created_at", "pk")
            if not self.trusts(row.key_id, row.name, bytes(row.public_key))
        ]


def _configured_key() -> tuple[str, bytes] | None:
    try:
        return log_name(), load_signing_key().public
    except SigningKeyError:
        return None


def _store_rotations(store, trust: Trust) -> list[tuple[str, bytes]]:
    """Rotation statement files in the store, each as (where, bytes)."""
    found = []
    try:
        for item in store.list(ROTATIONS_FOLDER):
            if item.key.endswith(".json"):
                found.append((item.key, store.get_bytes(item.key)))
    except StorageError:
        trust.problems.append(
            "the store cannot be reached or listed, so its key rotation statements cannot be read"
        )
    return found


def _ledger_rotations(trust: Trust) -> list[tuple[str, bytes]]:
    """Rotation statements carried by key-rotation ledger entries, each as (where, bytes)."""
    found = []
    rows = LogEntry.objects.filter(kind=EntryKind.KEY_ROTATION).values_list(
        "project__key", "index", "envelope"
    )
    for project_key, index, envelope in rows.iterator():
        where = f"key-rotation entry {project_key}#{index}"
        try:
            statement = json.loads(base64.b64decode(json.loads(bytes(envelope))["payload"]))
            found.append((where, base64.b64decode(statement["predicate"]["statement"])))
        except (ValueError, KeyError, TypeError):
            trust.problems.append(f"{where} carries no readable rotation statement")
    return found


def _candidates(store, rotations: list[verify.KeyRotation]) -> list[tuple[str, bytes]]:
    """Every key a fingerprint may name: store ``keys/``, rotation statements, database rows."""
    keys: list[tuple[str, bytes]] = []
    try:
        for item in store.list("keys"):
            if item.key.endswith(".vkey") and "/" not in item.key[len("keys/") :]:
                try:
                    name, _, public = verify.parse_vkey(store.get_bytes(item.key).decode())
                except (ValueError, UnicodeDecodeError):
                    continue
                keys.append((name, public))
    except StorageError:
        pass
    for rotation in rotations:
        keys += [rotation.previous, rotation.next]
    keys += [(row.name, bytes(row.public_key)) for row in SigningKey.objects.all()]
    return keys


def _configured_roots(store, rotations, trust: Trust) -> list[tuple[str, bytes]]:
    items = settings.SAFECASE_TRUSTED_KEYS
    if isinstance(items, str):
        items = [i.strip() for i in items.split(",") if i.strip()]
    roots: list[tuple[str, bytes]] = []
    candidates = None
    for number, item in enumerate(items, start=1):
        where = f"SAFECASE_TRUSTED_KEYS item {number}"
        path = Path(item)
        if path.is_file():
            try:
                lines = [line for line in path.read_text().splitlines() if line.strip()]
                roots += [(name, public) for name, _, public in map(verify.parse_vkey, lines)]
                if not lines:
                    raise ValueError("the file holds no verifier key")
            except OSError as exc:  # the message would name the path: say only why
                trust.problems.append(f"{where} cannot be read: {exc.strerror}")
            except (ValueError, UnicodeDecodeError) as exc:
                trust.problems.append(f"{where} is not a verifier-key file: {exc}")
            continue
        try:
            fingerprint = verify.parse_fingerprint(item)
        except ValueError:
            trust.problems.append(
                f"{where} is neither an existing verifier-key file nor a 64-hex fingerprint"
            )
            continue
        if candidates is None:
            candidates = _candidates(store, rotations)
        match = next((k for k in candidates if verify.key_fingerprint(*k) == fingerprint), None)
        if match is None:
            trust.problems.append(
                f"{where}: no known key has the fingerprint {fingerprint[:16]}... "
                "(looked in the store's keys/, rotation statements and the key table)"
            )
        else:
            roots.append(match)
    return roots


def load_trust(store=None) -> Trust:
    """Establish the trusted keys afresh (reads the store and the key-rotation entries)."""
    store = store or default_store()
    trust = Trust()
    rotations: list[verify.KeyRotation] = []
    for where, data in _store_rotations(store, trust) + _ledger_rotations(trust):
        try:
            rotations.append(verify.verify_rotation(data))
        except ValueError as exc:
            trust.problems.append(f"rotation statement {where} does not verify: {exc}")
    roots = _configured_roots(store, rotations, trust)
    configured = _configured_key()
    if configured is not None:
        roots.append(configured)
    if not roots:
        trust.problems.append(
            "no trusted key: configure the signing key file or SAFECASE_TRUSTED_KEYS"
        )
    trust.keys = verify.trusted_closure(roots, rotations)
    return trust


_append_trust: dict[str, tuple[str, bytes]] = {}


def trusted_signer(key_id: str) -> tuple[str, bytes] | None:
    """The trusted (name, public key) with this key id, for the append's cheap head check.

    The configured key needs no look-up; another key (one rotated away from) is looked up in
    a per-process copy of the trust closure, rebuilt when the id is not in it.
    """
    configured = _configured_key()
    if configured is not None and verify.note_key_id(*configured).hex() == key_id:
        return configured
    if key_id not in _append_trust:
        trust = load_trust()
        _append_trust.clear()
        _append_trust.update(trust.keys)
    return _append_trust.get(key_id)


def forget() -> None:
    """Drop the per-process trust cache (after a rotation, and between tests)."""
    _append_trust.clear()
