"""The rows an assessor reads as reviews, compared with the ledger statements they cite.

An approval, a review session, its items, a signature and a revocation each keep the entry
that recorded them; a requirement keeps the digest of the content its last approval confirmed.
Someone who can edit the database but not the log (whose entries are signed, hashed into the
Merkle tree and published) could change such a row -- turn a rejection into an approval, point
a stale signature at new content, move ``approved_digest`` onto the current text -- and every
page would believe it. :func:`row_problems` reads each row beside its entry's statement and
names every field that differs; ``verify_ledger`` runs it (registered in
:class:`compliance.apps.ComplianceConfig`).

A requirement approved by a file import or bound by migration 0004 has no per-requirement
statement of what was approved: its ``approved_digest`` is compared only when a requirement
entry stating an approval (``approvedDigest``, or a creation as approved) comes after the last
import.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance import reviews
from compliance.models import (
    Approval,
    Requirement,
    ReviewSession,
    Signature,
    SignatureRevocation,
)
from evidence.models import LogEntry
from evidence.verification import statement_of
from projects.models import Project

IMPORT_SUBJECTS = ("reqif-import:", "table-import:", "table-roundtrip:")
_CHUNK = 500


def _predicate(entry: LogEntry) -> tuple[dict, str]:
    """The entry's predicate and the digest of its first subject, as the statement says."""
    statement = statement_of(bytes(entry.envelope))
    try:
        digest = statement["subject"][0]["digest"]["sha256"]
    except (KeyError, IndexError, TypeError):
        digest = ""
    predicate = statement.get("predicate")
    return (predicate if isinstance(predicate, dict) else {}), digest


def _differences(what: str, entry: LogEntry, row: dict, stated: dict) -> Iterator[str]:
    differ = sorted(name for name, value in row.items() if stated.get(name) != value)
    if differ:
        yield (
            f"{what} disagrees with ledger entry {entry.index} on {', '.join(differ)}: "
            "the row was changed after it was recorded"
        )


def _approvals(project: Project) -> Iterator[str]:
    rows = Approval.objects.filter(project=project).select_related("author", "reviewer", "entry")
    for a in rows.order_by("id").iterator(chunk_size=_CHUNK):
        predicate, _ = _predicate(a.entry)
        stated = predicate.get("content") or {}
        cites = stated.get("cites") or {}
        row = {
            "measure": a.measure,
            "workProduct": a.work_product,
            "asil": a.asil,
            "author": a.author.username,
            "reviewer": a.reviewer.username,
            "required": a.required_independence,
            "achieved": a.achieved_independence,
            "outcome": a.outcome,
            "findings": a.findings,
            "baseline": a.baseline.root if a.baseline_id else None,
        }
        yield from _differences(f"approval {a.pk}", a.entry, row, stated)
        if a.entry.project_id != project.pk or cites.get("digest") != reviews.digest_of(
            a.cited or {}
        ):
            yield (
                f"approval {a.pk} cites work products other than ledger entry {a.entry.index} "
                "states: the row was changed after it was recorded"
            )


def _sessions(project: Project) -> Iterator[str]:
    sessions = (
        ReviewSession.objects.filter(project=project)
        .select_related("entry", "closing_entry")
        .prefetch_related("items", "reviewers")
    )
    for session in sessions.order_by("id"):
        predicate, _ = _predicate(session.entry)
        items = {i.key: i.digest for i in session.items.all()}
        row = {
            "action": "open-review",
            "title": session.title,
            "measure": session.measure,
            "reviewers": sorted(u.username for u in session.reviewers.all()),
            "items": items,
            "required": {i.key: i.required_independence for i in session.items.all()},
        }
        yield from _differences(f"review {session.pk}", session.entry, row, predicate)
        if session.entry.project_id != project.pk:
            yield f"review {session.pk} cites an entry of another project"
        if session.closing_entry is not None:
            closing, _ = _predicate(session.closing_entry)
            yield from _differences(
                f"the closing of review {session.pk}",
                session.closing_entry,
                {"action": "close-review", "review": session.entry.index},
                closing,
            )
        elif session.status != ReviewSession.Status.OPEN:
            yield f"review {session.pk} reads closed but no ledger entry closed it"


