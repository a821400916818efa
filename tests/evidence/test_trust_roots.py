"""Key fingerprints, rotation statements and the trust closure of ``evidence/verify.py``.

Trust must rest on what an attacker cannot plant: a fingerprint received out of band, and
rotation statements that both the retiring and the new key signed. These tests build keys with
the ``cryptography`` package and check the verifier's answers against the definitions.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import verify

NAME = "safecase.test/ledger"


class Key:
    def __init__(self, name: str = NAME):
        self.private = Ed25519PrivateKey.generate()
        self.name = name
        self.public = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = verify.note_key_id(name, self.public).hex()
        self.vkey = verify.format_vkey(name, self.public)

    @property
    def pair(self) -> tuple[str, bytes]:
        return (self.name, self.public)


def rotation(old: Key, new: Key, signers=None, *, when="2026-12-02T08:00:00Z") -> bytes:
    payload = verify.rotation_payload(old.vkey, new.vkey, when)
    message = verify.pae(verify.KEY_ROTATION_PAYLOAD_TYPE, payload)
    signers = (old, new) if signers is None else signers
    return verify.format_rotation(payload, [(k.key_id, k.private.sign(message)) for k in signers])


def test_fingerprint_is_the_whole_digest_whose_prefix_is_the_key_id():
    key = Key()
    expected = hashlib.sha256(NAME.encode() + b"\n\x01" + key.public).hexdigest()
    assert verify.key_fingerprint(NAME, key.public) == expected
    assert expected.startswith(key.key_id)


def test_fingerprint_depends_on_the_signer_name():
    key = Key()
    assert verify.key_fingerprint(NAME, key.public) != verify.key_fingerprint("x", key.public)


@pytest.mark.parametrize("spacing", ["{}", "{}".upper(), "  {}  "])
def test_fingerprint_parsing_accepts_case_and_spaces(spacing):
    fingerprint = verify.key_fingerprint(NAME, Key().public)
    grouped = ":".join(fingerprint[i : i + 4] for i in range(0, 64, 4))
    assert verify.parse_fingerprint(spacing.format(fingerprint)) == fingerprint
    assert verify.parse_fingerprint(grouped) == fingerprint


@pytest.mark.parametrize("text", ["", "abcd1234", "z" * 64, "a" * 63, "a" * 65])
def test_short_or_malformed_fingerprints_are_refused(text):
    with pytest.raises(ValueError, match="64 hex digits"):
        verify.parse_fingerprint(text)


def test_a_rotation_signed_by_both_keys_verifies():
    old, new = Key(), Key()
    statement = verify.verify_rotation(rotation(old, new))
    assert statement.previous == old.pair
    assert statement.next == new.pair
    assert statement.rotated_at == "2026-12-02T08:00:00Z"


@pytest.mark.parametrize("who", ["old", "new"])
def test_a_rotation_signed_by_one_key_only_is_refused(who):
    old, new = Key(), Key()
    signer = old if who == "old" else new
    with pytest.raises(ValueError, match="not signed by its"):
        verify.verify_rotation(rotation(old, new, [signer]))


def test_a_rotation_whose_payload_was_edited_is_refused():
    old, new, evil = Key(), Key(), Key()
    envelope = json.loads(rotation(old, new))
    forged = verify.rotation_payload(old.vkey, evil.vkey, "2026-12-02T08:00:00Z")
    envelope["payload"] = base64.b64encode(forged).decode()
    with pytest.raises(ValueError, match="not signed by its"):
        verify.verify_rotation(json.dumps(envelope).encode())


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"payloadType": "other", "payload": ""}', b"[" * 100_000],
)
def test_malformed_rotation_files_are_refused_with_a_reason(data):
    with pytest.raises(ValueError):
        verify.verify_rotation(data)


def test_trust_follows_a_chain_both_ways_from_any_root():
    a, b, c = Key(), Key(), Key()
    links = [verify.verify_rotation(rotation(a, b)), verify.verify_rotation(rotation(b, c))]
    everything = {a.key_id, b.key_id, c.key_id}
    assert set(verify.trusted_closure([a.pair], links)) == everything
    assert set(verify.trusted_closure([c.pair], links)) == everything


def test_a_planted_rotation_never_extends_trust_to_an_unrooted_key():
    genuine, evil, evil2 = Key(), Key(), Key()
    planted = verify.verify_rotation(rotation(evil, evil2))
    assert set(verify.trusted_closure([genuine.pair], [planted])) == {genuine.key_id}


def test_a_long_chain_in_the_worst_order_is_followed_to_its_end():
    """A hostile package may carry many statements, listed newest first so that each pass
    over them admits one key: the closure must still reach the end (and in linear time)."""
    keys = [(NAME, Key().public) for _ in range(400)]
    links = [
        verify.KeyRotation(keys[i], keys[i + 1], "2026-12-02T08:00:00Z")
        for i in reversed(range(len(keys) - 1))
    ]
    trusted = verify.trusted_closure([keys[0]], links)
    assert set(trusted) == {verify.note_key_id(*k).hex() for k in keys}
