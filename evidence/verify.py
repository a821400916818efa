"""Offline verifier for Safecase evidence: Merkle proofs, signatures and signed checkpoints.

This file is deliberately self-contained. It uses only the Python standard library so that a
regulator can run it from a certification package with ``python verify.py`` and no other
software. The Safecase ledger imports the very same file, so what Safecase computes and what the
regulator checks are one implementation.

What it covers, and the specification each part follows:

* Canonical JSON, RFC 8785 (JSON Canonicalization Scheme, JCS): :func:`canonical_json`.
* Merkle tree hashing, RFC 9162 section 2.1: :func:`leaf_hash`, :func:`node_hash`,
  :func:`root_hash`.
* Inclusion and consistency proofs, RFC 9162 sections 2.1.3 and 2.1.4: generation over a
  pluggable subtree-hash callback (:func:`inclusion_proof`, :func:`consistency_proof`) and
  verification (:func:`verify_inclusion`, :func:`verify_consistency`).
* Ed25519 signature verification, RFC 8032 section 5.1.7: :func:`ed25519_verify`. The
  ``cryptography`` package is used when it can be imported; otherwise a pure-Python
  implementation gives the same answers (slower, and not constant-time, which does not matter
  for verification of public data).
* DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1): :func:`pae`,
  :func:`verify_envelope`.
* C2SP signed notes and transparency-log checkpoints (https://c2sp.org/signed-note and
  https://c2sp.org/tlog-checkpoint): :func:`parse_checkpoint`, :func:`verify_checkpoint` and the
  verifier-key text form (:func:`parse_vkey`, :func:`format_vkey`).
* Witness cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 form) and witness policies
  (k of n witnesses): :func:`verify_cosignatures`, :func:`check_witness_policy`.

Conventions: hashes are raw ``bytes`` (32 bytes for SHA-256), leaf indexes are 0-based. The
``verify_*`` proof and signature functions answer ``True`` or ``False`` and never raise on
malformed input; the checkpoint functions raise :class:`ValueError` with a readable reason.

* Certification packages (:func:`verify_package`, :func:`verify_growth`): the zip a
  regulator receives, checked in memory without extracting anything.

Command line (see :func:`main`)::

    python verify.py FILE.zip [--trusted-fingerprint HEX]... [--trusted-key VKEY_FILE]...
                              [--previous OLDER.zip] [--witness-policy FILE] [--json]
    python verify.py checkpoint NOTE_FILE VKEY_FILE [--witness-policy FILE]
    python verify.py fingerprint VKEY_FILE

The first form is short for ``python verify.py package FILE.zip ...``. A package's integrity
and completeness are checked with the keys it carries; its origin only against the trust roots
the verifier supplies: ``--trusted-fingerprint`` (the 64-hex-digit fingerprint the operator
publishes; ``create_signing_key`` prints it and the PDF cover shows it), ``--trusted-key`` (a
file of verifier keys, for example from the keys/ folder of the store the ledger publishes to),
extended through the doubly signed key rotation statements the package carries. A key found
inside a package is never trusted for origin: whoever rewrites a package can put their own
there.

``--witness-policy FILE`` is a trust root of its own: the witnesses' keys (``witness <verifier
key>`` lines, key type 0x04) and a quorum (``quorum <k>``). The package's checkpoint must then
carry valid cosignatures (https://c2sp.org/tlog-cosignature) from at least k of them, which
shows that independent witnesses saw this log grow consistently, so its operator cannot show
another history to someone else; without the quorum the package fails and the message names
the witnesses whose cosignature is missing.

Exit codes:

* 0: verified against a trusted key; one line beginning ``OK:`` naming the trusted
  fingerprint(s).
* 1: invalid or tampered, or signed by a key the given trust roots do not reach
  (``FAIL: <first problem>`` on standard error).
* 2: usage error (bad arguments, unreadable trust roots, a short key id as a fingerprint).
* 3: intact and complete but origin not verified, because no trust root was given: one line
  beginning ``ORIGIN NOT VERIFIED`` that says what to pass. Never a line beginning ``OK``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import os
import re
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

try:  # Optional accelerator: the verifier must work without it.
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - exercised only where cryptography is absent
    Ed25519PublicKey = None  # type: ignore[assignment,misc]

#: True when the ``cryptography`` package is importable and used for Ed25519 by default.
HAVE_CRYPTOGRAPHY = Ed25519PublicKey is not None

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE = 32

#: MTH({}) = SHA-256 of the empty string, the root of the empty tree (RFC 9162 section 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: The DSSE payload type of in-toto statements.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

#: A callback returning MTH(D[lo:hi]), the Merkle tree hash of leaves ``lo`` to ``hi - 1``.
SubtreeHash = Callable[[int, int], bytes]


# --------------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785)
# --------------------------------------------------------------------------------------------

# Largest integer that every JCS implementation (which treats numbers as IEEE 754 doubles)
# represents exactly; I-JSON (RFC 7493 section 2.2) recommends staying within it.
_MAX_SAFE_INTEGER = 2**53 - 1

_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _JSON_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _format_string(text: str) -> str:
    """Serialize a string as RFC 8785 section 3.2.2.2 requires.

    Only ``"``, ``\\`` and the C0 control characters are escaped; the two-character forms
    (``\\n`` and friends) are used where JSON has them, ``\\u00xx`` in lowercase hex otherwise.
    Every other character, including non-ASCII, is written as itself.
    """
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _format_number(value: float) -> str:
    """Serialize a double as ECMAScript's Number.prototype.toString does (RFC 8785 3.2.2.3).

    Python's ``repr`` already yields the shortest digit string that round-trips, choosing the
    closest one on ties, which is what ECMA-262 section 7.1.12.1 (Number::toString) asks for.
    Only the layout differs, so the digits and the decimal exponent are taken from ``repr`` and
    laid out with the ECMAScript rules.
    """
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"canonical JSON cannot represent {value!r}")
    if value == 0:
        return "0"  # also -0.0, which ECMAScript prints as "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # The value is 0.<digits> * 10**point; strip zeros on both ends to get the shortest s.
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exp = point - 1
    exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
    if k == 1:
        return sign + digits + "e" + exp_text
    return sign + digits[0] + "." + digits[1:] + "e" + exp_text


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare in the same order as the UTF-16 code units themselves.
    return key.encode("utf-16-be")


def _serialize(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        if abs(obj) > _MAX_SAFE_INTEGER:
            raise ValueError(
                f"integer {obj} is outside the range a JSON number can carry exactly "
                f"(+/- 2**53 - 1); encode it as a string"
            )
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        out.append(_format_number(obj))
    elif isinstance(obj, str):
        out.append(_format_string(obj))
    elif isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON object keys must be strings, not {key!r}")
        try:
            keys = sorted(obj, key=_utf16_key)
        except UnicodeEncodeError as exc:
            raise ValueError("canonical JSON cannot encode a lone surrogate in a key") from exc
        out.append("{")
        for position, key in enumerate(keys):
            if position:
                out.append(",")
            out.append(_format_string(key))
            out.append(":")
            _serialize(obj[key], out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for position, item in enumerate(obj):
            if position:
                out.append(",")
            _serialize(item, out)
        out.append("]")
    else:
        raise TypeError(f"canonical JSON cannot encode {type(obj).__name__} values")


def _is_plain(obj: Any) -> bool:
    """Whether ``json.dumps`` already writes ``obj`` exactly as RFC 8785 does (the fast path).

    It does for ASCII object keys (code-point order equals UTF-16 order), strings (the same
    minimal escaping), booleans, null, safe integers, and non-integral doubles between 1e-4 and
    1e16, where Python's ``repr`` and ECMAScript agree on the layout. Anything else, subclasses
    of these types included, takes the general serializer. One loop over a stack of containers,
    exact type tests: a statement of a dozen values costs a few microseconds.
    """
    pending = [obj]
    pop, extend = pending.pop, pending.extend
    while pending:
        value = pop()
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is dict:
            for key in value:
                if type(key) is not str or not key.isascii():
                    return False
            extend(value.values())
        elif kind is list or kind is tuple:
            extend(value)
        elif kind is int:
            if not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
                return False
        elif kind is float:
            if not (math.isfinite(value) and not value.is_integer() and 1e-4 <= abs(value) < 1e16):
                return False
        else:
            return False
    return True


# One encoder for the fast path: json.dumps with options builds a new one on every call.
_PLAIN_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 encoding of a JSON-compatible value.

    Accepted values are ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``/``tuple`` and
    ``dict`` with ``str`` keys. The rules (RFC 8785 section 3.2):

    * no whitespace between tokens;
    * object members sorted by their keys compared as arrays of UTF-16 code units
      (section 3.2.3), which differs from code-point order above U+FFFF;
    * strings with the minimal escaping of section 3.2.2.2;
    * numbers formatted as ECMAScript does (section 3.2.2.3): ``1e+21``, ``1e-7``,
      ``0.000001``, ``-0.0`` as ``0``, integral doubles without a fraction.

    Raises :class:`ValueError` for NaN and infinities, for integers beyond +/-(2**53 - 1)
    (other JCS implementations would silently round them) and for strings holding lone
    surrogates (not valid Unicode); :class:`TypeError` for values JSON has no form for.
    """
    if _is_plain(obj):
        text = _PLAIN_ENCODER.encode(obj)
    else:
        out: list[str] = []
        _serialize(obj, out)
        text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("canonical JSON cannot encode a lone surrogate in a string") from exc


# --------------------------------------------------------------------------------------------
# Merkle tree hashing (RFC 9162 section 2.1)
# --------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return the hash of a leaf: SHA-256(0x00 || data) (RFC 9162 section 2.1.1)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + bytes(left) + bytes(right)).digest()


def _split_point(n: int) -> int:
    """Return k, the largest power of two smaller than ``n`` (``n`` >= 2), per RFC 9162 2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def fold_subtree_hashes(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of consecutive perfect subtrees, largest first, into one hash.

    If ``hashes`` are the roots of the perfect subtrees that make up D[lo:hi] (see
    :func:`perfect_subtrees`), the result is MTH(D[lo:hi]): RFC 9162 trees hang every smaller
    subtree off the right of the larger one, so the hashes fold from the right.
    """
    if not hashes:
        raise ValueError("at least one subtree hash is needed")
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash MTH(D[n]) over already-hashed leaves (RFC 9162 2.1.1).

    An empty list gives :data:`EMPTY_ROOT`. The fold is iterative and keeps only a stack of
    perfect-subtree roots (at most log2(n) + 1 of them): after leaf number ``count`` is pushed,
    the top two entries are merged once for every trailing zero bit of ``count``, which is
    exactly when two equal-sized perfect subtrees sit side by side. What remains at the end is
    the decomposition of n into perfect subtrees, folded from the right. O(n) hashes, O(log n)
    memory, no recursion.
    """
    sha256 = hashlib.sha256
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    for count, current in enumerate(leaf_hashes, start=1):
        pending = count
        while not pending & 1:
            current = sha256(b"\x01" + pop() + current).digest()
            pending >>= 1
        push(current)
    if not stack:
        return EMPTY_ROOT
    return fold_subtree_hashes(stack)


def perfect_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split the leaf range [lo, hi) into aligned perfect subtrees, largest first.

    Each returned ``(start, end)`` covers ``2**level`` leaves with ``start`` a multiple of
    ``2**level``, i.e. it is node number ``start >> level`` on level ``level`` of every tree
    big enough to contain it. :func:`fold_subtree_hashes` turns their hashes into MTH(D[lo:hi]).

    Every range that :func:`inclusion_proof` and :func:`consistency_proof` ask their callback
    for is a node of the RFC 9162 tree: either a perfect subtree, or the right spine of a
    subtree whose start is a multiple of a power of two at least as large as the range. Such a
    range always splits this way, so a store that keeps only the hashes of perfect subtrees
    (they never change once complete) can answer every request. Ranges that do not start at a
    suitable boundary raise :class:`ValueError`.
    """
    if not 0 <= lo < hi:
        raise ValueError(f"invalid leaf range [{lo}, {hi})")
    pieces = []
    start = lo
    while start < hi:
        width = 1 << ((hi - start).bit_length() - 1)
        if start % width:
            raise ValueError(f"leaf range [{lo}, {hi}) is not a node of a Merkle tree")
        pieces.append((start, start + width))
        start += width
    return pieces


