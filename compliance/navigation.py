"""Reads for navigating a large safety case a page at a time: the requirement tree one level
at a time, the filtered requirement lists the dashboard links to, and the chains from hazard to
verification.

Every function answers a queryset (or a fixed number of queries) whose cost does not grow with
the project: the page slices it. Each takes the project the view resolved for the user.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from compliance.models import (
    Decomposition,
    Requirement,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    Verification,
)
from compliance.selectors import PARENT_KINDS, requirement_list
from projects.models import Project

#: The gap filters of the requirement lists, by the value of ``gap=``.
GAPS = {
    "suspect": "a suspect link to a parent",
    "orphan": "no parent link",
    "stale": "a stale verification",
}


def _with_tree_flags(qs: QuerySet, pk: str = "pk") -> QuerySet:
    """``has_children`` (something derives from or satisfies it) and ``decomposed``."""
    return qs.annotate(
        has_children=Exists(
            TraceLink.objects.filter(target_requirement=OuterRef(pk), kind__in=PARENT_KINDS)
        ),
        decomposed=Exists(Decomposition.objects.filter(parent=OuterRef(pk))),
    )


def _counted(qs: QuerySet) -> QuerySet:
    return qs.only("id", "code", "title", "asil", "kind", "status", "version")


def tree_goals(*, project: Project) -> QuerySet[SafetyGoal]:
    """The safety goals, the roots of the tree, each with ``has_children``."""
    return (
        SafetyGoal.objects.filter(project=project)
        .annotate(
            has_children=Exists(
                TraceLink.objects.filter(target_goal=OuterRef("pk"), kind__in=PARENT_KINDS)
            )
        )
        .only("id", "code", "text", "asil")
        .order_by("code")
    )


def tree_orphans(*, project: Project) -> QuerySet[Requirement]:
    """The requirements (not obsolete) with no parent link: the other roots of the tree."""
    parents = TraceLink.objects.filter(source=OuterRef("pk"), kind__in=PARENT_KINDS)
    qs = (
        Requirement.objects.filter(project=project)
        .exclude(status=RequirementStatus.OBSOLETE)
        .exclude(Exists(parents))
    )
    return _with_tree_flags(_counted(qs)).order_by("code")


def tree_children(*, project: Project, parent: SafetyGoal | Requirement) -> QuerySet[TraceLink]:
    """The links that derive from or satisfy ``parent``, ordered by their source's code, each
    with the source selected and the flags of :func:`_with_tree_flags` on the link."""
    target = {"target_goal": parent} if isinstance(parent, SafetyGoal) else {}
    target = target or {"target_requirement": parent}
    return _with_tree_flags(
        TraceLink.objects.filter(project=project, kind__in=PARENT_KINDS, **target)
        .exclude(source__status=RequirementStatus.OBSOLETE)
        .select_related("source")
        .only(
            "id",
            "suspect",
            "source__id",
            "source__code",
            "source__title",
            "source__asil",
            "source__kind",
            "source__status",
            "source__version",
        ),
        "source_id",
    ).order_by("source__code")


def requirement_search(*, project: Project, filters: dict) -> QuerySet[Requirement]:
    """The requirements matching ``filters``: those of :func:`compliance.selectors.requirement_list`
    (kind, status, asil, coverage), ``q`` (in the code or the title) and ``gap`` (a key of
    :data:`GAPS`). Obsolete requirements only when asked for by status; with a gap or a coverage
    filter, no headings, as the gap analysis counts them."""
    qs = requirement_list(project=project, filters=filters)
    if filters.get("status") != RequirementStatus.OBSOLETE:
        qs = qs.exclude(status=RequirementStatus.OBSOLETE)
    q = (filters.get("q") or "").strip()
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q))
    gap = filters.get("gap")
    if gap or filters.get("coverage"):
        qs = qs.filter(is_heading=False)
    if gap == "suspect":
        qs = qs.filter(Exists(TraceLink.objects.filter(source=OuterRef("pk"), suspect=True)))
    elif gap == "orphan":
        parents = TraceLink.objects.filter(source=OuterRef("pk"), kind__in=PARENT_KINDS)
        qs = qs.exclude(Exists(parents))
    elif gap == "stale":
        qs = qs.filter(Exists(Verification.objects.filter(requirement=OuterRef("pk"), stale=True)))
    return _with_tree_flags(_counted(qs)).order_by("code")
