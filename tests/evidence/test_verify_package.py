"""The package verifier (``python verify.py FILE.zip``) against tampered and forged packages.

Each case changes one thing and, where a shallower check would otherwise catch it first, puts
the manifest (and, for the log's own checks, the checkpoint) back in order with the real
ledger key, so that the check under test is the one that fails. Every run is a subprocess of
``python -I verify.py`` from a folder holding only the verifier and, as a regulator holds it,
the installation's genuine verifier key obtained outside the package: exit 1, one line, a
clear reason, no traceback. The forgeries re-sign a whole package with a key of their own and
show that only a trust root from outside the package tells them apart.
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
    from reports.package import build_package
    from reports.services import record_export

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


def genuine_vkey() -> str:
    """The installation's verifier key, as the operator publishes it (never from a package)."""
    return verify.format_vkey(log_name(), load_signing_key().public) + "\n"


def genuine_fingerprint() -> str:
    return verify.key_fingerprint(log_name(), load_signing_key().public)


def run(tmp_path, data: bytes, *args, package_name="package.zip", s_flag=False, trust=True):
    """Run the verifier on ``data``; ``trust`` adds ``--trusted-key`` with the genuine key."""
    folder = tmp_path / "regulator"
    folder.mkdir(exist_ok=True)
    (folder / "verify.py").write_bytes(VERIFIER)
    (folder / package_name).write_bytes(data)
    (folder / "trusted.vkey").write_text(genuine_vkey())
    flags = ["-I", "-S"] if s_flag else ["-I"]
    roots = ["--trusted-key", "trusted.vkey"] if trust else []
    return subprocess.run(
        [sys.executable, *flags, "verify.py", package_name, *args, *roots],
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
    assert "origin verified: signed by keys that the trusted fingerprint(s) " in result.stdout
    assert genuine_fingerprint() in result.stdout


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
    refused(run(tmp_path, pack(files)), "signed by key 00000000, which the package lacks")


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


class FreshKey:
    """A newly generated Ed25519 key under the installation's signer name, as a forger (or an
    operator rotating keys) would make one; signs like :class:`evidence.keys.LoadedKey`."""

    def __init__(self, name=None):
        self.name = name or log_name()
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = verify.note_key_id(self.name, self.public).hex()
        self.vkey = verify.format_vkey(self.name, self.public)
        self.fingerprint = verify.key_fingerprint(self.name, self.public)

    def sign(self, message):
        return self.private.sign(message)


def resign_entry(record: dict, key, change=None) -> dict:
    """The entry re-signed by ``key``; ``change(statement)`` may alter its statement first."""
    envelope = json.loads(base64.b64decode(record["envelope"]))
    payload = base64.b64decode(envelope["payload"])
    if change is not None:
        statement = json.loads(payload)
        change(statement)
        payload = verify.canonical_json(statement)
    signature = key.sign(verify.pae(envelope["payloadType"], payload))
    envelope["payload"] = base64.b64encode(payload).decode()
    envelope["signatures"] = [{"keyid": key.key_id, "sig": base64.b64encode(signature).decode()}]
    return {
        **record,
        "key_id": key.key_id,
        "envelope": base64.b64encode(verify.canonical_json(envelope)).decode(),
    }


def seal(files, key) -> None:
    """Cited leaf hashes brought in line with the entries, then checkpoint and manifest signed
    by ``key``: what whoever holds ``key`` can make of a package."""
    leaves = {
        record["index"]: verify.leaf_hash(base64.b64decode(record["envelope"])).hex()
        for record in entries(files)
    }
    manifest = manifest_of(files)
    for item in manifest["evidence"]:
        item["leafHash"] = leaves[item["index"]]
    files["manifest.json"] = json.dumps(manifest).encode()
    sign_checkpoint(files, key)


def flip_outcome(statement: dict) -> None:
    """Turn the approval's recorded outcome around, wherever the statement keeps it."""

    def walk(node):
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "outcome" and isinstance(value, str):
                    node[name] = "rejected" if value != "rejected" else "confirmed"
                    return True
                if walk(value):
                    return True
        elif isinstance(node, list):
            return any(walk(item) for item in node)
        return False

    assert walk(statement["predicate"]), statement["predicate"]


@pytest.fixture(scope="module")
def forged(packages):
    """The attack of the issue, end to end: one approval's outcome changed, the PDF replaced,
    every entry, the checkpoint and the manifest re-signed with a freshly generated key that
    carries the same signer name, and the key file in keys/ swapped for the forger's."""
    files = unpack(packages["newer"])
    forger = FreshKey()
    records = entries(files)
    approval = next(r for r in records if r["kind"] == "approval")
    records = [resign_entry(r, forger, flip_outcome if r is approval else None) for r in records]
    set_entries(files, records)
    files["evidence-pack.pdf"] = b"%PDF-1.4\n% a pack that tells another story\n%%EOF\n"
    for name in [n for n in files if n.startswith("keys/")]:
        del files[name]
    files[f"keys/{forger.key_id}.vkey"] = (forger.vkey + "\n").encode()
    seal(files, forger)
    return {"data": pack(files), "forger": forger, "approval": approval["index"]}


def no_ok_line(result) -> None:
    lines = (result.stdout + result.stderr).splitlines()
    assert not [line for line in lines if line.startswith("OK")], lines


def test_a_forged_package_is_intact_but_its_origin_is_not_verified(tmp_path, forged):
    """Without a trust root the forgery is self-consistent, and that is all that is said."""
    result = run(tmp_path, forged["data"], trust=False)
    assert result.returncode == 3, (result.stdout, result.stderr)
    no_ok_line(result)
    assert result.stdout.startswith("ORIGIN NOT VERIFIED") and result.stderr == ""
    assert result.stdout.count("\n") == 1
    forger = forged["forger"]
    assert f"{log_name()}+{forger.key_id}" in result.stdout  # the key it claims, by name and id
    assert "--trusted-fingerprint" in result.stdout and "--trusted-key" in result.stdout
    assert "independently of this package" in result.stdout
    assert forger.fingerprint not in result.stdout  # never offered as something to trust
    as_json = json.loads(run(tmp_path, forged["data"], "--json", trust=False).stdout)
    assert as_json["ok"] is False and as_json["origin_verified"] is False
    assert as_json["exit"] == 3


def test_a_forged_package_is_refused_with_the_genuine_key_or_fingerprint(tmp_path, forged):
    refused(run(tmp_path, forged["data"]), "not signed by a trusted key")
    by_fingerprint = run(
        tmp_path, forged["data"], "--trusted-fingerprint", genuine_fingerprint(), trust=False
    )
    refused(by_fingerprint, "not signed by a trusted key")
    assert f"{log_name()}+{forged['forger'].key_id}" in by_fingerprint.stderr
    as_json = json.loads(run(tmp_path, forged["data"], "--json").stdout)
    assert as_json["ok"] is False and as_json["exit"] == 1


def test_the_genuine_package_passes_with_the_genuine_key_or_fingerprint(tmp_path, packages):
    fingerprint = genuine_fingerprint()
    by_key = run(tmp_path, packages["newer"], s_flag=True)
    assert by_key.returncode == 0, by_key.stderr
    assert by_key.stdout.startswith("OK: ") and fingerprint in by_key.stdout
    grouped = " ".join(fingerprint[i : i + 8] for i in range(0, 64, 8)).upper()
    by_fingerprint = run(tmp_path, packages["newer"], "--trusted-fingerprint", grouped, trust=False)
    assert by_fingerprint.returncode == 0, by_fingerprint.stderr
    assert by_fingerprint.stdout.startswith("OK: ") and fingerprint in by_fingerprint.stdout
    as_json = json.loads(run(tmp_path, packages["newer"], "--json").stdout)
    assert as_json["ok"] is True and as_json["origin_verified"] is True
    assert as_json["exit"] == 0 and as_json["trusted_by"] == [fingerprint]


def test_the_genuine_package_without_a_trust_root_is_not_ok(tmp_path, packages):
    result = run(tmp_path, packages["newer"], trust=False)
    assert result.returncode == 3, result.stderr
    no_ok_line(result)
    assert result.stdout.startswith("ORIGIN NOT VERIFIED")


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--trusted-fingerprint", "GENUINE8"], "a short key id cannot establish trust"),
        (["--trusted-fingerprint", "not-hex"], "is not 64 hex digits"),
        (["--trusted-key", "absent.vkey"], "cannot read verifier key file absent.vkey"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(tmp_path, packages, args, reason):
    args = [genuine_fingerprint()[:8] if a == "GENUINE8" else a for a in args]
    result = run(tmp_path, packages["newer"], *args, trust=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("FAIL: usage error: ") and reason in result.stderr
    no_ok_line(result)


def test_the_help_documents_the_exit_codes(tmp_path):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "verify.py").write_bytes(VERIFIER)
    for command in ([], ["package"]):
        result = subprocess.run(
            [sys.executable, "-I", "-S", "verify.py", *command, "--help"],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0
        for text in ("exit codes:", "  0  verified", "  1  invalid", "  2  usage", "  3  intact"):
            assert text in result.stdout, (text, result.stdout)
        assert "ORIGIN NOT VERIFIED" in result.stdout
    assert "--trusted-fingerprint" in result.stdout and "--trusted-key" in result.stdout
    assert "Exit codes:" in verify.__doc__ and "ORIGIN NOT VERIFIED" in verify.__doc__


def test_the_fingerprint_command_prints_what_to_compare(tmp_path):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "verify.py").write_bytes(VERIFIER)
    other = FreshKey("other.example/ledger")
    (folder / "keys.vkey").write_text(genuine_vkey() + other.vkey + "\n")
    result = subprocess.run(
        [sys.executable, "-I", "-S", "verify.py", "fingerprint", "keys.vkey"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    key_id = load_signing_key().key_id
    assert result.stdout.splitlines() == [
        f"{genuine_fingerprint()}  {log_name()}+{key_id}",
        f"{other.fingerprint}  other.example/ledger+{other.key_id}",
    ]


def rotation_statement(old, new, signers) -> bytes:
    """A rotation statement old -> new, signed by ``signers`` (both keys for a valid one)."""
    payload = verify.rotation_payload(
        verify.format_vkey(log_name(), old.public),
        verify.format_vkey(log_name(), new.public),
        "2026-01-01T00:00:00Z",
    )
    message = verify.pae(verify.KEY_ROTATION_PAYLOAD_TYPE, payload)
    return verify.format_rotation(payload, [(k.key_id, k.sign(message)) for k in signers])


def rotated(packages, key, *, statement=True, signers=None, successor=None):
    """The package as the installation makes it after rotating from ``key`` to a new key: the
    last entries, the checkpoint and the manifest signed by the new key, both public keys and
    (unless ``statement`` is false) the rotation statement in the package."""
    new = successor or FreshKey()
    files = unpack(packages["newer"])
    records = entries(files)
    cut = len(records) - 5
    set_entries(files, records[:cut] + [resign_entry(r, new) for r in records[cut:]])
    files[f"keys/{new.key_id}.vkey"] = (new.vkey + "\n").encode()
    if statement:
        name = f"keys/rotations/{key.key_id}-{new.key_id}.json"
        files[name] = rotation_statement(key, new, signers or (key, new))
    seal(files, new)
    return pack(files), new


def test_a_rotation_chain_from_the_trusted_key_verifies(tmp_path, packages, key):
    data, new = rotated(packages, key)
    result = run(tmp_path, data)
    assert result.returncode == 0, result.stderr
    assert genuine_fingerprint() in result.stdout and "through 1 rotation statement" in (
        result.stdout
    )
    by_new = run(tmp_path, data, "--trusted-fingerprint", new.fingerprint, trust=False)
    assert by_new.returncode == 0, by_new.stderr  # the new key vouches for its predecessor
    # Trusting both keys suits packages made before the rotation too.
    both = ["--trusted-fingerprint", new.fingerprint, "--trusted-fingerprint"]
    before = run(tmp_path, packages["newer"], *both, genuine_fingerprint(), trust=False)
    assert before.returncode == 0, before.stderr
    assert run(tmp_path, data, trust=False).returncode == 3


def test_without_the_rotation_statement_the_new_key_is_not_trusted(tmp_path, packages, key):
    data, new = rotated(packages, key, statement=False)
    refused(run(tmp_path, data), "not signed by a trusted key")
    assert f"{new.key_id}" in run(tmp_path, data).stderr


@pytest.mark.parametrize("signer", ["old", "new"])
def test_a_rotation_statement_signed_by_one_key_only_is_refused(tmp_path, packages, key, signer):
    new = FreshKey()
    data, _ = rotated(packages, key, signers=[key if signer == "old" else new], successor=new)
    missing = "next" if signer == "old" else "previous"
    result = run(tmp_path, data)
    refused(result, f"is not signed by its {missing} key")
    assert run(tmp_path, data, trust=False).returncode == 1


def test_a_planted_rotation_does_not_extend_trust(tmp_path, packages, key, forged):
    """A forger cannot sign for the genuine key, so a statement linking it to the forger's key
    never verifies; a statement between two keys of the forger's is valid but reaches nothing
    the regulator trusts."""
    forger = forged["forger"]
    files = unpack(forged["data"])
    files[f"keys/rotations/{key.key_id}-{forger.key_id}.json"] = rotation_statement(
        key, forger, [forger]
    )
    seal(files, forger)
    refused(run(tmp_path, pack(files)), "is not signed by its previous key")

    accomplice = FreshKey()
    files = unpack(forged["data"])
    files[f"keys/{accomplice.key_id}.vkey"] = (accomplice.vkey + "\n").encode()
    files[f"keys/rotations/{accomplice.key_id}-{forger.key_id}.json"] = rotation_statement(
        accomplice, forger, [accomplice, forger]
    )
    seal(files, forger)
    data = pack(files)
    refused(run(tmp_path, data), "not signed by a trusted key")
    refused(
        run(tmp_path, data, "--trusted-fingerprint", genuine_fingerprint(), trust=False),
        "not signed by a trusted key",
    )
    assert run(tmp_path, data, trust=False).returncode == 3


def test_a_rotation_file_that_names_other_keys_is_refused(tmp_path, packages, key):
    new = FreshKey()
    files = unpack(packages["newer"])
    files[f"keys/rotations/{new.key_id}-{key.key_id}.json"] = rotation_statement(
        key, new, [key, new]
    )
    sign_manifest(files, manifest_of(files), key)
    refused(run(tmp_path, pack(files)), f"holds the rotation {key.key_id} -> {new.key_id}")


def test_an_entry_signed_by_an_untrusted_key_is_refused(tmp_path, packages, key):
    """Checkpoint and manifest by the genuine key, one entry by a key the package also carries:
    intact, but not all of it comes from the trusted key."""
    stranger = FreshKey()
    files = unpack(packages["newer"])
    records = entries(files)
    records[3] = resign_entry(records[3], stranger)
    set_entries(files, records)
    files[f"keys/{stranger.key_id}.vkey"] = (stranger.vkey + "\n").encode()
    seal(files, key)
    data = pack(files)
    refused(run(tmp_path, data), f"key(s) {stranger.key_id} sign it but no trust root")
    assert run(tmp_path, data, trust=False).returncode == 3


def test_the_log_only_grew_between_two_packages(tmp_path, packages):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "older.zip").write_bytes(packages["older"])
    result = run(tmp_path, packages["newer"], "--previous", "older.zip", s_flag=True)
    assert result.returncode == 0, result.stderr
    older = len(unpack(packages["older"])["ledger/entries.jsonl"].splitlines())
    assert f"the log only grew since older.zip ({older} -> {older + 1} entries" in result.stdout


def test_the_older_package_must_verify_against_the_same_trust_roots(tmp_path, packages, forged):
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "older.zip").write_bytes(forged["data"])
    refused(
        run(tmp_path, packages["newer"], "--previous", "older.zip"),
        "the older package older.zip: not signed by a trusted key",
    )


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
        [
            sys.executable,
            "-I",
            "verify.py",
            "package",
            "package.zip",
            "--trusted-key",
            "trusted.vkey",
        ],
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
    assert not report.origin_verified and report.trusted_by == ()
    trusted = verify.verify_package(str(path), trusted_fingerprints=[genuine_fingerprint()])
    assert trusted.origin_verified and trusted.trusted_by == (genuine_fingerprint(),)


def test_entries_checked_in_worker_processes_give_the_same_answers(tmp_path, packages, key):
    """The parallel pass reports what the single pass does, including the first bad entry."""
    path = tmp_path / "p.zip"
    path.write_bytes(packages["newer"])
    one = verify.verify_package(str(path), workers=1)
    two = verify.verify_package(str(path), workers=2)
    assert (two.leaves, two.entry_lines, two.root) == (one.leaves, one.entry_lines, one.root)
    files = unpack(packages["newer"])
    records = entries(files)
    for index in (len(records) - 3, len(records) - 1):
        records[index] = {**resign_entry(records[index], FreshKey()), "key_id": key.key_id}
    set_entries(files, records)
    sign_checkpoint(files, key)
    path.write_bytes(pack(files))
    for workers in (1, 2, 3):
        with pytest.raises(ValueError, match=f"entry {len(records) - 3}: the DSSE signature"):
            verify.verify_package(str(path), workers=workers)
