"""The certification package: deterministic bytes, its members, the export record, the command,
and the package's own verifier run as the regulator runs it."""

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from evidence import verify
from evidence.keys import load_signing_key, log_name
from evidence.models import LogEntry
from evidence.services import dataset_register
from evidence.storage import default_store
from projects.models import Project
from reports import selectors
from reports.package import build_package
from reports.selectors import ReportError
from reports.services import export_package
from tests.reports.test_pdf import text_of
from validation.models import Verdict

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo")
    return Project.objects.get(key="AEB")


def user(name="vic"):
    return get_user_model().objects.get(username=name)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def published_vkey() -> str:
    """The installation's verifier key as the operator publishes it (the store's keys/ folder
    holds the same text), which a regulator obtains independently of any package."""
    return verify.format_vkey(log_name(), load_signing_key().public) + "\n"


def run_verifier(tmp_path, package: bytes, *args, site=False, trust=True):
    """``python -I -S verify.py package.zip --trusted-key trusted.vkey`` from a folder holding
    only the package's verifier and the published key (``-S``: no site-packages, so no
    cryptography and nothing but the standard library)."""
    folder = tmp_path / "regulator"
    folder.mkdir(exist_ok=True)
    (folder / "verify.py").write_bytes(members(package)["verify.py"])
    (folder / "package.zip").write_bytes(package)
    (folder / "trusted.vkey").write_text(published_vkey())
    flags = ["-I"] if site else ["-I", "-S"]
    roots = ["--trusted-key", "trusted.vkey"] if trust else []
    return subprocess.run(
        [sys.executable, *flags, "verify.py", "package.zip", *args, *roots],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_builds_give_the_same_bytes(demo):
    first = build_package(user=user(), project=demo)
    second = build_package(user=user(), project=demo)
    assert first.data == second.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()


def test_the_zip_is_laid_out_deterministically(demo):
    package = build_package(user=user(), project=demo)
    checkpoint = selectors.latest_checkpoint(demo)
    moment = checkpoint.created_at
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {
        "manifest.json",
        "evidence-pack.pdf",
        "ledger/entries.jsonl",
        "ledger/checkpoint.note",
        "verify.py",
    } <= set(names)
    assert any(n.startswith("keys/") and n.endswith(".vkey") for n in names)
    for info in infos:
        assert info.date_time[:5] == (
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
        )
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.external_attr >> 16 == 0o100644 and info.create_system == 3


def test_the_manifest_describes_every_member(demo):
    package = build_package(user=user(), project=demo)
    files = members(package.data)
    manifest = json.loads(files["manifest.json"])
    checkpoint = selectors.latest_checkpoint(demo)
    baseline = selectors.baseline_named(demo)
    assert manifest["format"] == verify.PACKAGE_FORMAT and manifest["version"] == 1
    assert manifest["project"]["key"] == "AEB"
    assert manifest["baseline"] == {
        "name": "v1.0-demo",
        "root": baseline.root,
        "entry": baseline.entry.index,
        "items": baseline.item_count,
    }
    assert manifest["checkpoint"]["size"] == checkpoint.size
    assert manifest["checkpoint"]["root"] == bytes(checkpoint.root).hex()
    assert manifest["checkpoint"]["origin"] == "safecase.local/ledger/AEB"
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, item in listed.items():
        assert item["sha256"] == hashlib.sha256(files[path]).hexdigest()
        assert item["size"] == len(files[path])
    cited = {e["index"]: e for e in manifest["evidence"]}
    assert baseline.entry.index in cited
    for index, item in cited.items():
        entry = LogEntry.objects.get(project=demo, index=index)
        assert item["leafHash"] == bytes(entry.leaf_hash).hex()
    assert files["verify.py"] == open(verify.__file__, "rb").read()
    assert files["ledger/checkpoint.note"].decode() == checkpoint.note


def test_the_ledger_is_carried_whole_and_exact(demo):
    files = members(build_package(user=user(), project=demo).data)
    lines = files["ledger/entries.jsonl"].splitlines()
    entries = list(LogEntry.objects.filter(project=demo).order_by("index"))
    assert len(lines) == len(entries) == selectors.latest_checkpoint(demo).size
    for line, entry in zip(lines, entries, strict=True):
        record = json.loads(line)
        assert set(record) == {"index", "kind", "subject", "digest", "key_id", "envelope"}
        assert record["index"] == entry.index and record["kind"] == entry.kind
        assert base64.b64decode(record["envelope"]) == bytes(entry.envelope)
    results = [e for e in entries if e.kind == "validation-result"]
    assert results
    for entry in results:
        statement = json.loads(files[f"attestations/{entry.index:08d}.json"])
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["subject"][0]["name"] == entry.subject


def test_export_writes_the_file_and_records_it_afterwards(demo, tmp_path):
    size = selectors.latest_checkpoint(demo).size
    path = tmp_path / "aeb-v1.zip"
    export = export_package(user=user(), project=demo, path=path)
    data = path.read_bytes()
    entry = LogEntry.objects.get(project=demo, index=size)
    assert export.entry == entry
    assert (entry.kind, entry.subject, entry.digest) == (
        "report",
        "package:aeb-v1.zip",
        hashlib.sha256(data).hexdigest(),
    )
    assert entry.recorded_by == user()
    assert json.loads(members(data)["manifest.json"])["checkpoint"]["size"] == size
    # the record does not change what the package of that checkpoint is
    rebuilt = build_package(user=user(), project=demo, checkpoint=demo.checkpoints.get(size=size))
    assert rebuilt.data == data
    assert not list(tmp_path.glob(".*partial"))


def test_the_command_prints_json_and_refuses_bad_input_in_one_line(demo, tmp_path):
    out = StringIO()
    target = tmp_path / "p.zip"
    call_command(
        "export_package",
        "--project",
        "AEB",
        "-o",
        str(target),
        "--user",
        "vic",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    assert summary["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert summary["baseline"] == "v1.0-demo" and summary["ledger_entry"] >= 0
    cases = [
        (["--project", "NOPE"], "no project with key 'NOPE'"),
        (["--project", "AEB", "--baseline", "v9"], "no baseline named 'v9' in AEB"),
        (["--project", "AEB", "--user", "nobody"], "no active user named 'nobody'"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message.replace("(", r"\(")):
            call_command(
                "export_package",
                *args,
                "-o",
                str(tmp_path / "x.zip"),
                *([] if "--user" in args else ["--user", "vic"]),
            )
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "export_package",
            "--project",
            "AEB",
            "-o",
            str(tmp_path / "missing" / "x.zip"),
            "--user",
            "vic",
        )
    assert not (tmp_path / "x.zip").exists()


def test_a_non_member_cannot_export(demo, tmp_path, outsider):
    with pytest.raises(CommandError, match="no project"):
        call_command(
            "export_package",
            "--project",
            "AEB",
            "-o",
            str(tmp_path / "x.zip"),
            "--user",
            outsider.username,
        )
    assert not LogEntry.objects.filter(project=demo, kind="report").exists()


def test_a_project_without_baseline_is_refused(project, members, tmp_path):
    from compliance import services

    services.hazard_create(user=members["engineer"], project=project, code="H-01", title="x")
    with pytest.raises(CommandError, match="has no baseline yet"):
        call_command(
            "export_package",
            "--project",
            project.key,
            "-o",
            str(tmp_path / "x.zip"),
            "--user",
            members["viewer"].username,
        )


def test_the_shipped_verifier_accepts_the_package_with_the_standard_library_only(demo, tmp_path):
    package = build_package(user=user(), project=demo)
    result = run_verifier(tmp_path, package.data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: package for AEB, baseline v1.0-demo, ")
    assert f"{package.entries} entries" in result.stdout
    assert "pure-Python Ed25519" in result.stdout
    assert result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "regulator").iterdir()) == [
        "package.zip",
        "trusted.vkey",
        "verify.py",
    ]  # nothing written beside it
    with_site = run_verifier(tmp_path, package.data, site=True)
    assert with_site.returncode == 0 and "the cryptography package" in with_site.stdout


def test_datasets_travel_with_their_manifests(demo, tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    for n in range(3):
        (lake / f"drive-{n}.parquet").write_bytes(bytes([n]) * 1000)
    artifact = dataset_register(user=user("erin"), project=demo, name="drives", uri=lake.as_uri())
    package = build_package(user=user(), project=demo)
    files = members(package.data)
    sha = artifact.manifest_key.rsplit("/", 1)[1].removesuffix(".json")
    manifest = json.loads(files[f"datasets/{sha}.json"])
    assert manifest["merkleRoot"] == artifact.sha256 and len(manifest["objects"]) == 3
    result = run_verifier(tmp_path, package.data, site=True)
    assert result.returncode == 0, result.stderr


def test_a_grown_log_verifies_against_the_older_package(demo, tmp_path):
    first = export_package(user=user(), project=demo, path=tmp_path / "one.zip")
    second = export_package(user=user(), project=demo, path=tmp_path / "two.zip")
    assert second.package.entries == first.package.entries + 1
    folder = tmp_path / "regulator"
    folder.mkdir()
    shutil.copy(verify.__file__, folder / "verify.py")
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "verify.py",
            str(tmp_path / "two.zip"),
            "--previous",
            str(tmp_path / "one.zip"),
            "--trusted-fingerprint",
            verify.key_fingerprint(log_name(), load_signing_key().public),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "the log only grew since" in result.stdout


def test_the_demo_with_its_campaign_exports_and_verifies(ledger_transactional_db, tmp_path):
    call_command("seed_demo")
    call_command(
        "run_campaign",
        "--project",
        "AEB",
        "--campaign",
        "AEB-demo",
        "--user",
        "erin",
        stdout=StringIO(),
    )
    project = Project.objects.get(key="AEB")
    package = build_package(user=user(), project=project, compress_pdf=False)
    files = members(package.data)
    pdf = text_of(files["evidence-pack.pdf"])  # the fonts are embedded: read the text back
    for text in (
        "Validation runs",
        "run 1 of campaign AEB-demo",
        "AC-02",
        "inconclusive",
        "Progress towards the validation target",
        "log scale (one tick per factor of 10)",
        "What each criterion of run 1 was judged on",
        "AC-02 CCRs; ego_speed 20 to 50",
        "per case",
    ):
        assert text in pdf, text
    # what the run judged AC-02 on, scenario by scenario, as the verdict recorded it
    verdict = Verdict.objects.get(run__campaign__name="AEB-demo", criterion__code="AC-02")
    ccrs = {row["scenario"]: row for row in verdict.scenarios}["CCRs"]
    row = " ".join(str(ccrs[k]) for k in ("cases", "in_scope", "judged", "failing"))
    assert (
        f"AC-02 CCRs; ego_speed 20 to 50 ({verdict.cases_out_of_scope:,} outside) CCRs {row}" in pdf
    )
    assert "CCRb" not in pdf.split("AC-02 CCRs; ego_speed 20 to 50")[1].split("AC-03")[0]
    run_entry = LogEntry.objects.filter(project=project, subject__startswith="run:").get()
    assert f"attestations/{run_entry.index:08d}.json" in files
    cited = {e["index"] for e in json.loads(files["manifest.json"])["evidence"]}
    assert run_entry.index in cited
    result = run_verifier(tmp_path, package.data)
    assert result.returncode == 0, result.stderr


def rotation_to_a_new_key() -> tuple[str, bytes]:
    """A rotation statement from the installation's key to a new one, as the operator's
    rotation writes it: signed by both keys. Returns its store path and bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    old = load_signing_key()
    new = Ed25519PrivateKey.generate()
    new_public = new.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    new_id = verify.note_key_id(log_name(), new_public).hex()
    payload = verify.rotation_payload(
        verify.format_vkey(log_name(), old.public),
        verify.format_vkey(log_name(), new_public),
        "2026-01-01T00:00:00Z",
    )
    message = verify.pae(verify.KEY_ROTATION_PAYLOAD_TYPE, payload)
    statement = verify.format_rotation(
        payload, [(old.key_id, old.sign(message)), (new_id, new.sign(message))]
    )
    return f"keys/rotations/{old.key_id}-{new_id}.json", statement


def test_rotation_statements_in_the_store_travel_in_the_package(demo, tmp_path):
    name, statement = rotation_to_a_new_key()
    default_store().put_bytes(name, statement)
    package = build_package(user=user(), project=demo)
    files = members(package.data)
    assert files[name] == statement
    listed = {f["path"]: f for f in json.loads(files["manifest.json"])["files"]}
    assert listed[name]["sha256"] == hashlib.sha256(statement).hexdigest()
    result = run_verifier(tmp_path, package.data, site=True)
    assert result.returncode == 0, result.stderr
    assert "through 1 rotation statement(s)" in result.stdout


def test_an_invalid_rotation_statement_in_the_store_stops_the_export(demo):
    name, statement = rotation_to_a_new_key()
    envelope = json.loads(statement)
    envelope["signatures"] = envelope["signatures"][1:]  # the new key's signature only
    default_store().put_bytes(name, verify.canonical_json(envelope))
    with pytest.raises(ReportError, match="is not a valid rotation: .* not signed by its previous"):
        build_package(user=user(), project=demo)


def test_without_a_trust_root_the_shipped_verifier_says_what_to_pass(demo, tmp_path):
    package = build_package(user=user(), project=demo)
    result = run_verifier(tmp_path, package.data, trust=False)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("ORIGIN NOT VERIFIED") and "--trusted-fingerprint" in (
        result.stdout
    )
    assert not [line for line in result.stdout.splitlines() if line.startswith("OK")]
