"""Verification in worker processes, range by range, finds what one pass over the log finds.

The log is split into aligned ranges (perfect subtrees); workers read, hash and check them side
by side and this process joins them. Each tampering class is staged for real and both ways must
report the same problems, naming the same first bad entry.
"""

import base64
import hashlib
import json

import pytest

from evidence import verification, verify
from evidence.models import Checkpoint, LogEntry
from evidence.verification import verify_project
from tests.evidence.conftest import tampering
from tests.evidence.test_verify import CT_LEAF_DATA
from tests.shared_data import shared_path

pytestmark = pytest.mark.django_db


def summary(result):
    return (
        result.ok,
        result.entries,
        result.first_bad_index,
        result.signatures_checked,
        result.problems,
    )


def both_ways(project, monkeypatch, chunk, signatures=False):
    """(one process, default ranges), (one process, small ranges), (two workers, small ranges)."""
    whole = verify_project(project, signatures=signatures, workers=1)
    monkeypatch.setattr(verification, "CHUNK", chunk)
    alone = verify_project(project, signatures=signatures, workers=1)
    parallel = verify_project(project, signatures=signatures, workers=2)
    return summary(whole), summary(alone), summary(parallel)


def rewrite(log, index, envelope, leaf_hash=None):
    entry = LogEntry.objects.get(project=log, index=index)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_logentry SET envelope = %s, leaf_hash = %s WHERE id = %s",
            [envelope, leaf_hash or bytes(entry.leaf_hash), entry.pk],
        )


@pytest.mark.parametrize("chunk", [4, 8])
@pytest.mark.parametrize("signatures", [False, True])
def test_a_clean_log_verifies_both_ways(log, monkeypatch, chunk, signatures):
    whole, alone, parallel = both_ways(log, monkeypatch, chunk, signatures)
    assert whole == alone == parallel
    assert parallel[:3] == (True, 20, None)
    assert parallel[3] == (20 if signatures else 0)


@pytest.mark.parametrize("signatures", [False, True])
def test_an_edited_entry_is_named_both_ways(log, monkeypatch, signatures):
    data = bytearray(bytes(LogEntry.objects.get(project=log, index=13).envelope))
    data[40] ^= 0x01
    rewrite(log, 13, bytes(data))
    whole, alone, parallel = both_ways(log, monkeypatch, 4, signatures)
    assert whole == alone == parallel
    assert parallel[2] == 13
    assert "entry 13: stored leaf hash does not match its content" in parallel[4]


def test_an_edited_entry_with_its_leaf_hash_is_caught_by_the_checkpoint_both_ways(log, monkeypatch):
    forged = verify.canonical_json({"payloadType": "x", "payload": "", "signatures": []})
    rewrite(log, 10, forged, verify.leaf_hash(forged))
    whole, alone, parallel = both_ways(log, monkeypatch, 8, signatures=True)
    assert whole == alone == parallel
    assert parallel[2] == 10
    assert parallel[4][0].startswith("entry 10: envelope signature does not verify")
    whole, alone, parallel = both_ways(log, monkeypatch, 8)
    assert whole == alone == parallel
    assert parallel[2] == 8  # the last size whose root still matched its checkpoint
    assert "root at size 12 does not match its signed checkpoint" in parallel[4][0]


@pytest.mark.parametrize("index", [7, 9, 16, 19])
def test_a_deleted_entry_is_named_both_ways(log, monkeypatch, index):
    with tampering() as cursor:
        cursor.execute(
            'DELETE FROM evidence_logentry WHERE project_id = %s AND "index" = %s',
            [log.pk, index],
        )
    whole, alone, parallel = both_ways(log, monkeypatch, 4)
    assert whole == alone == parallel
    assert parallel[2] is not None and parallel[2] <= index
    if index < 19:
        assert f"entry {index} is missing (next stored index is {index + 1})" in parallel[4]


def test_a_reordered_pair_is_caught_both_ways(log, monkeypatch):
    six, seven = (LogEntry.objects.get(project=log, index=i).pk for i in (6, 7))
    with tampering() as cursor:
        for pk, index in ((six, 1000), (seven, 6), (six, 7)):
            cursor.execute('UPDATE evidence_logentry SET "index" = %s WHERE id = %s', [index, pk])
    whole, alone, parallel = both_ways(log, monkeypatch, 4)
    assert whole == alone == parallel
    assert parallel[2] == 4
    assert "root at size 8 does not match its signed checkpoint" in parallel[4][0]


