"""The package verifier (``python verify.py FILE.zip``) against tampered packages.

Each case changes one thing and, where a shallower check would otherwise catch it first, puts
the manifest (and, for the log's own checks, the checkpoint) back in order with the real
ledger key, so that the check under test is the one that fails. Every run is a subprocess of
``python -I verify.py`` from a folder holding only the verifier: exit 1, one line, a clear
reason, no traceback.
"""

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction

from evidence import verify
from evidence.keys import load_signing_key, log_name

VERIFIER = Path(verify.__file__).read_bytes()

# The mark makes pytest-django create the test database, which the module fixture below uses.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def packages(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two packages of the demo log, the second one entry longer, and a stranger's package;
    built once, in a transaction that is rolled back."""
    from evidence import ledger
    from evidence.services import dataset_register
    from projects.models import Membership, Project
    from reports.package import build_package, record_export

    lake = tmp_path_factory.mktemp("lake")
    for n in range(3):
        (lake / f"drive-{n}.bin").write_bytes(bytes([n]) * 500)
    with django_db_blocker.unblock(), transaction.atomic():
        name = str(connection.settings_dict["NAME"])
        assert "memory" in name or Path(name).name.startswith("test"), name  # never a real one
        call_command("seed_demo", stdout=io.StringIO())
        project = Project.objects.get(key="AEB")
        users = get_user_model().objects.in_bulk(["vic", "erin"], field_name="username")
        dataset_register(user=users["erin"], project=project, name="drives", uri=lake.as_uri())
        older = build_package(user=users["vic"], project=project)
        record_export(user=users["vic"], project=project, package=older, file_name="old.zip")
        newer = build_package(user=users["vic"], project=project)
        other = Project.objects.create(key="LKA", name="Lane keeping")
        Membership.objects.create(project=other, user=users["vic"], role="viewer")
        from compliance.services import baseline_freeze

        ledger.append(other, [ledger.Record("change", [ledger.Subject("x", "0" * 64)])])
        admin = get_user_model().objects.get(username="admin")
        baseline_freeze(user=admin, project=other, name="L1")
        stranger = build_package(user=users["vic"], project=other)
        transaction.set_rollback(True)
    return {"older": older.data, "newer": newer.data, "other": stranger.data}


@pytest.fixture(scope="module")
def key():
    return load_signing_key()


def unpack(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pack(files: dict[str, bytes], extra: list[tuple[str, bytes]] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()


def manifest_of(files) -> dict:
    return json.loads(files["manifest.json"])


def sign_manifest(files, manifest, key) -> None:
    manifest["files"] = [
        {"path": p, "sha256": hashlib.sha256(files[p]).hexdigest(), "size": len(files[p])}
        for p in sorted(files)
        if p != "manifest.json"
    ]
    signature = key.sign(verify.manifest_signing_input(manifest))
    manifest["signature"] = {"keyid": key.key_id, "sig": base64.b64encode(signature).decode()}
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()


def sign_checkpoint(files, key, name=None) -> None:
    """A new checkpoint over the entries as they now are, signed with ``key``."""
    lines = files["ledger/entries.jsonl"].splitlines()
    leaves = [verify.leaf_hash(base64.b64decode(json.loads(line)["envelope"])) for line in lines]
    manifest = manifest_of(files)
    body = verify.format_checkpoint_body(
        manifest["checkpoint"]["origin"], len(leaves), verify.root_hash(leaves)
    )
    name = name or log_name()
    note = verify.format_signed_note(
        body, [(name, bytes.fromhex(key.key_id), key.sign(body.encode()))]
    )
    files["ledger/checkpoint.note"] = note.encode()
    manifest["checkpoint"]["size"] = len(leaves)
    manifest["checkpoint"]["root"] = verify.root_hash(leaves).hex()
    sign_manifest(files, manifest, key)


def entries(files) -> list[dict]:
    return [json.loads(line) for line in files["ledger/entries.jsonl"].splitlines()]


def set_entries(files, records) -> None:
    files["ledger/entries.jsonl"] = b"".join(verify.canonical_json(r) + b"\n" for r in records)


def run(tmp_path, data: bytes, *args, package_name="package.zip", s_flag=False):
    folder = tmp_path / "regulator"
    folder.mkdir(exist_ok=True)
    (folder / "verify.py").write_bytes(VERIFIER)
    (folder / package_name).write_bytes(data)
    flags = ["-I", "-S"] if s_flag else ["-I"]
    return subprocess.run(
        [sys.executable, *flags, "verify.py", package_name, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(result, reason: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert reason in result.stderr, result.stderr


def test_the_untouched_package_verifies(tmp_path, packages):
    result = run(tmp_path, packages["newer"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: package for AEB, baseline v1.0-demo, ")
    assert "cited items present" in result.stdout and "signed by safecase.local/ledger" in (
        result.stdout
    )


@pytest.mark.parametrize(
    "member",
    [
        "evidence-pack.pdf",
        "ledger/entries.jsonl",
        "ledger/checkpoint.note",
        "keys",
        "attestations",
        "datasets",
        "verify.py",
    ],
)
def test_an_altered_byte_in_any_member_is_caught(tmp_path, packages, member):
    files = unpack(packages["newer"])
    name = next(n for n in sorted(files) if n == member or n.startswith(member + "/"))
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    files[name] = bytes(data)
    refused(run(tmp_path, pack(files)), f"{name} does not match its SHA-256 and size")


def test_an_altered_manifest_breaks_its_signature(tmp_path, packages):
    files = unpack(packages["newer"])
    manifest = manifest_of(files)
    digest = manifest["files"][0]["sha256"]
    manifest["files"][0]["sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    refused(run(tmp_path, pack(files)), "the manifest signature does not verify")


def test_a_manifest_signed_by_another_key_is_not_trusted(tmp_path, packages, key):
    files = unpack(packages["newer"])
    manifest = manifest_of(files)
    manifest["project"]["name"] = "Something else"
    foreign = Ed25519PrivateKey.generate()
    signature = foreign.sign(verify.manifest_signing_input(manifest))
    manifest["signature"] = {"keyid": "00000000", "sig": base64.b64encode(signature).decode()}
    files["manifest.json"] = json.dumps(manifest).encode()
    refused(run(tmp_path, pack(files)), "signed by key 00000000, which is not trusted")


def test_a_missing_entry_is_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    set_entries(files, entries(files)[:-1])
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), "entries are missing or were added")


def test_an_extra_entry_is_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    records = entries(files)
    records.append({**records[-1], "index": len(records)})
    set_entries(files, records)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), "entries are missing or were added")


def test_two_swapped_entries_are_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    records = entries(files)
    records[3], records[4] = records[4], records[3]
    set_entries(files, records)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), "holds entry 4 where entry 3 belongs")


def test_two_swapped_envelopes_break_the_merkle_root(tmp_path, packages, key):
    files = unpack(packages["newer"])
    records = entries(files)
    records[3], records[4] = {**records[4], "index": 3}, {**records[3], "index": 4}
    set_entries(files, records)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), "Merkle root of the entries does not match")


def test_a_foreign_signature_on_an_entry_is_caught(tmp_path, packages, key):
    """Re-sign one envelope with a stranger's key under the real key id, then fix the leaf,
    the checkpoint and the manifest so only the DSSE signature check can notice."""
    files = unpack(packages["newer"])
    records = entries(files)
    victim = records[10]
    envelope = json.loads(base64.b64decode(victim["envelope"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["forged"] = True
    payload = verify.canonical_json(statement)
    forged = Ed25519PrivateKey.generate().sign(verify.pae(envelope["payloadType"], payload))
    envelope["payload"] = base64.b64encode(payload).decode()
    envelope["signatures"] = [{"keyid": key.key_id, "sig": base64.b64encode(forged).decode()}]
    victim["envelope"] = base64.b64encode(verify.canonical_json(envelope)).decode()
    set_entries(files, records)
    sign_checkpoint(files, key)
    refused(run(tmp_path, pack(files)), "entry 10: the DSSE signature does not verify")


def test_a_relabelled_entry_is_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    records = entries(files)
    records[5]["subject"] = "requirement:SOMETHING-ELSE"
    set_entries(files, records)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), "entry 5: its subject is not what its signed statement")


def test_a_cited_item_missing_from_the_log_is_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    manifest = manifest_of(files)
    manifest["evidence"][0]["leafHash"] = "ab" * 32
    sign_manifest(files, manifest, key)
    index = manifest["evidence"][0]["index"]
    refused(run(tmp_path, pack(files)), f"cited entry {index}: its leaf hash differs")


def test_a_rewritten_attestation_or_dataset_manifest_is_caught(tmp_path, packages, key):
    files = unpack(packages["newer"])
    name = next(n for n in files if n.startswith("attestations/"))
    files[name] = files[name].replace(b'"predicate":{', b'"predicate":{"x":1,', 1)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), f"{name} differs from the statement signed")
    files = unpack(packages["newer"])
    name = next(n for n in files if n.startswith("datasets/"))
    dataset = json.loads(files[name])
    dataset["objects"][0]["size"] += 1
    files[name] = verify.canonical_json(dataset)
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), f"{name}: its SHA-256 is not the one in its name")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("../x", "escapes the package folder"),
        ("keys/../../x", "escapes the package folder"),
        ("/etc/passwd", "is an absolute path"),
        ("keys\\evil.vkey", "contains a backslash"),
        ("notes.txt", "unexpected file notes.txt: it is not listed in the manifest"),
        ("verify.py", "appears twice"),
    ],
)
def test_unsafe_or_unlisted_members_are_refused(tmp_path, packages, name, reason):
    files = unpack(packages["newer"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = pack(files, extra=[(name, b"payload")])
    refused(run(tmp_path, data), reason)


def test_a_zip_bomb_is_refused_unread(tmp_path, packages):
    files = unpack(packages["newer"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
        with archive.open("datasets/" + "0" * 64 + ".json", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(200):  # 200 MiB of zeros, about 200 KiB compressed
                member.write(zeros)
    data = buffer.getvalue()
    assert len(data) < len(packages["newer"]) + 1_000_000
    refused(run(tmp_path, data), "zip bomb refused")


def test_a_missing_listed_file_is_refused(tmp_path, packages):
    files = unpack(packages["newer"])
    del files["evidence-pack.pdf"]
    refused(run(tmp_path, pack(files)), "evidence-pack.pdf is listed in the manifest but missing")


def test_a_truncated_or_absent_package_is_refused(tmp_path, packages):
    refused(run(tmp_path, packages["newer"][:5000]), "is not a readable zip file")
    folder = tmp_path / "regulator"
    result = subprocess.run(
        [sys.executable, "-I", "verify.py", "absent.zip"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    refused(result, "cannot read absent.zip")


def test_a_pinned_key_rejects_a_package_rebuilt_with_another_key(tmp_path, packages, key):
    """Whoever rewrites the whole package with their own key makes it self-consistent; pinning
    the installation's key is what catches it."""
    files = unpack(packages["newer"])

    class Foreign:
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key_id = verify.note_key_id(log_name(), public).hex()

        def sign(self, message):
            return self.private.sign(message)

    foreign = Foreign()
    files[f"keys/{foreign.key_id}.vkey"] = (
        verify.format_vkey(log_name(), foreign.public) + "\n"
    ).encode()
    sign_checkpoint(files, foreign)
    data = pack(files)
    assert run(tmp_path, data).returncode == 0  # self-consistent
    pin = tmp_path / "trusted.vkey"
    pin.write_text(verify.format_vkey(log_name(), key.public) + "\n")
    refused(run(tmp_path, data, "--trusted-key", str(pin)), "is not trusted")
    pinned = run(tmp_path, packages["newer"], "--trusted-key", str(pin))
    assert pinned.returncode == 0 and "(pinned)" in pinned.stdout


