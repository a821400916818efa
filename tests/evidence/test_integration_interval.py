"""The integration interval: appends within one interval share one signed checkpoint.

With ``SAFECASE_LEDGER_INTEGRATION_MS`` set, an append gets its index and tree nodes at once and
the first append after the interval (or the periodic task, an export, a proof) signs the
checkpoint that covers it; :func:`evidence.ledger.enqueue` submits entries without the log's
lock and one integrator moves them into the log (group commit). Time is moved logically (the
clock the ledger reads is shifted), never waited for.
"""

import base64
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from evidence import ledger, publication, verify
from evidence.ledger import LedgerError, Record, Subject
from evidence.models import Checkpoint, LogEntry, LogHead, QueuedEntry
from evidence.storage import default_store
from evidence.tasks import integrate_ledgers_task
from evidence.verification import verify_project
from projects.models import Project
from tests.evidence.conftest import tampering

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000  # an interval no test outlasts: only the shifted clock ends it


def record(n: int) -> Record:
    return Record("decision", [Subject(f"thing-{n}", f"{n:064x}")], {"n": n})


def checkpoint_sizes(project) -> list[int]:
    return list(
        Checkpoint.objects.filter(project=project).order_by("size").values_list("size", flat=True)
    )


def published_sizes(project) -> list[int]:
    return sorted(publication.published_sizes(project, default_store()))


@pytest.fixture
def interval(settings):
    settings.SAFECASE_LEDGER_INTEGRATION_MS = MINUTE


@pytest.fixture
def later(monkeypatch):
    """``later(seconds)``: the ledger's clock runs ``seconds`` ahead from now on."""

    def shift(seconds: float) -> None:
        real = timezone.now
        monkeypatch.setattr(
            ledger.timezone, "now", lambda: real() + datetime.timedelta(seconds=seconds)
        )

    return shift


def prove_all(project, checkpoint: Checkpoint) -> None:
    """Every entry up to the checkpoint's size is provably in its signed tree."""
    note = verify.verify_checkpoint(
        checkpoint.note,
        [(settings.SAFECASE_LOG_NAME, ledger.load_signing_key().public)],
        origin=ledger.origin(project),
    )
    for entry in LogEntry.objects.filter(project=project, index__lt=note.size):
        proof = ledger.inclusion_proof(project, entry.index, note.size)
        assert verify.verify_inclusion(
            bytes(entry.leaf_hash), entry.index, note.size, proof, note.root
        )


@pytest.mark.usefixtures("interval")
class TestOneCheckpointPerInterval:
    def test_appends_within_an_interval_share_one_checkpoint_that_covers_them(
        self, ledger_transactional_db, project, later
    ):
        ledger.append(project, [record(0)])  # the first append of a log signs at once
        for n in range(1, 6):
            ledger.append(project, [record(n)])
        assert checkpoint_sizes(project) == [1]
        assert ledger.head_of(project)[0] == 6
        later(61)
        (entry,) = ledger.append(project, [record(6)])
        assert checkpoint_sizes(project) == [1, 7]
        assert entry.index == 6
        checkpoint = Checkpoint.objects.get(project=project, size=7)
        prove_all(project, checkpoint)
        assert published_sizes(project) == [1, 7]
        assert verify_project(project).ok

    def test_the_latency_bound_holds_the_next_append_after_the_interval_covers_earlier_ones(
        self, ledger_transactional_db, project, later
    ):
        ledger.append(project, [record(0)])
        (waiting,) = ledger.append(project, [record(1)])
        assert ledger.latest_checkpoint(project).size <= waiting.index  # not yet covered
        later(59)
        ledger.append(project, [record(2)])
        assert checkpoint_sizes(project) == [1]  # still inside the interval
        later(60)
        ledger.append(project, [record(3)])
        assert ledger.latest_checkpoint(project).size > waiting.index

    def test_a_durable_append_and_wait_covered_return_with_the_entry_covered(
        self, ledger_transactional_db, project
    ):
        ledger.append(project, [record(0)])
        (plain,) = ledger.append(project, [record(1)])
        checkpoint = ledger.wait_covered(plain)
        assert checkpoint.size == 2
        (durable,) = ledger.append(project, [record(2)], durable=True)
        assert ledger.latest_checkpoint(project).size == 3 > durable.index
        assert ledger.wait_covered(durable).size == 3  # already covered: nothing new is signed
        assert checkpoint_sizes(project) == [1, 2, 3]

    def test_the_periodic_task_integrates_what_no_append_came_to_cover(
        self, ledger_transactional_db, project, other_project
    ):
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1), record(2)])
        ledger.append(other_project, [record(0)])
        assert integrate_ledgers_task() == {"AEB": 3}
        assert integrate_ledgers_task() == {}  # nothing left to cover: no new checkpoint
        assert checkpoint_sizes(project) == [1, 3]

    def test_health_fails_while_entries_wait_past_the_grace_for_their_checkpoint(
        self, ledger_transactional_db, project, client, settings
    ):
        """No periodic task running: the entries left uncovered (in the log beyond its latest
        checkpoint, and in the queue) make /healthz fail once the grace period is over."""
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1), record(2)])  # in the log, not covered
        ledger.enqueue(project, [record(3)])  # queued, not integrated
        assert client.get("/healthz").json()["checks"]["integration"] == "ok"  # within grace
        settings.SAFECASE_PUBLISH_GRACE = 0
        from evidence.selectors import entries_awaiting_checkpoint

        assert entries_awaiting_checkpoint(recorded_before=timezone.now()) == 3
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["integration"] == "failing"
        integrate_ledgers_task()  # the integrator runs again
        assert client.get("/healthz").json()["checks"]["integration"] == "ok"

    def test_a_proof_through_the_api_integrates_first(
        self, ledger_transactional_db, project, client, make_member
    ):
        user = make_member(project, "viewer")
        client.force_login(user)
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1)])
        response = client.get(f"/api/v1/projects/{project.key}/ledger/proofs/inclusion/?index=1")
        assert response.status_code == 200, response.content
        assert response.json()["tree_size"] == 2
        assert checkpoint_sizes(project) == [1, 2]

    def test_without_an_interval_every_append_signs_its_own(self, ledger_transactional_db, project):
        with override_settings(SAFECASE_LEDGER_INTEGRATION_MS=0):
            for n in range(3):
                ledger.append(project, [record(n)])
        assert checkpoint_sizes(project) == [1, 2, 3]


