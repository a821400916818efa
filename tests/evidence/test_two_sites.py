"""Two installations witness each other: each runs a witness that pins the other's log key.

Site A is this test's installation; site B is a second installation in other processes, with
its own database, store, signing key and log name. A's witness cosigns B's checkpoints and B's
witness cosigns A's, over real HTTP on 127.0.0.1, and each side's verify_ledger holds its log to
a quorum of one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from evidence import ledger, verify, witnessing
from evidence.keys import load_signing_key, log_name
from evidence.ledger import Record, Subject
from evidence.verification import verify_project
from tests.witness.conftest import ROOT, WitnessProcess

pytestmark = pytest.mark.django_db

SITE_B = """
import json, sys
import django
django.setup()
from django.core.management import call_command
from evidence import ledger, verify
from evidence.keys import generate_key_file, key_path, load_signing_key, log_name
from evidence.models import WitnessCosignature
from projects.models import Project
if sys.argv[1] == "init":
    call_command("migrate", verbosity=0)
    generate_key_file(key_path())
    Project.objects.create(key="BRK", name="Brake actuator")
    print(json.dumps({"vkey": verify.format_vkey(log_name(), load_signing_key().public)}))
else:
    project = Project.objects.get(key="BRK")
    for n in range(3):
        subject = ledger.Subject(f"b{n}", f"{n:064x}")
        ledger.append(project, [ledger.Record("decision", [subject], {"n": n})])
    out = {"cosignatures": WitnessCosignature.objects.count()}
    try:
        call_command("verify_ledger", "--project", "BRK", stdout=sys.stderr)
        out["verified"] = True
    except Exception as exc:
        out["verified"] = str(exc)
    print(json.dumps(out))
"""


def site_b(tmp_path, command: str, witnesses: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SAFECASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="site-b-test-secret-key-0123456789-0123456789-0123456789",
        ALLOWED_HOSTS="127.0.0.1",
        CELERY_BROKER_URL="",
        DATABASE_URL=f"sqlite:///{tmp_path / 'b.sqlite3'}",
        SAFECASE_STORAGE_URL=(tmp_path / "b-store").as_uri(),
        SAFECASE_SIGNING_KEY_FILE=str(tmp_path / "b.key"),
        SAFECASE_LOG_NAME="site-b.example/ledger",
        SAFECASE_WITNESSES=witnesses,
        SAFECASE_WITNESS_QUORUM="1",
        SAFECASE_WITNESS_GRACE="0",
    )
    done = subprocess.run(
        [sys.executable, "-c", SITE_B, command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def witness_for(tmp_path, name: str, log_vkey: str) -> WitnessProcess:
    label = name.replace("/", "-")
    keys = tmp_path / f"{label}-pins.vkey"
    keys.write_text(log_vkey + "\n")
    key_file = tmp_path / f"{label}.key"
    made = subprocess.run(
        [sys.executable, "-m", "witness", "keygen", "--name", name, "--key", str(key_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    process = WitnessProcess(name, key_file, tmp_path / f"{label}-state", keys, made.stdout.strip())
    process.start()
    return process


def test_two_sites_witness_each_other(
    settings, tmp_path, project, django_capture_on_commit_callbacks
):
    b_vkey = site_b(tmp_path, "init")["vkey"]
    a_vkey = verify.format_vkey(log_name(), load_signing_key().public)
    witness_of_a = witness_for(tmp_path, "site-a.example/witness", b_vkey)  # A watches B
    witness_of_b = witness_for(tmp_path, "site-b.example/witness", a_vkey)  # B watches A
    try:
        settings.SAFECASE_WITNESSES = [f"{witness_of_b.url} {witness_of_b.vkey}"]
        settings.SAFECASE_WITNESS_QUORUM = 1
        settings.SAFECASE_WITNESS_GRACE = 0
        for n in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                ledger.append(project, [Record("decision", [Subject(f"a{n}", f"{n:064x}")])])
        checkpoint = ledger.latest_checkpoint(project)
        assert list(checkpoint.cosignatures.values_list("witness", flat=True)) == [
            "site-b.example/witness"
        ]
        assert verify_project(project).ok

        b = site_b(tmp_path, "append", f"{witness_of_a.url} {witness_of_a.vkey}")
        assert b == {"cosignatures": 3, "verified": True}

        # Each witness pins only the other site's key: A's own checkpoint is no business of
        # the witness A runs.
        from tests.witness.conftest import add_checkpoint

        assert add_checkpoint(witness_of_a.url, 0, [], checkpoint.note)[0] == 404
    finally:
        witnessing.wait_for_publications()
        witnessing.forget()
        witness_of_a.stop()
        witness_of_b.stop()
