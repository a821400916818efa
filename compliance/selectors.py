"""Reads of the safety case: lists, the traceability matrix and the gap analysis."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from compliance import iso26262
from compliance.models import (
    Approval,
    Decomposition,
    LinkKind,
    Requirement,
    RequirementKind,
    SafetyGoal,
    TraceLink,
    Verification,
)
from projects.models import Project

CONFIRMED = ("confirmed", "confirmed_with_findings")


def requirement_list(*, project: Project, filters: dict | None = None) -> QuerySet[Requirement]:
    qs = Requirement.objects.filter(project=project)
    filters = filters or {}
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("asil"):
        level = filters["asil"]
        qs = (
            qs.filter(asil__startswith=level)
            if len(level) == 1 or level == "QM"
            else qs.filter(asil=level)
        )
    verified = Verification.objects.filter(requirement=OuterRef("pk"), result="pass", stale=False)
    coverage = filters.get("coverage")
    if coverage == "verified":
        qs = qs.filter(Exists(verified))
    elif coverage == "unverified":
        qs = qs.exclude(Exists(verified))
    elif coverage == "orphan":
        qs = qs.exclude(Exists(TraceLink.objects.filter(source=OuterRef("pk"))))
    return qs.order_by("code")


def traceability_matrix(*, project: Project, filters: dict | None = None) -> QuerySet[Requirement]:
    """Requirements with their links up and down and their verifications, in a fixed number of
    queries whatever the page size."""
    return requirement_list(project=project, filters=filters).prefetch_related(
        Prefetch(
            "links_up",
            queryset=TraceLink.objects.select_related("target_requirement", "target_goal"),
        ),
        Prefetch("links_down", queryset=TraceLink.objects.select_related("source")),
        Prefetch("verifications", queryset=Verification.objects.order_by("-recorded_at")),
    )


def highest_goal_asil(project: Project) -> str:
    asils = SafetyGoal.objects.filter(project=project).values_list("asil", flat=True)
    return iso26262.safety_goal_asil(asils) if asils else "QM"


def gap_analysis(*, project: Project) -> dict:
    """What stands between the project and a release: per ASIL, with the rule behind each gap."""
    reqs = list(
        Requirement.objects.filter(project=project, is_heading=False)
        .exclude(status="obsolete")
        .values_list("id", "code", "kind", "asil")
    )
    links = list(
        TraceLink.objects.filter(project=project).values_list(
            "source_id", "kind", "target_requirement_id", "target_goal_id", "suspect"
        )
    )
    verified, stale = set(), Counter()
    for req_id, result, is_stale in Verification.objects.filter(project=project).values_list(
        "requirement_id", "result", "stale"
    ):
        if is_stale:
            stale[req_id] += 1
        elif result == "pass":
            verified.add(req_id)
    parents = defaultdict(list)
    suspect = 0
    for source, kind, target_req, target_goal, is_suspect in links:
        suspect += bool(is_suspect)
        if kind in (LinkKind.DERIVES_FROM, LinkKind.SATISFIES):
            parents[source].append(target_req or ("goal", target_goal))
    asil_of = {r[0]: r[3] for r in reqs}
    code_of = {r[0]: r[1] for r in reqs}
    decomposed = set()
    for parent, first, second in Decomposition.objects.filter(project=project).values_list(
        "parent_id", "first_id", "second_id"
    ):
        decomposed.update({(parent, first), (parent, second)})

    def by_asil(ids):
        counts = Counter(iso26262.parse_asil(asil_of[i]).level for i in ids)
        return {level: counts.get(level, 0) for level in ("QM", "A", "B", "C", "D")}

    orphans = [r[0] for r in reqs if not parents.get(r[0])]
    unverified = [r[0] for r in reqs if r[0] not in verified]
    drops = []
    for source, kind, target_req, _goal, _s in links:
        if kind == LinkKind.DERIVES_FROM and target_req in asil_of and source in asil_of:
            if (
                not iso26262.inherits_correctly(asil_of[target_req], asil_of[source])
                and (target_req, source) not in decomposed
            ):
                drops.append(
                    f"{code_of[source]} ({asil_of[source]}) under "
                    f"{code_of[target_req]} ({asil_of[target_req]})"
                )
    approvals = _approval_gaps(project)
    summary = {
        "requirements": len(reqs),
        "without_parent": {
            "count": len(orphans),
            "by_asil": by_asil(orphans),
            "codes": sorted(code_of[i] for i in orphans)[:50],
        },
        "without_verification": {
            "count": len(unverified),
            "by_asil": by_asil(unverified),
            "codes": sorted(code_of[i] for i in unverified)[:50],
        },
        "stale_verifications": sum(stale.values()),
        "suspect_links": suspect,
        "undecomposed_asil_drops": drops,
        "approvals": approvals,
    }
    summary["release_ready"] = not (
        orphans
        or unverified
        or suspect
        or drops
        or approvals["missing"]
        or approvals["below_required"]
    )
    return summary


def _approval_gaps(project: Project) -> dict:
    """Table 1 measures required at the highest goal ASIL that no sufficient approval covers."""
    asil = highest_goal_asil(project)
    approvals = list(Approval.objects.filter(project=project, outcome__in=CONFIRMED))
    missing, below = [], []
    for measure in iso26262.ConfirmationMeasure:
        required = iso26262.required_independence(measure.value, asil)
        if required == iso26262.NO_REQUIREMENT:
            continue
        done = [a for a in approvals if a.measure == measure.value]
        if not done:
            missing.append({"measure": measure.value, "required": required})
        elif not any(iso26262.meets_independence(a.achieved_independence, required) for a in done):
            below.append(
                {
                    "measure": measure.value,
                    "required": required,
                    "achieved": max(a.achieved_independence for a in done),
                }
            )
    return {"asil": asil, "missing": missing, "below_required": below}


def kinds() -> list[str]:
    return list(RequirementKind.values)