@pytest.mark.usefixtures("interval")
class TestCrashesAndAttacks:
    def test_a_crash_between_append_and_integration_loses_nothing(
        self, ledger_transactional_db, project, later
    ):
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1), record(2)])
        # The process dies here: what it remembered is gone, its entries are committed.
        ledger.forget_checked_heads()
        publication.forget()
        result = verify_project(project)
        assert result.ok, result.problems
        assert result.uncovered == 2
        later(61)
        ledger.append(project, [record(3)])  # a new process, after the interval
        assert checkpoint_sizes(project) == [1, 4]
        prove_all(project, ledger.latest_checkpoint(project))
        result = verify_project(project, signatures=True)
        assert result.ok and result.uncovered == 0, result.problems

    def test_uncovered_entries_past_the_grace_are_reported(
        self, ledger_transactional_db, project, monkeypatch
    ):
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1)])
        monkeypatch.setattr(settings, "SAFECASE_PUBLISH_GRACE", -120)
        result = verify_project(project)
        assert not result.ok
        assert "entries 1 to 1 of AEB are covered by no checkpoint" in " ".join(result.problems)

    def test_an_entry_planted_after_the_checkpoint_is_never_blessed(
        self, ledger_transactional_db, project
    ):
        ledger.append(project, [record(0)])
        ledger.append(project, [record(1)])
        # An insider adds an entry with a well-formed leaf and moves the head over it.
        genuine = LogEntry.objects.get(project=project, index=1)
        envelope = json.loads(bytes(genuine.envelope))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["n"] = 666
        envelope["payload"] = base64.b64encode(verify.canonical_json(statement)).decode()
        forged = verify.canonical_json(envelope)
        leaf = verify.leaf_hash(forged)
        head = LogHead.objects.get(project=project)
        stack = [bytes(head.frontier)[i : i + 32] for i in range(0, len(bytes(head.frontier)), 32)]
        # size 2 -> 3: the frontier [h(0..1)] gets the new leaf beside it.
        frontier = b"".join([*stack, leaf])
        root = verify.node_hash(stack[0], leaf)
        with tampering() as cursor:
            cursor.execute(
                'INSERT INTO evidence_logentry (project_id, "index", kind, subject, digest, '
                "envelope, leaf_hash, key_id, recorded_at) SELECT project_id, 2, kind, subject, "
                "digest, %s, %s, key_id, recorded_at FROM evidence_logentry WHERE id = %s",
                [forged, leaf, genuine.pk],
            )
            cursor.execute(
                "UPDATE evidence_loghead SET size = 3, root = %s, frontier = %s WHERE id = %s",
                [root, frontier, head.pk],
            )
        ledger.forget_checked_heads()
        with pytest.raises(LedgerError, match="entry 2 is not signed by a trusted key"):
            ledger.integrate(project)
        with pytest.raises(LedgerError, match="entry 2 is not signed by a trusted key"):
            ledger.append(project, [record(3)], durable=True)
        assert checkpoint_sizes(project) == [1]
        result = verify_project(project, signatures=True)
        assert not result.ok and result.first_bad_index == 2

    def test_a_planted_queued_entry_is_refused_and_nothing_is_integrated(
        self, ledger_transactional_db, project, client, settings
    ):
        ledger.append(project, [record(0)])
        ledger.enqueue(project, [record(1)])
        genuine = QueuedEntry.objects.get(project=project)
        data = bytearray(bytes(genuine.envelope))
        data[60] ^= 0x01
        QueuedEntry.objects.create(
            project=project,
            kind="decision",
            subject="planted",
            digest="0" * 64,
            envelope=bytes(data),
            key_id=genuine.key_id,
            recorded_at=genuine.recorded_at,
        )
        with pytest.raises(LedgerError, match="not signed by a trusted key"):
            ledger.integrate(project)
        assert ledger.head_of(project)[0] == 1
        assert QueuedEntry.objects.filter(project=project).count() == 2  # nothing was lost
        # the periodic task skips the blocked log; the operator sees it once the grace is over
        assert integrate_ledgers_task() == {}
        settings.SAFECASE_PUBLISH_GRACE = 0
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["integration"] == "failing"

    def test_a_checkpoint_whose_tree_does_not_cover_the_entry_is_refused(
        self, ledger_transactional_db, project
    ):
        ledger.append(project, [record(0)])
        (entry,) = ledger.append(project, [record(1)])
        checkpoint = ledger.latest_checkpoint(project)
        assert checkpoint.size == 1
        with pytest.raises(LedgerError, match="entry index must be between 0 and 0"):
            ledger.inclusion_proof(project, entry.index, checkpoint.size)
        # A proof for a larger tree does not hold against the smaller checkpoint's root either.
        proof = ledger.inclusion_proof(project, entry.index, 2)
        leaf = bytes(entry.leaf_hash)
        assert not verify.verify_inclusion(leaf, entry.index, 1, proof, bytes(checkpoint.root))
        assert not verify.verify_inclusion(leaf, entry.index, 2, proof, bytes(checkpoint.root))
        assert ledger.wait_covered(entry).size == 2


