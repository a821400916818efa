"""Tests of the standalone verifier ``evidence/verify.py``.

Expected values come from outside the code under test: the RFC 9162 transparency-dev vectors in
``../shared``, the RFC 8785 and RFC 8032 examples, the Certificate Transparency reference tree,
the Go ``sumdb/note`` example, the ``cryptography`` package and naive reference implementations
written here from the RFC definitions.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import verify
from tests.shared_data import SHARED_DIR, shared_path

# ---------------------------------------------------------------------------------------------
# Helpers and naive reference implementations, written from the RFC 9162 definitions
# ---------------------------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def flip_bit(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    mutable = bytearray(data)
    mutable[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutable)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(hashes: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1, recursively with slices."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = largest_power_of_two_below(len(hashes))
    return sha256(b"\x01" + naive_mth(hashes[:k]) + naive_mth(hashes[k:]))


def naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1."""
    if len(hashes) == 1:
        return []
    k = largest_power_of_two_below(len(hashes))
    if m < k:
        return naive_path(m, hashes[:k]) + [naive_mth(hashes[k:])]
    return naive_path(m - k, hashes[k:]) + [naive_mth(hashes[:k])]


def naive_subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 section 2.1.4.1."""
    if m == len(hashes):
        return [] if complete else [naive_mth(hashes)]
    k = largest_power_of_two_below(len(hashes))
    if m <= k:
        return naive_subproof(m, hashes[:k], complete) + [naive_mth(hashes[k:])]
    return naive_subproof(m - k, hashes[k:], False) + [naive_mth(hashes[:k])]


MAX_SIZE = 70
LEAVES = [sha256(b"\x00" + b"entry %d" % i) for i in range(2 * MAX_SIZE + 2)]
ROOTS = [naive_mth(LEAVES[:n]) for n in range(len(LEAVES) + 1)]

# The Certificate Transparency reference tree (RFC 6962 test data, reused by RFC 9162 tools).
CT_LEAF_DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# ---------------------------------------------------------------------------------------------
# RFC 9162 test vectors (transparency-dev), one test per file
# ---------------------------------------------------------------------------------------------

VECTOR_PARTS = ("data", "vectors", "rfc9162-transparency-dev")
_VECTOR_DIR = SHARED_DIR.joinpath(*VECTOR_PARTS)
VECTOR_FILES = (
    sorted(path.relative_to(_VECTOR_DIR).as_posix() for path in _VECTOR_DIR.rglob("*.json"))
    if _VECTOR_DIR.is_dir()
    else []
)


def load_vector(relative: str) -> dict:
    return json.loads((shared_path(*VECTOR_PARTS) / relative).read_text(encoding="utf-8"))


def run_vector(case: dict) -> bool:
    decode = base64.b64decode
    proof = [decode(element) for element in case["proof"] or []]  # null means no proof
    if "leafIdx" in case:
        return verify.verify_inclusion(
            decode(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, decode(case["root"])
        )
    return verify.verify_consistency(
        case["size1"], case["size2"], proof, decode(case["root1"]), decode(case["root2"])
    )


@pytest.mark.parametrize("relative", VECTOR_FILES)
def test_rfc9162_vector(relative):
    case = load_vector(relative)
    assert run_vector(case) is (not case["wantErr"]), case["desc"]


def test_rfc9162_vectors_cover_both_proofs_and_both_outcomes():
    shared_path(*VECTOR_PARTS)
    outcomes = {(name.split("/")[0], load_vector(name)["wantErr"]) for name in VECTOR_FILES}
    assert outcomes == {
        ("inclusion", False),
        ("inclusion", True),
        ("consistency", False),
        ("consistency", True),
    }
    assert len(VECTOR_FILES) >= 150


# ---------------------------------------------------------------------------------------------
# Tree hashing
# ---------------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_follow_the_definition():
    assert verify.leaf_hash(b"").hex() == CT_ROOTS[0]
    assert verify.leaf_hash(b"abc") == sha256(b"\x00abc")
    left, right = sha256(b"l"), sha256(b"r")
    assert verify.node_hash(left, right) == sha256(b"\x01" + left + right)
    assert verify.node_hash(left, right) != verify.node_hash(right, left)


def test_root_of_the_empty_tree_is_the_hash_of_nothing():
    assert verify.root_hash([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_root_hash_matches_the_certificate_transparency_reference_tree():
    leaves = [verify.leaf_hash(data) for data in CT_LEAF_DATA]
    assert [verify.root_hash(leaves[:n]).hex() for n in range(1, 9)] == CT_ROOTS


@pytest.mark.parametrize("size", [*range(2 * MAX_SIZE + 3), 255, 256, 257, 1000, 1025])
def test_root_hash_matches_the_recursive_definition(size):
    leaves = [sha256(b"\x00" + struct.pack(">I", i)) for i in range(size)]
    assert verify.root_hash(leaves) == naive_mth(leaves)


def test_root_hash_accepts_any_iterable_sequence():
    assert verify.root_hash(tuple(LEAVES[:13])) == ROOTS[13]


# ---------------------------------------------------------------------------------------------
# Proof generation and verification round trips
# ---------------------------------------------------------------------------------------------


def test_proofs_match_the_certificate_transparency_reference_tree():
    leaves = [verify.leaf_hash(data) for data in CT_LEAF_DATA]
    assert [h.hex() for h in verify.inclusion_proof_from_leaves(leaves, 0)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [h.hex() for h in verify.consistency_proof_from_leaves(leaves, 6)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [h.hex() for h in verify.consistency_proof_from_leaves(leaves[:5], 2)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_proofs_round_trip(size):
    leaves = LEAVES[:size]
    root = ROOTS[size]
    for index in range(size):
        proof = verify.inclusion_proof_from_leaves(leaves, index)
        assert proof == naive_path(index, leaves)
        leaf = leaves[index]
        assert verify.verify_inclusion(leaf, index, size, proof, root)

        for position, element in enumerate(proof):
            tampered = list(proof)
            tampered[position] = flip_bit(element, 7 * position + index)
            assert not verify.verify_inclusion(leaf, index, size, tampered, root)
        assert not verify.verify_inclusion(flip_bit(leaf, index), index, size, proof, root)
        assert not verify.verify_inclusion(leaf, index, size, proof, flip_bit(root, size))
        assert not verify.verify_inclusion(leaf, index, size, [*proof, root], root)
        if proof:
            assert not verify.verify_inclusion(leaf, index, size, proof[:-1], root)
            assert not verify.verify_inclusion(leaf, index, size, proof[::-1], root) or (
                len(proof) == 1
            )
        for other in range(size):
            if other != index:
                assert not verify.verify_inclusion(leaf, other, size, proof, root)
        # A proof does not bind the size on its own (the root does): check other sizes
        # against their own roots.
        for other_size in {size - 1, size + 1, 2 * size, size // 2}:
            if index < other_size and other_size != size:
                assert not verify.verify_inclusion(
                    leaf, index, other_size, proof, ROOTS[other_size]
                )
        assert not verify.verify_inclusion(leaf, index + size, size, proof, root)


def test_inclusion_proof_does_not_bind_the_size_without_its_root():
    # Documented property, kept visible: the steps for (0, 3) and (0, 4) are the same, so the
    # proof for size 4 also chains to the size-4 root when the caller claims size 3.
    proof = verify.inclusion_proof_from_leaves(LEAVES[:4], 0)
    assert verify.verify_inclusion(LEAVES[0], 0, 3, proof, ROOTS[4])
    assert not verify.verify_inclusion(LEAVES[0], 0, 3, proof, ROOTS[3])


@pytest.mark.parametrize("size2", range(1, MAX_SIZE + 1))
def test_consistency_proofs_round_trip(size2):
    leaves = LEAVES[:size2]
    root2 = ROOTS[size2]
    for size1 in range(1, size2 + 1):
        root1 = ROOTS[size1]
        proof = verify.consistency_proof_from_leaves(leaves, size1)
        assert proof == naive_subproof(size1, leaves, True)
        assert verify.verify_consistency(size1, size2, proof, root1, root2)
        if size1 == size2:
            assert proof == []
        else:
            assert not verify.verify_consistency(size1, size2, [], root1, root2)

        for position, element in enumerate(proof):
            tampered = list(proof)
            tampered[position] = flip_bit(element, 11 * position + size1)
            assert not verify.verify_consistency(size1, size2, tampered, root1, root2)
        assert not verify.verify_consistency(size1, size2, proof, flip_bit(root1, size2), root2)
        assert not verify.verify_consistency(size1, size2, proof, root1, flip_bit(root2, size1))
        assert not verify.verify_consistency(size1, size2, [*proof, root2], root1, root2)
        assert not verify.verify_consistency(size1, size2, [root1, *proof], root1, root2)
        if proof:
            assert not verify.verify_consistency(size1, size2, proof[:-1], root1, root2)
        # Other sizes, each checked against its own true roots.
        for other1, other2 in {
            (size1 - 1, size2),
            (size1 + 1, size2),
            (size1, size2 - 1),
            (size1, size2 + 1),
            (size1 + 1, size2 + 1),
        }:
            equal_and_empty = other1 == other2 and not proof  # trivially consistent
            if 0 < other1 <= other2 and (other1, other2) != (size1, size2) and not equal_and_empty:
                assert not verify.verify_consistency(
                    other1, other2, proof, ROOTS[other1], ROOTS[other2]
                )
        assert not verify.verify_consistency(size2, size1, proof, root2, root1) or (size1 == size2)


def test_proof_generation_asks_only_for_ranges_made_of_aligned_perfect_subtrees():
    requested = set()

    def recording_subtree_hash(lo, hi):
        requested.add((lo, hi))
        return naive_mth(LEAVES[lo:hi])

    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            verify.inclusion_proof(index, size, recording_subtree_hash)
        for size1 in range(1, size + 1):
            verify.consistency_proof(size1, size, recording_subtree_hash)

    for lo, hi in requested:
        pieces = verify.perfect_subtrees(lo, hi)
        assert pieces[0][0] == lo and pieces[-1][1] == hi
        for (_, end), (start, _) in itertools.pairwise(pieces):
            assert end == start
        widths = [end - start for start, end in pieces]
        assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths)
        for start, end in pieces:
            width = end - start
            assert width & (width - 1) == 0 and start % width == 0
        hashes = [naive_mth(LEAVES[start:end]) for start, end in pieces]
        assert verify.fold_subtree_hashes(hashes) == naive_mth(LEAVES[lo:hi])


def test_perfect_subtrees_refuses_ranges_that_are_not_tree_nodes():
    assert verify.perfect_subtrees(8, 13) == [(8, 12), (12, 13)]
    assert verify.perfect_subtrees(0, 7) == [(0, 4), (4, 6), (6, 7)]
    for lo, hi in [(1, 3), (2, 6), (3, 3), (5, 4), (-1, 2)]:
        with pytest.raises(ValueError):
            verify.perfect_subtrees(lo, hi)


def test_proof_generation_rejects_impossible_requests():
    subtree_hash = verify.memory_subtree_hash(LEAVES[:8])
    for index, size in [(8, 8), (-1, 8), (0, 0)]:
        with pytest.raises(ValueError):
            verify.inclusion_proof(index, size, subtree_hash)
    for size1, size2 in [(0, 8), (9, 8), (-1, 8)]:
        with pytest.raises(ValueError):
            verify.consistency_proof(size1, size2, subtree_hash)
    assert verify.consistency_proof(8, 8, subtree_hash) == []


# ---------------------------------------------------------------------------------------------
# Malformed input to the verifiers
# ---------------------------------------------------------------------------------------------

BAD_HASHES = [b"", b"\x00" * 31, b"\x00" * 33]


@pytest.mark.parametrize("bad", BAD_HASHES, ids=["0-bytes", "31-bytes", "33-bytes"])
def test_inclusion_rejects_hashes_of_the_wrong_length(bad):
    leaves = LEAVES[:5]
    proof = verify.inclusion_proof_from_leaves(leaves, 2)
    assert verify.verify_inclusion(leaves[2], 2, 5, proof, ROOTS[5])
    assert not verify.verify_inclusion(bad, 2, 5, proof, ROOTS[5])
    assert not verify.verify_inclusion(leaves[2], 2, 5, proof, bad)
    for position in range(len(proof)):
        tampered = list(proof)
        tampered[position] = bad
        assert not verify.verify_inclusion(leaves[2], 2, 5, tampered, ROOTS[5])
    # The classic pitfall: an empty leaf and an empty root with an empty proof.
    assert not verify.verify_inclusion(bad, 0, 1, [], bad)


@pytest.mark.parametrize("bad", BAD_HASHES, ids=["0-bytes", "31-bytes", "33-bytes"])
def test_consistency_rejects_hashes_of_the_wrong_length(bad):
    proof = verify.consistency_proof_from_leaves(LEAVES[:7], 3)
    assert verify.verify_consistency(3, 7, proof, ROOTS[3], ROOTS[7])
    assert not verify.verify_consistency(3, 7, proof, bad, ROOTS[7])
    assert not verify.verify_consistency(3, 7, proof, ROOTS[3], bad)
    for position in range(len(proof)):
        tampered = list(proof)
        tampered[position] = bad
        assert not verify.verify_consistency(3, 7, tampered, ROOTS[3], ROOTS[7])
    # Old size a power of two: the old root is the first node, so its length matters too.
    proof = verify.consistency_proof_from_leaves(LEAVES[:7], 4)
    assert verify.verify_consistency(4, 7, proof, ROOTS[4], ROOTS[7])
    assert not verify.verify_consistency(4, 7, proof, bad, ROOTS[7])


def test_consistency_edge_cases_for_equal_and_empty_sizes():
    assert verify.verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    assert not verify.verify_consistency(5, 5, [ROOTS[5]], ROOTS[5], ROOTS[5])
    assert not verify.verify_consistency(5, 5, [], ROOTS[5], ROOTS[4])
    assert not verify.verify_consistency(0, 0, [], ROOTS[0], ROOTS[0])
    assert not verify.verify_consistency(0, 5, [], ROOTS[0], ROOTS[5])
    assert not verify.verify_consistency(6, 5, [], ROOTS[6], ROOTS[5])


@pytest.mark.parametrize(
    "args",
    [
        (None, 0, 1, [], ROOTS[1]),
        ("leaf", 0, 1, [], ROOTS[1]),
        (LEAVES[0], "0", 1, [], ROOTS[1]),
        (LEAVES[0], -1, 1, [], ROOTS[1]),
        (LEAVES[0], 0, True, [], LEAVES[0]),
        (LEAVES[0], 0, 1, None, LEAVES[0]),
        (LEAVES[0], 0, 2, "not a list", ROOTS[2]),
        (LEAVES[0], 0, 2, [None], ROOTS[2]),
        (LEAVES[0], 0, 2, [LEAVES[1].hex()], ROOTS[2]),
        (LEAVES[0], 2**64 - 1, 1, [], LEAVES[0]),
    ],
)
def test_inclusion_answers_false_for_malformed_arguments(args):
    assert verify.verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, None, ROOTS[1], ROOTS[2]),
        (1, 2, [None], ROOTS[1], ROOTS[2]),
        (1, 2, "proof", ROOTS[1], ROOTS[2]),
        ("1", 2, [LEAVES[1]], ROOTS[1], ROOTS[2]),
        (1, 2.0, [LEAVES[1]], ROOTS[1], ROOTS[2]),
        (1, 2, [LEAVES[1]], None, ROOTS[2]),
        (1, 2, [LEAVES[1]], ROOTS[1], None),
        (1, 1, None, ROOTS[1], ROOTS[1]),
        (-1, 1, [], ROOTS[1], ROOTS[1]),
    ],
)
def test_consistency_answers_false_for_malformed_arguments(args):
    assert verify.verify_consistency(*args) is False


def test_the_good_case_of_the_malformed_tables_does_verify():
    # Guards the two tables above: with well-formed arguments the same calls succeed.
    assert verify.verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1]], ROOTS[2])
    assert verify.verify_consistency(1, 2, [LEAVES[1]], ROOTS[1], ROOTS[2])


# ---------------------------------------------------------------------------------------------
# Ed25519
# ---------------------------------------------------------------------------------------------

# RFC 8032 section 7.1: (secret key, public key, message, signature), all hex.
RFC8032_VECTORS = {
    "TEST 1": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        (
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
    ),
    "TEST 2": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        (
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ),
    "TEST 3": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        (
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
            "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ),
    "TEST SHA(abc)": (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        (
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
            "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"
        ),
    ),
}
PATHS = pytest.mark.parametrize("pure", [False, True], ids=["cryptography", "pure-python"])
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def test_the_cryptography_path_is_available_here():
    assert verify.HAVE_CRYPTOGRAPHY


@pytest.mark.parametrize("name", RFC8032_VECTORS)
def test_rfc8032_vectors_are_transcribed_correctly(name):
    secret, public, message, signature = (bytes.fromhex(h) for h in RFC8032_VECTORS[name])
    private_key = Ed25519PrivateKey.from_private_bytes(secret)
    assert raw_public_key(private_key) == public
    assert private_key.sign(message) == signature  # Ed25519 signatures are deterministic


@PATHS
@pytest.mark.parametrize("name", RFC8032_VECTORS)
def test_rfc8032_vectors(name, pure):
    _, public, message, signature = (bytes.fromhex(h) for h in RFC8032_VECTORS[name])
    assert verify.ed25519_verify(public, message, signature, pure=pure)
    assert not verify.ed25519_verify(public, message + b"\x00", signature, pure=pure)
    assert not verify.ed25519_verify(public, message, flip_bit(signature, 3), pure=pure)
    assert not verify.ed25519_verify(public, message, flip_bit(signature, 300), pure=pure)
    assert not verify.ed25519_verify(flip_bit(public, 9), message, signature, pure=pure)
    other_public = bytes.fromhex(RFC8032_VECTORS["TEST 2" if name == "TEST 1" else "TEST 1"][1])
    assert not verify.ed25519_verify(other_public, message, signature, pure=pure)


@PATHS
def test_non_canonical_s_is_rejected(pure):
    _, public, message, signature = (bytes.fromhex(h) for h in RFC8032_VECTORS["TEST 1"])
    s = int.from_bytes(signature[32:], "little")
    # S + L satisfies the group equation just as S does ([L]B is the identity), so only the
    # S < L rule of RFC 8032 section 5.1.7 rejects this malleated signature.
    malleated = signature[:32] + (s + ED25519_ORDER).to_bytes(32, "little")
    assert not verify.ed25519_verify(public, message, malleated, pure=pure)


@PATHS
def test_non_canonical_and_invalid_points_are_rejected(pure):
    _, public, message, signature = (bytes.fromhex(h) for h in RFC8032_VECTORS["TEST 1"])
    p = 2**255 - 19
    non_canonical_key = (p + 1).to_bytes(32, "little")  # y = 1 written as p + 1
    assert not verify.ed25519_verify(non_canonical_key, message, signature, pure=pure)
    non_canonical_r = (p + 1).to_bytes(32, "little") + signature[32:]
    assert not verify.ed25519_verify(public, message, non_canonical_r, pure=pure)
    # y = 2 is not the y of any curve point (its x^2 is not a square mod p).
    off_curve = (2).to_bytes(32, "little")
    assert not verify.ed25519_verify(off_curve, message, signature, pure=pure)


@PATHS
@pytest.mark.parametrize(
    "key, message, signature",
    [
        (b"\x00" * 31, b"m", b"\x00" * 64),
        (b"\x00" * 32, b"m", b"\x00" * 63),
        (b"\x00" * 32, b"m", b"\x00" * 65),
        ("key", b"m", b"\x00" * 64),
        (b"\x00" * 32, "m", b"\x00" * 64),
        (b"\x00" * 32, b"m", None),
        (32, b"m", 64),
    ],
)
def test_malformed_ed25519_arguments_answer_false(pure, key, message, signature):
    assert verify.ed25519_verify(key, message, signature, pure=pure) is False


def test_both_ed25519_paths_agree_on_random_cases():
    rng = random.Random(8032)
    for _ in range(50):
        private_key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        public = raw_public_key(private_key)
        message = rng.randbytes(rng.randrange(0, 300))
        signature = private_key.sign(message)
        other_public = raw_public_key(Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))
        cases = [
            (public, message, signature, True),
            (public, message + b"!", signature, False),
            (public, message, flip_bit(signature, rng.randrange(512)), False),
            (other_public, message, signature, False),
            (public, message, rng.randbytes(64), False),
        ]
        for key, msg, sig, expected in cases:
            assert verify.ed25519_verify(key, msg, sig) is expected
            assert verify.ed25519_verify(key, msg, sig, pure=True) is expected


# ---------------------------------------------------------------------------------------------
# DSSE
# ---------------------------------------------------------------------------------------------


def test_pae_of_the_dsse_specification_example():
    assert (
        verify.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters():
    assert verify.pae("t\u00ffpe", b"") == b"DSSEv1 5 t\xc3\xbfpe 0 "
    assert verify.pae("", b"\x00 \n") == b"DSSEv1 0  3 \x00 \n"


@pytest.fixture
def signed_envelope():
    private_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    payload = verify.canonical_json(
        {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "x"}
    )
    signature = private_key.sign(verify.pae(verify.IN_TOTO_PAYLOAD_TYPE, payload))
    envelope = {
        "payloadType": verify.IN_TOTO_PAYLOAD_TYPE,
        "payload": b64(payload),
        "signatures": [{"keyid": "ledger-1", "sig": b64(signature)}],
    }
    return envelope, raw_public_key(private_key), private_key, payload


def test_envelope_signed_over_pae_verifies(signed_envelope):
    envelope, public, _, _ = signed_envelope
    assert verify.verify_envelope(envelope, {"ledger-1": public})
    assert verify.verify_envelope(
        envelope, {"ledger-1": public}, payload_type=verify.IN_TOTO_PAYLOAD_TYPE
    )


def test_envelope_accepts_url_safe_unpadded_base64(signed_envelope):
    envelope, public, _, _ = signed_envelope
    relaxed = dict(envelope)
    relaxed["payload"] = base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode()
    relaxed["payload"] = relaxed["payload"].rstrip("=")
    assert verify.verify_envelope(relaxed, {"ledger-1": public})


def test_envelope_with_one_unknown_and_one_known_signature_verifies(signed_envelope):
    envelope, public, _, _ = signed_envelope
    extended = dict(envelope)
    extended["signatures"] = [
        {"keyid": "someone-else", "sig": b64(b"\x00" * 64)},
        {"keyid": "ledger-1", "sig": "%%% not base64 %%%"},
        "not a signature object",
        *envelope["signatures"],
    ]
    assert verify.verify_envelope(extended, {"ledger-1": public})


def test_envelope_failures(signed_envelope):
    envelope, public, private_key, payload = signed_envelope
    keys = {"ledger-1": public}
    other = raw_public_key(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))

    assert not verify.verify_envelope(envelope, {"ledger-2": public})
    assert not verify.verify_envelope(envelope, {"ledger-1": other})
    assert not verify.verify_envelope(envelope, keys, payload_type="application/json")

    changed_payload = {**envelope, "payload": b64(payload + b" ")}
    assert not verify.verify_envelope(changed_payload, keys)
    changed_type = {**envelope, "payloadType": "application/json"}
    assert not verify.verify_envelope(changed_type, keys)

    raw_signature = private_key.sign(payload)  # over the payload instead of its PAE
    raw_signed = {**envelope, "signatures": [{"keyid": "ledger-1", "sig": b64(raw_signature)}]}
    assert not verify.verify_envelope(raw_signed, keys)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: {k: v for k, v in e.items() if k != "payload"},
        lambda e: {k: v for k, v in e.items() if k != "signatures"},
        lambda e: {**e, "signatures": []},
        lambda e: {**e, "signatures": "sig"},
        lambda e: {**e, "signatures": [None, 3]},
        lambda e: {**e, "payload": "!!not base64!!"},
        lambda e: {**e, "payload": None},
        lambda e: {**e, "payloadType": None},
        lambda e: {**e, "signatures": [{"keyid": "ledger-1", "sig": "***"}]},
        lambda e: {**e, "signatures": [{"keyid": ["ledger-1"], "sig": e["signatures"][0]["sig"]}]},
        lambda e: {**e, "signatures": [{"sig": e["signatures"][0]["sig"]}]},
        lambda e: None,
        lambda e: [e],
    ],
)
def test_malformed_envelopes_answer_false(signed_envelope, mangle):
    envelope, public, _, _ = signed_envelope
    assert verify.verify_envelope(mangle(envelope), {"ledger-1": public}) is False


# ---------------------------------------------------------------------------------------------
# Signed notes and checkpoints
# ---------------------------------------------------------------------------------------------

# golang.org/x/mod/sumdb/note, the package documentation's example.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)

ORIGIN = "safecase.example/ledger/AEB"
ROOT = ROOTS[42]


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"log key").digest())


def key_id_by_definition(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\x0a" + b"\x01" + public)[:4]


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    public = raw_public_key(private_key)
    blob = key_id_by_definition(name, public) + private_key.sign(body.encode())
    return body + "\n" + "\u2014 " + name + " " + b64(blob) + "\n"


@pytest.fixture
def note(log_key):
    return sign_note(f"{ORIGIN}\n42\n{b64(ROOT)}\n", ORIGIN, log_key)


def test_note_key_id_follows_the_definition(log_key):
    public = raw_public_key(log_key)
    assert verify.note_key_id(ORIGIN, public) == key_id_by_definition(ORIGIN, public)
    assert verify.note_key_id("other", public) != verify.note_key_id(ORIGIN, public)


@pytest.mark.parametrize(
    "vkey, name, key_id",
    [
        (GO_VKEY, "PeterNeumann", "c74f20a3"),
        (
            "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
            "EnochRoot",
            "af0cfe78",
        ),
        ("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", "TEST", "7997405c"),
        (
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo",
            "530d903a",
        ),
    ],
)
def test_published_verifier_keys_parse_and_round_trip(vkey, name, key_id):
    parsed_name, parsed_id, public = verify.parse_vkey(vkey)
    assert (parsed_name, parsed_id.hex()) == (name, key_id)
    assert verify.note_key_id(name, public).hex() == key_id
    assert verify.format_vkey(name, public) == vkey


def test_go_sumdb_note_example_signature_verifies():
    _, key_id, public = verify.parse_vkey(GO_VKEY)
    blob = base64.b64decode(GO_SIGNATURE)
    assert blob[:4] == key_id
    for pure in (False, True):
        assert verify.ed25519_verify(public, GO_TEXT.encode(), blob[4:], pure=pure)
    note = GO_TEXT + "\n\u2014 PeterNeumann " + GO_SIGNATURE + "\n"
    with pytest.raises(ValueError, match="tree size"):
        verify.parse_checkpoint(note)  # a valid signed note, but not a checkpoint


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(text):
    with pytest.raises(ValueError):
        verify.parse_vkey(text)


def test_format_vkey_matches_the_text_form(log_key):
    public = raw_public_key(log_key)
    expected_id = key_id_by_definition(ORIGIN, public).hex()
    encoded_key = b64(b"\x01" + public)
    assert verify.format_vkey(ORIGIN, public) == f"{ORIGIN}+{expected_id}+{encoded_key}"


def test_checkpoint_body_format():
    assert verify.format_checkpoint_body(ORIGIN, 42, ROOT) == f"{ORIGIN}\n42\n{b64(ROOT)}\n"
    assert verify.format_checkpoint_body(ORIGIN, 0, ROOT, ["ext"]) == (
        f"{ORIGIN}\n0\n{b64(ROOT)}\next\n"
    )
    for origin, size, root in [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, 1, b""),
    ]:
        with pytest.raises(ValueError):
            verify.format_checkpoint_body(origin, size, root)


def test_format_signed_note_matches_the_hand_built_note(log_key, note):
    body = verify.format_checkpoint_body(ORIGIN, 42, ROOT)
    public = raw_public_key(log_key)
    signature = log_key.sign(body.encode())
    signed = verify.format_signed_note(
        body, [(ORIGIN, verify.note_key_id(ORIGIN, public), signature)]
    )
    assert signed == note


def test_checkpoint_parses_and_verifies(log_key, note):
    public = raw_public_key(log_key)
    checkpoint = verify.verify_checkpoint(note, [(ORIGIN, public)])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, 42, ROOT)
    assert checkpoint.body == f"{ORIGIN}\n42\n{b64(ROOT)}\n"
    assert checkpoint.verified_by == (ORIGIN,)
    (signature,) = checkpoint.signatures
    assert signature.name == ORIGIN
    assert signature.key_id == key_id_by_definition(ORIGIN, public)
    assert len(signature.signature) == 64

    parsed = verify.parse_checkpoint(note.encode("utf-8"))
    assert parsed.verified_by == ()
    assert (parsed.origin, parsed.size, parsed.root) == (ORIGIN, 42, ROOT)
    assert verify.verify_checkpoint(note, [(ORIGIN, public)], origin=ORIGIN).size == 42


def test_checkpoint_with_extension_lines_and_several_signers(log_key):
    witness = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"witness").digest())
    body = f"{ORIGIN}\n7\n{b64(ROOTS[7])}\nTimestamp: 1700000000\n"
    note = sign_note(body, ORIGIN, log_key)
    note += sign_note(body, "witness.example", witness).split("\n\n", 1)[1]
    checkpoint = verify.verify_checkpoint(note, [("witness.example", raw_public_key(witness))])
    assert checkpoint.extensions == ("Timestamp: 1700000000",)
    assert checkpoint.verified_by == ("witness.example",)
    assert [s.name for s in checkpoint.signatures] == [ORIGIN, "witness.example"]
    both = [(ORIGIN, raw_public_key(log_key)), ("witness.example", raw_public_key(witness))]
    assert verify.verify_checkpoint(note, both).verified_by == (ORIGIN, "witness.example")


def test_checkpoint_signed_by_an_unknown_key_is_refused(log_key, note):
    stranger = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"stranger").digest())
    with pytest.raises(ValueError, match="not signed by any"):
        verify.verify_checkpoint(note, [(ORIGIN, raw_public_key(stranger))])
    with pytest.raises(ValueError, match="not signed by any"):
        verify.verify_checkpoint(note, [("other.example", raw_public_key(log_key))])
    with pytest.raises(ValueError, match="not signed by any"):
        verify.verify_checkpoint(note, [])


def test_checkpoint_for_another_origin_is_refused(log_key, note):
    with pytest.raises(ValueError, match="expected"):
        verify.verify_checkpoint(note, [(ORIGIN, raw_public_key(log_key))], origin="other/log")


@pytest.mark.parametrize(
    "old, new",
    [
        ("\n42\n", "\n43\n"),
        (f"\n{b64(ROOT)}\n", f"\n{b64(ROOTS[41])}\n"),
        (f"{ORIGIN}\n", "safecase.example/ledger/LKA\n"),
    ],
    ids=["size", "root", "origin"],
)
def test_altered_checkpoints_are_refused(log_key, note, old, new):
    altered = note.replace(old, new, 1)
    assert altered != note
    with pytest.raises(ValueError, match="does not verify"):
        verify.verify_checkpoint(altered, [(ORIGIN, raw_public_key(log_key))])


def test_corrupted_signature_is_refused(log_key, note):
    body, signature_line = note.split("\n\n")
    prefix, encoded = signature_line.rsplit(" ", 1)
    blob = base64.b64decode(encoded)
    corrupted = body + "\n\n" + prefix + " " + b64(flip_bit(blob, 100)) + "\n"
    with pytest.raises(ValueError, match="does not verify"):
        verify.verify_checkpoint(corrupted, [(ORIGIN, raw_public_key(log_key))])


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda n: n.replace("\n\n", "\n"), "blank line"),
        (lambda n: n.split("\n\n")[0] + "\n\n", "no signature"),
        (lambda n: n[:-1], "newline"),
        (lambda n: n.replace("\u2014 ", "- "), "em dash"),
        (lambda n: n.replace("\u2014 ", "\u2014"), "em dash"),
        (lambda n: n.replace(ORIGIN + " ", ORIGIN + "  "), "signature line"),
        (lambda n: n[: n.rindex(" ") + 1] + "%%%garbage%%%\n", "base64"),
        (lambda n: n[: n.rindex(" ") + 1] + "AAAA\n", "too short"),
        (lambda n: n.replace("\n42\n", "\n042\n"), "tree size"),
        (lambda n: n.replace("\n42\n", "\n-42\n"), "tree size"),
        (lambda n: n.replace("\n42\n", "\nforty-two\n"), "tree size"),
        (lambda n: n.replace("\n42\n", "\n18446744073709551616\n"), "64 bits"),
        (lambda n: n.replace(b64(ROOT), "not*base64"), "base64"),
        (lambda n: n.replace(b64(ROOT), b64(ROOT[:31])), "31 bytes"),
        (lambda n: n.replace(f"\n{b64(ROOT)}", ""), "root hash line"),
        (lambda n: "\n" + n, "origin"),
        (lambda n: n.replace("\n", "\r\n"), "control characters"),
    ],
)
def test_malformed_checkpoints_raise_value_error(log_key, note, mangle, reason):
    mangled = mangle(note)
    assert mangled != note
    with pytest.raises(ValueError, match=reason):
        verify.verify_checkpoint(mangled, [(ORIGIN, raw_public_key(log_key))])


def test_checkpoint_that_is_not_utf8_is_refused():
    with pytest.raises(ValueError, match="UTF-8"):
        verify.parse_checkpoint(b"\xff\xfe\n1\n\n")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def checkpoint_files(tmp_path, log_key, note):
    note_file = tmp_path / "checkpoint.note"
    note_file.write_text(note, encoding="utf-8")
    vkey_file = tmp_path / "log.vkey"
    vkey = verify.format_vkey(ORIGIN, raw_public_key(log_key))
    vkey_file.write_text(f"# the log's key\n\n{vkey}\n", encoding="utf-8")
    return note_file, vkey_file


def test_cli_accepts_a_valid_checkpoint(checkpoint_files, capsys):
    note_file, vkey_file = checkpoint_files
    assert verify.main(["checkpoint", str(note_file), str(vkey_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and ORIGIN in out and "size 42" in out and ROOT.hex() in out


def test_cli_json_output(checkpoint_files, capsys):
    note_file, vkey_file = checkpoint_files
    assert verify.main(["checkpoint", "--json", str(note_file), str(vkey_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    assert (result["origin"], result["size"], result["root"]) == (ORIGIN, 42, ROOT.hex())
    assert result["signed_by"] == [ORIGIN]


def test_cli_rejects_a_tampered_checkpoint_with_one_line(checkpoint_files, capsys):
    note_file, vkey_file = checkpoint_files
    note_file.write_text(note_file.read_text(encoding="utf-8").replace("\n42\n", "\n41\n"))
    assert verify.main(["checkpoint", str(note_file), str(vkey_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("FAIL: ") and captured.err.count("\n") == 1
    assert "does not verify" in captured.err


@pytest.mark.parametrize(
    "argv_tail, reason, code",
    [
        (["missing.note", "log.vkey"], "cannot read", 1),
        (["checkpoint.note"], "usage error", 2),
        (["checkpoint.note", "checkpoint.note"], "verifier key", 1),
    ],
)
def test_cli_failures_are_one_line(checkpoint_files, capsys, argv_tail, reason, code):
    directory = checkpoint_files[0].parent
    argv = ["checkpoint", *(str(directory / name) for name in argv_tail)]
    assert verify.main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.startswith("FAIL: ") and captured.err.count("\n") == 1
    assert reason in captured.err


def test_cli_without_a_command_fails_cleanly(capsys):
    assert verify.main([]) == 2
    assert capsys.readouterr().err.startswith("FAIL: usage error")


# ---------------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785)
# ---------------------------------------------------------------------------------------------


def test_rfc8785_section_3_2_2_example():
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert verify.canonical_json(json.loads(source)) == expected


def test_rfc8785_section_3_2_3_key_sorting_example():
    source = (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With'
        ' Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    values = [json.loads(source)[key] for key in json.loads(source)]
    canonical = json.loads(verify.canonical_json(json.loads(source)))
    assert list(canonical.values()) == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    assert sorted(values) == sorted(canonical.values())


# RFC 8785 appendix B: IEEE 754 bit patterns and their canonical form.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize("bits, expected", RFC8785_NUMBERS)
def test_rfc8785_appendix_b_numbers(bits, expected):
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert verify.canonical_json(value) == expected.encode()


@pytest.mark.parametrize(
    "value, expected",
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (-0.0, "0"),
        (333333333.33333329, "333333333.3333333"),
        (1e30, "1e+30"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (1e-27, "1e-27"),
        (5.0, "5"),
        (-1.5e-10, "-1.5e-10"),
        (123456.789, "123456.789"),
        (0, "0"),
        (-17, "-17"),
        (2**53 - 1, "9007199254740991"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_canonical_scalars(value, expected):
    assert verify.canonical_json(value) == expected.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 2**53, -(2**53)])
def test_numbers_without_a_canonical_form_are_refused(value):
    with pytest.raises(ValueError):
        verify.canonical_json({"n": [value]})


def test_strings_are_escaped_minimally():
    text = '"\\/\b\f\n\r\t\x00\x1f\x7f\u00e9\u2028\U0001f600'
    expected = '"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u00e9\u2028\U0001f600"'.encode()
    assert verify.canonical_json(text) == expected


def test_nesting_whitespace_and_tuples():
    value = {"b": [1, {"d": (), "c": {}}], "a": "x", "": 0.5}
    assert verify.canonical_json(value) == b'{"":0.5,"a":"x","b":[1,{"c":{},"d":[]}]}'


def test_values_json_cannot_carry_are_refused():
    with pytest.raises(ValueError):
        verify.canonical_json("\ud800")  # a lone surrogate is not Unicode text
    with pytest.raises(ValueError):
        verify.canonical_json({"\udc00": 1})
    with pytest.raises(TypeError):
        verify.canonical_json({1: "int key"})
    with pytest.raises(TypeError):
        verify.canonical_json(b"bytes")
    with pytest.raises(TypeError):
        verify.canonical_json({1.5})


def test_the_fast_path_writes_exactly_what_the_general_serializer_writes():
    """canonical_json uses json.dumps where it agrees with RFC 8785; check it on random data."""
    import random

    rng = random.Random(11)

    def value(depth):
        pick = rng.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return rng.choice([None, True, False])
        if pick == 1:
            return rng.randint(-(2**53) + 1, 2**53 - 1)
        if pick == 2:
            return rng.choice([0.5, 1.5e-4, 123.456, -9.99e15, 0.1, 2.5, 1e-4, 3.14159])
        if pick == 3:
            return "".join(rng.choice('ab"\\\n\t\x01\u00e9\u20ac\U0001f600 ') for _ in range(8))
        if pick in (4, 5):
            return rng.choice(["", "plain", "caf\u00e9", "line\nbreak"])
        if pick == 6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {
            rng.choice(["a", "B", "_type", "z1", "subject", "x y"]): value(depth + 1)
            for _ in range(rng.randrange(5))
        }

    for _ in range(2000):
        obj = value(0)
        out: list[str] = []
        verify._serialize(obj, out)
        assert verify.canonical_json(obj) == "".join(out).encode("utf-8")


def test_extending_a_frontier_in_runs_gives_the_rfc_9162_root():
    rng = random.Random(9162)
    leaves = [verify.leaf_hash(bytes([i % 256, i // 256])) for i in range(700)]
    for _ in range(40):
        frontier, size = [], 0
        while size < len(leaves):
            run = min(rng.choice([1, 2, 3, 7, 64, 100, 257]), len(leaves) - size)
            size = verify.extend_frontier(frontier, size, leaves[size : size + run])
            assert verify.fold_subtree_hashes(frontier) == verify.root_hash(leaves[:size])


def test_a_perfect_subtree_needs_a_power_of_two_leaves():
    leaves = [verify.leaf_hash(bytes([i])) for i in range(8)]
    assert verify.perfect_subtree_hash(leaves) == verify.root_hash(leaves)
    with pytest.raises(ValueError, match="power-of-two"):
        verify.perfect_subtree_hash(leaves[:6])
