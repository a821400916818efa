"""Attacks on the ledger by someone with database or store access, each staged for real.

Every test ends with ``verify_ledger`` exiting non-zero and naming the cause (or, for the
genuine operations, verifying). They run on whichever database is configured: SQLite by
default, PostgreSQL when ``DATABASE_URL`` names one.
"""

import base64
import datetime
import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from evidence import ledger, publication, verify
from evidence.keys import LoadedKey, generate_key_file, load_signing_key, log_name, public_bytes
from evidence.ledger import LedgerError, Record, Subject
from evidence.models import (
    Checkpoint,
    EntryKind,
    LogEntry,
    LogHead,
    MerkleNode,
    PendingPublication,
    SigningKey,
)
from evidence.storage import default_store
from tests.evidence.conftest import tampering

pytestmark = pytest.mark.django_db


def verify_ledger(*args) -> tuple[bool, dict, str]:
    """Run verify_ledger --json: (exit 0?, the JSON report, the one-line error or "")."""
    out = StringIO()
    try:
        call_command("verify_ledger", "--json", *args, stdout=out)
    except CommandError as exc:
        return False, json.loads(out.getvalue()), str(exc)
    return True, json.loads(out.getvalue()), ""


def append(project, n: int = 1, *, commit=None):
    records = [Record("decision", [Subject(f"x{i}", f"{i:064x}")], {"i": i}) for i in range(n)]
    if commit is None:
        return ledger.append(project, records)
    with commit(execute=True):
        return ledger.append(project, records)


def leaves(project) -> list[bytes]:
    rows = LogEntry.objects.filter(project=project).order_by("index")
    return [bytes(h) for h in rows.values_list("leaf_hash", flat=True)]


def frontier(hashes: list[bytes]) -> list[bytes]:
    """The perfect-subtree hashes covering all of ``hashes``, left to right."""
    if not hashes:
        return []
    return [verify.root_hash(hashes[lo:hi]) for lo, hi in verify.perfect_subtrees(0, len(hashes))]


def unreachable_store(settings, tmp_path) -> str:
    """Point the store at a path under a plain file (writes fail); return the good URL."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    good = settings.SAFECASE_STORAGE_URL
    settings.SAFECASE_STORAGE_URL = (blocker / "store").as_uri()
    return good


def roll_back(project, size: int) -> None:
    """Put the database back to the log's first ``size`` entries, as restoring a backup would."""
    hashes = leaves(project)[:size]
    doomed = [
        n.pk for n in MerkleNode.objects.filter(project=project) if (n.index + 1) << n.level > size
    ]
    with tampering() as cursor:
        cursor.execute(
            "DELETE FROM evidence_pendingpublication WHERE project_id = %s", [project.pk]
        )
        cursor.execute(
            'DELETE FROM evidence_logentry WHERE project_id = %s AND "index" >= %s',
            [project.pk, size],
        )
        for pk in doomed:
            cursor.execute("DELETE FROM evidence_merklenode WHERE id = %s", [pk])
        cursor.execute(
            "DELETE FROM evidence_checkpoint WHERE project_id = %s AND size > %s",
            [project.pk, size],
        )
    LogHead.objects.filter(project=project).update(
        size=size, root=verify.root_hash(hashes), frontier=b"".join(frontier(hashes))
    )


def published_sizes() -> list[int]:
    folder = Path(default_store().root) / "checkpoints" / "AEB"
    return sorted(int(p.stem) for p in folder.glob("*.note"))


