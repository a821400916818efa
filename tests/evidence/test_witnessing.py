"""Safecase asks its witnesses: each new checkpoint is cosigned over real HTTP on 127.0.0.1,
the cosignatures are stored, published and exported, and verify_ledger and the regulator's
verifier hold the log to its witness quorum."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction

from evidence import ledger, verify, witnessing
from evidence.keys import load_signing_key, log_name
from evidence.ledger import Record, Subject
from evidence.models import Checkpoint, WitnessCosignature
from evidence.storage import default_store
from evidence.verification import verify_project
from tests.evidence.conftest import tampering
from witness import protocol
from witness.server import Witness, serve_in_thread
from witness.state import State

pytestmark = pytest.mark.django_db

# The trigger's message, or the missing privilege as the application role.
REFUSED = "append-only|permission denied"


@pytest.fixture(autouse=True)
def forget_witnesses():
    yield
    witnessing.wait_for_publications()
    witnessing.forget()


class Site:
    """One witness served on a thread of this process, with its own state folder."""

    def __init__(self, number: int, folder):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.name = f"w{number}.example/witness"
        self.private = Ed25519PrivateKey.generate()
        self.folder = folder / f"w{number}"
        self.server = None
        self.url = ""

    @property
    def vkey(self) -> str:
        return verify.format_cosigner_vkey(self.name, self.private.public_key().public_bytes_raw())

    def start(self, port: int = 0) -> None:
        log_key = protocol.parse_vkey(
            verify.format_vkey(log_name(), load_signing_key().public), protocol.NOTE_SIGNATURE
        )
        self.state = State(self.folder)
        witness = Witness(self.name, self.private, [log_key], self.state)
        self.server = serve_in_thread(witness, port=port)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.stop()
        self.state.close()


@pytest.fixture
def sites(settings, tmp_path):
    started = [Site(n, tmp_path) for n in (1, 2, 3)]
    for site in started:
        site.start()
    settings.SAFECASE_WITNESSES = [f"{s.url} {s.vkey}" for s in started]
    settings.SAFECASE_WITNESS_QUORUM = 2
    yield started
    for site in started:
        if site.server is not None:
            site.stop()
            site.server = None


def append(project, capture, n: int = 1):
    with capture(execute=True):
        ledger.append(
            project,
            [Record("decision", [Subject(f"d{i}", f"{i:064x}")], {"i": i}) for i in range(n)],
        )
    return ledger.latest_checkpoint(project)


def policy_file(tmp_path, sites, quorum: int):
    path = tmp_path / "witnesses.policy"
    path.write_text("".join(f"witness {s.vkey}\n" for s in sites) + f"quorum {quorum}\n")
    return str(path)


def test_each_checkpoint_is_cosigned_stored_and_published(
    sites, project, django_capture_on_commit_callbacks
):
    for _ in range(3):
        checkpoint = append(project, django_capture_on_commit_callbacks, 2)
    assert WitnessCosignature.objects.count() == 9  # three checkpoints, three witnesses
    witnessing.wait_for_publications()
    note = default_store().get_bytes(witnessing.cosigned_store_key("AEB", 6)).decode()
    assert note == witnessing.cosigned_note(checkpoint)
    keys = [verify.parse_cosigner_vkey(s.vkey) for s in sites]
    assert sorted(verify.verify_cosignatures(note, keys)) == [s.name for s in sites]
    assert verify_project(project).ok


def test_with_one_witness_down_the_quorum_of_two_holds(
    settings, sites, project, django_capture_on_commit_callbacks
):
    append(project, django_capture_on_commit_callbacks)
    sites[2].stop()
    sites[2].server = None
    checkpoint = append(project, django_capture_on_commit_callbacks)
    assert sorted(checkpoint.cosignatures.values_list("witness", flat=True)) == [
        sites[0].name,
        sites[1].name,
    ]
    settings.SAFECASE_WITNESS_GRACE = 0
    assert verify_project(project).ok
    settings.SAFECASE_WITNESS_QUORUM = 3
    problems = verify_project(project).problems
    assert problems == [
        "checkpoints of AEB at sizes 2 lack the quorum of 3 of 3 witness cosignatures for "
        f"longer than the grace of 0 s; the latest has none from {sites[2].name}"
    ]


def test_a_witness_back_up_is_asked_from_the_size_it_last_cosigned(
    sites, project, django_capture_on_commit_callbacks
):
    append(project, django_capture_on_commit_callbacks, 3)
    sites[0].stop()
    append(project, django_capture_on_commit_callbacks, 3)  # size 6, without w1
    sites[0].start()
    # Its record was restored, but not its address: the installation must reach it again.
    sites[0].url = f"http://127.0.0.1:{sites[0].server.server_address[1]}"
    from django.conf import settings

    settings.SAFECASE_WITNESSES = [f"{s.url} {s.vkey}" for s in sites]
    checkpoint = append(project, django_capture_on_commit_callbacks, 3)  # 3 -> 9, a real proof
    assert checkpoint.cosignatures.count() == 3


def test_a_lost_cosignature_row_is_recovered_from_the_witnesses_answer(
    sites, ledger_transactional_db, project, django_capture_on_commit_callbacks
):
    append(project, django_capture_on_commit_callbacks, 4)
    with tampering() as cursor:  # lost by whoever has the owner's powers
        cursor.execute(
            "DELETE FROM evidence_witnesscosignature WHERE witness = %s", [sites[1].name]
        )
    witnessing.forget()  # as a process that starts now
    # The installation now believes w2 saw nothing (old 0); w2 answers 409 with 4, and the
    # request is made again from 4 with a consistency proof.
    checkpoint = append(project, django_capture_on_commit_callbacks, 3)
    assert sites[1].name in set(checkpoint.cosignatures.values_list("witness", flat=True))


def test_verify_ledger_reports_a_log_without_its_quorum_after_the_grace(
    settings, sites, project, django_capture_on_commit_callbacks
):
    for site in sites:
        site.stop()
        site.server = None
    append(project, django_capture_on_commit_callbacks)
    assert verify_project(project).ok  # within the grace: the witnesses may be slow
    settings.SAFECASE_WITNESS_GRACE = 0
    with pytest.raises(CommandError, match="lack the quorum of 2 of 3 witness cosignatures"):
        call_command("verify_ledger", "--project", "AEB", stdout=io.StringIO())


def test_cosignatures_deleted_from_the_database_still_count_from_the_store(
    settings,
    sites,
    ledger_transactional_db,
    project,
    django_capture_on_commit_callbacks,
    fresh_store,
):
    append(project, django_capture_on_commit_callbacks, 2)
    witnessing.wait_for_publications()
    with pytest.raises(DatabaseError, match=REFUSED):  # the table is append-only
        with transaction.atomic():
            WitnessCosignature.objects.all().delete()
    assert WitnessCosignature.objects.count() == 3
    with tampering() as cursor:  # an insider with the owner's powers
        cursor.execute("DELETE FROM evidence_witnesscosignature")
    assert WitnessCosignature.objects.count() == 0
    settings.SAFECASE_WITNESS_GRACE = 0
    assert verify_project(project).ok
    (fresh_store / witnessing.cosigned_store_key("AEB", 2)).unlink()
    assert "lack the quorum of 2 of 3" in verify_project(project).problems[0]


def test_a_planted_cosignature_is_named(
    sites, ledger_transactional_db, project, django_capture_on_commit_callbacks
):
    checkpoint = append(project, django_capture_on_commit_callbacks)
    row = checkpoint.cosignatures.get(witness=sites[0].name)
    forged = row.line[:-10] + ("A" if row.line[-10] != "A" else "B") + row.line[-9:]
    with pytest.raises(DatabaseError, match=REFUSED):
        with transaction.atomic():
            WitnessCosignature.objects.filter(pk=row.pk).update(line=forged)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE evidence_witnesscosignature SET line = %s WHERE id = %s", [forged, row.pk]
        )
    problems = verify_project(project).problems
    assert problems == [
        f"checkpoint at size 1: the cosignature by witness {sites[0].name} does not verify"
    ]


def test_bad_witness_settings_are_named(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SAFECASE_WITNESSES = ["http://127.0.0.1:1 not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="SAFECASE_WITNESSES item 1"):
        witnessing.configured_witnesses()
    settings.SAFECASE_WITNESSES = ["127.0.0.1:1"]
    with pytest.raises(ImproperlyConfigured, match="item 1 is not '<http"):
        witnessing.configured_witnesses()


def test_the_package_carries_the_cosignatures_and_meets_the_policy(
    settings, sites, project, tmp_path, django_capture_on_commit_callbacks, capsys
):
    from compliance.services import baseline_freeze
    from projects.models import Membership
    from reports.package import build_package

    user = get_user_model().objects.create_superuser("admin", password="pw")
    Membership.objects.create(project=project, user=user, role="admin")
    append(project, django_capture_on_commit_callbacks, 2)
    sites[2].stop()
    sites[2].server = None
    with django_capture_on_commit_callbacks(execute=True):
        baseline_freeze(user=user, project=project, name="B1")
    checkpoint = Checkpoint.objects.filter(project=project).order_by("-size").first()
    package = build_package(user=user, project=project, checkpoint=checkpoint)
    path = tmp_path / "package.zip"
    path.write_bytes(package.data)
    with zipfile.ZipFile(path) as archive:
        assert archive.read(verify.CHECKPOINT_NAME).decode() == witnessing.cosigned_note(checkpoint)
    vkey = tmp_path / "ledger.vkey"
    vkey.write_text(verify.format_vkey(log_name(), load_signing_key().public) + "\n")
    trust = ["--trusted-key", str(vkey)]

    assert (
        verify.main([str(path), *trust, "--witness-policy", policy_file(tmp_path, sites, 2)]) == 0
    )
    out = capsys.readouterr().out
    assert f"cosigned by 2 of 3 witnesses (quorum 2: {sites[0].name}, {sites[1].name})" in out

    assert (
        verify.main([str(path), *trust, "--witness-policy", policy_file(tmp_path, sites, 3)]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("FAIL: witness policy ")
    assert f"no cosignature from {sites[2].name}" in err

    bad = tmp_path / "bad.policy"
    bad.write_text(f"witness {verify.format_vkey(log_name(), load_signing_key().public)}\n")
    assert verify.main([str(path), *trust, "--witness-policy", str(bad)]) == 2


def test_the_published_cosigned_note_verifies_offline_without_cryptography(
    sites, project, tmp_path, django_capture_on_commit_callbacks, fresh_store
):
    import subprocess
    import sys
    from pathlib import Path

    append(project, django_capture_on_commit_callbacks, 3)
    witnessing.wait_for_publications()
    note = fresh_store / witnessing.cosigned_store_key("AEB", 3)
    vkey = tmp_path / "ledger.vkey"
    vkey.write_text(verify.format_vkey(log_name(), load_signing_key().public) + "\n")
    # -S: no site-packages, so the verifier checks the cosignatures with pure-Python Ed25519.
    command = [sys.executable, "-I", "-S", Path(verify.__file__).name, "checkpoint"]
    command += [str(note), str(vkey)]

    def run(quorum: int):
        policy = policy_file(tmp_path, sites, quorum)
        return subprocess.run(
            [*command, "--witness-policy", policy],
            cwd=Path(verify.__file__).parent,
            capture_output=True,
            text=True,
            check=False,
        )

    ok = run(3)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: checkpoint of ") and "(quorum 3)" in ok.stdout
    sites[0].stop()
    sites[0].server = None
    append(project, django_capture_on_commit_callbacks)
    witnessing.wait_for_publications()
    note.write_bytes((fresh_store / witnessing.cosigned_store_key("AEB", 4)).read_bytes())
    short = run(3)
    assert short.returncode == 1
    assert short.stderr.strip().endswith(f"no cosignature from {sites[0].name}")


def test_the_task_retries_while_a_witness_is_down(
    sites, project, django_capture_on_commit_callbacks
):
    from celery.exceptions import Retry

    from evidence.tasks import witness_checkpoint_task

    checkpoint = append(project, django_capture_on_commit_callbacks)  # cosigned by all three
    sites[1].stop()
    sites[1].server = None
    with django_capture_on_commit_callbacks(execute=False):
        ledger.append(project, [Record("decision", [Subject("x", "f" * 64)], {})])
    checkpoint = ledger.latest_checkpoint(project)
    assert checkpoint.cosignatures.count() == 0  # the on-commit submission did not run
    with pytest.raises(Retry):
        witness_checkpoint_task.apply(args=[checkpoint.pk], throw=True)
    assert checkpoint.cosignatures.count() == 2
    sites[1].start()
    from django.conf import settings

    settings.SAFECASE_WITNESSES = [f"{s.url} {s.vkey}" for s in sites]
    result = witness_checkpoint_task.apply(args=[checkpoint.pk], throw=True).get()
    assert result == {"cosigned": [sites[1].name], "refused": [], "skipped": []}
    assert checkpoint.cosignatures.count() == 3
