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

Conventions: hashes are raw ``bytes`` (32 bytes for SHA-256), leaf indexes are 0-based. The
``verify_*`` proof and signature functions answer ``True`` or ``False`` and never raise on
malformed input; the checkpoint functions raise :class:`ValueError` with a readable reason.

Command line (see :func:`main`)::

    python verify.py checkpoint NOTE_FILE VKEY_FILE
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
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
    1e16, where Python's ``repr`` and ECMAScript agree on the layout. Anything else takes the
    general serializer.
    """
    if obj is None or obj is True or obj is False or isinstance(obj, str):
        return True
    if isinstance(obj, int):
        return abs(obj) <= _MAX_SAFE_INTEGER
    if isinstance(obj, float):
        return math.isfinite(obj) and not obj.is_integer() and 1e-4 <= abs(obj) < 1e16
    if isinstance(obj, dict):
        return all(isinstance(k, str) and k.isascii() and _is_plain(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_is_plain(item) for item in obj)
    return False


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
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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


def _ed25519_verify_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)  # type: ignore[union-attr]
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
    checkpoint = verify_checkpoint(_read_text(args.note, "note"), _read_vkeys(args.vkeys))
    return {
        "summary": (
            f"checkpoint of {checkpoint.origin}: size {checkpoint.size}, "
            f"root {checkpoint.root.hex()}, signed by {', '.join(checkpoint.verified_by)}"
        ),
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "signed_by": list(checkpoint.verified_by),
    }


def _build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    parser = _Parser(
        prog="verify.py",
        description="Verify Safecase evidence offline, with the Python standard library only.",
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
    checkpoint.set_defaults(handler=_command_checkpoint)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return 0 when the evidence verifies, 1 with a reason otherwise.

    Each command is a ``_command_*`` function registered in :func:`_build_parser`; it returns
    a dict with a one-line ``summary`` and the details for ``--json``, or raises
    :class:`ValueError` with the reason verification failed.
    """
    parser = _build_parser()
    as_json = False
    try:
        args = parser.parse_args(argv)
        as_json = args.json
        result = args.handler(args)
    except _UsageError as exc:
        reason = f"usage error: {exc} (see --help)"
    except ValueError as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - the promise is a one-line reason, no traceback
        reason = f"internal error: {type(exc).__name__}: {exc}"
    else:
        if as_json:
            print(json.dumps({"ok": True, **result}, sort_keys=True))
        else:
            print(f"OK: {result['summary']}")
        return 0
    reason = " ".join(reason.split())  # one line, whatever the message held
    if as_json:
        print(json.dumps({"ok": False, "error": reason}, sort_keys=True))
    else:
        print(f"FAIL: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