class TestPlantedKey:
    """INSERTs only: a key row, an entry it signed with its tree nodes, the head moved on,
    and a checkpoint it signed left unpublished. No trigger is touched."""

    @pytest.fixture
    def forged(self, log):
        rogue = Ed25519PrivateKey.generate()
        public = public_bytes(rogue)
        key = LoadedKey(rogue, public, verify.note_key_id(log_name(), public).hex())
        SigningKey.objects.create(key_id=key.key_id, name=log_name(), public_key=public)
        hashes = leaves(log)
        record = Record("approval", [Subject("requirement:FSR-1", "ab" * 32)], {"forged": 1})
        statement = ledger._statement(log, record, None, LogEntry.objects.last().recorded_at)
        envelope = ledger._envelope(key, statement)
        index = len(hashes)
        hashes.append(verify.leaf_hash(envelope))
        LogEntry.objects.create(
            project=log,
            index=index,
            kind="approval",
            subject="requirement:FSR-1",
            digest="ab" * 32,
            envelope=envelope,
            leaf_hash=hashes[-1],
            key_id=key.key_id,
            recorded_at=LogEntry.objects.last().recorded_at,
        )
        level, position = 0, index
        while position & 1:  # the subtrees the new leaf completes
            level, position = level + 1, position >> 1
            width = 1 << level
            value = verify.root_hash(hashes[position * width : (position + 1) * width])
            MerkleNode.objects.create(project=log, level=level, index=position, hash=value)
        root = verify.root_hash(hashes)
        LogHead.objects.filter(project=log).update(
            size=len(hashes), root=root, frontier=b"".join(frontier(hashes))
        )
        body = verify.format_checkpoint_body(ledger.origin(log), len(hashes), root)
        note = verify.format_signed_note(
            body, [(log_name(), bytes.fromhex(key.key_id), rogue.sign(body.encode()))]
        )
        Checkpoint.objects.create(
            project=log, size=len(hashes), root=root, note=note, key_id=key.key_id
        )
        return key

    def test_caught_without_signatures_naming_the_key_entry_and_checkpoint(self, forged):
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "ledger of AEB does not verify at entry 20" in error
        problems = "\n".join(report["problems"])
        assert f"signing key {log_name()}+{forged.key_id} in the database is not trusted" in (
            problems
        )
        assert f"entry 20 is signed by key {forged.key_id}, which is not trusted" in problems
        assert f"checkpoint at size 21: signed by {log_name()}+{forged.key_id}" in problems
        assert report["first_bad_index"] == 20

    def test_caught_with_signatures(self, forged):
        ok, report, _ = verify_ledger("--project", "AEB", "--signatures")
        assert not ok
        assert report["first_bad_index"] == 20
        assert any(
            "AEB: entry 20: envelope signature does not verify against a trusted key" in p
            for p in report["problems"]
        )

    def test_the_next_genuine_append_is_refused_and_writes_nothing(
        self, forged, django_capture_on_commit_callbacks
    ):
        before = (LogEntry.objects.count(), Checkpoint.objects.count(), published_sizes())
        with pytest.raises(LedgerError, match=f"signed by key {forged.key_id}, which is not"):
            append(LogEntry.objects.first().project, commit=django_capture_on_commit_callbacks)
        after = (LogEntry.objects.count(), Checkpoint.objects.count(), published_sizes())
        assert after == before
        assert not verify_ledger("--project", "AEB")[0]

    def test_a_head_moved_without_a_checkpoint_also_stops_appends(self, log):
        LogHead.objects.filter(project=log).update(size=21)
        ledger.forget_checked_heads()  # as in any other process
        with pytest.raises(LedgerError, match=r"head \(size 21\) is not its latest checkpoint"):
            append(log)