def _signatures(project: Project) -> Iterator[str]:
    rows = Signature.objects.filter(session__project=project).select_related(
        "session__entry", "item", "signer", "entry"
    )
    for s in rows.order_by("id").iterator(chunk_size=_CHUNK):
        predicate, subject_digest = _predicate(s.entry)
        row = {
            "action": "sign",
            "review": s.session.entry.index,
            "item": s.item.key,
            "version": s.item.version,
            "digest": s.digest,
            "signer": s.signer.username,
            "signerId": s.signer_id,
            "meaning": s.meaning,
            "decision": s.decision,
            "comment": s.comment,
            "required": s.required_independence,
            "achieved": s.achieved_independence,
            "reauthentication": s.reauthentication,
        }
        yield from _differences(f"signature {s.pk}", s.entry, row, predicate)
        if s.entry.project_id != project.pk or subject_digest != s.digest:
            yield (
                f"signature {s.pk} is bound to content other than ledger entry {s.entry.index} "
                "states"
            )
        if s.item.digest != s.digest or s.item.session_id != s.session_id:
            yield f"signature {s.pk} no longer matches the review item it signed"
    revocations = SignatureRevocation.objects.filter(
        signature__session__project=project
    ).select_related("signature__entry", "entry")
    for r in revocations.order_by("id").iterator(chunk_size=_CHUNK):
        predicate, _ = _predicate(r.entry)
        row = {"action": "revoke", "signature": r.signature.entry.index, "reason": r.reason}
        yield from _differences(f"revocation {r.pk}", r.entry, row, predicate)


def _stated_approvals(project: Project, codes: list[str]) -> dict[str, tuple[int, str]]:
    """The last approval each requirement entry states, by code: (index, digest)."""
    stated: dict[str, tuple[int, str]] = {}
    for start in range(0, len(codes), _CHUNK):
        subjects = [f"requirement:{c}" for c in codes[start : start + _CHUNK]]
        entries = LogEntry.objects.filter(project=project, subject__in=subjects).only(
            "index", "subject", "envelope"
        )
        for entry in entries.order_by("index").iterator(chunk_size=_CHUNK):
            predicate, _ = _predicate(entry)
            content = predicate.get("content") or {}
            digest = predicate.get("approvedDigest")
            if (
                not digest
                and predicate.get("action") == "create"
                and (content.get("status") == "approved")
            ):
                digest = reviews.requirement_digest_of_row(
                    content.get(f, "") for f in reviews.DIGEST_FIELDS
                )
            if digest:
                stated[entry.subject.split(":", 1)[1]] = (entry.index, digest)
    return stated


def _requirement_approvals(project: Project) -> Iterator[str]:
    rows = dict(
        Requirement.objects.filter(project=project)
        .exclude(approved_digest="")
        .values_list("code", "approved_digest")
    )
    if not rows:
        return
    last_import = -1
    for prefix in IMPORT_SUBJECTS:
        found = (
            LogEntry.objects.filter(project=project, subject__startswith=prefix)
            .order_by("-index")
            .values_list("index", flat=True)
            .first()
        )
        last_import = max(last_import, found if found is not None else -1)
    stated = _stated_approvals(project, sorted(rows))
    for code, digest in sorted(rows.items()):
        if code not in stated:
            continue  # approved by an import or bound by a migration: no statement to compare
        index, stated_digest = stated[code]
        if index > last_import and stated_digest != digest:
            yield (
                f"requirement {code}: its approved digest {digest[:12]} is not the "
                f"{stated_digest[:12]} that ledger entry {index} approved: the row was changed "
                "after it was recorded"
            )


def row_problems(project: Project) -> Iterator[str]:
    """Every review row of ``project`` that disagrees with its ledger entry, one message each."""
    yield from _approvals(project)
    yield from _requirement_approvals(project)
    yield from _sessions(project)
    yield from _signatures(project)
