"""The formats a witness reads and writes, written out with the standard library and Ed25519.

- Signed notes and checkpoints (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint):
  a body of lines (origin, tree size, base64 root, optional extensions), a blank line, then
  signature lines ``— <key name> <base64(4-byte key id || signature)>``.
- Verifier keys ``<name>+<hex key id>+<base64(type byte || public key)>``; a log's key has
  type 0x01 (an Ed25519 note signature), a witness's key type 0x04 (an Ed25519 cosignature).
- The add-checkpoint request of https://c2sp.org/tlog-witness: ``old <size>``, up to 63 base64
  consistency-proof lines, a blank line, the signed checkpoint.
- Cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 form): the witness signs
  ``cosignature/v1\\ntime <seconds>\\n`` followed by the checkpoint body, and the signature line
  carries the 8-byte big-endian time before the 64-byte signature.
- RFC 9162 consistency proofs, checked before anything is cosigned.

Nothing here imports the Safecase application: a witness is deployed on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

NOTE_SIGNATURE = 0x01  # key type byte of a log's Ed25519 note key
COSIGNATURE = 0x04  # key type byte of a witness's Ed25519 cosignature key
MAX_PROOF_LINES = 63
DASH = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_NAME = re.compile(r"[^\s+]+")


class ProtocolError(ValueError):
    """A request or a note that does not follow the format; the message says where."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{what} is not base64") from None
    if b64(raw) != text:
        raise ProtocolError(f"{what} is not canonical base64")
    return raw


def key_id(name: str, key_type: int, public: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_type: int
    public: bytes

    @cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public)

    @cached_property
    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public)

    def text(self) -> str:
        raw = bytes([self.key_type]) + self.public
        return f"{self.name}+{self.key_id.hex()}+{b64(raw)}"


def parse_vkey(text: str, key_type: int) -> VerifierKey:
    """Parse ``name+keyid+base64(type || key)`` and insist on ``key_type`` and a matching id."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
        raise ProtocolError("a verifier key reads <name>+<hex key id>+<base64 key>")
    name, id_hex, encoded = parts
    raw = unb64(encoded, "the verifier key")
    if len(raw) != 33 or raw[0] != key_type:
        raise ProtocolError(f"the verifier key of {name} is not of type 0x{key_type:02x}")
    key = VerifierKey(name, key_type, raw[1:])
    if key.key_id.hex() != id_hex:
        raise ProtocolError(f"the verifier key id of {name} does not match its key")
    return key


@dataclass(frozen=True)
class Note:
    """A signed checkpoint: its body, parsed fields and signature lines (name, id, bytes)."""

    body: str
    origin: str
    size: int
    root: bytes
    signatures: tuple[tuple[str, bytes, bytes], ...]


def parse_note(text: str) -> Note:
    separator = text.find("\n\n")
    if separator < 0 or not text.endswith("\n"):
        raise ProtocolError("the checkpoint has no blank line before its signatures")
    body, block = text[: separator + 1], text[separator + 2 :]
    lines = body[:-1].split("\n")
    if len(lines) < 3 or not lines[0]:
        raise ProtocolError("the checkpoint body needs an origin, a size and a root line")
    if not _DECIMAL.fullmatch(lines[1]) or int(lines[1]) >= 2**63:
        raise ProtocolError("the checkpoint size is not a decimal number")
    root = unb64(lines[2], "the checkpoint root")
    if len(root) != 32:
        raise ProtocolError("the checkpoint root is not 32 bytes")
    signatures = []
    for line in block[:-1].split("\n") if block else []:
        if not line.startswith(DASH):
            raise ProtocolError("a signature line does not start with an em dash")
        name, _, encoded = line[len(DASH) :].partition(" ")
        raw = unb64(encoded, "a signature")
        if not name or len(raw) < 5:
            raise ProtocolError("a signature line is malformed")
        signatures.append((name, raw[:4], raw[4:]))
    if not signatures:
        raise ProtocolError("the checkpoint carries no signature")
    return Note(body, lines[0], int(lines[1]), root, tuple(signatures))


def verify_note(note: Note, keys: list[VerifierKey]) -> bool:
    """Whether a signature by one of ``keys`` verifies. Unknown signers are ignored; a line
    that claims a known key but does not verify makes the note fail."""
    known = {(k.name, k.key_id): k for k in keys}
    verified = False
    for name, sig_id, signature in note.signatures:
        key = known.get((name, sig_id))
        if key is None:
            continue
        try:
            key.verifier.verify(signature, note.body.encode())
        except (InvalidSignature, ValueError):
            return False
        verified = True
    return verified


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note_text: str


def format_request(old_size: int, proof: list[bytes], note_text: str) -> bytes:
    lines = [f"old {old_size}\n", *(b64(h) + "\n" for h in proof), "\n"]
    return ("".join(lines) + note_text).encode("utf-8")


def parse_request(data: bytes) -> AddCheckpoint:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("the request is not UTF-8") from None
    head, blank, note_text = text.partition("\n\n")
    if not blank:
        raise ProtocolError("the request has no blank line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(lines[0][4:]):
        raise ProtocolError("the request does not start with 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise ProtocolError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(unb64(line, "a consistency proof line") for line in lines[1:])
    if any(len(h) != 32 for h in proof):
        raise ProtocolError("a consistency proof hash is not 32 bytes")
    return AddCheckpoint(int(lines[0][4:]), proof, note_text)


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def consistent(size1: int, size2: int, proof, root1: bytes, root2: bytes) -> bool:
    """RFC 9162 section 2.1.4.2: does ``proof`` show the tree of ``size1`` leaves with
    ``root1`` is a prefix of the tree of ``size2`` leaves with ``root2``?"""
    proof = list(proof)
    if size1 > size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    if size1 & (size1 - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        proof.insert(0, root1)
    first, second = size1 - 1, size2 - 1
    while first & 1:
        first >>= 1
        second >>= 1
    old = new = proof[0]
    for sibling in proof[1:]:
        if second == 0:
            return False
        if first & 1 or first == second:
            old, new = _node(sibling, old), _node(sibling, new)
            while first and not first & 1:
                first >>= 1
                second >>= 1
        else:
            new = _node(new, sibling)
        first >>= 1
        second >>= 1
    return second == 0 and old == root1 and new == root2


def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(private: Ed25519PrivateKey, name: str, body: str, timestamp: int) -> str:
    """One cosignature line for the checkpoint ``body`` at ``timestamp`` (POSIX seconds)."""
    public = private.public_key().public_bytes_raw()
    signature = private.sign(cosigned_message(body, timestamp))
    raw = key_id(name, COSIGNATURE, public) + struct.pack(">Q", timestamp) + signature
    return f"{DASH}{name} {b64(raw)}\n"
