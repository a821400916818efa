"""The per-project log: gapless appends, proofs, checkpoints, triggers, keys."""

import base64
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from evidence import ledger, verify
from evidence.keys import SigningKeyError, load_signing_key
from evidence.ledger import LedgerError, Record, Subject
from evidence.models import Checkpoint, LogEntry, LogHead, MerkleNode, SigningKey
from evidence.storage import default_store

pytestmark = pytest.mark.django_db

DIGEST = "ab" * 32
# The trigger's message; as the application role (DATABASE_OWNER_URL set) the missing privilege
# refuses the statement before the trigger is reached.
REFUSED = "append-only|permission denied"


def record(n: int, kind: str = "decision") -> Record:
    return Record(kind, [Subject(f"thing-{n}", f"{n:064x}")], {"n": n})


def leaves(project):
    return [
        bytes(h)
        for h in LogEntry.objects.filter(project=project)
        .order_by("index")
        .values_list("leaf_hash", flat=True)
    ]


class TestAppend:
    def test_indexes_are_gapless_from_zero(self, project):
        ledger.append(project, [record(i) for i in range(3)])
        ledger.append(project, [record(3)])
        ledger.append(project, [record(i) for i in range(4, 11)])
        assert list(
            LogEntry.objects.filter(project=project).values_list("index", flat=True)
        ) == list(range(11))
        assert ledger.head_of(project)[0] == 11

    def test_each_project_has_its_own_log(self, project, other_project):
        ledger.append(project, [record(1), record(2)])
        ledger.append(other_project, [record(3)])
        assert ledger.head_of(project)[0] == 2
        assert LogEntry.objects.get(project=other_project).index == 0

    def test_root_matches_an_independent_merkle_computation(self, project):
        for batch in ([0], [1, 2], [3, 4, 5, 6, 7], [8], [9, 10, 11, 12]):
            ledger.append(project, [record(i) for i in batch])
            size, root = ledger.head_of(project)
            assert root == verify.root_hash(leaves(project))
            assert size == batch[-1] + 1

    def test_leaf_is_sha256_of_zero_byte_and_envelope(self, project):
        (entry,) = ledger.append(project, [record(7)])
        import hashlib

        assert bytes(entry.leaf_hash) == hashlib.sha256(b"\x00" + bytes(entry.envelope)).digest()

    def test_entry_is_a_signed_in_toto_statement_in_a_dsse_envelope(self, project, members):
        (entry,) = ledger.append(project, [record(5, "dataset")], user=members["engineer"])
        envelope = json.loads(bytes(entry.envelope))
        assert envelope["payloadType"] == "application/vnd.in-toto+json"
        assert verify.canonical_json(envelope) == bytes(entry.envelope)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["predicateType"] == "https://safecase.dev/evidence/dataset/v1"
        assert statement["subject"] == [{"name": "thing-5", "digest": {"sha256": f"{5:064x}"}}]
        assert statement["predicate"]["project"] == "AEB"
        assert statement["predicate"]["recordedBy"] == members["engineer"].username
        key = SigningKey.objects.get(key_id=entry.key_id)
        assert verify.verify_envelope(envelope, {key.key_id: bytes(key.public_key)})
        envelope["payload"] = base64.b64encode(b'{"tampered":true}').decode()
        assert not verify.verify_envelope(envelope, {key.key_id: bytes(key.public_key)})

    def test_a_batch_is_all_or_nothing(self, project):
        ledger.append(project, [record(0)])
        with pytest.raises(LedgerError):
            ledger.append(project, [record(1), Record("decision", [], {})])
        assert ledger.head_of(project)[0] == 1
        assert LogEntry.objects.filter(project=project).count() == 1

    def test_a_failure_later_in_the_transaction_rolls_the_append_back(self, project):
        with pytest.raises(RuntimeError), transaction.atomic():
            ledger.append(project, [record(0), record(1)])
            raise RuntimeError("the service failed after appending")
        assert LogEntry.objects.filter(project=project).count() == 0
        assert Checkpoint.objects.filter(project=project).count() == 0

    def test_bad_subject_digest_is_refused(self):
        with pytest.raises(LedgerError, match="64 lower-case hex"):
            Subject("x", "ABC")

    def test_missing_signing_key_writes_nothing(self, project, settings, tmp_path):
        settings.SAFECASE_SIGNING_KEY_FILE = str(tmp_path / "absent.key")
        with pytest.raises(SigningKeyError, match="create_signing_key"):
            ledger.append(project, [record(0)])
        assert not LogEntry.objects.exists()
        assert not LogHead.objects.exists()

    def test_unreadable_signing_key_is_a_one_line_error(self, project, settings, tmp_path):
        bad = tmp_path / "bad.key"
        bad.write_text("not a key")
        settings.SAFECASE_SIGNING_KEY_FILE = str(bad)
        with pytest.raises(SigningKeyError, match="cannot be read"):
            ledger.append(project, [record(0)])
        assert not LogEntry.objects.exists()