@pytest.mark.usefixtures("interval")
class TestVerifiers:
    def test_verify_ledger_names_an_altered_entry_still_waiting_for_its_checkpoint(
        self, ledger_transactional_db, project
    ):
        ledger.append(project, [record(n) for n in range(4)])
        ledger.append(project, [record(4)])
        ledger.append(project, [record(5)])
        assert checkpoint_sizes(project) == [4]
        entry = LogEntry.objects.get(project=project, index=5)
        data = bytearray(bytes(entry.envelope))
        data[40] ^= 0x01
        with tampering() as cursor:
            cursor.execute(
                "UPDATE evidence_logentry SET envelope = %s WHERE id = %s", [bytes(data), entry.pk]
            )
        result = verify_project(project)
        assert not result.ok and result.first_bad_index == 5, result.problems
        ledger.forget_checked_heads()
        with pytest.raises(LedgerError, match="entry 5's leaf hash is not its content's"):
            ledger.integrate(project)

    def test_the_package_verifier_passes_and_catches_a_tampered_entry(
        self, ledger_transactional_db, project, make_member, tmp_path
    ):
        from compliance.services import baseline_freeze
        from reports.services import export_package
        from tests.evidence.test_verify_package import (
            entries,
            manifest_of,
            pack,
            refused,
            run,
            set_entries,
            sign_manifest,
        )
        from tests.evidence.test_verify_package import unpack as unpack_zip

        user = make_member(project, "admin")
        ledger.append(project, [record(0)])
        ledger.append(project, [record(n) for n in range(1, 4)])
        baseline_freeze(user=user, project=project, name="B1")
        assert ledger.latest_checkpoint(project).size == 1  # the rest waits for its checkpoint
        export = export_package(user=user, project=project, path=tmp_path / "case.zip")
        data = export.path.read_bytes()
        assert export.package.manifest["checkpoint"]["size"] == 5  # the export integrated first
        result = run(tmp_path, data)
        assert result.returncode == 0, result.stderr
        key = ledger.load_signing_key()
        files = unpack_zip(data)
        rows = entries(files)
        rows[3], rows[4] = {**rows[4], "index": 3}, {**rows[3], "index": 4}
        set_entries(files, rows)
        sign_manifest(files, manifest_of(files), key)
        refused(run(tmp_path, pack(files)), "Merkle root of the entries does not match")