def test_a_forged_checkpoint_is_caught_both_ways(log, monkeypatch):
    cp = Checkpoint.objects.get(project=log, size=12)
    lines = cp.note.split("\n")
    lines[2] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_checkpoint SET note = %s WHERE id = %s", ["\n".join(lines), cp.pk]
        )
    whole, alone, parallel = both_ways(log, monkeypatch, 4)
    assert whole == alone == parallel
    assert parallel[2] == 11
    assert parallel[4][0].startswith("checkpoint at size 12:")


def test_a_large_log_is_checked_by_workers_by_default_on_postgresql(log, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(verification, "CHUNK", 4)
    monkeypatch.setattr(verification, "PARALLEL_MIN_ENTRIES", 16)
    # as in a process running no other thread (a test process may run a server's threads)
    monkeypatch.setattr(verify, "fork_workers", lambda: 2)
    started = []
    real = verification._parallel_ranges

    def spy(*args):
        parts = real(*args)
        started.append(parts is not None)
        return parts

    monkeypatch.setattr(verification, "_parallel_ranges", spy)
    assert verify_project(log).ok
    monkeypatch.setattr(verification, "PARALLEL_MIN_ENTRIES", 21)
    assert verify_project(log).ok  # a small log: one process
    assert started == [connection.vendor == "postgresql", False]


# ---------------------------------------------------------------------------------------------
# RFC 9162 test vectors: the roots at two sizes of the reference tree, joined from ranges
# ---------------------------------------------------------------------------------------------

VECTORS = ("data", "vectors", "rfc9162-transparency-dev", "consistency")


def root_cases():
    folder = shared_path(*VECTORS)
    for path in sorted(folder.rglob("*.json")):
        if path.name not in ("happy-path.json", "wrong-root1.json", "wrong-root2.json"):
            continue
        case = json.loads(path.read_text(encoding="utf-8"))
        if 1 <= case["size1"] and case["size2"] <= len(CT_LEAF_DATA):
            yield path.name, case


def join_ranges(chunk, size, expected):
    envelopes = CT_LEAF_DATA[:size]
    stored = [verify.leaf_hash(data) for data in envelopes]
    result = verification.VerifyResult(project="vectors")
    state = verification._Joined()
    sizes = sorted(expected)
    for lo in range(0, size, chunk):
        part = verification._check_range(
            lo, envelopes[lo : lo + chunk], stored[lo : lo + chunk], sizes, False, {}
        )
        verification._join_range(None, result, expected, state, part)
    return result, state


def test_rfc9162_roots_are_recomputed_from_ranges_of_every_size():
    cases = list(root_cases())
    assert len([name for name, _ in cases if name == "happy-path.json"]) >= 3
    for name, case in cases:
        expected = {
            case["size1"]: base64.b64decode(case["root1"]),
            case["size2"]: base64.b64decode(case["root2"]),
        }
        for chunk in (1, 2, 4, 8):
            result, state = join_ranges(chunk, case["size2"], expected)
            assert result.ok is (name == "happy-path.json"), (name, case, chunk)
            assert verify.fold_subtree_hashes(state.stack) == verify.root_hash(
                [verify.leaf_hash(d) for d in CT_LEAF_DATA[: case["size2"]]]
            )
            if name == "wrong-root1.json":
                assert result.problems[0].startswith(f"root at size {case['size1']} ")


def test_the_reference_tree_root_and_frontier_from_ranges():
    from tests.evidence.test_verify import CT_ROOTS

    for size in range(1, len(CT_LEAF_DATA) + 1):
        for chunk in (1, 2, 4, 8):
            expected = {n: bytes.fromhex(CT_ROOTS[n - 1]) for n in range(1, size + 1)}
            result, state = join_ranges(chunk, size, expected)
            assert result.ok, (size, chunk, result.problems)
            assert state.count == size
            leaves = [verify.leaf_hash(d) for d in CT_LEAF_DATA[:size]]
            frontier: list[bytes] = []
            verify.extend_frontier(frontier, 0, leaves)
            assert state.stack == frontier


def test_without_worker_processes_the_log_is_checked_here(log, monkeypatch):
    import multiprocessing.context

    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(verification, "CHUNK", 4)
    monkeypatch.setattr(multiprocessing.context.ForkContext, "Pool", refuse)
    assert verification._parallel_ranges(log, [], False, {}, 2) is None
    assert verify_project(log, workers=2).ok


def test_no_fork_by_default_while_other_threads_run():
    """A threaded server or a worker's pool forks nothing: a child could inherit a lock that
    another thread held at that moment."""
    import threading

    from evidence import verify

    alone = verify.fork_workers()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert verify.fork_workers() == 1
    finally:
        release.set()
        other.join()
    assert alone == (verify._cpu_count() if threading.active_count() == 1 else 1)