class TestKeyTrust:
    def test_an_untrusted_key_row_is_reported_by_name(self, log):
        stray = public_bytes(Ed25519PrivateKey.generate())
        row = SigningKey.objects.create(
            key_id=verify.note_key_id(log_name(), stray).hex(), name=log_name(), public_key=stray
        )
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert f"signing key {row} in the database is not trusted" in error

    def test_a_fingerprint_in_trusted_keys_trusts_that_key_row(self, log, settings):
        stray = public_bytes(Ed25519PrivateKey.generate())
        SigningKey.objects.create(
            key_id=verify.note_key_id(log_name(), stray).hex(), name=log_name(), public_key=stray
        )
        settings.SAFECASE_TRUSTED_KEYS = [verify.key_fingerprint(log_name(), stray)]
        assert verify_ledger("--project", "AEB")[0]

    def test_a_key_replaced_without_rotation_is_untrusted_until_configured(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        old = load_signing_key()
        settings.SAFECASE_SIGNING_KEY_FILE = str(tmp_path / "replaced.key")
        generate_key_file(tmp_path / "replaced.key")
        # The old key signed the latest checkpoint and nothing vouches for it now.
        with pytest.raises(LedgerError, match="which is not trusted"):
            append(log, commit=django_capture_on_commit_callbacks)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "not trusted" in error
        vkey = tmp_path / "old.vkey"
        vkey.write_text(verify.format_vkey(log_name(), old.public) + "\n")
        settings.SAFECASE_TRUSTED_KEYS = [str(vkey)]
        append(log, commit=django_capture_on_commit_callbacks)
        assert verify_ledger("--project", "AEB", "--signatures")[0]

    def test_a_bad_trusted_keys_item_is_named_without_its_path(self, log, settings):
        settings.SAFECASE_TRUSTED_KEYS = ["/nowhere/key.vkey"]
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "SAFECASE_TRUSTED_KEYS item 1 is neither" in error
        assert "/nowhere" not in error


class TestSigningKeyCommand:
    @pytest.fixture
    def key_file(self, settings, tmp_path):
        path = tmp_path / "ledger.key"
        path.write_bytes(Path(django_settings.SAFECASE_SIGNING_KEY_FILE).read_bytes())
        settings.SAFECASE_SIGNING_KEY_FILE = str(path)
        return path

    def test_create_publishes_the_public_key_and_prints_the_fingerprint(
        self, db, settings, tmp_path
    ):
        settings.SAFECASE_SIGNING_KEY_FILE = str(tmp_path / "new" / "ledger.key")
        out = StringIO()
        call_command("create_signing_key", stdout=out)
        key = load_signing_key()
        fingerprint = verify.key_fingerprint(log_name(), key.public)
        assert f"fingerprint {fingerprint}" in out.getvalue()
        assert str(tmp_path) not in out.getvalue()
        stored = default_store().get_bytes(f"keys/{key.key_id}.vkey").decode()
        assert verify.parse_vkey(stored)[2] == key.public
        with pytest.raises(CommandError, match="exists already"):
            call_command("create_signing_key", stdout=StringIO())

    def test_rotation_keeps_the_ledger_verifying(
        self, log, other_project, key_file, django_capture_on_commit_callbacks
    ):
        old = load_signing_key()
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("create_signing_key", "--rotate", "--json", stdout=out)
        summary = json.loads(out.getvalue())
        new = load_signing_key()
        assert new.key_id != old.key_id
        assert summary["fingerprint"] == verify.key_fingerprint(log_name(), new.public)
        assert summary["logs"] == 2
        statement = default_store().get_bytes(f"keys/rotations/{old.key_id}-{new.key_id}.json")
        rotation = verify.verify_rotation(statement)
        assert rotation.previous[1] == old.public and rotation.next[1] == new.public
        for project in (log, other_project):
            entry = LogEntry.objects.get(project=project, kind=EntryKind.KEY_ROTATION)
            assert entry.subject == f"key:{new.key_id}"
            assert entry.digest == hashlib.sha256(statement).hexdigest()
            assert entry.key_id == old.key_id  # the old key records its successor
            predicate = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))
            assert predicate["predicate"]["statement"] == base64.b64encode(statement).decode()
        append(log, 3, commit=django_capture_on_commit_callbacks)  # signed by the new key
        assert verify_ledger("--signatures")[0]
        # The rotation entries alone carry the chain when the store's copy is gone.
        (Path(default_store().root) / f"keys/rotations/{old.key_id}-{new.key_id}.json").unlink()
        assert verify_ledger("--signatures")[0]

    def test_only_a_rotation_signed_by_both_keys_links_them(
        self, log, key_file, django_capture_on_commit_callbacks
    ):
        """A statement signed by the new key alone (what a planted key could produce)."""
        old = load_signing_key()
        rogue = Ed25519PrivateKey.generate()
        public = public_bytes(rogue)
        payload = verify.rotation_payload(
            verify.format_vkey(log_name(), old.public),
            verify.format_vkey(log_name(), public),
            "2026-01-01T00:00:00Z",
        )
        message = verify.pae(verify.KEY_ROTATION_PAYLOAD_TYPE, payload)
        rogue_id = verify.note_key_id(log_name(), public).hex()
        statement = verify.format_rotation(payload, [(rogue_id, rogue.sign(message))])
        default_store().put_bytes(f"keys/rotations/{old.key_id}-{rogue_id}.json", statement)
        SigningKey.objects.create(key_id=rogue_id, name=log_name(), public_key=public)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "does not verify" in error or "not trusted" in error


