"""Dataset and model registration: manifests, Merkle roots, the ledger, S3 and bad input."""

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evidence import verify
from evidence.models import Artifact, LogEntry
from evidence.storage import default_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def drives(tmp_path):
    root = tmp_path / "lake"
    (root / "drive-2" / "cam").mkdir(parents=True)
    files = {
        "drive-1.parquet": b"first drive" * 1000,
        "drive-2/tracks.parquet": bytes(range(256)) * 50,
        "drive-2/cam/000001.jpg": b"\xff\xd8jpeg",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root, files


def expected_root(files):
    records = [
        {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for key, data in sorted(files.items())
    ]
    return verify.root_hash([verify.leaf_hash(verify.canonical_json(r)) for r in records]).hex()


def register(*args):
    out = StringIO()
    call_command("register_dataset", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_a_folder_is_snapshotted_into_the_ledger(project, members, drives):
    root, files = drives
    summary = register(
        "--project", "AEB", "--name", "drives", "--uri", root.as_uri(), "--user", "engineer-aeb"
    )
    assert summary["objects"] == 3
    assert summary["bytes"] == sum(len(d) for d in files.values())
    assert summary["merkle_root"] == expected_root(files)
    entry = LogEntry.objects.get(project=project, index=summary["entry"])
    assert entry.kind == "dataset"
    assert entry.digest == expected_root(files)
    manifest = json.loads(default_store().get_bytes(summary["manifest"]))
    assert [o["key"] for o in manifest["objects"]] == sorted(files)
    assert manifest["merkleRoot"] == expected_root(files)


def test_registering_again_makes_a_new_version(project, members, drives):
    root, _ = drives
    args = (
        "--project",
        "AEB",
        "--name",
        "drives",
        "--uri",
        root.as_uri(),
        "--user",
        "engineer-aeb",
    )
    first = register(*args)
    (root / "drive-3.parquet").write_bytes(b"new drive")
    second = register(*args)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["merkle_root"] != second["merkle_root"]


def test_a_missing_path_is_a_one_line_error_and_writes_nothing(project, members, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        register(
            "--project",
            "AEB",
            "--name",
            "x",
            "--uri",
            (tmp_path / "nope").as_uri(),
            "--user",
            "engineer-aeb",
        )
    assert not LogEntry.objects.exists()
    assert not Artifact.objects.exists()


def test_a_viewer_may_not_register(project, members, drives):
    from django.core.exceptions import PermissionDenied

    root, _ = drives
    with pytest.raises(PermissionDenied):
        register("--project", "AEB", "--name", "x", "--uri", root.as_uri(), "--user", "viewer-aeb")
    assert not LogEntry.objects.exists()


def test_a_model_records_its_digest_and_training_dataset(project, members, drives, tmp_path):
    root, _ = drives
    dataset = register(
        "--project", "AEB", "--name", "drives", "--uri", root.as_uri(), "--user", "engineer-aeb"
    )
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"onnx weights" * 100)
    out = StringIO()
    call_command(
        "register_model",
        "--project",
        "AEB",
        "--name",
        "detector",
        "--uri",
        model.as_uri(),
        "--dataset",
        "drives",
        "--user",
        "engineer-aeb",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    assert summary["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    artifact = Artifact.objects.get(kind="model")
    assert artifact.trained_on.sha256 == dataset["merkle_root"]
    statement = json.loads(
        __import__("base64").b64decode(json.loads(bytes(artifact.entry.envelope))["payload"])
    )
    assert statement["predicate"]["trainedOn"]["merkleRoot"] == dataset["merkle_root"]
    assert {s["name"] for s in statement["subject"]} == {"model:detector", "dataset:drives"}


def test_a_model_with_an_unknown_dataset_is_refused(project, members, tmp_path):
    model = tmp_path / "m.bin"
    model.write_bytes(b"x")
    with pytest.raises(CommandError, match="No dataset named 'ghost'"):
        call_command(
            "register_model",
            "--project",
            "AEB",
            "--name",
            "m",
            "--uri",
            model.as_uri(),
            "--dataset",
            "ghost",
            "--user",
            "engineer-aeb",
        )
    assert not LogEntry.objects.exists()


@pytest.mark.s3
class TestS3:
    def test_an_s3_prefix_is_snapshotted_with_version_ids(self, project, members, s3):
        s3.create_bucket(Bucket="lake")
        s3.put_bucket_versioning(Bucket="lake", VersioningConfiguration={"Status": "Enabled"})
        files = {"a.parquet": b"alpha" * 1000, "sub/b.parquet": b"beta"}
        for key, data in files.items():
            s3.put_object(Bucket="lake", Key=f"drives/{key}", Body=data, ChecksumAlgorithm="SHA256")
        s3.put_object(Bucket="lake", Key="other/c.parquet", Body=b"not in the prefix")
        summary = register(
            "--project",
            "AEB",
            "--name",
            "s3drives",
            "--uri",
            "s3://lake/drives",
            "--user",
            "engineer-aeb",
        )
        assert summary["objects"] == 2
        manifest = json.loads(default_store().get_bytes(summary["manifest"]))
        for obj in manifest["objects"]:
            assert obj["versionId"]
            assert obj["s3ChecksumSha256"] == obj["sha256"]
        assert summary["merkle_root"] != expected_root(files)  # version ids are part of the records

    def test_s3s_own_checksum_is_recorded_but_not_trusted(self, project, members, s3):
        """An S3 server may store a wrong checksum; Safecase hashes the bytes itself."""
        import base64

        s3.create_bucket(Bucket="lake")
        wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
        try:
            s3.put_object(Bucket="lake", Key="d/x.bin", Body=b"payload", ChecksumSHA256=wrong)
        except s3.exceptions.ClientError:
            pytest.skip("this S3 server rejects a wrong checksum, as AWS does")
        summary = register(
            "--project", "AEB", "--name", "d", "--uri", "s3://lake/d", "--user", "engineer-aeb"
        )
        manifest = json.loads(default_store().get_bytes(summary["manifest"]))
        (obj,) = manifest["objects"]
        assert obj["sha256"] == hashlib.sha256(b"payload").hexdigest()

    def test_an_unreachable_endpoint_is_a_one_line_error(self, project, members, monkeypatch):
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with pytest.raises(CommandError, match="cannot list s3://lake/d"):
            register(
                "--project", "AEB", "--name", "d", "--uri", "s3://lake/d", "--user", "engineer-aeb"
            )
        assert not LogEntry.objects.exists()

    def test_checkpoints_are_published_to_an_s3_store(
        self, project, members, s3, settings, drives, django_capture_on_commit_callbacks
    ):
        s3.create_bucket(Bucket="evidence")
        settings.SAFECASE_STORAGE_URL = "s3://evidence/safecase"
        root, _ = drives
        with django_capture_on_commit_callbacks(execute=True):
            register(
                "--project",
                "AEB",
                "--name",
                "drives",
                "--uri",
                root.as_uri(),
                "--user",
                "engineer-aeb",
            )
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="evidence")["Contents"]]
        assert "safecase/checkpoints/AEB/000000000000001.note" in keys
        out = StringIO()
        call_command("verify_ledger", "--json", stdout=out)
        assert json.loads(out.getvalue())["ok"] is True


@pytest.mark.s3
def test_evidence_in_an_object_lock_bucket_is_retained(
    project, members, s3, settings, drives, django_capture_on_commit_callbacks
):
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    settings.SAFECASE_STORAGE_URL = "s3://locked/evidence"
    settings.SAFECASE_RETENTION_DAYS = 30
    root, _ = drives
    with django_capture_on_commit_callbacks(execute=True):
        summary = register(
            "--project", "AEB", "--name", "drives", "--uri", root.as_uri(), "--user", "engineer-aeb"
        )
    head = s3.head_object(Bucket="locked", Key=f"evidence/{summary['manifest']}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    note = "evidence/checkpoints/AEB/000000000000001.note"
    version = s3.head_object(Bucket="locked", Key=note)["VersionId"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket="locked", Key=note, VersionId=version)
