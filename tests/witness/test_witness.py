"""Three witness processes on 127.0.0.1, spoken to over real HTTP (C2SP tlog-witness)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import verify
from tests.witness.conftest import MemoryLog, add_checkpoint


def policy(witnesses, quorum: int) -> verify.WitnessPolicy:
    text = "".join(f"witness {w.vkey}\n" for w in witnesses) + f"quorum {quorum}\n"
    return verify.parse_witness_policy(text)


def cosign_everywhere(witnesses, log: MemoryLog, old: int) -> str:
    """Submit the log's checkpoint to every running witness; the note with their lines."""
    note = log.checkpoint()
    lines = ""
    for witness in witnesses:
        if witness.process is None:
            continue
        status, _, body = add_checkpoint(witness.url, old, log.proof(old), note)
        assert status == 200, body
        lines += body
    return note + lines


def test_a_cosignature_verifies_with_the_regulators_verifier(witnesses, memory_log):
    note = cosign_everywhere(witnesses, memory_log, 0)
    found = verify.verify_cosignatures(
        note, [verify.parse_cosigner_vkey(w.vkey) for w in witnesses]
    )
    assert sorted(found) == [w.name for w in witnesses]
    # The log's own signature still verifies on the cosigned note.
    assert verify.verify_checkpoint(note, [(memory_log.name, memory_log.public)]).size == 8


def test_with_one_witness_down_a_quorum_of_two_still_verifies(witnesses, memory_log):
    cosign_everywhere(witnesses, memory_log, 0)
    witnesses[1].stop()
    memory_log.add(b"entry 8", b"entry 9", b"entry 10")
    note = cosign_everywhere(witnesses, memory_log, 8)

    assert verify.check_witness_policy(note, policy(witnesses, 2)) == (
        witnesses[0].name,
        witnesses[2].name,
    )
    with pytest.raises(ValueError, match=f"no cosignature from {witnesses[1].name}$"):
        verify.check_witness_policy(note, policy(witnesses, 3))


def test_a_witness_that_saw_one_branch_refuses_the_other(witnesses, memory_log):
    first = witnesses[0]
    assert add_checkpoint(first.url, 0, [], memory_log.checkpoint())[0] == 200
    other = memory_log.fork(at=5)  # same key, entries 5.. rewritten

    # Same size, other root: a fork, refused with the size it cosigned.
    status, content_type, body = add_checkpoint(first.url, 8, [], other.checkpoint())
    assert (status, content_type, body) == (409, "text/x.tlog.size", "8\n")

    # The other branch grown further: no consistency proof from the cosigned root exists.
    other.add(b"more")
    status, _, _ = add_checkpoint(first.url, 8, other.proof(8), other.checkpoint())
    assert status == 422

    # The witness keeps its view across a restart, and kept the evidence of the fork.
    first.stop()
    first.start()
    status, _, body = add_checkpoint(first.url, 0, [], other.checkpoint())
    assert (status, body) == (409, "8\n")
    evidence = [
        json.loads(line) for line in (first.state / "evidence.jsonl").read_text().splitlines()
    ]
    assert [e["why"] for e in evidence] == [
        "fork: same size, other root",
        "consistency proof fails",
    ]

    # The honest branch still grows.
    memory_log.add(b"entry 8")
    assert add_checkpoint(first.url, 8, memory_log.proof(8), memory_log.checkpoint())[0] == 200


def test_a_forged_log_is_detected_by_the_policy(witnesses, memory_log):
    genuine = cosign_everywhere(witnesses, memory_log, 0)
    forged = memory_log.fork(at=3)  # whoever holds the log key rewrites history
    for witness in witnesses:  # no witness cosigns it
        assert add_checkpoint(witness.url, 8, [], forged.checkpoint())[0] == 409

    bare = forged.checkpoint()
    with pytest.raises(ValueError) as caught:
        verify.check_witness_policy(bare, policy(witnesses, 2))
    assert "cosigned by 0 of the 2" in str(caught.value)
    assert all(w.name in str(caught.value) for w in witnesses)

    # Cosignature lines copied from the genuine checkpoint do not verify on the forged one.
    copied = bare + genuine.split("\n\n", 1)[1].split("\n", 1)[1]
    with pytest.raises(ValueError, match="cosignature by witness w1.example/witness does not"):
        verify.check_witness_policy(copied, policy(witnesses, 2))

    # Lines from keys the forger made under the witnesses' names are not theirs.
    fake = bare
    for witness in witnesses:
        key = Ed25519PrivateKey.generate()
        body = bare.split("\n\n", 1)[0] + "\n"
        message = verify.cosignature_message(body, 1)
        raw = verify.cosigner_key_id(witness.name, key.public_key().public_bytes_raw())
        raw += (1).to_bytes(8, "big") + key.sign(message)
        fake += verify.format_signed_note(body, [(witness.name, raw[:4], raw[4:])]).split("\n\n")[1]
    with pytest.raises(ValueError, match="cosigned by 0 of the 2"):
        verify.check_witness_policy(fake, policy(witnesses, 2))


def test_the_protocols_refusals(witnesses, memory_log):
    url = witnesses[0].url
    note = memory_log.checkpoint()
    stranger = MemoryLog(Ed25519PrivateKey.generate(), name="elsewhere.example/log")
    stranger.origin = "elsewhere.example/log/AEB"
    stranger.add(b"x")
    assert add_checkpoint(url, 0, [], stranger.checkpoint())[0] == 404  # unknown origin
    impostor = MemoryLog(Ed25519PrivateKey.generate(), leaves=list(memory_log.leaves))
    assert add_checkpoint(url, 0, [], impostor.checkpoint())[0] == 403  # not the pinned key
    assert add_checkpoint(url, 9, [], note)[0] == 400  # old size beyond the checkpoint
    assert add_checkpoint(url, 0, memory_log.proof(4), note)[0] == 422  # a proof from 0
    assert add_checkpoint(url, 0, [], memory_log.checkpoint(4))[0] == 200
    status, content_type, body = add_checkpoint(url, 0, [], note)  # stale old size
    assert (status, content_type, body) == (409, "text/x.tlog.size", "4\n")
    wrong = memory_log.proof(4)
    wrong[0] = bytes(32)
    assert add_checkpoint(url, 4, wrong, note)[0] == 422
    assert add_checkpoint(url, 4, memory_log.proof(4), note)[0] == 200
    assert add_checkpoint(url, 8, [], note)[0] == 200  # the same checkpoint again
