"""Every write of the evidence app: role-checked, atomic, and recorded in the ledger."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from evidence import keys, ledger, publication, trust, verify
from evidence.datasets import Manifest, Progress, file_digest, snapshot
from evidence.ledger import Record, Subject
from evidence.models import Artifact, ArtifactKind, Decision, EntryKind
from evidence.storage import default_store
from evidence.verify import canonical_json
from projects.models import Project
from projects.permissions import Action, require


def _next_version(project: Project, kind: str, name: str) -> int:
    # Called after ledger.append, which holds the project's log lock: versions cannot race.
    latest = Artifact.objects.filter(project=project, kind=kind, name=name).aggregate(
        v=Max("version")
    )
    return (latest["v"] or 0) + 1


def dataset_register(
    *, user, project: Project, name: str, uri: str, progress: Progress | None = None
) -> Artifact:
    """Hash every object under ``uri``, store the manifest and record its Merkle root.

    The hashing happens before the transaction: if the data cannot be read, nothing is written.
    """
    require(user, project, Action.EDIT)
    if not name.strip():
        raise ValidationError({"name": "A dataset needs a name."})
    manifest: Manifest = snapshot(uri, progress)
    if not manifest.objects:
        raise ValidationError({"uri": f"{uri} holds no files."})
    manifest_bytes = manifest.to_bytes()
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    manifest_key = f"manifests/sha256/{manifest_sha}.json"
    default_store().put_bytes(manifest_key, manifest_bytes, overwrite=False)
    root = manifest.merkle_root()
    with transaction.atomic():
        (entry,) = ledger.append(
            project,
            [
                Record(
                    kind=EntryKind.DATASET,
                    subjects=[Subject(f"dataset:{name}", root)],
                    predicate={
                        "uri": uri,
                        "objects": len(manifest.objects),
                        "bytes": manifest.total_bytes,
                        "manifest": {"key": manifest_key, "sha256": manifest_sha},
                        "merkleRoot": root,
                    },
                )
            ],
            user=user,
        )
        return Artifact.objects.create(
            project=project,
            kind=ArtifactKind.DATASET,
            name=name,
            version=_next_version(project, ArtifactKind.DATASET, name),
            uri=uri,
            sha256=root,
            manifest_key=manifest_key,
            object_count=len(manifest.objects),
            total_bytes=manifest.total_bytes,
            entry=entry,
            created_by=user,
        )


def model_register(
    *, user, project: Project, name: str, uri: str, dataset: str | None = None
) -> Artifact:
    """Record a model file's digest and, when given, the dataset snapshot it was trained on."""
    require(user, project, Action.EDIT)
    trained_on = None
    if dataset:
        trained_on = (
            Artifact.objects.filter(project=project, kind=ArtifactKind.DATASET, name=dataset)
            .order_by("-version")
            .first()
        )
        if trained_on is None:
            raise ValidationError({"dataset": f"No dataset named {dataset!r} in {project.key}."})
    digest, size = file_digest(uri)
    subjects = [Subject(f"model:{name}", digest)]
    predicate = {"uri": uri, "bytes": size}
    if trained_on:
        subjects.append(Subject(f"dataset:{trained_on.name}", trained_on.sha256))
        predicate["trainedOn"] = {
            "dataset": trained_on.name,
            "version": trained_on.version,
            "merkleRoot": trained_on.sha256,
            "entry": trained_on.entry.index,
        }
    with transaction.atomic():
        (entry,) = ledger.append(project, [Record(EntryKind.MODEL, subjects, predicate)], user=user)
        return Artifact.objects.create(
            project=project,
            kind=ArtifactKind.MODEL,
            name=name,
            version=_next_version(project, ArtifactKind.MODEL, name),
            uri=uri,
            sha256=digest,
            total_bytes=size,
            object_count=1,
            trained_on=trained_on,
            entry=entry,
            created_by=user,
        )


