"""Every write of the evidence app: role-checked, atomic, and recorded in the ledger."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from evidence import ledger
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
