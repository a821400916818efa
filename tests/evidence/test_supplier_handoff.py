"""Supplier to OEM hand-off: an installation imports another's certification package.

The supplier is a second installation in other processes, with its own database, store,
signing key and log name; it exports real packages with ``export_package``. This test's
installation is the OEM: it imports them against the supplier's verifier key, cites a supplier
requirement from one of its own, accepts the supplier's later package as an extension of the
first, and refuses a rewritten history (a different log signed again with the supplier's key),
a package its trust root does not reach, and a package below the witness policy's quorum.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import services as compliance
from compliance.models import Requirement
from evidence import verify
from evidence.keys import load_signing_key, log_name
from evidence.models import Artifact, LogEntry, SupplierClaim, SupplierPackage
from projects.models import Membership
from reports.gsn.argument import build
from reports.gsn.model import CHALLENGED, SOLUTION, SUPPORTED, UNDEVELOPED
from reports.selectors import case_snapshot
from tests.witness.conftest import ROOT

pytestmark = pytest.mark.django_db

SUPPLIER = """
import io, json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from compliance import services
from compliance.models import Requirement
from evidence import ledger, verify
from evidence.keys import generate_key_file, key_path, load_signing_key, log_name
from projects.models import Project
command, out = sys.argv[1], sys.argv[2]
if command in ("first", "rewrite"):
    call_command("migrate", verbosity=0)
    if not key_path().exists():
        generate_key_file(key_path())
    sam = get_user_model().objects.create_superuser("sam", "sam@supplier.example", "x")
    project = Project.objects.create(key="BRK", name="Brake actuator")
    limit = "150 ms" if command == "first" else "900 ms"
    first = services.requirement_create(
        user=sam, project=project, code="BRK-TSR-1", kind="TSR", title="Deceleration",
        text=f"The actuator reaches the requested deceleration within {limit}.", asil="C")
    services.requirement_create(
        user=sam, project=project, code="BRK-TSR-2", kind="TSR", title="Release",
        text="The actuator releases the brake when the request ends.", asil="B")
    services.verification_record(
        user=sam, project=project, requirement=first, method="hil-test", result="pass",
        summary="HIL bench, 200 runs")
    services.baseline_freeze(user=sam, project=project, name="B1")
if command in ("later", "rewrite"):
    sam = get_user_model().objects.get(username="sam")
    project = Project.objects.get(key="BRK")
    second = Requirement.objects.get(project=project, code="BRK-TSR-2")
    services.verification_record(
        user=sam, project=project, requirement=second, method="hil-test", result="fail",
        summary="release too slow at -20 C")
    if command == "rewrite":
        ledger.append(project, [ledger.Record("decision", [ledger.Subject("x", "0" * 64)])])
    services.baseline_freeze(user=sam, project=project, name="B2")
call_command("export_package", "--project", "BRK", "-o", out, "--user", "sam",
             stdout=io.StringIO())
print(json.dumps({"vkey": verify.format_vkey(log_name(), load_signing_key().public)}))
"""


def supplier(tmp_path, command: str, database: str = "supplier") -> tuple[str, str]:
    """Run the supplier installation; returns the package it exported and its verifier key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SAFECASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="supplier-test-secret-key-0123456789-0123456789-0123456789",
        ALLOWED_HOSTS="127.0.0.1",
        CELERY_BROKER_URL="",
        DATABASE_URL=f"sqlite:///{tmp_path / (database + '.sqlite3')}",
        SAFECASE_STORAGE_URL=(tmp_path / f"{database}-store").as_uri(),
        SAFECASE_SIGNING_KEY_FILE=str(tmp_path / "supplier.key"),
        SAFECASE_LOG_NAME="supplier.example/ledger",
    )
    out = tmp_path / f"{database}-{command}.zip"
    done = subprocess.run(
        [sys.executable, "-c", SUPPLIER, command, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return str(out), json.loads(done.stdout.strip().splitlines()[-1])["vkey"]


@pytest.fixture
def oem(project, django_user_model):
    """The importing project with one requirement of its own, derived from a safety goal."""
    olga = django_user_model.objects.create_user("olga", password="x")
    Membership.objects.create(project=project, user=olga, role="safety_manager")
    goal = compliance.safety_goal_save(
        user=olga, project=project, code="SG-1", text="Avoid a rear-end collision"
    )
    local = compliance.requirement_create(
        user=olga,
        project=project,
        code="AEB-FSR-1",
        kind="FSR",
        text="Brake automatically before a collision.",
        asil="C",
    )
    compliance.link_create(
        user=olga, project=project, source=local, target_goal=goal, kind="satisfies"
    )
    return olga


def import_package(path, key_file, *extra) -> dict:
    out = io.StringIO()
    call_command(
        "import_package", path, "--project", "AEB", "--trusted-key", key_file, "--json",
        "--user", "olga", *extra, stdout=out,
    )  # fmt: skip
    return json.loads(out.getvalue())


def predicate_of(entry) -> dict:
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))["predicate"]