def perfect_subtree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of ``2**k`` consecutive leaf hashes (a perfect subtree), a whole level at a time."""
    level = list(leaf_hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a perfect subtree has a power-of-two number of leaves, not {len(level)}")
    sha256 = hashlib.sha256
    while len(level) > 1:
        level = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=True)
        ]
    return level[0]


def extend_frontier(frontier: list[bytes], size: int, leaf_hashes: Sequence[bytes]) -> int:
    """Append leaves ``size, size + 1, ...`` to a tree given by its frontier; return the new size.

    ``frontier`` holds the hashes of the perfect subtrees that cover the first ``size`` leaves,
    largest first (:func:`fold_subtree_hashes` of it is the root); it is updated in place. Each
    run of leaves that fills an aligned perfect subtree is hashed level by level in bulk, then
    joined to the frontier like a carry in binary addition, so a long run costs about one
    SHA-256 call per leaf and per node and little else.
    """
    sha256 = hashlib.sha256
    pos, count = 0, len(leaf_hashes)
    while pos < count:
        index = size + pos
        aligned = (index & -index).bit_length() - 1 if index else 62
        level = min(aligned, (count - pos).bit_length() - 1)
        width = 1 << level
        if width == 1:
            value = leaf_hashes[pos]
        else:
            value = perfect_subtree_hash(leaf_hashes[pos : pos + width])
        carry = index >> level
        while carry & 1:
            value = sha256(b"\x01" + frontier.pop() + value).digest()
            carry >>= 1
        frontier.append(value)
        pos += width
    return size + count


# --------------------------------------------------------------------------------------------
# Proof generation (RFC 9162 sections 2.1.3.1 and 2.1.4.1)
# --------------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """Return the inclusion proof PATH(index, D[size]) of RFC 9162 section 2.1.3.1.

    ``subtree_hash(lo, hi)`` must return MTH(D[lo:hi]). The recursive definition, where k is the
    largest power of two smaller than n::

        PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])       if m < k
        PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])   if m >= k

    is walked from the root down, so the sibling hashes come out top first and are reversed
    at the end (the proof lists them from the leaf up). Raises :class:`ValueError` unless
    ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not inside a tree of size {size}")
    path = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split_point(hi - lo)
        if index < mid:
            path.append(subtree_hash(mid, hi))
            hi = mid
        else:
            path.append(subtree_hash(lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """Return the consistency proof PROOF(size1, D[size2]) of RFC 9162 section 2.1.4.1.

    ``subtree_hash(lo, hi)`` must return MTH(D[lo:hi]). PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
    with, for k the largest power of two smaller than n::

        SUBPROOF(m, D[m], true)  = {}
        SUBPROOF(m, D[m], false) = {MTH(D[m])}
        SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])         if m <= k
        SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k

    It is walked iteratively from the root down and reversed at the end. Equal sizes give an
    empty proof. Raises :class:`ValueError` unless ``0 < size1 <= size2``: a proof from the
    empty tree proves nothing and RFC 9162 does not define one.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    proof = []
    lo, hi = 0, size2
    whole_old_tree = True  # the "b" flag: D[lo:size1] is the entire old tree
    while hi != size1:  # until D[lo:hi] is exactly the part of the old tree under this node
        mid = lo + _split_point(hi - lo)
        if size1 <= mid:
            proof.append(subtree_hash(mid, hi))
            hi = mid
        else:
            proof.append(subtree_hash(lo, mid))
            lo = mid
            whole_old_tree = False
    if not whole_old_tree:
        proof.append(subtree_hash(lo, hi))
    proof.reverse()
    return proof


def memory_subtree_hash(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """Return a ``subtree_hash(lo, hi)`` callback over an in-memory list of leaf hashes."""

    def subtree_hash(lo: int, hi: int) -> bytes:
        if not 0 <= lo < hi <= len(leaf_hashes):
            raise ValueError(f"leaf range [{lo}, {hi}) is outside the {len(leaf_hashes)} leaves")
        return root_hash(leaf_hashes[lo:hi])

    return subtree_hash


def inclusion_proof_from_leaves(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof for leaf ``index`` in the tree made of all of ``leaf_hashes``."""
    return inclusion_proof(index, len(leaf_hashes), memory_subtree_hash(leaf_hashes))


def consistency_proof_from_leaves(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """Consistency proof from the first ``size1`` leaves to all of ``leaf_hashes``."""
    return consistency_proof(size1, len(leaf_hashes), memory_subtree_hash(leaf_hashes))


# --------------------------------------------------------------------------------------------
# Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# --------------------------------------------------------------------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hash_list(proof: object) -> list[bytes] | None:
    """Return ``proof`` as a list when it is a sequence of 32-byte hashes, else None."""
    if not isinstance(proof, (list, tuple)):
        return None
    if not all(_is_hash(element) for element in proof):
        return None
    return list(proof)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    This is the algorithm of RFC 9162 section 2.1.3.2. It answers ``False``, never raises, for
    any malformed input: an index outside the tree, a proof of the wrong length, a leaf, root
    or proof element that is not exactly 32 bytes (without that check an empty leaf hash and an
    empty root would "verify" with an empty proof).

    The proof binds the leaf to the root; it does not by itself bind the size. A proof for one
    size can chain to the same root under a neighbouring size, so callers must take ``size``
    and ``root`` from the same signed checkpoint.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    path = _hash_list(proof)
    if path is None or index >= size:
        return False
    fn, sn = index, size - 1
    result = leaf_hash
    for sibling in path:
        if sn == 0:
            return False  # the proof is longer than the path to the root
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            # On the right edge of the tree: skip the levels where this node has no sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Check that the tree of ``size2`` leaves with ``root2`` extends the one of ``size1``.

    This is the algorithm of RFC 9162 section 2.1.4.2, including its step 2: when ``size1`` is
    an exact power of two the old tree is itself a node of the new one, the proof omits its
    hash, and ``root1`` is used as the first node. Answers ``False``, never raises, for any
    malformed input: ``size1 > size2``, proof elements or roots that are not 32 bytes, a proof
    that is too short or too long.

    Edge cases, as the transparency-dev test vectors expect them:

    * ``size1 == 0``: always ``False``. Every tree extends the empty one, so such a "proof"
      would prove nothing; a caller that means "no earlier checkpoint" should not ask.
    * ``size1 == size2``: ``True`` exactly when the proof is empty and ``root1 == root2``.
      No hashing happens in this case and the two roots are compared as given, so their
      length is not checked here.
    """
    if not (_is_size(size1) and _is_size(size2)) or size1 == 0 or size1 > size2:
        return False
    if size1 == size2:
        return (
            isinstance(proof, (list, tuple))
            and not proof
            and isinstance(root1, bytes)
            and root1 == root2
        )
    if not (_is_hash(root1) and _is_hash(root2)):
        return False
    path = _hash_list(proof)
    if not path:
        return False  # step 1: an empty proof never shows growth
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)  # step 2: the old tree is a complete subtree of the new one
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # step 4: climb to the first level where the old tree's edge is a left child
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            return False  # the proof is longer than the path to the new root
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == root1 and second == root2


# --------------------------------------------------------------------------------------------
# Ed25519 (RFC 8032)
# --------------------------------------------------------------------------------------------

_P = 2**255 - 19  # field prime (RFC 8032 section 5.1)
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P  # curve constant d
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)  # a square root of -1 mod p

# A point in extended homogeneous coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z.
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _recover_x(y: int, sign: int) -> int | None:
    """Solve the curve equation for x (RFC 8032 section 5.1.3, steps 2 to 4), or None.

    x^2 = (y^2 - 1) / (d y^2 + 1). The candidate root is u^((p+3)/8); if its square is -x^2
    instead of x^2 it is multiplied by sqrt(-1); if neither works the point is not on the curve.
    """
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0  # x = 0 has no negative twin; sign 1 is non-canonical
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _decode_point(encoded: bytes) -> _Point | None:
    """Decode a 32-byte point (RFC 8032 section 5.1.3); None if non-canonical or off-curve."""
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None  # non-canonical encoding of y
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _point_add(p: _Point, q: _Point) -> _Point:
    """Add two points with the unified formulas of RFC 8032 section 5.1.4."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_double(p: _Point) -> _Point:
    """Double a point with the dedicated formulas of RFC 8032 section 5.1.4."""
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _scalar_mult(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    for bit in bin(scalar)[2:]:
        result = _point_double(result)
        if bit == "1":
            result = _point_add(result, point)
    return result


def _points_equal(p: _Point, q: _Point) -> bool:
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % _P == 0 and (y1 * z2 - y2 * z1) % _P == 0


# The base point B of RFC 8032 section 5.1 (y = 4/5, x the even root).
_BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_BASE: _Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)


def _ed25519_verify_pure(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7 verification in plain Python (inputs already length-checked)."""
    point_a = _decode_point(public_key)
    point_r = _decode_point(signature[:32])
    if point_a is None or point_r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _L
    # The cofactorless equation [S]B = R + [k]A, which RFC 8032 permits and OpenSSL uses.
    return _points_equal(_scalar_mult(s, _BASE), _point_add(point_r, _scalar_mult(k, point_a)))


# Loaded public keys by their bytes: a package holds a few keys and tens of thousands of
# signatures, and loading the key again for each one was a measurable share of the time.
_LOADED_KEYS: dict[bytes, Any] = {}


def _ed25519_verify_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        key = _LOADED_KEYS.get(public_key)
        if key is None:
            if len(_LOADED_KEYS) >= 64:
                _LOADED_KEYS.clear()
            key = Ed25519PublicKey.from_public_bytes(public_key)  # type: ignore[union-attr]
            _LOADED_KEYS[public_key] = key
        key.verify(signature, message)
    except UnsupportedAlgorithm:  # an OpenSSL built without Ed25519
        return _ed25519_verify_pure(public_key, message, signature)
    except (InvalidSignature, ValueError):
        return False
    return True


def _has_canonical_y(encoded: bytes) -> bool:
    return int.from_bytes(encoded, "little") & ((1 << 255) - 1) < _P


def ed25519_verify(
    public_key: bytes, message: bytes, signature: bytes, *, pure: bool = False
) -> bool:
    """Verify an Ed25519 signature (RFC 8032 section 5.1.7); never raises.

    Uses the ``cryptography`` package when it is importable, the pure-Python implementation
    otherwise or when ``pure=True`` (tests use this to check that both give the same answers).
    Before either runs, the checks that decide between "valid" and "invalid" at the edges are
    made here, so the two agree: a 32-byte key, a 64-byte signature, a canonical S (S < L,
    which rules out malleable signatures) and canonical y coordinates in A and R.
    """
    if not all(isinstance(v, (bytes, bytearray)) for v in (public_key, message, signature)):
        return False
    public_key, message, signature = bytes(public_key), bytes(message), bytes(signature)
    if len(public_key) != 32 or len(signature) != 64:
        return False
    if int.from_bytes(signature[32:], "little") >= _L:
        return False
    if not (_has_canonical_y(public_key) and _has_canonical_y(signature[:32])):
        return False
    if pure or not HAVE_CRYPTOGRAPHY:
        return _ed25519_verify_pure(public_key, message, signature)
    return _ed25519_verify_cryptography(public_key, message, signature)


# --------------------------------------------------------------------------------------------
# DSSE envelopes
# --------------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 Pre-Authentication Encoding that signatures cover.

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, where LEN is the
    length in bytes (of the UTF-8 type) as ASCII decimal without leading zeros. Signing this
    rather than the bare payload binds the payload type into the signature.
    """
    type_bytes = payload_type.encode("utf-8")
    body = bytes(payload)
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(body), body)


def _b64decode_lenient(text: object) -> bytes:
    """Decode DSSE base64, which may be standard or URL-safe and may omit its padding."""
    if not isinstance(text, str):
        raise TypeError("base64 field is not a string")
    altchars = b"-_" if ("-" in text or "_" in text) else None
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded, altchars=altchars, validate=True)


def verify_envelope(
    envelope: dict[str, Any],
    public_keys: dict[str, bytes],
    *,
    payload_type: str | None = None,
) -> bool:
    """Check a DSSE envelope; never raises.

    The envelope is the JSON object ``{"payloadType": str, "payload": base64, "signatures":
    [{"keyid": str, "sig": base64}, ...]}`` and ``public_keys`` maps key ids to 32-byte Ed25519
    public keys. It is valid when at least one signature names a known key id and verifies over
    ``pae(payloadType, payload)``; signatures by unknown keys are ignored. When
    ``payload_type`` is given (for example :data:`IN_TOTO_PAYLOAD_TYPE`) the envelope must also
    declare exactly that type.
    """
    try:
        declared_type = envelope["payloadType"]
        signatures = envelope["signatures"]
        if not isinstance(declared_type, str) or not isinstance(signatures, list):
            return False
        if payload_type is not None and declared_type != payload_type:
            return False
        message = pae(declared_type, _b64decode_lenient(envelope["payload"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    for entry in signatures:
        try:
            key = public_keys.get(entry["keyid"])
            signature = _b64decode_lenient(entry["sig"])
        except (KeyError, TypeError, ValueError):
            continue  # one malformed signature does not spoil the others
        if key is not None and ed25519_verify(key, message, signature):
            return True
    return False


# --------------------------------------------------------------------------------------------
# C2SP signed notes and checkpoints
# --------------------------------------------------------------------------------------------

_SIGNATURE_PREFIX = "\u2014 "  # EM DASH, then a space
_ED25519_ALGORITHM = b"\x01"  # signature type byte of Ed25519 keys in signed notes
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_NAME_FORBIDDEN = re.compile(r"[\s+]")


class NoteSignature(NamedTuple):
    """One signature line of a signed note: the key name, 4-byte key id and signature."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A parsed tlog checkpoint (https://c2sp.org/tlog-checkpoint).

    ``body`` is the signed text (origin, size, root, extension lines, each ending in a
    newline). ``signatures`` holds every signature line in order, known key or not.
    ``verified_by`` names the keys whose signatures :func:`verify_checkpoint` checked; it is
    empty on a checkpoint that was only parsed.
    """

    origin: str
    size: int
    root: bytes
    body: str
    signatures: tuple[NoteSignature, ...]
    extensions: tuple[str, ...] = ()
    verified_by: tuple[str, ...] = ()


def _check_key_name(name: object) -> str:
    if not isinstance(name, str) or not name or _NAME_FORBIDDEN.search(name):
        raise ValueError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")
    return name


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise ValueError("an Ed25519 public key is exactly 32 bytes")
    return bytes(public_key)


def _b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard, padded base64 and insist on the one canonical spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"{what} is not canonical base64")
    return raw


def note_key_id(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte id of an Ed25519 note key (https://c2sp.org/signed-note).

    key id = SHA-256(name || 0x0A || 0x01 || public key)[:4], where 0x01 is the Ed25519
    signature type.
    """
    name = _check_key_name(name)
    key = _check_public_key(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519_ALGORITHM + key).digest()[:4]


def format_vkey(name: str, public_key: bytes) -> str:
    """Return the verifier key text ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    key_id = note_key_id(name, public_key)
    encoded = base64.b64encode(_ED25519_ALGORITHM + bytes(public_key)).decode("ascii")
    return f"{name}+{key_id.hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes, bytes]:
    """Parse a verifier key (see :func:`format_vkey`) into ``(name, key_id, public_key)``.

    Raises :class:`ValueError` when the text is malformed, the key is not Ed25519, or the key
    id written in the text does not match the one computed from the name and key.
    """
    parts = text.strip().split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise ValueError("a verifier key has the form <name>+<hex key id>+<base64 key>")
    name, key_id_hex, key_b64 = parts
    _check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
        raise ValueError(f"verifier key id {key_id_hex!r} is not 8 lowercase hex digits")
    raw = _b64decode_strict(key_b64, "verifier key")
    if len(raw) != 33 or raw[:1] != _ED25519_ALGORITHM:
        raise ValueError("verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
    public_key = raw[1:]
    key_id = bytes.fromhex(key_id_hex)
    if note_key_id(name, public_key) != key_id:
        raise ValueError(f"verifier key id {key_id_hex} does not match the key and name")
    return name, key_id, public_key


def format_checkpoint_body(
    origin: str, size: int, root: bytes, extensions: Sequence[str] = ()
) -> str:
    """Return the checkpoint note body: ``<origin>\\n<size>\\n<base64 root>\\n[<ext>\\n...]``."""
    if not origin or "\n" in origin or _CONTROL.search(origin):
        raise ValueError("the origin must be one non-empty line")
    if not _is_size(size):
        raise ValueError(f"invalid tree size {size!r}")
    if not _is_hash(root):
        raise ValueError("the root hash must be exactly 32 bytes")
    for line in extensions:
        if not line or "\n" in line or _CONTROL.search(line):
            raise ValueError(f"invalid extension line {line!r}")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii"), *extensions]
    return "".join(line + "\n" for line in lines)


def format_signed_note(body: str, signatures: Iterable[tuple[str, bytes, bytes]]) -> str:
    """Return a signed note: ``body``, a blank line, then one line per ``(name, key_id, sig)``.

    Each signature line is ``— <name> <base64(key id || signature)>`` (U+2014 EM DASH, space).
    """
    if not body.endswith("\n") or "\n\n" in body or body.startswith("\n"):
        raise ValueError("a note body is non-empty lines, each ending with a newline")
    lines = []
    for name, key_id, signature in signatures:
        _check_key_name(name)
        if len(key_id) != 4:
            raise ValueError("a note key id is 4 bytes")
        encoded = base64.b64encode(bytes(key_id) + bytes(signature)).decode("ascii")
        lines.append(f"{_SIGNATURE_PREFIX}{name} {encoded}\n")
    if not lines:
        raise ValueError("a signed note needs at least one signature")
    return body + "\n" + "".join(lines)


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise ValueError(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space or not name or not encoded or " " in encoded or _NAME_FORBIDDEN.search(name):
        raise ValueError(f"signature line {number} is not '— <key name> <base64 signature>'")
    raw = _b64decode_strict(encoded, f"the signature on line {number}")
    if len(raw) < 5:
        raise ValueError(f"the signature on line {number} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint note without checking its signatures.

    The note is UTF-8 text without control characters other than newline: the body (origin
    line, decimal tree size without leading zeros, base64 of the 32-byte root, optional
    non-empty extension lines), one blank line, then at least one signature line
    ``— <key name> <base64(4-byte key id || signature)>``, every line ending in a newline.
    Raises :class:`ValueError` with the reason when the note is malformed.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("the note is not valid UTF-8") from exc
    if not isinstance(text, str):
        raise TypeError("the note must be text")
    if _CONTROL.search(text):
        raise ValueError("the note contains control characters (only newlines are allowed)")
    separator = text.find("\n\n")
    if separator < 0:
        raise ValueError("the note has no blank line between its body and its signatures")
    body, signature_block = text[: separator + 1], text[separator + 2 :]
    if not signature_block:
        raise ValueError("the note has no signature lines")
    if not signature_block.endswith("\n"):
        raise ValueError("the note's last signature line does not end with a newline")
    signatures = tuple(
        _parse_signature_line(line, number)
        for number, line in enumerate(signature_block[:-1].split("\n"), start=1)
    )
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("the checkpoint body needs an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise ValueError("the checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise ValueError(f"the checkpoint tree size {size_text!r} is not a decimal number")
    size = int(size_text)
    if size >= 2**64:
        raise ValueError("the checkpoint tree size does not fit in 64 bits")
    root = _b64decode_strict(root_text, "the checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise ValueError(f"the checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin, size, root, body, signatures, tuple(extensions))


def verify_checkpoint(
    text: str | bytes,
    verifier_keys: Iterable[tuple[str, bytes]],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Parse a checkpoint and check its signatures; return it with ``verified_by`` filled in.

    ``verifier_keys`` is the set of trusted Ed25519 keys as ``(key name, 32-byte public key)``
    pairs (a verifier key text becomes one with :func:`parse_vkey`); their key ids are
    computed here. As the signed-note specification asks, signatures by unknown keys are
    ignored, while a signature that claims a trusted key (same name and key id) but does not
    verify rejects the note. When ``origin`` is given the checkpoint must be for that log.

    Raises :class:`ValueError` when the note is malformed, a trusted key's signature is bad,
    the origin differs, or no trusted key signed it.
    """
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise ValueError(f"the checkpoint is for {checkpoint.origin!r}, expected {origin!r}")
    trusted = {}
    for name, public_key in verifier_keys:
        trusted[(name, note_key_id(name, public_key))] = bytes(public_key)
    message = checkpoint.body.encode("utf-8")
    verified = []
    for signature in checkpoint.signatures:
        public_key = trusted.get((signature.name, signature.key_id))
        if public_key is None:
            continue
        if not ed25519_verify(public_key, message, signature.signature):
            raise ValueError(f"the signature by {signature.name} does not verify")
        verified.append(signature.name)
    if not verified:
        raise ValueError("the checkpoint is not signed by any of the given verifier keys")
    return replace(checkpoint, verified_by=tuple(verified))


# --------------------------------------------------------------------------------------------
# Trust roots: key fingerprints and key rotation statements
# --------------------------------------------------------------------------------------------

#: DSSE payload type of a key rotation statement (see :func:`verify_rotation`).
KEY_ROTATION_PAYLOAD_TYPE = "application/vnd.safecase.key-rotation+json"
#: The ``_type`` a key rotation statement declares.
KEY_ROTATION_TYPE = "https://safecase.dev/key-rotation/v1"
_FINGERPRINT_SEPARATORS = re.compile(r"[\s:]")


def key_fingerprint(name: str, public_key: bytes) -> str:
    """Return the 64-hex-digit fingerprint of an Ed25519 note key.

    fingerprint = SHA-256(name || 0x0A || 0x01 || public key), the whole digest; its first
    8 hex digits are the note key id (:func:`note_key_id`). The short key id names a key; only
    the full fingerprint may be used to trust one, because a key with a chosen 32-bit id can be
    found by brute force.
    """
    name = _check_key_name(name)
    key = _check_public_key(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519_ALGORITHM + key).hexdigest()


def parse_fingerprint(text: str) -> str:
    """Normalise a fingerprint as a person may type it (spaces and colons allowed, any case).

    Raises :class:`ValueError` unless it is 64 hex digits: a shorter key id is refused, since
    it does not identify a key against an attacker.
    """
    cleaned = _FINGERPRINT_SEPARATORS.sub("", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise ValueError(
            f"fingerprint {text!r} is not 64 hex digits (a short key id cannot establish trust)"
        )
    return cleaned


@dataclass(frozen=True)
class KeyRotation:
    """A verified statement that the key ``next`` succeeds the key ``previous``.

    Both keys signed it: the previous key authorises its successor, the next key proves that
    its holder made the statement. Keys are ``(name, 32-byte public key)`` pairs.
    """

    previous: tuple[str, bytes]
    next: tuple[str, bytes]
    rotated_at: str


def rotation_payload(previous_vkey: str, next_vkey: str, rotated_at: str) -> bytes:
    """The canonical JSON payload of a rotation statement; keys as verifier key texts."""
    return canonical_json(
        {
            "_type": KEY_ROTATION_TYPE,
            "previous": previous_vkey,
            "next": next_vkey,
            "rotatedAt": rotated_at,
        }
    )


def format_rotation(payload: bytes, signatures: Iterable[tuple[str, bytes]]) -> bytes:
    """The rotation statement file: a canonical-JSON DSSE envelope with ``(key id hex,
    signature)`` pairs, each signature over ``pae(KEY_ROTATION_PAYLOAD_TYPE, payload)``."""
    return canonical_json(
        {
            "payloadType": KEY_ROTATION_PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [
                {"keyid": key_id, "sig": base64.b64encode(sig).decode("ascii")}
                for key_id, sig in signatures
            ],
        }
    )


def verify_rotation(data: bytes | str) -> KeyRotation:
    """Parse a rotation statement file and check that both keys it names signed it.

    Raises :class:`ValueError` with the reason otherwise.
    """
    try:
        envelope = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError("the rotation statement is not JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("payloadType") != KEY_ROTATION_PAYLOAD_TYPE:
        raise ValueError(f"the rotation statement is not a {KEY_ROTATION_PAYLOAD_TYPE} envelope")
    payload_text = envelope.get("payload")
    if not isinstance(payload_text, str):
        raise ValueError("the rotation statement has no payload")
    payload = _b64decode_strict(payload_text, "the rotation statement payload")
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ValueError("the rotation statement payload is not JSON") from exc
    if not isinstance(statement, dict) or statement.get("_type") != KEY_ROTATION_TYPE:
        raise ValueError(f"the rotation statement is not of type {KEY_ROTATION_TYPE}")
    keys = []
    for role in ("previous", "next"):
        text = statement.get(role)
        if not isinstance(text, str):
            raise ValueError(f"the rotation statement names no {role} key")
        name, key_id, public_key = parse_vkey(text)
        keys.append((name, key_id.hex(), public_key))
    rotated_at = statement.get("rotatedAt")
    if not isinstance(rotated_at, str):
        raise ValueError("the rotation statement has no rotatedAt time")
    (old_name, old_id, old_key), (new_name, new_id, new_key) = keys
    if old_key == new_key:
        raise ValueError("the rotation statement replaces a key with itself")
    for role, key_id, public_key in (("previous", old_id, old_key), ("next", new_id, new_key)):
        if not verify_envelope(
            envelope, {key_id: public_key}, payload_type=KEY_ROTATION_PAYLOAD_TYPE
        ):
            raise ValueError(
                f"the rotation statement {old_id} -> {new_id} is not signed by its {role} key"
            )
    return KeyRotation((old_name, old_key), (new_name, new_key), rotated_at)


def trusted_closure(
    roots: Iterable[tuple[str, bytes]], rotations: Iterable[KeyRotation]
) -> dict[str, tuple[str, bytes]]:
    """Every key reachable from the trust ``roots`` through verified rotation statements.

    A rotation links its two keys in both directions (both signed it): trusting the new key
    vouches for the key it replaced, whose older signatures stay valid, and trusting the old
    key admits its successor. A key that no root reaches is never trusted, whatever statements
    it signed itself. Returns ``{key id hex: (name, public key)}``.
    """
    neighbours: dict[tuple[str, bytes], list[tuple[str, bytes]]] = {}
    for rotation in rotations:
        old = (rotation.previous[0], bytes(rotation.previous[1]))
        new = (rotation.next[0], bytes(rotation.next[1]))
        neighbours.setdefault(old, []).append(new)
        neighbours.setdefault(new, []).append(old)
    trusted: dict[str, tuple[str, bytes]] = {}
    for name, public_key in roots:
        trusted[note_key_id(name, public_key).hex()] = (name, bytes(public_key))
    queue = list(trusted.values())
    # One pass over the links from each trusted key: a hostile package with many statements in
    # an unlucky order costs time in proportion to their number, not its square.
    while queue:
        for other in neighbours.get(queue.pop(), ()):
            key_id = note_key_id(*other).hex()
            if key_id not in trusted:
                trusted[key_id] = other
                queue.append(other)
    return trusted


# --------------------------------------------------------------------------------------------
# Witness cosignatures and witness policies
# --------------------------------------------------------------------------------------------

_COSIGNATURE_ALGORITHM = b"\x04"  # key type byte of Ed25519 cosigner keys
_MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 cosigner (witness) key (https://c2sp.org/tlog-cosignature):
    SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
    name = _check_key_name(name)
    key = _check_public_key(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _COSIGNATURE_ALGORITHM + key).digest()[:4]


def format_cosigner_vkey(name: str, public_key: bytes) -> str:
    """A witness's verifier key text ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
    encoded = base64.b64encode(_COSIGNATURE_ALGORITHM + bytes(public_key)).decode("ascii")
    return f"{name}+{cosigner_key_id(name, public_key).hex()}+{encoded}"


def parse_cosigner_vkey(text: str) -> tuple[str, bytes]:
    """Parse a witness's verifier key (see :func:`format_cosigner_vkey`) into ``(name, key)``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ValueError("a witness key has the form <name>+<hex key id>+<base64 key>")
    name, key_id_hex, key_b64 = parts
    _check_key_name(name)
    raw = _b64decode_strict(key_b64, f"the witness key of {name}")
    if len(raw) != 33 or raw[:1] != _COSIGNATURE_ALGORITHM:
        raise ValueError(f"the key of {name} is not an Ed25519 cosigner key (0x04 and 32 bytes)")
    if cosigner_key_id(name, raw[1:]).hex() != key_id_hex:
        raise ValueError(f"the witness key id {key_id_hex} does not match the key of {name}")
    return name, raw[1:]


def cosignature_message(body: str, timestamp: int) -> bytes:
    """What a witness signs: ``cosignature/v1``, ``time <seconds>`` and the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def verify_cosignatures(
    text: str | bytes, witnesses: Iterable[tuple[str, bytes]]
) -> dict[str, int]:
    """Check the cosignatures of the given witnesses on a checkpoint; return ``{witness name:
    timestamp}`` for each that cosigned it. Lines of other keys are ignored; a line that claims
    a given witness's name and key id but does not verify raises :class:`ValueError`."""
    checkpoint = parse_checkpoint(text)
    known = {(name, cosigner_key_id(name, key)): bytes(key) for name, key in witnesses}
    found: dict[str, int] = {}
    for signature in checkpoint.signatures:
        public_key = known.get((signature.name, signature.key_id))
        if public_key is None:
            continue
        raw = signature.signature
        timestamp = int.from_bytes(raw[:8], "big") if len(raw) == 72 else -1
        if not 0 <= timestamp <= _MAX_TIMESTAMP or not ed25519_verify(
            public_key, cosignature_message(checkpoint.body, timestamp), raw[8:]
        ):
            raise ValueError(f"the cosignature by witness {signature.name} does not verify")
        found[signature.name] = timestamp
    return found


@dataclass(frozen=True)
class WitnessPolicy:
    """Whose cosignatures a verifier requires: ``quorum`` of the ``witnesses`` (name, key)."""

    witnesses: tuple[tuple[str, bytes], ...]
    quorum: int


def parse_witness_policy(text: str) -> WitnessPolicy:
    """Read a witness policy: ``witness <verifier key>`` lines and one ``quorum <k>`` line
    (default: every witness); blank lines and lines starting with ``#`` are skipped."""
    witnesses: list[tuple[str, bytes]] = []
    quorum = None
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) == 2 and words[0] == "witness":
            try:
                witness = parse_cosigner_vkey(words[1])
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
            if witness[0] in {name for name, _ in witnesses}:
                raise ValueError(f"line {number}: witness {witness[0]} is named twice")
            witnesses.append(witness)
        elif len(words) == 2 and words[0] == "quorum" and _DECIMAL.fullmatch(words[1]):
            if quorum is not None:
                raise ValueError(f"line {number}: a second quorum line")
            quorum = int(words[1])
        else:
            raise ValueError(f"line {number} is neither 'witness <key>' nor 'quorum <k>'")
    if not witnesses:
        raise ValueError("the policy names no witness")
    quorum = len(witnesses) if quorum is None else quorum
    if not 1 <= quorum <= len(witnesses):
        raise ValueError(f"the quorum must be between 1 and {len(witnesses)}; it is {quorum}")
    return WitnessPolicy(tuple(witnesses), quorum)


def check_witness_policy(text: str | bytes, policy: WitnessPolicy) -> tuple[str, ...]:
    """The names of the policy's witnesses that cosigned the checkpoint, when they reach the
    quorum; otherwise :class:`ValueError` naming the witnesses whose cosignature is missing."""
    found = verify_cosignatures(text, policy.witnesses)
    if len(found) < policy.quorum:
        missing = [name for name, _ in policy.witnesses if name not in found]
        raise ValueError(
            f"the checkpoint is cosigned by {len(found)} of the {policy.quorum} witnesses the "
            f"policy requires (of {len(policy.witnesses)}): no cosignature from "
            + ", ".join(missing)
        )
    return tuple(name for name, _ in policy.witnesses if name in found)


# --------------------------------------------------------------------------------------------
# Certification packages
# --------------------------------------------------------------------------------------------

#: The ``format`` and ``version`` a package manifest declares.
PACKAGE_FORMAT = "safecase-certification-package"
PACKAGE_VERSION = 1

#: The DSSE payload type the manifest signature binds (see :func:`manifest_signing_input`).
MANIFEST_PAYLOAD_TYPE = "application/vnd.safecase.package-manifest+json"

#: in-toto predicate types of ledger entries are this prefix, the entry kind and ``/v1``.
PREDICATE_TYPE_PREFIX = "https://safecase.dev/evidence/"

MANIFEST_NAME = "manifest.json"
PDF_NAME = "evidence-pack.pdf"
ENTRIES_NAME = "ledger/entries.jsonl"
CHECKPOINT_NAME = "ledger/checkpoint.note"
VERIFIER_NAME = "verify.py"
ENTRY_FIELDS = frozenset({"index", "kind", "subject", "digest", "key_id", "envelope"})
SUBJECT_MAX = 500  # the ledger keeps the first 500 characters of the first subject's name

_MEMBER_NAME = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_FILE = re.compile(r"keys/([0-9a-f]{8})\.vkey")
_ROTATION_FILE = re.compile(r"keys/rotations/([0-9a-f]{8})-([0-9a-f]{8})\.json")
_ATTESTATION_FILE = re.compile(r"attestations/([0-9]{8,})\.json")
_DATASET_FILE = re.compile(r"datasets/([0-9a-f]{64})\.json")


@dataclass(frozen=True)
class PackageLimits:
    """What a package may hold before it is refused unread (zip bombs, resource exhaustion).

    Sizes are the uncompressed sizes the zip's central directory declares; reading never goes
    beyond them (the zip module stops there and then checks the CRC). ``max_ratio`` applies to
    members larger than ``ratio_floor``: small files legitimately compress very well.
    """

    max_members: int = 500_000
    max_member_bytes: int = 1 << 30
    max_total_bytes: int = 4 << 30
    max_ratio: int = 100
    ratio_floor: int = 1 << 20


DEFAULT_LIMITS = PackageLimits()


@dataclass(frozen=True)
class PackageReport:
    """What :func:`verify_package` established about a valid package."""

    path: str
    project: str
    baseline: str
    size: int
    root: bytes
    origin: str
    signed_by: tuple[str, ...]
    cited: int
    signatures: str  # which Ed25519 implementation checked the entry signatures
    entry_lines: tuple[bytes, ...]
    leaves: tuple[bytes, ...]
    #: True only when trust roots were given and every signature traces back to one of them.
    origin_verified: bool = False
    #: The fingerprints of the trust roots the signatures trace back to (empty if unverified).
    trusted_by: tuple[str, ...] = ()
    #: The keys the package claims signed it, as ``name+keyid`` (never trusted for origin).
    claimed: tuple[str, ...] = ()
    #: How many verified key rotation statements the package carries.
    rotations: int = 0
    #: The checkpoint note as the package holds it, with any witness cosignature lines.
    note: bytes = b""


def manifest_signing_input(manifest: dict[str, Any]) -> bytes:
    """The bytes the manifest signature covers: PAE over the canonical manifest minus its
    ``signature`` member. The exporter signs them with the ledger key, so the PDF and every
    other file (through their hashes in the manifest) are as authentic as the checkpoint."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return pae(MANIFEST_PAYLOAD_TYPE, canonical_json(unsigned))


def signature_backend() -> str:
    return "the cryptography package" if HAVE_CRYPTOGRAPHY else "pure-Python Ed25519 (slower)"


def _check_member_name(name: str) -> None:
    if "\\" in name:
        raise ValueError(f"member name {name!r} contains a backslash")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise ValueError(f"member name {name!r} is an absolute path")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"member name {name!r} escapes the package folder or is not normalised")
    if len(name) > 255 or not _MEMBER_NAME.fullmatch(name):
        raise ValueError(f"member name {name!r} has characters a package never uses")


_SMALL_MEMBER = 1 << 20  # read in one piece; larger members are read and hashed in chunks


class _Zip:
    """A package opened read-only, its directory checked before any member is read."""

    def __init__(self, path: str, limits: PackageLimits):
        try:
            self.archive = zipfile.ZipFile(path)
        except FileNotFoundError as exc:
            raise ValueError(f"cannot read {path}: no such file") from exc
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable zip file: {exc}") from exc
        try:
            self._check_directory(limits)
        except BaseException:
            self.archive.close()
            raise

    def _check_directory(self, limits: PackageLimits) -> None:
        infos = self.archive.infolist()
        if len(infos) > limits.max_members:
            raise ValueError(
                f"the package has {len(infos)} members, more than {limits.max_members}"
            )
        self.infos: dict[str, Any] = {}
        self.kept: dict[str, bytes] = {}  # members already read once and needed again
        total = 0
        for info in infos:
            name = info.filename
            _check_member_name(name)
            if name in self.infos:
                raise ValueError(f"member {name} appears twice in the zip")
            if info.is_dir():
                raise ValueError(f"member {name} is a directory entry")
            if info.flag_bits & 0x1:
                raise ValueError(f"member {name} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"member {name} uses compression method {info.compress_type}")
            if info.file_size > limits.max_member_bytes:
                raise ValueError(
                    f"member {name} expands to {info.file_size} bytes, more than the "
                    f"{limits.max_member_bytes} allowed (zip bomb?)"
                )
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise ValueError(
                    f"member {name} expands {info.file_size // max(info.compress_size, 1)} "
                    f"times (from {info.compress_size} to {info.file_size} bytes): zip bomb refused"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ValueError(
                    f"the package expands to more than {limits.max_total_bytes} bytes (zip bomb?)"
                )
            self.infos[name] = info

    def chunks(self, name: str, size: int = 1 << 20) -> Iterable[bytes]:
        info = self.infos[name]
        read = 0
        try:
            with self.archive.open(info) as handle:
                while chunk := handle.read(size):
                    read += len(chunk)
                    if read > info.file_size:
                        raise ValueError(f"member {name} is longer than the zip declares")
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ValueError(f"member {name} is corrupt: {exc}") from exc
        if read != info.file_size:
            raise ValueError(f"member {name} is shorter than the zip declares")

    def whole(self, name: str) -> bytes:
        """The member's bytes; one read for a small member (most are: attestations)."""
        info = self.infos[name]
        if info.file_size > _SMALL_MEMBER:
            return b"".join(self.chunks(name))
        try:
            with self.archive.open(info) as handle:
                data = handle.read(info.file_size + 1)  # to the end, where the CRC is checked
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ValueError(f"member {name} is corrupt: {exc}") from exc
        if len(data) != info.file_size:
            longer = len(data) > info.file_size
            raise ValueError(
                f"member {name} is {'longer' if longer else 'shorter'} than the zip declares"
            )
        return data

    def read(self, name: str) -> bytes:
        kept = self.kept.pop(name, None)
        return kept if kept is not None else self.whole(name)

    def close(self) -> None:
        self.archive.close()


_decode_json = json.JSONDecoder().decode  # json.loads minus its per-call argument handling


def _json(data: bytes, what: str) -> Any:
    try:
        return _decode_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from exc


def _field(mapping: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"{what} lacks {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what}: {key!r} has the wrong type")
    return value


def _hex_hash(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not _HEX64.fullmatch(text):
        raise ValueError(f"{what} is not 64 lower-case hex digits")
    return bytes.fromhex(text)


def _read_package_keys(package: _Zip, listed: Iterable[str]) -> tuple[dict, list]:
    """The package's verifier keys: by 4-byte key id (hex) and as (name, key) pairs."""
    by_id: dict[str, bytes] = {}
    named: list[tuple[str, bytes]] = []
    for path in sorted(p for p in listed if p.startswith("keys/")):
        if _ROTATION_FILE.fullmatch(path):
            continue  # read by _read_rotations
        match = _KEY_FILE.fullmatch(path)
        if not match:
            raise ValueError(f"unexpected file {path}: keys are keys/<8 hex digits>.vkey")
        try:
            text = package.read(path).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not UTF-8 text") from exc
        try:
            name, key_id, public_key = parse_vkey(text)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        if key_id.hex() != match.group(1):
            raise ValueError(f"{path} holds the key with id {key_id.hex()}, not {match.group(1)}")
        by_id[key_id.hex()] = public_key
        named.append((name, public_key))
    if not named:
        raise ValueError("the package holds no verifier keys (keys/*.vkey)")
    return by_id, named


def _read_rotations(package: _Zip, listed: Iterable[str]) -> list[KeyRotation]:
    """The package's key rotation statements, each signed by both of its keys.

    A statement that does not verify, or whose file name does not name its two keys, makes the
    package invalid: it is a file the exporter would never have written. A valid statement
    only ever extends trust that a verifier's own root already reaches (:func:`trusted_closure`).
    """
    rotations = []
    for path in sorted(p for p in listed if p.startswith("keys/rotations/")):
        match = _ROTATION_FILE.fullmatch(path)
        if not match:
            raise ValueError(
                f"unexpected file {path}: rotation statements are "
                f"keys/rotations/<old key id>-<new key id>.json"
            )
        try:
            rotation = verify_rotation(package.read(path))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        ids = (note_key_id(*rotation.previous).hex(), note_key_id(*rotation.next).hex())
        if ids != match.groups():
            raise ValueError(f"{path} holds the rotation {ids[0]} -> {ids[1]}, not its name's")
        rotations.append(rotation)
    return rotations


def _list_files(package: _Zip, manifest: dict) -> dict[str, dict]:
    """Every member is listed in the manifest and every listed file is present."""
    files = _field(manifest, "files", list, "the manifest")
    listed: dict[str, dict] = {}
    for item in files:
        path = _field(item, "path", str, "a manifest file entry")
        if path not in package.infos:  # the names of members were checked when it was opened
            _check_member_name(path)
        if path in listed or path == MANIFEST_NAME:
            raise ValueError(f"the manifest lists {path} twice")
        listed[path] = item
    for name in sorted(package.infos):
        if name != MANIFEST_NAME and name not in listed:
            raise ValueError(f"unexpected file {name}: it is not listed in the manifest")
    for path in sorted(listed):
        if path not in package.infos:
            raise ValueError(f"{path} is listed in the manifest but missing from the package")
    for required in (PDF_NAME, ENTRIES_NAME, CHECKPOINT_NAME, VERIFIER_NAME):
        if required not in listed:
            raise ValueError(f"the package has no {required}")
    for path in sorted(listed):
        known = path in (PDF_NAME, ENTRIES_NAME, CHECKPOINT_NAME, VERIFIER_NAME) or any(
            pattern.fullmatch(path)
            for pattern in (_KEY_FILE, _ROTATION_FILE, _ATTESTATION_FILE, _DATASET_FILE)
        )
        if not known:
            raise ValueError(f"unexpected file {path}: it is not part of the package layout")
    return listed


def _check_hashes(package: _Zip, listed: dict[str, dict], paths: Iterable[str]) -> None:
    """The listed files ``paths`` have the SHA-256 and size the manifest gives. The members
    later checks read again are kept in memory (the PDF and the verifier are only hashed)."""
    for path in sorted(paths):
        expected = _hex_hash(listed[path].get("sha256"), f"the manifest's sha256 of {path}")
        size = _field(listed[path], "size", int, f"the manifest entry of {path}")
        keep = path not in (PDF_NAME, VERIFIER_NAME)
        if keep or package.infos[path].file_size <= _SMALL_MEMBER:
            data = package.whole(path)
            digest = hashlib.sha256(data)
            actual = len(data)
        else:
            digest = hashlib.sha256()
            for chunk in package.chunks(path):
                digest.update(chunk)
            actual = package.infos[path].file_size
        if actual != size or digest.digest() != expected:
            raise ValueError(f"{path} does not match its SHA-256 and size in the manifest")
        if keep:
            package.kept[path] = data


def _statement_of(envelope: Any, where: str) -> tuple[bytes, dict]:
    try:
        payload = _b64decode_lenient(envelope["payload"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the envelope payload is not base64") from exc
    statement = _json(payload, f"{where}: the statement")
    if not isinstance(statement, dict):
        raise ValueError(f"{where}: the statement is not a JSON object")
    return payload, statement


#: Below this many entries a package is checked in one process: starting workers costs more.
PARALLEL_MIN_ENTRIES = 4096
_CHUNK_ENTRIES = 2048

# What a worker process checks: set once per worker (inherited on fork), then read by range.
_entry_job: tuple[list[bytes], str, dict[str, bytes]] | None = None


class _EntryChecks:
    """The checks of each line of ledger/entries.jsonl: numbering, leaf hash, signed statement,
    signature (see :func:`_check_entry_range`), started now and collected by :meth:`result`.

    The Ed25519 checks dominate the time, and entries are independent of each other, so a
    large log is checked in ranges by ``workers`` processes (default: one per CPU, at most 8)
    when the platform offers them, in this process otherwise. The workers start at once, so
    they run while this process hashes the package's other files; the ranges are collected in
    order, so the problem reported is the first one in the log, as a single pass finds it.
    Always :meth:`close` it.
    """

    def __init__(
        self, data: bytes, project: str, keys_by_id: dict[str, bytes], workers: int | None
    ):
        self.data = data
        self.lines = data.split(b"\n")[:-1] if data else []
        count = len(self.lines)
        if workers is None:
            workers = fork_workers() if count >= PARALLEL_MIN_ENTRIES else 1
        # Ranges small enough that every worker gets several (an even share under uneven load).
        step = max(1, min(_CHUNK_ENTRIES, -(-count // (4 * max(1, workers)))))
        self.ranges = [(lo, min(lo + step, count)) for lo in range(0, count, step)]
        self.job = (self.lines, project, keys_by_id)
        self.pool = None
        self.parts: Iterable[tuple] = ()
        if workers > 1 and len(self.ranges) > 1:
            try:
                import multiprocessing

                # fork where it is safe and cheap (Linux); elsewhere the platform's default,
                # which starts fresh interpreters that import this file again.
                linux = sys.platform.startswith("linux")
                context = multiprocessing.get_context("fork" if linux else None)
                self.pool = context.Pool(
                    min(workers, len(self.ranges)),
                    initializer=_set_entry_job,
                    initargs=(self.job,),
                )
            except (ImportError, OSError, ValueError, NotImplementedError):
                self.pool = None  # no processes here (a sandbox, no semaphores): one pass
        if self.pool is not None:
            self.parts = self.pool.imap(_check_entry_range, self.ranges)

    def result(self) -> tuple[list[bytes], list[bytes], list[dict], set[str]]:
        """The raw lines, the recomputed leaf hashes, per entry what later checks need (kind,
        subject, digest, the decoded statement payload), and the ids of the signing keys;
        ValueError with the first problem."""
        if self.data and not self.data.endswith(b"\n"):
            raise ValueError(f"{ENTRIES_NAME} does not end with a newline")
        if self.pool is None:
            _set_entry_job(self.job)
            self.parts = map(_check_entry_range, self.ranges)
        leaves: list[bytes] = []
        facts: list[dict] = []
        signers: set[str] = set()
        try:
            for part_leaves, part_facts, part_signers in self.parts:
                leaves += part_leaves
                facts += part_facts
                signers |= part_signers
        finally:
            _set_entry_job(None)
        return self.lines, leaves, facts, signers

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def fork_workers() -> int:
    """Processes to fork by default: one per CPU, or one (no fork) where forking is not safe:
    a process running other threads (a threaded web server, a worker's pool) would fork a
    child that inherits whatever lock another thread held at that moment."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return _cpu_count()


def _cpu_count() -> int:
    try:
        count = len(os.sched_getaffinity(0))  # the CPUs this process may run on (Linux)
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, 8))


def _set_entry_job(job: tuple | None) -> None:
    global _entry_job
    _entry_job = job


def _check_entry_range(bounds: tuple[int, int]) -> tuple[list[bytes], list[dict], set[str]]:
    """Check entries ``lo`` to ``hi - 1`` of the job set by :func:`_set_entry_job`."""
    assert _entry_job is not None
    lines, project, keys_by_id = _entry_job
    lo, hi = bounds
    leaves: list[bytes] = []
    facts: list[dict] = []
    signers: set[str] = set()
    sha256 = hashlib.sha256
    predicate_types = {}
    for number in range(lo, hi):
        where = f"{ENTRIES_NAME} line {number + 1}"
        record = _json(lines[number], where)
        if not isinstance(record, dict) or record.keys() != ENTRY_FIELDS:
            raise ValueError(f"{where} does not have exactly the fields {sorted(ENTRY_FIELDS)}")
        index, kind, subject, digest, key_id, envelope_text = (
            record["index"],
            record["kind"],
            record["subject"],
            record["digest"],
            record["key_id"],
            record["envelope"],
        )
        if type(index) is not int:
            raise ValueError(f"{where}: 'index' has the wrong type")
        if index != number:
            raise ValueError(
                f"{where} holds entry {index} where entry {number} belongs: entries must be "
                f"numbered 0 to n-1 in order"
            )
        where = f"entry {index}"
        for key, value in (
            ("envelope", envelope_text),
            ("kind", kind),
            ("subject", subject),
            ("digest", digest),
            ("key_id", key_id),
        ):
            if type(value) is not str:
                raise ValueError(f"{where}: {key!r} has the wrong type")
        try:
            envelope_bytes = _b64decode_strict(envelope_text, where)
        except ValueError as exc:
            raise ValueError(f"{where}: the envelope is not canonical base64") from exc
        leaves.append(sha256(b"\x00" + envelope_bytes).digest())
        envelope = _json(envelope_bytes, f"{where}: the envelope")
        if not isinstance(envelope, dict):
            raise ValueError(f"{where}: the envelope is not a JSON object")
        payload, statement = _statement_of(envelope, where)
        predicate_type = predicate_types.get(kind)
        if predicate_type is None:
            predicate_type = predicate_types[kind] = f"{PREDICATE_TYPE_PREFIX}{kind}/v1"
        if statement.get("predicateType") != predicate_type:
            raise ValueError(f"{where}: its kind {kind!r} is not what its signed statement says")
        subjects = statement.get("subject")
        try:
            first = subjects[0]
            signed_name, signed_digest = first["name"], first["digest"]["sha256"]
        except (TypeError, KeyError, IndexError) as exc:
            raise ValueError(f"{where}: the signed statement has no subject") from exc
        if not isinstance(signed_name, str) or signed_name[:SUBJECT_MAX] != subject:
            raise ValueError(f"{where}: its subject is not what its signed statement says")
        if signed_digest != digest:
            raise ValueError(f"{where}: its digest is not what its signed statement says")
        predicate = statement.get("predicate")
        if not isinstance(predicate, dict) or predicate.get("project") != project:
            raise ValueError(f"{where}: the signed statement belongs to another project")
        public_key = keys_by_id.get(key_id)
        if public_key is None:
            raise ValueError(f"{where} is signed by key {key_id}, which the package does not hold")
        if not _in_toto_signed(envelope, payload, key_id, public_key):
            raise ValueError(f"{where}: the DSSE signature does not verify with key {key_id}")
        fact = {"kind": kind, "subject": subject, "digest": digest}
        if kind == "validation-result":
            fact["payload"] = payload  # its attestation file must hold exactly these bytes
        elif kind == "dataset":
            fact["predicate"] = predicate  # names the dataset manifest and its Merkle root
        facts.append(fact)
        signers.add(key_id)
    return leaves, facts, signers


def _in_toto_signed(envelope: dict, payload: bytes, key_id: str, public_key: bytes) -> bool:
    """:func:`verify_envelope` for an in-toto envelope with one known key, over the payload
    the caller has already decoded (decoding it twice was a measurable share of the time)."""
    signatures = envelope.get("signatures")
    if envelope.get("payloadType") != IN_TOTO_PAYLOAD_TYPE or not isinstance(signatures, list):
        return False
    message = pae(IN_TOTO_PAYLOAD_TYPE, payload)
    for entry in signatures:
        try:
            if entry["keyid"] != key_id:
                continue
            signature = _b64decode_lenient(entry["sig"])
        except (KeyError, TypeError, ValueError):
            continue  # one malformed signature does not spoil the others
        if ed25519_verify(public_key, message, signature):
            return True
    return False


def _check_cited(manifest: dict, leaves: list[bytes], facts: list[dict]) -> int:
    cited = _field(manifest, "evidence", list, "the manifest")
    for item in cited:
        index = _field(item, "index", int, "a cited evidence item")
        if not 0 <= index < len(leaves):
            raise ValueError(f"cited entry {index} is not in the log of {len(leaves)} entries")
        leaf = _hex_hash(item.get("leafHash"), f"the leaf hash of cited entry {index}")
        if leaf != leaves[index]:
            raise ValueError(f"cited entry {index}: its leaf hash differs from the log's entry")
        for key in ("kind", "subject"):
            if key in item and item[key] != facts[index][key]:
                raise ValueError(f"cited entry {index}: its {key} differs from the log's entry")
    return len(cited)


def _check_baseline(manifest: dict, facts: list[dict]) -> str:
    baseline = _field(manifest, "baseline", dict, "the manifest")
    name = _field(baseline, "name", str, "the manifest's baseline")
    root = _field(baseline, "root", str, "the manifest's baseline")
    index = _field(baseline, "entry", int, "the manifest's baseline")
    if not 0 <= index < len(facts):
        raise ValueError(f"baseline {name}: its entry {index} is not in the log")
    fact = facts[index]
    if (fact["kind"], fact["subject"], fact["digest"]) != ("baseline", f"baseline:{name}", root):
        raise ValueError(f"baseline {name}: entry {index} does not record it with root {root}")
    return name


def _check_attestations(package: _Zip, listed: dict, facts: list[dict]) -> None:
    wanted = {
        f"attestations/{index:08d}.json": index
        for index, fact in enumerate(facts)
        if fact["kind"] == "validation-result"
    }
    present = sorted(p for p in listed if p.startswith("attestations/"))
    for path in present:
        if path not in wanted:
            raise ValueError(f"{path} does not belong to a validation-result entry of the log")
        if package.read(path) != facts[wanted[path]]["payload"]:
            raise ValueError(f"{path} differs from the statement signed in entry {wanted[path]}")
    for path in sorted(set(wanted) - set(present)):
        raise ValueError(f"the attestation of entry {wanted[path]} ({path}) is missing")


def _check_datasets(package: _Zip, listed: dict, facts: list[dict]) -> None:
    wanted: dict[str, int] = {}
    for index, fact in enumerate(facts):
        if fact["kind"] == "dataset":
            manifest = fact["predicate"].get("manifest")
            digest = manifest.get("sha256") if isinstance(manifest, dict) else None
            if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
                raise ValueError(f"entry {index}: the dataset entry names no manifest digest")
            wanted.setdefault(f"datasets/{digest}.json", index)
    present = sorted(p for p in listed if p.startswith("datasets/"))
    for path in present:
        if path not in wanted:
            raise ValueError(f"{path} is not the manifest of a dataset entry of the log")
        data = package.read(path)
        if hashlib.sha256(data).hexdigest() != path[len("datasets/") : -len(".json")]:
            raise ValueError(f"{path}: its SHA-256 is not the one in its name")
        objects = _field(_json(data, path), "objects", list, path)
        try:
            root = root_hash([leaf_hash(canonical_json(o)) for o in objects]).hex()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: an object record cannot be hashed: {exc}") from exc
        fact = facts[wanted[path]]
        if root != fact["digest"] or root != fact["predicate"].get("merkleRoot"):
            raise ValueError(
                f"{path}: the Merkle root of its objects differs from entry {wanted[path]}"
            )
    for path in sorted(set(wanted) - set(present)):
        raise ValueError(f"the dataset manifest of entry {wanted[path]} ({path}) is missing")


class OriginError(ValueError):
    """The package is intact but not signed by a key the verifier's trust roots reach."""


def verify_package(
    path: str,
    *,
    trusted_keys: Sequence[tuple[str, bytes]] | None = None,
    trusted_fingerprints: Sequence[str] | None = None,
    limits: PackageLimits = DEFAULT_LIMITS,
    workers: int | None = None,
) -> PackageReport:
    """Check a certification package and return what it proves; ValueError with the first
    problem otherwise.

    Two questions, answered separately. Integrity and completeness use the keys the package
    carries: nothing is extracted, members are read in memory after the zip's directory has
    passed the :class:`PackageLimits` and the name checks. In order: the manifest lists exactly
    the files present; it is signed by a key of the package, whose file is checked first; every
    other file has the SHA-256 the manifest gives; the rotation statements are signed by both
    their keys; the checkpoint is signed by a package key and matches the manifest; every entry
    is numbered in order, says what its signed statement says, and its DSSE signature
    verifies; the Merkle root over the recomputed leaf hashes is the checkpoint's root; every
    cited item and the baseline are in the log; the attestations and dataset manifests are
    those the log's entries name.

    Origin never rests on those keys: whoever rewrites a package can put their own key in it.
    It is established only from the trust roots the verifier supplies, ``trusted_keys``
    (``(name, public key)`` pairs) and ``trusted_fingerprints`` (64 hex digits, see
    :func:`key_fingerprint`; one trusts the package key whose fingerprint it is), extended by
    the package's rotation statements (:func:`trusted_closure`). Without trust roots the report
    says ``origin_verified=False``; with them, a package whose checkpoint, manifest or any
    entry is signed by a key outside that closure raises :class:`OriginError`.

    ``workers`` is how many processes check the entries (see :class:`_EntryChecks`).
    """
    fingerprints = [parse_fingerprint(text) for text in trusted_fingerprints or ()]
    package = _Zip(path, limits)
    entry_checks = None
    try:
        if MANIFEST_NAME not in package.infos:
            raise ValueError(f"the package has no {MANIFEST_NAME}")
        manifest = _json(package.read(MANIFEST_NAME), MANIFEST_NAME)
        if not isinstance(manifest, dict):
            raise ValueError(f"{MANIFEST_NAME} is not a JSON object")
        if manifest.get("format") != PACKAGE_FORMAT or manifest.get("version") != PACKAGE_VERSION:
            raise ValueError(
                f"{MANIFEST_NAME} is not a {PACKAGE_FORMAT} manifest of version {PACKAGE_VERSION}"
            )
        listed = _list_files(package, manifest)
        key_files = [p for p in listed if p.startswith("keys/")]
        _check_hashes(package, listed, key_files)  # the keys first: they check the signature
        keys_by_id, named_keys = _read_package_keys(package, listed)

        signature = _field(manifest, "signature", dict, MANIFEST_NAME)
        signer = _field(signature, "keyid", str, "the manifest signature")
        if signer not in keys_by_id:
            raise ValueError(f"the manifest is signed by key {signer}, which the package lacks")
        try:
            manifest_sig = _b64decode_strict(
                _field(signature, "sig", str, "the manifest signature"), "the manifest signature"
            )
            signing_input = manifest_signing_input(manifest)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the manifest signature cannot be checked: {exc}") from exc
        if not ed25519_verify(keys_by_id[signer], signing_input, manifest_sig):
            raise ValueError("the manifest signature does not verify: the manifest was altered")
        project = _field(_field(manifest, "project", dict, MANIFEST_NAME), "key", str, "project")
        # The entries first, so that their checks run while the other files are hashed.
        _check_hashes(package, listed, [ENTRIES_NAME])
        entry_checks = _EntryChecks(package.read(ENTRIES_NAME), project, keys_by_id, workers)
        _check_hashes(package, listed, set(listed) - set(key_files) - {ENTRIES_NAME})
        rotations = _read_rotations(package, listed)

        note = package.read(CHECKPOINT_NAME)
        try:
            checkpoint = verify_checkpoint(note, named_keys)
        except ValueError as exc:
            raise ValueError(f"{CHECKPOINT_NAME}: {exc}") from exc
        claimed = _field(manifest, "checkpoint", dict, MANIFEST_NAME)
        if (
            claimed.get("origin") != checkpoint.origin
            or claimed.get("size") != checkpoint.size
            or claimed.get("root") != checkpoint.root.hex()
        ):
            raise ValueError("the manifest's checkpoint differs from the signed checkpoint note")
        if not checkpoint.origin.endswith(f"/{project}"):
            raise ValueError(f"the checkpoint is for the log {checkpoint.origin}, not {project}")

        lines, leaves, facts, entry_signers = entry_checks.result()
        if len(leaves) != checkpoint.size:
            raise ValueError(
                f"{ENTRIES_NAME} holds {len(leaves)} entries but the signed checkpoint covers "
                f"{checkpoint.size}: entries are missing or were added"
            )
        if root_hash(leaves) != checkpoint.root:
            raise ValueError(
                "the Merkle root of the entries does not match the signed checkpoint: "
                "an entry was altered, removed, added or moved"
            )
        cited = _check_cited(manifest, leaves, facts)
        baseline = _check_baseline(manifest, facts)
        _check_attestations(package, listed, facts)
        _check_datasets(package, listed, facts)
    finally:
        if entry_checks is not None:
            entry_checks.close()
        package.close()
    signed_by = tuple(
        (s.name, s.key_id.hex()) for s in checkpoint.signatures if s.name in checkpoint.verified_by
    )
    claimed_keys = [f"{name}+{key_id}" for name, key_id in signed_by]
    manifest_key = next(
        (f"{name}+{signer}" for name, key in named_keys if note_key_id(name, key).hex() == signer),
        signer,
    )
    if manifest_key not in claimed_keys:
        claimed_keys.append(manifest_key)
    report = PackageReport(
        path=path,
        project=project,
        baseline=baseline,
        size=checkpoint.size,
        root=checkpoint.root,
        origin=checkpoint.origin,
        signed_by=tuple(f"{name} (key {key_id})" for name, key_id in signed_by),
        cited=cited,
        signatures=signature_backend(),
        entry_lines=tuple(lines),
        leaves=tuple(leaves),
        claimed=tuple(claimed_keys),
        rotations=len(rotations),
        note=note,
    )
    if not (trusted_keys or fingerprints):
        return report
    trusted_by = _establish_origin(
        roots=list(trusted_keys or ()),
        fingerprints=fingerprints,
        package_keys=named_keys + [k for r in rotations for k in (r.previous, r.next)],
        rotations=rotations,
        note=note,
        signers={signer, *entry_signers},
        keys_by_id=keys_by_id,
        claimed=report.claimed,
    )
    return replace(report, origin_verified=True, trusted_by=trusted_by)


def _establish_origin(
    *,
    roots: list[tuple[str, bytes]],
    fingerprints: list[str],
    package_keys: list[tuple[str, bytes]],
    rotations: list[KeyRotation],
    note: bytes,
    signers: set[str],
    keys_by_id: dict[str, bytes],
    claimed: Sequence[str],
) -> tuple[str, ...]:
    """Check that the checkpoint, the manifest and every entry were signed by keys the
    verifier's trust roots reach; return the fingerprints of the roots the checkpoint's
    signature traces back to, or raise :class:`OriginError`.

    A fingerprint is resolved to the package key (or a key a rotation statement names) whose
    fingerprint it is: SHA-256 binds name and key, so that key is the genuine one. The key
    files of the package are otherwise only a lookup table; a key they hold is trusted only if
    a root reaches it, by the same public key, through doubly signed rotation statements.
    """
    problems = []
    unmatched = []  # worth saying only if nothing else establishes the origin
    for fingerprint in fingerprints:
        matches = {k for k in package_keys if key_fingerprint(k[0], k[1]) == fingerprint}
        if not matches:
            unmatched.append(f"the trusted fingerprint {fingerprint} matches no key it carries")
        roots.extend(sorted(matches))
    closure = trusted_closure(roots, rotations)
    untrusted = sorted(
        key_id
        for key_id in signers
        if key_id not in closure or closure[key_id][1] != keys_by_id.get(key_id)
    )
    if untrusted:
        problems.append(f"key(s) {', '.join(untrusted)} sign it but no trust root reaches them")
    try:
        checkpoint = verify_checkpoint(note, list(closure.values()))
    except ValueError as exc:
        problems.append(f"its checkpoint: {exc}")
        checkpoint = None
    if problems or checkpoint is None:
        raise OriginError(
            f"not signed by a trusted key: the package claims {', '.join(claimed)}, and "
            + "; ".join(unmatched + problems)
        )
    verified = {
        (s.name, s.key_id) for s in checkpoint.signatures if s.name in checkpoint.verified_by
    }
    trusted_by = []
    for name, public_key in roots:
        reach = trusted_closure([(name, public_key)], rotations)
        if any((n, note_key_id(n, k)) in verified for n, k in reach.values()):
            trusted_by.append(key_fingerprint(name, public_key))
    return tuple(sorted(set(trusted_by)))


def verify_growth(older: PackageReport, newer: PackageReport) -> list[bytes]:
    """Check that ``newer``'s log extends ``older``'s: same log, no fewer entries, the older
    entries byte for byte, and an RFC 9162 consistency proof (computed from the newer leaves)
    that verifies between the two signed roots. Returns the proof."""
    if older.origin != newer.origin:
        raise ValueError(f"the packages are of different logs: {older.origin}, {newer.origin}")
    if older.size > newer.size:
        raise ValueError(
            f"the newer package's log has {newer.size} entries, fewer than the older one's "
            f"{older.size}: the log shrank"
        )
    for index in range(older.size):
        if older.entry_lines[index] != newer.entry_lines[index]:
            raise ValueError(
                f"entry {index} differs between the two packages: the older log was rewritten"
            )
    proof = consistency_proof_from_leaves(newer.leaves, older.size)
    if not verify_consistency(older.size, newer.size, proof, older.root, newer.root):
        raise ValueError("the consistency proof between the two checkpoints does not verify")
    return proof


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


class _UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so failures stay one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text") from exc


def _read_vkeys(path: str) -> list[tuple[str, bytes]]:
    """Read verifier keys, one per line; blank lines and lines starting with '#' are skipped."""
    keys = []
    for line in _read_text(path, "verifier key file").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, public_key = parse_vkey(line)
            keys.append((name, public_key))
    if not keys:
        raise ValueError(f"no verifier keys in {path}")
    return keys


def _command_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    text = _read_text(args.note, "note")
    checkpoint = verify_checkpoint(text, _read_vkeys(args.vkeys))
    cosigned = ""
    witnesses = None
    if args.witness_policy:
        try:
            policy = parse_witness_policy(_read_text(args.witness_policy, "witness policy"))
        except ValueError as exc:
            raise _UsageError(f"witness policy {args.witness_policy}: {exc}") from exc
        try:
            witnesses = list(check_witness_policy(text, policy))
        except ValueError as exc:
            raise ValueError(f"witness policy {args.witness_policy}: {exc}") from exc
        cosigned = f", cosigned by {', '.join(witnesses)} (quorum {policy.quorum})"
    result = {
        "summary": (
            f"checkpoint of {checkpoint.origin}: size {checkpoint.size}, "
            f"root {checkpoint.root.hex()}, signed by {', '.join(checkpoint.verified_by)}"
            f"{cosigned}"
        ),
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "signed_by": list(checkpoint.verified_by),
        "origin_verified": True,  # against the verifier keys given on the command line
    }
    if witnesses is not None:
        result["witnesses"] = witnesses
    return result


#: Exit codes of the command line (also in its ``--help``).
EXIT_VERIFIED = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_ORIGIN_NOT_VERIFIED = 3

EXIT_CODES = f"""exit codes:
  {EXIT_VERIFIED}  verified: intact, complete, and signed by a key your trust roots reach
     (--trusted-key / --trusted-fingerprint); the line begins OK: and names them
  {EXIT_INVALID}  invalid or tampered, or signed by a key your trust roots do not reach
     (FAIL: and the first problem found)
  {EXIT_USAGE}  usage error (bad arguments, unreadable or malformed trust roots, a short key id
     given as a fingerprint)
  {EXIT_ORIGIN_NOT_VERIFIED}  intact and complete, but its origin is not verified because no trust
     root was given (a line beginning ORIGIN NOT VERIFIED says what to pass)

Trust roots come from the operator, independently of the package (for example the
published fingerprint, or the keys/ folder of the store the ledger publishes to).
A key or fingerprint found inside a package never establishes where it came from."""


class _Outcome(Exception):
    """A result that is not success: its exit code and its one-line message."""

    def __init__(self, code: int, message: str, result: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.result = result or {}


def _trust_roots(args: argparse.Namespace) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The verifier's trust roots from the command line; usage errors when unreadable."""
    keys: list[tuple[str, bytes]] = []
    try:
        for path in args.trusted_key or ():
            keys.extend(_read_vkeys(path))
        fingerprints = [parse_fingerprint(text) for text in args.trusted_fingerprint or ()]
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    return keys, fingerprints


def _command_package(args: argparse.Namespace) -> dict[str, Any]:
    keys, fingerprints = _trust_roots(args)
    policy = None
    if args.witness_policy:
        try:
            policy = parse_witness_policy(_read_text(args.witness_policy, "witness policy"))
        except ValueError as exc:
            raise _UsageError(f"witness policy {args.witness_policy}: {exc}") from exc
    pinned = bool(keys or fingerprints)
    roots = {"trusted_keys": keys, "trusted_fingerprints": fingerprints, "workers": args.jobs}
    report = verify_package(args.package, **roots)
    summary = (
        f"package for {report.project}, baseline {report.baseline}, {report.size} entries, "
        f"root {report.root.hex()}, checkpoint signed by {', '.join(report.signed_by)}, "
        f"{report.cited} cited items present; entry signatures checked with {report.signatures}"
    )
    result: dict[str, Any] = {
        "project": report.project,
        "baseline": report.baseline,
        "entries": report.size,
        "root": report.root.hex(),
        "origin": report.origin,
        "signed_by": list(report.signed_by),
        "claimed_keys": list(report.claimed),
        "origin_verified": report.origin_verified,
        "trusted_by": list(report.trusted_by),
        "rotations": report.rotations,
        "cited": report.cited,
        "signatures": report.signatures,
    }
    if policy is not None:
        try:
            cosigned = check_witness_policy(report.note, policy)
        except ValueError as exc:
            raise ValueError(f"witness policy {args.witness_policy}: {exc}") from exc
        summary += (
            f", cosigned by {len(cosigned)} of {len(policy.witnesses)} witnesses "
            f"(quorum {policy.quorum}: {', '.join(cosigned)})"
        )
        result["witnesses"] = list(cosigned)
    if args.previous:
        try:
            older = verify_package(args.previous, **roots)
        except ValueError as exc:
            raise ValueError(f"the older package {args.previous}: {exc}") from exc
        proof = verify_growth(older, report)
        summary += (
            f"; the log only grew since {args.previous} ({older.size} -> {report.size} "
            f"entries, consistency proof of {len(proof)} hashes verified)"
        )
        result["previous"] = {
            "entries": older.size,
            "root": older.root.hex(),
            "proof": [node.hex() for node in proof],
        }
    if not pinned:
        result["summary"] = f"intact and complete: {summary}"
        raise _Outcome(
            EXIT_ORIGIN_NOT_VERIFIED,
            f"ORIGIN NOT VERIFIED: the package for {report.project} is intact and complete, "
            f"but who made it is not established: it claims to be signed by "
            f"{', '.join(report.claimed)}, and a key inside a package proves nothing about its "
            f"origin. Obtain the installation's key fingerprint from the operator, independently "
            f"of this package (for example the keys/ folder of their store, or the fingerprint "
            f"they publish), and run again with --trusted-fingerprint <64 hex digits> or "
            f"--trusted-key <verifier key file>. ({summary})",
            result,
        )
    rotated = f" through {report.rotations} rotation statement(s)" if report.rotations else ""
    result["summary"] = (
        f"{summary}; origin verified: signed by keys that the trusted fingerprint(s) "
        f"{', '.join(report.trusted_by)} reach{rotated}"
    )
    return result


def _command_fingerprint(args: argparse.Namespace) -> dict[str, Any]:
    try:
        keys = _read_vkeys(args.vkeys)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    listed = [
        {"key": f"{name}+{note_key_id(name, key).hex()}", "fingerprint": key_fingerprint(name, key)}
        for name, key in keys
    ]
    return {"lines": [f"{k['fingerprint']}  {k['key']}" for k in listed], "keys": listed}


def _build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    layout = {"epilog": EXIT_CODES, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = _Parser(
        prog="verify.py",
        description="Verify Safecase evidence offline, with the Python standard library only.",
        **layout,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    checkpoint = commands.add_parser(
        "checkpoint",
        parents=[common],
        help="verify a signed checkpoint note against verifier keys",
    )
    checkpoint.add_argument("note", metavar="NOTE_FILE", help="the signed checkpoint note")
    checkpoint.add_argument(
        "vkeys", metavar="VKEY_FILE", help="verifier keys (<name>+<id>+<key>), one per line"
    )
    checkpoint.add_argument(
        "--witness-policy",
        metavar="FILE",
        help="witness keys and a quorum: the note must carry that many valid cosignatures",
    )
    checkpoint.set_defaults(handler=_command_checkpoint)
    fingerprint = commands.add_parser(
        "fingerprint",
        parents=[common],
        help="print the 64-hex-digit fingerprint of each verifier key in a file",
    )
    fingerprint.add_argument(
        "vkeys", metavar="VKEY_FILE", help="verifier keys (<name>+<id>+<key>), one per line"
    )
    fingerprint.set_defaults(handler=_command_fingerprint)
    package = commands.add_parser(
        "package",
        parents=[common],
        help="verify a certification package (the default when the first argument is a .zip)",
        description="Verify a certification package: integrity and completeness with the keys "
        "it carries, origin only against the trust roots you give.",
        **layout,
    )
    package.add_argument("package", metavar="FILE.zip", help="the certification package")
    package.add_argument(
        "--previous",
        metavar="OLDER.zip",
        help="an older package of the same project: also prove that the log only grew "
        "(it must verify against the same trust roots)",
    )
    package.add_argument(
        "--trusted-key",
        action="append",
        metavar="VKEY_FILE",
        help="a trust root: verifier key(s) of the installation, one per line, obtained from "
        "the operator, not from the package (repeatable)",
    )
    package.add_argument(
        "--trusted-fingerprint",
        action="append",
        metavar="HEX",
        help="a trust root: the installation key's 64-hex-digit fingerprint as the operator "
        "publishes it (create_signing_key prints it, the PDF cover shows it); repeatable",
    )
    package.add_argument(
        "--witness-policy",
        metavar="FILE",
        help="witness keys ('witness <vkey>' lines) and a quorum ('quorum <k>'): the "
        "checkpoint must be cosigned by at least k of those witnesses",
    )
    package.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes that check entry signatures (default: one per CPU for large packages; "
        "1 checks everything in this process)",
    )
    package.set_defaults(handler=_command_package)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (see :data:`EXIT_CODES`).

    Each command is a ``_command_*`` function registered in :func:`_build_parser`; it returns
    a dict with a one-line ``summary`` and the details for ``--json``, raises
    :class:`ValueError` with the reason verification failed, :class:`_UsageError` for bad
    arguments, or :class:`_Outcome` for an intact package whose origin is not verified.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].lower().endswith(".zip"):
        argv.insert(0, "package")  # ``python verify.py FILE.zip`` checks a package
    as_json = "--json" in argv
    result: dict[str, Any] = {}
    try:
        args = _build_parser().parse_args(argv)
        as_json = args.json
        result = args.handler(args)
    except _UsageError as exc:
        code, reason = EXIT_USAGE, f"usage error: {exc} (see --help)"
    except _Outcome as exc:
        code, reason, result = exc.code, str(exc), exc.result
    except ValueError as exc:
        code, reason = EXIT_INVALID, str(exc)
    except RecursionError:
        code, reason = EXIT_INVALID, "the input nests too deeply to be read"
    except KeyboardInterrupt:
        code, reason = EXIT_INVALID, "interrupted"
    except Exception as exc:  # noqa: BLE001 - the promise is a one-line reason, no traceback
        code, reason = EXIT_INVALID, f"internal error: {type(exc).__name__}: {exc}"
    else:
        if as_json:
            body = {"ok": True, "exit": EXIT_VERIFIED, **result}
            body.pop("lines", None)
            _emit(json.dumps(body, sort_keys=True), sys.stdout)
        elif "lines" in result:  # a listing, not a verdict: no OK
            for line in result["lines"]:
                _emit(line, sys.stdout)
        else:
            _emit(f"OK: {result['summary']}", sys.stdout)
        return EXIT_VERIFIED
    reason = " ".join(reason.split())  # one line, whatever the message held
    if as_json:
        body = {"origin_verified": False, **result, "ok": False, "exit": code, "error": reason}
        _emit(json.dumps(body, sort_keys=True), sys.stdout)
    elif code == EXIT_ORIGIN_NOT_VERIFIED:
        _emit(reason, sys.stdout)
    else:
        _emit(f"FAIL: {reason}", sys.stderr)
    return code


def _emit(line: str, stream) -> None:
    """Print one line even where the terminal cannot encode every character of it."""
    try:
        stream.write(line + "\n")
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(line.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
