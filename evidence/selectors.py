"""Every read of the evidence app, for a project the caller may already see.

The views resolve the project with :func:`projects.permissions.get_project_for_user` first;
each function here then reads that project's rows only. What a page shows of the ledger (the
statements inside the envelopes, the latest checkpoint, an entry's inclusion proof, the last
full verification) is decoded and checked by :mod:`evidence.verification` and
:mod:`evidence.verify`, the code the command line and the packages use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from evidence import ledger, verification, verify
from evidence.models import Artifact, Checkpoint, Decision, LogEntry, SupplierClaim, SupplierPackage
from evidence.trust import trusted_signer
from projects.models import Project


def entry_list(
    *, project: Project, kind: str | None = None, newest_first: bool = False
) -> QuerySet[LogEntry]:
    entries = LogEntry.objects.filter(project=project).select_related("recorded_by")
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("-index" if newest_first else "index")


def artifact_list(*, project: Project) -> QuerySet[Artifact]:
    return (
        Artifact.objects.filter(project=project)
        .select_related("entry", "trained_on")
        .order_by("kind", "name", "version")
    )


def artifact_choices(*, project: Project, kind: str) -> QuerySet[Artifact]:
    """The artifacts of one kind (datasets, models), by name, the newest version first."""
    return Artifact.objects.filter(project=project, kind=kind).order_by("name", "-version")


def decision_list(*, project: Project) -> QuerySet[Decision]:
    return (
        Decision.objects.filter(project=project)
        .select_related("decided_by", "entry")
        .order_by("-created_at")
    )


# --- What the pages show of the log ------------------------------------------------------------


def statement_of(entry: LogEntry) -> dict:
    """The in-toto statement inside an entry's DSSE envelope (empty when unreadable)."""
    return verification.statement_of(bytes(entry.envelope))


def log_size(*, project: Project) -> int:
    """How many entries the project's log holds (its head)."""
    size, _root = ledger.head_of(project)
    return size


def log_head(*, project: Project) -> tuple[int, bytes]:
    """The size and Merkle root of the project's log: what identifies its state."""
    return ledger.head_of(project)


def entries_awaiting_checkpoint(*, recorded_before) -> int:
    """How many statements recorded before ``recorded_before``, across every project, no
    signed checkpoint covers yet. With an integration interval such entries are normal for a
    moment; one that waits long means the integrator (the periodic task) is not running."""
    return ledger.awaiting_checkpoint(recorded_before)


def latest_checkpoint(*, project: Project) -> Checkpoint | None:
    return ledger.latest_checkpoint(project)


def last_verification(*, project: Project, size: int, root: bytes) -> dict | None:
    """The last full check of the project's log (see :func:`evidence.verification.remember`),
    ``current`` when it read the log whose head is ``size`` and ``root``."""
    return verification.remembered(project, size, root)


@dataclass
class InclusionCheck:
    """Whether an entry is in the log that the latest signed checkpoint commits to."""

    ok: bool
    reason: str = ""
    size: int = 0
    root: str = ""
    proof: list[str] = field(default_factory=list)


def inclusion_check(*, project: Project, entry: LogEntry) -> InclusionCheck:
    """Recompute the entry's leaf from its envelope bytes, have the ledger build the RFC 9162
    inclusion proof up to the latest checkpoint, and check it with the offline verifier
    against the root in the checkpoint's signed note.

    The note's signature must be by a trusted key (:mod:`evidence.trust`: the configured key
    and the keys rotated from it), as for ``verify_ledger``; a key row alone is not trusted.
    """
    checkpoint = ledger.latest_checkpoint(project)
    if checkpoint is None:
        return InclusionCheck(False, "The log has no checkpoint yet.")
    signer = trusted_signer(checkpoint.key_id)
    try:
        note = verify.verify_checkpoint(
            checkpoint.note, [signer] if signer else [], origin=ledger.origin(project)
        )
    except ValueError as exc:
        return InclusionCheck(False, f"The latest checkpoint does not verify: {exc}")
    if entry.index >= note.size:
        return InclusionCheck(
            False, f"Entry {entry.index} is newer than the checkpoint.", note.size
        )
    try:
        proof = ledger.inclusion_proof(project, entry.index, note.size)
    except ledger.LedgerError as exc:
        return InclusionCheck(False, str(exc), note.size)
    leaf = verify.leaf_hash(bytes(entry.envelope))
    ok = verify.verify_inclusion(leaf, entry.index, note.size, proof, note.root)
    return InclusionCheck(
        ok,
        "" if ok else "The proof does not lead to the checkpoint's root.",
        note.size,
        note.root.hex(),
        [h.hex() for h in proof],
    )


def supplier_claims(*, project: Project, size: int | None = None) -> list[SupplierClaim]:
    """The supplier claims of the latest package imported from each supplier log, among the
    imports recorded below ledger size ``size`` (default: all), by origin and code; one query."""
    inside = {} if size is None else {"entry__index__lt": size}
    newer = SupplierPackage.objects.filter(
        project=project, origin=OuterRef("package__origin"), **inside
    ).filter(
        Q(size__gt=OuterRef("package__size"))
        | Q(size=OuterRef("package__size"), pk__gt=OuterRef("package_id"))
    )
    claims = SupplierClaim.objects.filter(package__project=project).filter(~Exists(newer))
    if size is not None:
        claims = claims.filter(package__entry__index__lt=size)
    return list(
        claims.select_related("package", "package__entry").order_by("package__origin", "code")
    )