def state(project) -> tuple:
    return (
        LogEntry.objects.filter(project=project).count(),
        SupplierPackage.objects.count(),
        SupplierClaim.objects.count(),
        Artifact.objects.count(),
    )


def test_supplier_exports_oem_imports_cites_and_refuses_a_rewrite(
    tmp_path, settings, project, oem, fresh_store
):
    first, vkey = supplier(tmp_path, "first")
    key_file = tmp_path / "supplier.vkey"
    key_file.write_text(vkey + "\n")

    imported = import_package(first, str(key_file), "--cite", "AEB-FSR-1=BRK-TSR-1")
    assert imported["origin"] == "supplier.example/ledger/BRK"
    assert imported["claims"] == [
        {"code": "BRK-TSR-1", "result": "pass", "cited_by": "AEB-FSR-1"},
        {"code": "BRK-TSR-2", "result": None, "cited_by": None},
    ]
    package = SupplierPackage.objects.get()
    with open(first, "rb") as handle:
        data = handle.read()
    # The zip is in the importer's store, content-addressed, and the ledger entry names it.
    assert (fresh_store / package.artifact.manifest_key).read_bytes() == data
    entry = package.entry
    assert entry.kind == "supplier-package" and entry.digest == package.sha256
    predicate = predicate_of(entry)
    assert predicate["checkpoint"] == {"size": package.size, "root": package.root}
    assert predicate["origin"] == "supplier.example/ledger/BRK"
    assert [c["code"] for c in predicate["claims"]] == ["BRK-TSR-1", "BRK-TSR-2"]
    assert predicate["previous"] is None

    # The OEM's GSN: the cited claim supports AEB-FSR-1, the other sits under S3.
    compliance.baseline_freeze(user=oem, project=project, name="O1")
    case = build(case_snapshot(user=oem, project=project))
    supplier_nodes = {
        n.ref: n
        for n in case.nodes.values()
        if n.type == SOLUTION and n.ref.startswith("supplier:")
    }
    cited = supplier_nodes["supplier:BRK-TSR-1"]
    assert cited.status == SUPPORTED
    assert (
        f"supported by supplier evidence: supplier.example/ledger/BRK checkpoint {package.size}, "
        f"package {package.sha256[:12]}" in cited.text
    )
    assert cited.id in case.supporters("G:requirement:AEB-FSR-1")
    assert supplier_nodes["supplier:BRK-TSR-2"].id in case.supporters("S3")
    assert supplier_nodes["supplier:BRK-TSR-2"].status == UNDEVELOPED

    # The supplier's later package extends the first: accepted, with the consistency proof.
    later, _ = supplier(tmp_path, "later")
    grown = import_package(later, str(key_file))
    newer = SupplierPackage.objects.get(sha256=grown["sha256"])
    assert newer.size > package.size
    predicate = predicate_of(newer.entry)
    assert predicate["previous"]["size"] == package.size
    proof = [bytes.fromhex(h) for h in predicate["previous"]["consistencyProof"]]
    assert verify.verify_consistency(
        package.size, newer.size, proof, bytes.fromhex(package.root), bytes.fromhex(newer.root)
    )
    # The citation carries over, and the GSN now shows the later package and its failure.
    assert newer.claims.get(code="BRK-TSR-1").cited_by == "AEB-FSR-1"
    assert newer.claims.get(code="BRK-TSR-2").result == "fail"
    compliance.baseline_freeze(user=oem, project=project, name="O2")
    case = build(case_snapshot(user=oem, project=project))
    nodes = [n for n in case.nodes.values() if n.ref == "supplier:BRK-TSR-2"]
    assert [n.status for n in nodes] == [CHALLENGED]
    assert f"checkpoint {newer.size}, package {newer.sha256[:12]}" in nodes[0].text

    # A rewritten history: another database, the same key and log name, signed again.
    rewritten, same_key = supplier(tmp_path, "rewrite", database="supplier-rewritten")
    assert same_key == vkey
    assert verify.verify_package(rewritten, trusted_keys=[verify.parse_vkey(vkey)[::2]])
    before = state(project)
    with pytest.raises(CommandError) as refused:
        import_package(rewritten, str(key_file))
    message = str(refused.value)
    assert message.startswith(f"{rewritten}: the supplier log supplier.example/ledger/BRK was")
    assert "rewritten" in message and f"imported from package {newer.sha256[:12]}" in message
    assert state(project) == before
    # The first package again: imported already, and older than the latest one.
    with pytest.raises(CommandError, match="was imported into AEB"):
        import_package(first, str(key_file))
    assert state(project) == before
    assert sorted(p.name for p in (fresh_store / "packages" / "sha256").iterdir()) == sorted(
        f"{p.sha256}.zip" for p in SupplierPackage.objects.all()
    )