@transaction.atomic
def decision_record(
    *,
    user,
    project: Project,
    title: str,
    context: str,
    options: list[str],
    decision: str,
    consequences: str = "",
) -> Decision:
    """Record a decision with its rationale: context, options considered, decision, consequences."""
    require(user, project, Action.REVIEW)
    errors = {}
    for field_name, value in (("title", title), ("context", context), ("decision", decision)):
        if not value or not value.strip():
            errors[field_name] = "This field is required for a decision record."
    if (
        not isinstance(options, list)
        or len(options) < 1
        or not all(isinstance(o, str) and o.strip() for o in options)
    ):
        errors["options"] = "List the options that were considered (at least one)."
    if errors:
        raise ValidationError(errors)
    body = {
        "title": title,
        "context": context,
        "options": options,
        "decision": decision,
        "consequences": consequences,
        "decidedBy": user.username,
    }
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    (entry,) = ledger.append(
        project,
        [Record(EntryKind.DECISION, [Subject(f"decision:{title}", digest)], body)],
        user=user,
    )
    return Decision.objects.create(
        project=project,
        title=title,
        context=context,
        options=options,
        decision=decision,
        consequences=consequences,
        decided_by=user,
        entry=entry,
    )


@dataclass(frozen=True)
class Rotation:
    previous: str  # name+keyid
    next: str
    fingerprint: str  # of the new key
    statement_key: str  # where the statement is in the store
    projects: int  # logs that recorded it


def signing_key_rotate() -> Rotation:
    """Replace the installation's signing key so that trust follows the new key.

    An operator's action on the installation (run by ``create_signing_key --rotate`` on the
    server that holds the key file), so no project role is checked. In order, so that a failure
    at any step leaves the old key in force and nothing half-trusted:

    1. a rotation statement naming both keys is signed by the old key (it authorises its
       successor) and by the new one (its holder made the statement);
    2. the new public key and the statement go to the store (``keys/<id>.vkey``,
       ``keys/rotations/<old>-<new>.json``), never replacing an object;
    3. every project's log records a key-rotation entry carrying the statement, signed by the
       old key, all in one transaction;
    4. only then the key file is replaced, atomically.

    The old key stays trusted through the statement, so everything it signed still verifies.
    """
    old = keys.load_signing_key()
    name = keys.log_name()
    private = Ed25519PrivateKey.generate()
    public = keys.public_bytes(private)
    new_id = verify.note_key_id(name, public).hex()
    payload = verify.rotation_payload(
        verify.format_vkey(name, old.public),
        verify.format_vkey(name, public),
        timezone.now().isoformat().replace("+00:00", "Z"),
    )
    message = verify.pae(verify.KEY_ROTATION_PAYLOAD_TYPE, payload)
    statement = verify.format_rotation(
        payload, [(old.key_id, old.sign(message)), (new_id, private.sign(message))]
    )
    verify.verify_rotation(statement)  # both signatures, before anything is written

    store = default_store()
    publication.publish_vkey(name, old.public, store)
    publication.publish_vkey(name, public, store)
    statement_key = trust.rotation_store_key(old.key_id, new_id)
    store.put_bytes(statement_key, statement, overwrite=False)

    record = Record(
        kind=EntryKind.KEY_ROTATION,
        subjects=[Subject(f"key:{new_id}", hashlib.sha256(statement).hexdigest())],
        predicate={
            "previous": old.key_id,
            "next": new_id,
            "statement": base64.b64encode(statement).decode("ascii"),
        },
    )
    projects = list(Project.objects.order_by("key"))
    with transaction.atomic():
        for project in projects:
            ledger.append(project, [record])
    keys.write_key_file(keys.key_path(), private)
    ledger.register_key(keys.load_signing_key())
    trust.forget()
    return Rotation(
        previous=f"{name}+{old.key_id}",
        next=f"{name}+{new_id}",
        fingerprint=verify.key_fingerprint(name, public),
        statement_key=statement_key,
        projects=len(projects),
    )
