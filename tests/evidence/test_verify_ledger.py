"""``verify_ledger`` finds what was changed behind the application's back, and names it."""

import base64
import hashlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evidence import ledger, verify
from evidence.keys import load_signing_key
from evidence.models import Checkpoint, LogEntry, LogHead, MerkleNode
from evidence.storage import default_store
from evidence.verification import verify_project
from tests.evidence.conftest import tampering

pytestmark = pytest.mark.django_db


def run(*args):
    """Run verify_ledger --json; return (exit ok?, parsed JSON)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_ledger", "--json", *args, stdout=out)
        ok = True
    except CommandError:
        ok = False
    return ok, json.loads(out.getvalue())


def test_an_intact_log_verifies(log):
    ok, report = run("--project", "AEB", "--signatures")
    assert ok
    assert report == {
        "ok": True,
        "entries": 20,
        "project": "AEB",
        "first_bad_index": None,
        "problems": [],
    }


def test_an_altered_byte_is_found_and_named(log):
    entry = LogEntry.objects.get(project=log, index=13)
    data = bytearray(bytes(entry.envelope))
    data[40] ^= 0x01
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_logentry SET envelope = %s WHERE id = %s", [bytes(data), entry.pk]
        )
    ok, report = run("--project", "AEB")
    assert not ok
    assert report["ok"] is False
    assert report["project"] == "AEB"
    assert report["first_bad_index"] == 13


def test_the_command_exits_non_zero_naming_project_and_index(log):
    entry = LogEntry.objects.get(project=log, index=2)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_logentry SET envelope = %s WHERE id = %s", [b"{}", entry.pk]
        )
    with pytest.raises(CommandError, match=r"ledger of AEB does not verify at entry 2"):
        call_command("verify_ledger")


def test_a_consistent_rewrite_of_the_database_is_caught_by_the_published_checkpoints(log):
    """Rewrite entry 6, its leaf hash, every node, the head and every checkpoint, re-signed."""
    key = load_signing_key()
    entry = LogEntry.objects.get(project=log, index=6)
    forged = verify.canonical_json({"payloadType": "x", "payload": "", "signatures": []})
    hashes = [
        bytes(h)
        for h in LogEntry.objects.filter(project=log)
        .order_by("index")
        .values_list("leaf_hash", flat=True)
    ]
    hashes[6] = verify.leaf_hash(forged)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_logentry SET envelope = %s, leaf_hash = %s WHERE id = %s",
            [forged, hashes[6], entry.pk],
        )
        for node in MerkleNode.objects.filter(project=log):
            width = 1 << node.level
            value = verify.root_hash(hashes[node.index * width : (node.index + 1) * width])
            cursor.execute(
                "UPDATE evidence_merklenode SET hash = %s WHERE id = %s", [value, node.pk]
            )
        for cp in Checkpoint.objects.filter(project=log):
            root = verify.root_hash(hashes[: cp.size])
            body = verify.format_checkpoint_body(ledger.origin(log), cp.size, root)
            note = verify.format_signed_note(
                body,
                [
                    (
                        cp.note.split("\n\n")[1].split(" ")[1],
                        bytes.fromhex(key.key_id),
                        key.sign(body.encode()),
                    )
                ],
            )
            cursor.execute(
                "UPDATE evidence_checkpoint SET root = %s, note = %s WHERE id = %s",
                [root, note, cp.pk],
            )
        cursor.execute(
            "UPDATE evidence_loghead SET root = %s WHERE project_id = %s",
            [verify.root_hash(hashes), log.pk],
        )
    # The database alone is now self-consistent ...
    for cp in Checkpoint.objects.filter(project=log):
        assert bytes(cp.root) == verify.root_hash(hashes[: cp.size])
    # ... but the checkpoints published outside it still hold the old roots.
    ok, report = run("--project", "AEB")
    assert not ok
    assert report["first_bad_index"] == 4  # the last size proven intact by a published copy
    assert any("published" in p for p in report["problems"])


def test_entries_removed_from_the_end_are_caught(log):
    with tampering() as cursor:
        cursor.execute(
            'DELETE FROM evidence_logentry WHERE project_id = %s AND "index" >= 18', [log.pk]
        )
        cursor.execute(
            "DELETE FROM evidence_checkpoint WHERE project_id = %s AND size > 16", [log.pk]
        )
        LogHead.objects.filter(project=log).update(size=18)
    ok, report = run("--project", "AEB")
    assert not ok
    assert report["first_bad_index"] is not None
    assert report["first_bad_index"] <= 18


def test_a_gap_is_named(log):
    with tampering() as cursor:
        cursor.execute(
            'DELETE FROM evidence_logentry WHERE project_id = %s AND "index" = 9', [log.pk]
        )
    ok, report = run("--project", "AEB")
    assert not ok
    assert report["first_bad_index"] == 9


def test_a_tampered_published_checkpoint_is_reported(log):
    store = default_store()
    key = ledger.checkpoint_store_key("AEB", 8)
    note = store.get_bytes(key).decode()
    lines = note.split("\n")
    lines[2] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    store.put_bytes(key, "\n".join(lines).encode())
    ok, report = run("--project", "AEB")
    assert not ok
    assert any("published checkpoint" in p for p in report["problems"])


def test_a_re_signed_forgery_without_a_trusted_checkpoint_is_caught_with_and_without_signatures(
    log, settings, tmp_path
):
    """An entry signed by an unregistered key, with every hash and the head recomputed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    entry = LogEntry.objects.get(project=log, index=19)
    envelope = json.loads(bytes(entry.envelope))
    rogue = Ed25519PrivateKey.generate()
    payload = base64.b64decode(envelope["payload"])
    envelope["signatures"] = [
        {
            "keyid": envelope["signatures"][0]["keyid"],
            "sig": base64.b64encode(
                rogue.sign(verify.pae(envelope["payloadType"], payload))
            ).decode(),
        }
    ]
    forged = verify.canonical_json(envelope)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_logentry SET envelope = %s, leaf_hash = %s WHERE id = %s",
            [forged, verify.leaf_hash(forged), entry.pk],
        )
        # Make the last checkpoint and the head agree, and withdraw its published copy.
        hashes = [
            bytes(h)
            for h in LogEntry.objects.filter(project=log)
            .order_by("index")
            .values_list("leaf_hash", flat=True)
        ]
        cursor.execute(
            "DELETE FROM evidence_checkpoint WHERE project_id = %s AND size = 20", [log.pk]
        )
        cursor.execute(
            "UPDATE evidence_loghead SET root = %s WHERE project_id = %s",
            [verify.root_hash(hashes), log.pk],
        )
    (default_store().root / ledger.checkpoint_store_key("AEB", 20)).unlink()
    # The hashes alone are consistent, but no checkpoint by a trusted key covers the last four.
    result = verify_project(log)
    assert not result.ok
    assert result.first_bad_index == 16
    assert "entries 16 to 19 of AEB are covered by no checkpoint" in result.problems[0]
    result = verify_project(log, signatures=True)
    assert not result.ok
    assert result.first_bad_index == 19
    assert any(p.startswith("entry 19: envelope signature does not") for p in result.problems)


def test_human_output_names_each_project(log, other_project):
    from io import StringIO

    out = StringIO()
    call_command("verify_ledger", stdout=out)
    text = out.getvalue()
    assert "AEB: 20 entries, 5 checkpoints (5 published, 0 not yet)" in text
    assert "LKA: 0 entries" in text


def test_unknown_project_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no project with key 'NOPE'"):
        call_command("verify_ledger", "--project", "NOPE")