@pytest.mark.usefixtures("interval")
class TestGroupCommit:
    def test_queued_entries_are_integrated_in_order_under_one_checkpoint(
        self, ledger_transactional_db, project
    ):
        ledger.append(project, [record(0)])
        for n in range(1, 5):
            assert ledger.enqueue(project, [record(n)]) == 1
        assert ledger.head_of(project)[0] == 1  # queued, not yet in the log
        checkpoint = ledger.integrate(project)
        assert checkpoint.size == 5
        subjects = list(
            LogEntry.objects.filter(project=project)
            .order_by("index")
            .values_list("subject", flat=True)
        )
        assert subjects == [f"thing-{n}" for n in range(5)]
        assert not QueuedEntry.objects.filter(project=project).exists()
        prove_all(project, checkpoint)
        assert verify_project(project, signatures=True).ok

    def test_an_append_after_the_interval_integrates_the_queue_before_its_own(
        self, ledger_transactional_db, project, later
    ):
        ledger.append(project, [record(0)])
        ledger.enqueue(project, [record(1), record(2)])
        later(61)
        (entry,) = ledger.append(project, [record(3)])
        assert entry.index == 3
        assert checkpoint_sizes(project) == [1, 4]

    def test_a_durable_submission_returns_integrated(self, ledger_transactional_db, project):
        ledger.enqueue(project, [record(0), record(1)], durable=True)
        assert checkpoint_sizes(project) == [2]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _env(**extra) -> dict:
    return dict(
        os.environ,
        DATABASE_URL=_database_url(),
        DJANGO_SETTINGS_MODULE="config.test_settings",
        SAFECASE_SIGNING_KEY_FILE=settings.SAFECASE_SIGNING_KEY_FILE,
        SAFECASE_STORAGE_URL=settings.SAFECASE_STORAGE_URL,
        **extra,
    )


CRASHER = """
import os, sys
import django
django.setup()
from evidence import ledger
from projects.models import Project
project = Project.objects.get(key=sys.argv[1])
ledger.append(project, [ledger.Record("decision", [ledger.Subject("a", "1" * 64)])])
ledger.enqueue(project, [ledger.Record("decision", [ledger.Subject("b", "2" * 64)])])
os._exit(9)  # killed after its commits, before any integration
"""

CLIENT = """
import sys
import django
django.setup()
from evidence import ledger
from projects.models import Project
project = Project.objects.get(key=sys.argv[1])
worker, count, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
for i in range(count):
    rec = ledger.Record("validation-result", [ledger.Subject(f"w{worker}-{i}", f"{i:064x}")])
    if mode == "enqueue":
        ledger.enqueue(project, [rec])
    else:
        ledger.append(project, [rec])
print("done")
"""


def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("several processes share the test database only on PostgreSQL")


@pytest.mark.postgres
def test_a_killed_process_loses_nothing_and_its_entries_are_integrated_later(
    ledger_transactional_db,
):
    _postgres_only()
    project = Project.objects.create(key="CRASH", name="Crash")
    with override_settings(SAFECASE_LEDGER_INTEGRATION_MS=MINUTE):
        ledger.append(project, [record(0)])  # a fresh checkpoint: the next ones are not due
    done = subprocess.run(
        [sys.executable, "-c", CRASHER, "CRASH"],
        cwd=ROOT,
        env=_env(SAFECASE_LEDGER_INTEGRATION_MS=str(MINUTE)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    assert ledger.head_of(project)[0] == 2
    assert QueuedEntry.objects.filter(project=project).count() == 1
    assert checkpoint_sizes(project) == [1]
    with override_settings(SAFECASE_LEDGER_INTEGRATION_MS=MINUTE):
        assert integrate_ledgers_task() == {"CRASH": 3}
        result = verify_project(project, signatures=True)
    assert result.ok, result.problems
    assert list(LogEntry.objects.filter(project=project).values_list("subject", flat=True)) == [
        "thing-0",
        "a",
        "b",
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["enqueue", "append"])
def test_eight_concurrent_clients_stay_gapless(ledger_transactional_db, mode):
    _postgres_only()
    project = Project.objects.create(key="CONC", name="Concurrency")
    clients, each = 8, 25
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, "CONC", str(w), str(each), mode],
            cwd=ROOT,
            env=_env(SAFECASE_LEDGER_INTEGRATION_MS="50"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(clients)
    ]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    with override_settings(SAFECASE_LEDGER_INTEGRATION_MS=50):
        ledger.integrate(project)
        result = verify_project(project, signatures=True)
    indexes = list(
        LogEntry.objects.filter(project=project).order_by("index").values_list("index", flat=True)
    )
    assert indexes == list(range(clients * each))
    assert len(set(LogEntry.objects.filter(project=project).values_list("subject", flat=True))) == (
        clients * each
    )
    assert result.ok, result.problems
    assert ledger.latest_checkpoint(project).size == clients * each
    assert Checkpoint.objects.filter(project=project).count() < clients * each