class TestProofs:
    @pytest.fixture
    def log(self, project):
        for start in range(0, 37, 5):
            ledger.append(project, [record(i) for i in range(start, min(start + 5, 37))])
        return project

    def test_every_inclusion_proof_verifies(self, log):
        hashes = leaves(log)
        for size in (1, 2, 3, 7, 8, 16, 17, 36, 37):
            root = ledger.root_at(log, size)
            assert root == verify.root_hash(hashes[:size])
            for index in range(size):
                proof = ledger.inclusion_proof(log, index, size)
                assert verify.verify_inclusion(hashes[index], index, size, proof, root)
                assert proof == verify.inclusion_proof_from_leaves(hashes[:size], index)

    def test_an_inclusion_proof_for_the_wrong_leaf_fails(self, log):
        hashes = leaves(log)
        root = ledger.root_at(log, 37)
        proof = ledger.inclusion_proof(log, 4, 37)
        assert not verify.verify_inclusion(hashes[5], 4, 37, proof, root)

    def test_every_consistency_proof_verifies(self, log):
        hashes = leaves(log)
        for size1 in range(1, 38):
            for size2 in (size1, 20, 32, 37):
                if size2 < size1:
                    continue
                proof = ledger.consistency_proof(log, size1, size2)
                assert verify.verify_consistency(
                    size1,
                    size2,
                    proof,
                    verify.root_hash(hashes[:size1]),
                    verify.root_hash(hashes[:size2]),
                )

    def test_a_proof_needs_a_few_queries_only(self, log, django_assert_max_num_queries):
        with django_assert_max_num_queries(8):
            ledger.inclusion_proof(log, 13, 37)

    @pytest.mark.parametrize("index,size", [(-1, 5), (5, 5), (0, 0), (0, 38)])
    def test_out_of_range_proof_requests_are_refused(self, log, index, size):
        with pytest.raises(LedgerError):
            ledger.inclusion_proof(log, index, size)

    def test_stored_nodes_are_the_perfect_subtrees(self, log):
        hashes = leaves(log)
        for node in MerkleNode.objects.filter(project=log):
            width = 1 << node.level
            start = node.index * width
            assert bytes(node.hash) == verify.root_hash(hashes[start : start + width])


class TestCheckpoints:
    def test_each_append_signs_and_publishes_a_checkpoint(
        self, project, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            ledger.append(project, [record(0), record(1), record(2)])
        cp = Checkpoint.objects.get(project=project)
        keys = [(k.name, bytes(k.public_key)) for k in SigningKey.objects.all()]
        note = verify.verify_checkpoint(cp.note, keys, origin=ledger.origin(project))
        assert (note.size, note.root) == (3, ledger.head_of(project)[1])
        published = default_store().get_bytes(ledger.checkpoint_store_key("AEB", 3)).decode()
        assert published == cp.note
        assert cp.note.splitlines()[0] == f"{settings.SAFECASE_LOG_NAME}/AEB"

    def test_a_rotated_key_still_verifies_old_checkpoints(self, project, settings, tmp_path):
        from django.core.management import call_command

        key_file = tmp_path / "ledger.key"
        key_file.write_bytes(Path(settings.SAFECASE_SIGNING_KEY_FILE).read_bytes())
        settings.SAFECASE_SIGNING_KEY_FILE = str(key_file)
        ledger.append(project, [record(0)])
        old_id = load_signing_key().key_id
        call_command("create_signing_key", "--rotate", stdout=StringIO())
        ledger.append(project, [record(1)])
        assert load_signing_key().key_id != old_id
        keys = [(k.name, bytes(k.public_key)) for k in SigningKey.objects.all()]
        for cp in Checkpoint.objects.filter(project=project):
            verify.verify_checkpoint(cp.note, keys)
        assert {cp.key_id for cp in Checkpoint.objects.all()} == {old_id, load_signing_key().key_id}

    def test_an_unreachable_store_does_not_lose_the_append(
        self, project, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        blocker = tmp_path / "file"
        blocker.write_text("x")
        settings.SAFECASE_STORAGE_URL = (blocker / "store").as_uri()
        with django_capture_on_commit_callbacks(execute=True):
            ledger.append(project, [record(0)])
        assert LogEntry.objects.filter(project=project).count() == 1


class TestAppendOnly:
    """The database itself refuses UPDATE and DELETE on the ledger tables (the trigger, or
    first the missing privilege of the application role)."""

    @pytest.fixture
    def entry(self, project):
        return ledger.append(project, [record(0), record(1)])[0]

    def test_update_of_an_entry_is_refused(self, entry):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            LogEntry.objects.filter(pk=entry.pk).update(subject="rewritten")

    def test_delete_of_an_entry_is_refused(self, entry):
        with (
            pytest.raises((DatabaseError, IntegrityError), match=REFUSED),
            transaction.atomic(),
        ):
            LogEntry.objects.filter(pk=entry.pk).delete()

    @pytest.mark.parametrize("model", [Checkpoint, MerkleNode, SigningKey])
    def test_other_ledger_tables_are_append_only(self, entry, model):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            model.objects.all().delete()
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {model._meta.db_table} SET id = id")
        assert model.objects.exists()

    def test_raw_sql_cannot_change_an_entry_either(self, entry):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE evidence_logentry SET kind = 'report'")
        entry.refresh_from_db()
        assert entry.kind == "decision"


def test_an_envelope_is_its_canonical_json_byte_for_byte(project):
    (entry,) = ledger.append(project, [record(1)])
    envelope = bytes(entry.envelope)
    assert verify.canonical_json(json.loads(envelope)) == envelope
    assert verify.verify_envelope(
        json.loads(envelope),
        {entry.key_id: load_signing_key().public},
        payload_type=ledger.PAYLOAD_TYPE,
    )
