"""What a change makes suspect or stale down the chain, before it is saved, and what is left to
clear after.

:func:`preview` answers, for a proposed change of a requirement or a safety goal, exactly what
the services will do when it is saved (:func:`compliance.services.requirement_content_changed`,
``safety_goal_save``): the trace links that turn suspect, the verifications (a campaign's
verdicts included) that turn stale, the approval that goes back to review, the confirmation
reviews that cite the content, the signatures bound to its digest, the open reviews that can no
longer be signed, and the work products whose argument rests on it (up the trace links to the
safety goals: the GSN nodes that show them). :func:`open_impact` lists what such changes left
open in the project. Both only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from compliance import iso26262, reviews
from compliance.models import (
    CONTENT_FIELDS,
    Approval,
    Requirement,
    RequirementStatus,
    ReviewItem,
    ReviewSession,
    SafetyGoal,
    Signature,
    TraceLink,
    Verification,
)
from compliance.review_sessions import signature_states
from projects.models import Project


@dataclass
class Effect:
    """One thing a change affects: its group, what it is, and what happens to it."""

    group: str
    label: str
    what: str


@dataclass
class Impact:
    key: str
    changes_content: bool
    effects: list[Effect] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.effects)

    def by_group(self) -> dict[str, list[Effect]]:
        groups: dict[str, list[Effect]] = {}
        for effect in self.effects:
            groups.setdefault(effect.group, []).append(effect)
        return groups

    @property
    def summary(self) -> str:
        if not self.changes_content:
            return "This change leaves the content as it is: nothing turns suspect or stale."
        n = self.count
        return f"This change makes {n} item{'s' if n != 1 else ''} suspect or stale."


def _proposed(obj, fields: dict, content_fields) -> bool:
    return any(
        name in content_fields and str(getattr(obj, name) or "") != str(value or "")
        for name, value in fields.items()
    )


def preview(project: Project, target, fields: dict) -> Impact:
    """The impact of setting ``fields`` on ``target`` (a requirement or a safety goal)."""
    if isinstance(target, Requirement):
        key = f"requirement:{target.code}"
        changes = _proposed(target, fields, CONTENT_FIELDS)
    else:
        key = f"goal:{target.code}"
        changes = _proposed(target, fields, ("text", "safe_state", "ftti_ms"))
    impact = Impact(key=key, changes_content=changes)
    if not changes:
        return impact
    effects = impact.effects
    if isinstance(target, Requirement):
        links = TraceLink.objects.filter(Q(target_requirement=target) | Q(source=target))
        verifications = Verification.objects.filter(
            requirement=target, requirement_version__lte=target.version, stale=False
        )
        for v in verifications.order_by("-recorded_at", "-id"):
            effects.append(
                Effect(
                    "verifications",
                    f"{v.method} of v{v.requirement_version}: {v.result}",
                    "turns stale",
                )
            )
        if target.status == RequirementStatus.APPROVED:
            effects.append(
                Effect(
                    "approval",
                    f"approval of {target.code} v{target.approved_version}",
                    "goes back to review",
                )
            )
        now_digest = reviews.requirement_digest(target)
    else:
        links = TraceLink.objects.filter(target_goal=target)
        now_digest = reviews.digest_of(target.snapshot())
    for link in links.filter(suspect=False).select_related(
        "source", "target_requirement", "target_goal"
    ):
        effects.insert(
            0,
            Effect("links", f"{link.source.code} {link.kind} {link.target.code}", "turns suspect"),
        )
    for approval in Approval.objects.filter(project=project).order_by("id"):
        if (approval.cited or {}).get(key) == _cited_digest(target):
            effects.append(
                Effect(
                    "reviews",
                    f"{_measure(approval.measure)}: {approval.work_product}",
                    "turns stale",
                )
            )
    signatures = Signature.objects.filter(
        session__project=project, item__key=key, digest=now_digest, revocation__isnull=True
    ).select_related("signer")
    for s in signatures.order_by("id"):
        effects.append(
            Effect("signatures", f"{s.signer.username}: {s.decision} as {s.meaning}", "turns stale")
        )
    open_items = ReviewItem.objects.filter(
        session__project=project,
        session__status=ReviewSession.Status.OPEN,
        key=key,
        digest=now_digest,
    ).select_related("session")
    for item in open_items:
        effects.append(Effect("open reviews", item.session.title, "can no longer be signed"))
    for code in _above(project, target):
        effects.append(Effect("safety case", code, "its argument rests on changed content"))
    return impact


def _measure(measure: str) -> str:
    return iso26262.ConfirmationMeasure(measure).label


def _cited_digest(target) -> str:
    return reviews.digest_of(target.snapshot())


def _above(project: Project, target) -> list[str]:
    """The requirements and goals the target supports, up the trace links (the GSN nodes whose
    argument includes it), nearest first."""
    if isinstance(target, SafetyGoal):
        return []
    edges: dict[int, list[tuple[int | None, str]]] = {}
    for source, req, goal_code, req_code in TraceLink.objects.filter(project=project).values_list(
        "source_id", "target_requirement_id", "target_goal__code", "target_requirement__code"
    ):
        edges.setdefault(source, []).append((req, req_code or f"goal {goal_code}"))
    seen: list[str] = []
    frontier, visited = [target.pk], {target.pk}
    while frontier:
        nxt = []
        for node in frontier:
            for req, label in edges.get(node, ()):
                if label not in seen:
                    seen.append(label)
                if req is not None and req not in visited:
                    visited.add(req)
                    nxt.append(req)
        frontier = nxt
    return seen


# --- What is left to clear --------------------------------------------------------------------


def open_impact(project: Project) -> dict:
    """What changes left open: suspect links (clear them with a comment), stale verifications
    (verify again), requirements whose approval is of older content (review them again), stale
    confirmation reviews and stale signatures (sign again)."""
    links = list(
        TraceLink.objects.filter(project=project, suspect=True)
        .select_related("source", "target_requirement", "target_goal")
        .order_by("id")
    )
    verifications = list(
        Verification.objects.filter(project=project, stale=True)
        .select_related("requirement", "entry")
        .order_by("requirement__code", "-recorded_at")
    )
    requirements = [
        r
        for r in Requirement.objects.filter(project=project)
        .exclude(approved_digest="")
        .only(
            "id",
            "code",
            "kind",
            "title",
            "text",
            "asil",
            "status",
            "version",
            "approved_digest",
            "approved_version",
        )
        if r.approved_digest != reviews.requirement_digest(r)
    ]
    currency = reviews.currencies(project, Approval.objects.filter(project=project).order_by("id"))
    approvals = [c for c in currency.values() if c.stale]
    signatures = list(
        Signature.objects.filter(session__project=project)
        .select_related("item", "signer", "session", "revocation", "entry")
        .order_by("item__key", "id")
    )
    states = signature_states(project, signatures)
    stale_signatures = [states[s.pk] for s in signatures if states[s.pk].stale]
    total = len(links) + len(verifications) + len(requirements) + len(approvals)
    return {
        "links": links,
        "verifications": verifications,
        "requirements": requirements,
        "approvals": approvals,
        "signatures": stale_signatures,
        "count": total + len(stale_signatures),
    }