def test_the_log_only_grew_between_two_packages(tmp_path, packages):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "older.zip").write_bytes(packages["older"])
    result = run(tmp_path, packages["newer"], "--previous", "older.zip", s_flag=True)
    assert result.returncode == 0, result.stderr
    older = len(unpack(packages["older"])["ledger/entries.jsonl"].splitlines())
    assert f"the log only grew since older.zip ({older} -> {older + 1} entries" in result.stdout


def test_a_shorter_newer_log_fails(tmp_path, packages):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "newer.zip").write_bytes(packages["newer"])
    result = run(tmp_path, packages["older"], "--previous", "newer.zip")
    refused(result, "fewer than the older one's")


def test_a_rewritten_older_entry_fails(tmp_path, packages, key):
    """The older package is rewritten and re-signed with the real key, so it verifies on its
    own; only the comparison with the newer package shows the history changed."""
    files = unpack(packages["older"])
    records = entries(files)
    envelope = json.loads(base64.b64decode(records[7]["envelope"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["rewritten"] = True
    payload = verify.canonical_json(statement)
    signature = key.sign(verify.pae(envelope["payloadType"], payload))
    envelope["payload"] = base64.b64encode(payload).decode()
    envelope["signatures"] = [{"keyid": key.key_id, "sig": base64.b64encode(signature).decode()}]
    records[7]["envelope"] = base64.b64encode(verify.canonical_json(envelope)).decode()
    set_entries(files, records)
    sign_checkpoint(files, key)
    rewritten = pack(files)
    assert run(tmp_path, rewritten).returncode == 0
    folder = tmp_path / "regulator"
    (folder / "rewritten.zip").write_bytes(rewritten)
    refused(
        run(tmp_path, packages["newer"], "--previous", "rewritten.zip"),
        "entry 7 differs between the two packages: the older log was rewritten",
    )


def test_packages_of_different_logs_are_not_compared(tmp_path, packages):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "other.zip").write_bytes(packages["other"])
    refused(
        run(tmp_path, packages["newer"], "--previous", "other.zip"),
        "the packages are of different logs",
    )


def test_a_broken_older_package_is_named(tmp_path, packages):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "older.zip").write_bytes(packages["older"][:100])
    refused(
        run(tmp_path, packages["newer"], "--previous", "older.zip"), "the older package older.zip: "
    )


def test_json_output_and_the_package_subcommand(tmp_path, packages):
    result = run(tmp_path, packages["newer"], "--json")
    body = json.loads(result.stdout)
    assert result.returncode == 0 and body["ok"] is True and body["project"] == "AEB"
    folder = tmp_path / "regulator"
    explicit = subprocess.run(
        [sys.executable, "-I", "verify.py", "package", "package.zip"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert explicit.returncode == 0 and explicit.stdout.startswith("OK: package for AEB")
    bad = run(tmp_path, packages["newer"][:200], "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False


def test_in_process_limits_can_be_tightened(tmp_path, packages):
    path = tmp_path / "p.zip"
    path.write_bytes(packages["newer"])
    with pytest.raises(ValueError, match="members, more than 3"):
        verify.verify_package(str(path), limits=verify.PackageLimits(max_members=3))
    with pytest.raises(ValueError, match="more than the 1000 allowed"):
        verify.verify_package(str(path), limits=verify.PackageLimits(max_member_bytes=1000))
    report = verify.verify_package(str(path))
    assert report.project == "AEB" and report.size == len(report.leaves)