class TestStore:
    def test_every_published_checkpoint_deleted(self, log):
        for path in (Path(default_store().root) / "checkpoints" / "AEB").glob("*.note"):
            path.unlink()
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        expected = "the store holds no checkpoint for AEB, whose log has 5 (sizes 4, 8, 12, 16, 20)"
        assert expected in error

    def test_some_published_checkpoints_deleted(self, log):
        for size in (8, 12):
            (Path(default_store().root) / ledger.checkpoint_store_key("AEB", size)).unlink()
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "checkpoints of AEB at sizes 8, 12 are not in the store" in error
        out = StringIO()
        with pytest.raises(CommandError, match="sizes 8, 12 were published but are not"):
            call_command("publish_checkpoints", stdout=out)

    def test_storage_url_to_a_missing_folder(self, log, settings, tmp_path):
        settings.SAFECASE_STORAGE_URL = (tmp_path / "no-such-folder").as_uri()
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "ledger of AEB does not verify" in error
        assert "the store cannot be reached or listed" in error
        assert str(tmp_path) not in error

    def test_unwritable_store_then_publish_checkpoints_republishes(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        good = unreachable_store(settings, tmp_path)
        append(log, 2, commit=django_capture_on_commit_callbacks)
        append(log, 2, commit=django_capture_on_commit_callbacks)
        assert LogEntry.objects.filter(project=log).count() == 24  # the appends committed
        queued = PendingPublication.objects.filter(project=log)
        assert sorted(queued.values_list("checkpoint__size", flat=True)) == [22, 24]
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok and "cannot be reached" in error
        with pytest.raises(CommandError, match="AEB at sizes 22, 24 are still unpublished"):
            call_command("publish_checkpoints", stdout=StringIO())

        settings.SAFECASE_STORAGE_URL = good
        ok, report, _ = verify_ledger("--project", "AEB")
        assert ok  # queued and within the grace period
        out = StringIO()
        call_command("publish_checkpoints", "--json", stdout=out)
        assert json.loads(out.getvalue()) == {
            "ok": True,
            "published": 2,
            "unpublished": {},
            "problems": [],
        }
        assert published_sizes()[-2:] == [22, 24]
        assert not queued.exists()
        assert verify_ledger("--project", "AEB", "--signatures")[0]

    def test_the_next_append_and_the_periodic_task_publish_the_queue(
        self, log, other_project, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        from evidence.tasks import publish_checkpoints_task

        good = unreachable_store(settings, tmp_path)
        append(log, commit=django_capture_on_commit_callbacks)
        append(other_project, commit=django_capture_on_commit_callbacks)
        settings.SAFECASE_STORAGE_URL = good
        a_minute_ago = timezone.now() - datetime.timedelta(minutes=1)
        PendingPublication.objects.update(created_at=a_minute_ago)  # no longer in flight
        publication.forget()  # a minute later, in whichever process appends next
        append(log, commit=django_capture_on_commit_callbacks)
        assert published_sizes()[-2:] == [21, 22]
        assert list(PendingPublication.objects.values_list("project__key", flat=True)) == ["LKA"]
        assert publish_checkpoints_task.delay().get() == {"published": 1, "unpublished": 0}
        assert not PendingPublication.objects.exists()
        schedule = django_settings.CELERY_BEAT_SCHEDULE["publish-checkpoints"]
        assert schedule["task"] == publish_checkpoints_task.name  # beat sends the task above

    def test_grace_period_exceeded(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        good = unreachable_store(settings, tmp_path)
        append(log, commit=django_capture_on_commit_callbacks)
        settings.SAFECASE_STORAGE_URL = good
        settings.SAFECASE_PUBLISH_GRACE = 0
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "checkpoints of AEB at sizes 21 are unpublished for longer than the grace" in error

    def test_deleting_entries_after_unpublished_appends_is_caught(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        """The store refused the checkpoints; then the new entries are deleted. The queued
        checkpoints (which the application role cannot delete) still name the removed size,
        and once the store is back they are published and the store is ahead."""
        good = unreachable_store(settings, tmp_path)
        append(log, 4, commit=django_capture_on_commit_callbacks)
        append(log, 4, commit=django_capture_on_commit_callbacks)
        hashes = leaves(log)[:20]
        with tampering() as cursor:
            cursor.execute(
                'DELETE FROM evidence_logentry WHERE project_id = %s AND "index" >= 20', [log.pk]
            )
        LogHead.objects.filter(project=log).update(
            size=20, root=verify.root_hash(hashes), frontier=b"".join(frontier(hashes))
        )
        settings.SAFECASE_STORAGE_URL = good
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "at sizes 24, 28 cover more than the 20 entries stored" in error
        call_command("publish_checkpoints", stdout=StringIO())
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert any(
            "the store holds a checkpoint of AEB at size 28 but the database's log has only 20" in p
            for p in report["problems"]
        )
        with pytest.raises(LedgerError):
            append(log, commit=django_capture_on_commit_callbacks)


class TestRollback:
    @pytest.mark.parametrize("fresh_process", [False, True])
    def test_store_ahead_of_the_database(
        self, log, fresh_process, django_capture_on_commit_callbacks
    ):
        roll_back(log, 12)
        if fresh_process:  # nothing remembered: the store is asked
            ledger.forget_checked_heads()
            publication.forget()
        ok, report, error = verify_ledger("--project", "AEB")
        assert not ok
        assert (
            "the store holds a checkpoint of AEB at size 20 but the database's log has only 12 "
            "entries" in error
        )
        assert report["first_bad_index"] == 12
        before = (LogEntry.objects.count(), Checkpoint.objects.count(), published_sizes())
        with pytest.raises(LedgerError, match=r"at size \d+ but the database's log has only 12"):
            append(log, commit=django_capture_on_commit_callbacks)
        assert (LogEntry.objects.count(), Checkpoint.objects.count(), published_sizes()) == before

    def test_a_different_log_at_the_same_size_is_refused(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        """Restored to size 16 while the store was down, then grown back to 20 differently."""
        roll_back(log, 16)
        ledger.forget_checked_heads()
        publication.forget()
        good = unreachable_store(settings, tmp_path)
        append(log, 4, commit=django_capture_on_commit_callbacks)
        settings.SAFECASE_STORAGE_URL = good
        publication.forget()  # another process, which has not seen the store yet
        with pytest.raises(LedgerError, match="at size 20 differs from the checkpoint published"):
            append(log, commit=django_capture_on_commit_callbacks)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "checkpoint at size 20 differs from the copy published to the store" in error

    def test_a_conflicting_publication_stops_the_process_appending(
        self, log, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        """Grown back past the store while it was down: the listing shows nothing beyond the
        head, but publishing the queue collides with the published log."""
        roll_back(log, 16)
        publication.forget()
        good = unreachable_store(settings, tmp_path)
        append(log, 4, commit=django_capture_on_commit_callbacks)
        append(log, 4, commit=django_capture_on_commit_callbacks)
        settings.SAFECASE_STORAGE_URL = good
        with pytest.raises(CommandError, match="AEB at sizes 20, 24 are still unpublished"):
            call_command("publish_checkpoints", stdout=StringIO())
        with pytest.raises(LedgerError, match="at size 20 differs from the checkpoint published"):
            append(log, commit=django_capture_on_commit_callbacks)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "checkpoint at size 20 differs from the copy published to the store" in error

    def test_a_wiped_log_cannot_start_again(self, log, django_capture_on_commit_callbacks):
        roll_back(log, 0)
        publication.forget()
        with pytest.raises(LedgerError, match=r"at size \d+ but the database's log has only 0"):
            append(log, commit=django_capture_on_commit_callbacks)


class TestHead:
    def test_a_head_whose_frontier_was_changed_is_reported(self, log):
        LogHead.objects.filter(project=log).update(frontier=b"\0" * 64)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "the log head's frontier does not match the entries" in error

    def test_a_head_whose_size_was_changed_is_reported(self, log):
        LogHead.objects.filter(project=log).update(size=19)
        ok, _, error = verify_ledger("--project", "AEB")
        assert not ok
        assert "the log head says 19 entries but 20 are stored" in error