def test_refused_by_trust_root_and_witness_policy_and_nothing_written(
    tmp_path, project, oem, fresh_store
):
    first, vkey = supplier(tmp_path, "first")
    # The OEM's own key is no trust root for the supplier's package.
    wrong = tmp_path / "wrong.vkey"
    wrong.write_text(verify.format_vkey(log_name(), load_signing_key().public) + "\n")
    before = state(project)
    with pytest.raises(CommandError) as refused:
        import_package(first, str(wrong))
    assert str(refused.value).startswith(f"{first}: not signed by a trusted key")
    assert state(project) == before
    assert not (fresh_store / "packages").exists()

    # The right key, but a policy whose witnesses never cosigned the supplier's checkpoint.
    key_file = tmp_path / "supplier.vkey"
    key_file.write_text(vkey + "\n")
    policy = tmp_path / "policy.txt"
    lines = []
    for name in ("assessor.example/witness", "site-b.example/witness"):
        public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        lines.append(f"witness {verify.format_cosigner_vkey(name, public)}")
    policy.write_text("\n".join([*lines, "quorum 1"]) + "\n")
    with pytest.raises(CommandError) as refused:
        import_package(first, str(key_file), "--witness-policy", str(policy))
    message = str(refused.value)
    assert message.startswith(f"{first}: witness policy {policy}: the checkpoint is cosigned by 0")
    assert "assessor.example/witness, site-b.example/witness" in message
    assert state(project) == before
    assert not (fresh_store / "packages").exists()

    # A citation of a requirement the package does not hold changes nothing either.
    with pytest.raises(CommandError, match="holds no supplier requirement BRK-TSR-9"):
        import_package(first, str(key_file), "--cite", "AEB-FSR-1=BRK-TSR-9")
    assert state(project) == before

    # A viewer may not import.
    viewer = get_user_model().objects.create_user("vera", password="x")
    Membership.objects.create(project=project, user=viewer, role="viewer")
    with pytest.raises(CommandError, match="may not edit"):
        call_command(
            "import_package", first, "--project", "AEB", "--trusted-key", str(key_file),
            "--user", "vera", stdout=io.StringIO(),
        )  # fmt: skip
    assert state(project) == before
    assert Requirement.objects.filter(project=project).count() == 1
