"""The certification package: what a regulator receives and checks offline.

A deterministic zip (same baseline and checkpoint, same bytes: sorted names, the checkpoint's
time on every member, fixed permissions, DEFLATE at a fixed level) holding::

    manifest.json            format, project, baseline, checkpoint, every other file with its
                             SHA-256 and size, the evidence the PDF cites, and a signature
    evidence-pack.pdf        the PDF evidence pack of the baseline (reports.pdf)
    ledger/entries.jsonl     every entry of the project's log at the checkpoint
    ledger/checkpoint.note   the signed checkpoint covering exactly those entries, followed by
                             the witnesses' cosignatures stored for it so far
    keys/<key id>.vkey       every registered public key of the ledger
    keys/rotations/<old id>-<new id>.json
                             every key rotation statement the store holds (signed by both keys)
    attestations/<n>.json    the in-toto statement of each validation-result entry
    datasets/<sha256>.json   the manifest of each registered dataset snapshot
    verify.py                a byte copy of evidence/verify.py, the regulator's verifier

The manifest is signed (Ed25519, deterministic) with the ledger key over its canonical JSON
without the signature, so the PDF is as authentic as the log: altering it means altering its
hash in the manifest, which breaks the signature.

The keys in the package only let ``verify.py`` check integrity; where the package came from is
established against trust roots the regulator obtains out of band (the fingerprint the operator
publishes, shown on the PDF cover too, or the store's ``keys/`` folder), extended through the
rotation statements the package carries.

Exporting (``reports.services``) is recorded in the ledger (kind ``report``, subject
``package:<file name>``, digest the SHA-256 of the zip) after the package is built. A package
cannot hold the record of its own making; the next package of the project carries it. Only the
view permission is needed: exporting changes no work product, and the entry records who
exported.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from compliance.models import Baseline
from evidence import ledger, verify
from evidence.keys import fingerprint_for, load_signing_key, log_name
from evidence.models import Checkpoint, EntryKind, LogEntry, SigningKey
from evidence.storage import StorageError, default_store
from evidence.witnessing import cosigned_note
from projects.models import Project
from projects.permissions import Action, require
from reports import selectors
from reports.gsn.argument import build
from reports.pdf.pack import render
from reports.selectors import ReportError

COMPRESS_LEVEL = 6
FILE_MODE = 0o100644  # a regular file, rw-r--r--
ROTATIONS_PREFIX = "keys/rotations/"  # the same path in the store and in the package


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    manifest: dict
    entries: int
    cited: int
    pages: int


def build_package(
    *,
    user,
    project: Project,
    baseline: Baseline | None = None,
    checkpoint: Checkpoint | None = None,
    compress_pdf: bool = True,
) -> Package:
    """The package of ``baseline`` (default: the latest) at ``checkpoint`` (default: the
    latest). Reads only, except that the latest entries get their checkpoint first when the
    ledger has an integration interval; :class:`ReportError` when there is nothing to package."""
    require(user, project, Action.VIEW)
    baseline = baseline or selectors.baseline_named(project)
    if checkpoint is None:
        ledger.cover(project)
    checkpoint = checkpoint or selectors.latest_checkpoint(project)
    snapshot = selectors.case_snapshot(
        user=user, project=project, baseline=baseline, checkpoint=checkpoint
    )
    case = build(snapshot)
    pdf = render(
        snapshot, case, selectors.register_rows(project, checkpoint.size), compress=compress_pdf
    )
    files: dict[str, bytes] = {verify.PDF_NAME: pdf.data}
    files.update(_ledger_files(project, checkpoint))
    files.update(_key_files())
    files.update(_rotation_files())
    files[verify.VERIFIER_NAME] = Path(verify.__file__).read_bytes()

    cited = selectors.leaf_hashes(project, set(pdf.cited) | set(case.cited_entries()))
    signing_key = load_signing_key()
    manifest = {
        "format": verify.PACKAGE_FORMAT,
        "version": verify.PACKAGE_VERSION,
        "generator": "Safecase",
        "project": {"key": project.key, "name": project.name},
        "baseline": {
            "name": baseline.name,
            "root": baseline.root,
            "entry": baseline.entry.index,
            "items": baseline.item_count,
        },
        "checkpoint": {
            "origin": snapshot.origin,
            "size": checkpoint.size,
            "root": bytes(checkpoint.root).hex(),
            "keyId": checkpoint.key_id,
            "time": _iso(checkpoint),
        },
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(files.items())
        ],
        "evidence": [
            {"index": index, "kind": kind, "subject": subject, "leafHash": leaf.hex()}
            for index, (kind, subject, leaf) in sorted(cited.items())
        ],
        "safetyCase": {
            "status": case.status,
            "releaseGatePassed": case.release_gate()["passed"],
            "releaseReady": bool(snapshot.gaps.get("release_ready")),
        },
        "exportRecord": (
            "Recorded in the ledger after this package was built: kind report, subject "
            "package:<file name>, digest the SHA-256 of the zip. The next package carries it."
        ),
        "verify": (
            "python verify.py <package>.zip --trusted-fingerprint <the signing key fingerprint "
            "the operator publishes> [--previous <older package>.zip]"
        ),
    }
    signature = signing_key.sign(verify.manifest_signing_input(manifest))
    manifest["signature"] = {
        "keyid": signing_key.key_id,
        "sig": base64.b64encode(signature).decode("ascii"),
    }
    files[verify.MANIFEST_NAME] = (
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode("utf-8")
    data = _zip(files, checkpoint)
    return Package(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        manifest=manifest,
        entries=checkpoint.size,
        cited=len(cited),
        pages=pdf.pages,
    )


def signing_key_fingerprint() -> str:
    """The full fingerprint of the key that signs packages, as the operator publishes it."""
    return fingerprint_for(load_signing_key().public)


def _iso(checkpoint: Checkpoint) -> str:
    return checkpoint.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ledger_files(project: Project, checkpoint: Checkpoint) -> dict[str, bytes]:
    """entries.jsonl, the checkpoint note, the attestations and the dataset manifests."""
    files: dict[str, bytes] = {}
    lines = []
    datasets: dict[str, int] = {}
    rows = (
        LogEntry.objects.filter(project=project, index__lt=checkpoint.size)
        .order_by("index")
        .values_list("index", "kind", "subject", "digest", "key_id", "envelope")
        .iterator(chunk_size=selectors.CHUNK)
    )
    expected = 0
    for index, kind, subject, digest, key_id, envelope in rows:
        if index != expected:
            raise ReportError(f"the log of {project.key} lacks entry {expected}")
        expected += 1
        envelope = bytes(envelope)
        line = {
            "index": index,
            "kind": kind,
            "subject": subject,
            "digest": digest,
            "key_id": key_id,
            "envelope": base64.b64encode(envelope).decode("ascii"),
        }
        lines.append(verify.canonical_json(line) + b"\n")
        if kind == EntryKind.VALIDATION_RESULT:
            files[f"attestations/{index:08d}.json"] = _payload(envelope)
        elif kind == EntryKind.DATASET:
            statement = json.loads(_payload(envelope))
            sha = (statement["predicate"].get("manifest") or {}).get("sha256")
            key = (statement["predicate"].get("manifest") or {}).get("key")
            if sha and key:
                datasets.setdefault(sha, key)
    if expected != checkpoint.size:
        raise ReportError(
            f"the log of {project.key} holds {expected} entries below its checkpoint at "
            f"{checkpoint.size}"
        )
    files[verify.ENTRIES_NAME] = b"".join(lines)
    files[verify.CHECKPOINT_NAME] = cosigned_note(checkpoint).encode("utf-8")
    store = default_store()
    for sha, key in sorted(datasets.items()):
        try:
            manifest = store.get_bytes(key)
        except StorageError as exc:
            raise ReportError(f"dataset manifest {key} cannot be read: {exc}") from exc
        if hashlib.sha256(manifest).hexdigest() != sha:
            raise ReportError(f"dataset manifest {key} in the store does not match its digest")
        files[f"datasets/{sha}.json"] = manifest
    return files


def _payload(envelope: bytes) -> bytes:
    return base64.b64decode(json.loads(envelope)["payload"])


def _key_files() -> dict[str, bytes]:
    """Every registered public key, and the current signing key (which signs the manifest)."""
    keys = {
        row.key_id: verify.format_vkey(row.name, bytes(row.public_key))
        for row in SigningKey.objects.order_by("key_id")
    }
    current = load_signing_key()
    keys.setdefault(current.key_id, verify.format_vkey(log_name(), current.public))
    return {f"keys/{key_id}.vkey": (text + "\n").encode("ascii") for key_id, text in keys.items()}


def _rotation_files() -> dict[str, bytes]:
    """Every key rotation statement in the store, at the same path in the package.

    Each is checked first (both keys signed it, its name names them): an invalid statement in
    the store would make every package fail, and may be a planted one, so the export stops.
    """
    store = default_store()
    files: dict[str, bytes] = {}
    try:
        names = [o.key for o in store.list(ROTATIONS_PREFIX) if o.key.endswith(".json")]
        for name in names:
            files[name] = store.get_bytes(name)
    except StorageError as exc:
        raise ReportError("the key rotation statements cannot be read from the store") from exc
    for name, data in files.items():
        try:
            rotation = verify.verify_rotation(data)
        except ValueError as exc:
            raise ReportError(f"{name} in the store is not a valid rotation: {exc}") from exc
        ids = [verify.note_key_id(*key).hex() for key in (rotation.previous, rotation.next)]
        if name != f"{ROTATIONS_PREFIX}{ids[0]}-{ids[1]}.json":
            raise ReportError(f"{name} in the store holds the rotation {ids[0]} -> {ids[1]}")
    return files


def _zip(files: dict[str, bytes], checkpoint: Checkpoint) -> bytes:
    moment = checkpoint.created_at.astimezone(UTC)
    stamp = (
        max(moment.year, 1980),
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second - moment.second % 2,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the exporting machine is
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, files[name], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()
