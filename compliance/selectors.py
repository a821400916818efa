"""Reads of the safety case: lists, the traceability matrix and the gap analysis."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery

from compliance import iso26262, reviews
from compliance.models import (
    AcceptanceCriterion,
    Approval,
    Baseline,
    Comment,
    CommitLink,
    Decomposition,
    Hazard,
    HazardousEvent,
    ItemDefinition,
    LinkKind,
    OperationalSituation,
    Requirement,
    RequirementKind,
    RequirementStatus,
    ReviewSession,
    SafetyGoal,
    Signature,
    TraceLink,
    TriggeringCondition,
    Verification,
)
from compliance.review_sessions import signature_states
from projects.models import Project

CONFIRMED = reviews.CONFIRMED


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
    """Requirements with their links up and down, in a fixed number of queries whatever the
    page size. Their verification states come from :func:`matrix_verifications` for the rows
    shown: as columns of an offset query they would be computed for every row skipped."""
    return requirement_list(project=project, filters=filters).prefetch_related(
        Prefetch(
            "links_up",
            queryset=TraceLink.objects.select_related("target_requirement", "target_goal"),
        ),
        Prefetch("links_down", queryset=TraceLink.objects.select_related("source")),
    )


def _verification_state() -> dict:
    """The annotations of a requirement's verification state: the latest current result and
    whether any verification was ever recorded."""
    latest = Verification.objects.filter(requirement=OuterRef("pk"), stale=False).order_by(
        "-recorded_at", "-id"
    )
    return {
        "latest_result": Subquery(latest.values("result")[:1]),
        "verified_ever": Exists(Verification.objects.filter(requirement=OuterRef("pk"))),
    }


#: What a row of the traceability page shows of a requirement.
MATRIX_FIELDS = ("id", "code", "version", "kind", "asil", "status", "title")


def matrix_requirements(*, project: Project, filters: dict | None = None) -> QuerySet:
    """The traceability page's requirements as values (:data:`MATRIX_FIELDS`), in code order:
    what is paginated. The page's links and verification states come from
    :func:`matrix_links` and :func:`matrix_verifications` for its rows alone."""
    return requirement_list(project=project, filters=filters).values(*MATRIX_FIELDS)


def matrix_verifications(requirement_ids: list[int]) -> dict[int, tuple[str | None, bool]]:
    """For each of ``requirement_ids``: the result of its latest current verification (None
    when there is none) and whether any was ever recorded. Found by the database per
    requirement through the index, so a page costs the same however long the verification
    history grows (asked of the page's rows only: as a column of the paginated query it would
    be computed for every row the offset skips)."""
    rows = (
        Requirement.objects.filter(id__in=requirement_ids)
        .annotate(**_verification_state())
        .values_list("id", "latest_result", "verified_ever")
    )
    return {pk: (result, ever) for pk, result, ever in rows}


def matrix_links(
    requirement_ids: list[int] | None = None, *, project: Project | None = None
) -> tuple[dict[int, list], dict[int, list]]:
    """The links up (to parents) and down (from children) of ``requirement_ids``, or of every
    requirement of ``project``, by requirement id, in the order they were made:
    ``(code, kind, suspect)`` of the other end."""
    if requirement_ids is None:
        links_up = links_down = TraceLink.objects.filter(project=project)
    else:
        links_up = TraceLink.objects.filter(source_id__in=requirement_ids)
        links_down = TraceLink.objects.filter(target_requirement_id__in=requirement_ids)
    up, down = defaultdict(list), defaultdict(list)
    for source, kind, suspect, requirement, goal in links_up.order_by("id").values_list(
        "source_id", "kind", "suspect", "target_requirement__code", "target_goal__code"
    ):
        up[source].append((requirement or goal, kind, suspect))
    for target, kind, suspect, code in (
        links_down.filter(target_requirement__isnull=False)
        .order_by("id")
        .values_list("target_requirement_id", "kind", "suspect", "source__code")
    ):
        down[target].append((code, kind, suspect))
    return up, down


def matrix_export(*, project: Project, filters: dict | None = None) -> list[dict]:
    """Every row of the traceability matrix under ``filters``, as the CSV export writes it:
    :data:`MATRIX_FIELDS`, ``parents`` and ``children`` (``kind:code`` of the other end, in
    the order the links were made), ``verification`` (the latest current result, else
    ``stale`` or ``none``) and ``suspect``. Three queries whatever the size, values not
    models; the verification states are columns here, since an export skips no row."""
    rows = list(
        matrix_requirements(project=project, filters=filters).annotate(**_verification_state())
    )
    up, down = matrix_links(project=project)
    for row in rows:
        parents, children = up.get(row["id"], ()), down.get(row["id"], ())
        latest, ever = row.pop("latest_result"), row.pop("verified_ever")
        row["parents"] = [f"{kind}:{code}" for code, kind, _suspect in parents]
        row["children"] = [f"{kind}:{code}" for code, kind, _suspect in children]
        row["verification"] = latest or ("stale" if ever else "none")
        row["suspect"] = any(link[2] for link in (*parents, *children))
    return rows


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
    decompositions = list(
        Decomposition.objects.filter(project=project).values_list(
            "parent_id", "first_id", "second_id"
        )
    )
    decomposed = set()
    for parent, first, second in decompositions:
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

    def listed(ids):
        ordered = sorted(ids, key=code_of.__getitem__)[:LISTED]
        return [{"id": i, "code": code_of[i]} for i in ordered]

    currency = approval_currency(project=project)
    approvals = _approval_gaps(project, currency)
    events = _events_without_goal(project)
    derived_goals = {
        goal
        for source, kind, _r, goal, _s in links
        if goal and kind in PARENT_KINDS and source in code_of
    }
    goals = _goals_without_requirements(project, derived_goals)
    derives = {
        (source, target) for source, kind, target, _g, _s in links if kind == LinkKind.DERIVES_FROM
    }
    children = _gap(
        [
            {"id": child, "code": code_of[child], "parent_id": parent, "parent": code_of[parent]}
            for parent, *pair in decompositions
            for child in pair
            if child in code_of and parent in code_of and (child, parent) not in derives
        ]
    )
    stale_requirements, approved = _requirement_approvals(project)
    stale_reviews = _stale_reviews(currency, stale_requirements)
    summary = {
        "requirements": len(reqs),
        "without_parent": {
            "count": len(orphans),
            "by_asil": by_asil(orphans),
            "codes": sorted(code_of[i] for i in orphans)[:LISTED],
            "items": listed(orphans),
        },
        "without_verification": {
            "count": len(unverified),
            "by_asil": by_asil(unverified),
            "codes": sorted(code_of[i] for i in unverified)[:LISTED],
            "items": listed(unverified),
        },
        "stale_verifications": sum(stale.values()),
        "suspect_links": suspect,
        "undecomposed_asil_drops": drops,
        "events_without_goal": events,
        "goals_without_requirements": goals,
        "unlinked_decomposition_children": children,
        "stale_reviews": stale_reviews,
        "approved": {"count": sum(approved.values()), "by_asil": by_asil(approved.elements())},
        "approvals": approvals,
    }
    summary["release_ready"] = not (
        orphans
        or unverified
        or suspect
        or drops
        or events["count"]
        or goals["count"]
        or children["count"]
        or stale_reviews["count"]
        or approvals["missing"]
        or approvals["below_required"]
        or approvals["stale"]
    )
    return summary


#: How many items of one gap the analysis lists (``count`` gives them all).
LISTED = 50

#: Gaps whose data an app above compliance holds, by the field of the gap analysis they fill:
#: each a function of ``project=`` answering ``{"count", "items"}``. Compliance cannot import
#: those apps, so each registers its own in its ``AppConfig.ready()`` (validation registers
#: ``criteria_without_cases``); :func:`full_gap_analysis` includes them all.
GAP_PROVIDERS: dict[str, Callable[..., dict]] = {}


def register_gap(name: str, provider: Callable[..., dict]) -> None:
    GAP_PROVIDERS[name] = provider


def full_gap_analysis(*, project: Project) -> dict:
    """:func:`gap_analysis` with the gaps the other apps register: what the API's gap
    analysis and the dashboard show. Any registered gap with items keeps the project from
    being release ready."""
    gaps = gap_analysis(project=project)
    for name, provider in GAP_PROVIDERS.items():
        gaps[name] = provider(project=project)
        gaps["release_ready"] = gaps["release_ready"] and not gaps[name]["count"]
    return gaps


def _gap(items: list[dict]) -> dict:
    return {"count": len(items), "items": items[:LISTED]}


def _events_without_goal(project: Project) -> dict:
    """Hazardous events rated ASIL A to D that no safety goal covers (ISO 26262-3 7.4.4.3)."""
    events = (
        HazardousEvent.objects.filter(project=project, goals__isnull=True)
        .exclude(asil="QM")
        .order_by("code")
        .values("id", "code", "asil")
    )
    return _gap(list(events))


def _goals_without_requirements(project: Project, derived: set[int]) -> dict:
    """Safety goals that no requirement derives from or satisfies."""
    goals = (
        SafetyGoal.objects.filter(project=project)
        .exclude(pk__in=derived)
        .order_by("code")
        .values("id", "code", "asil")
    )
    return _gap(list(goals))


def approval_currency(*, project: Project) -> dict[int, reviews.Currency]:
    """Every confirmation review of the project against its work products now, by approval
    id: ``stale`` with what changed, was added or went since it was signed."""
    return reviews.currencies(project, Approval.objects.filter(project=project).order_by("id"))


def stale_requirement_approvals(*, project: Project) -> list[dict]:
    """Requirements whose last approval cites content they no longer have (the approval of an
    older version), whatever their status is now: id, code, status, version, approved_version."""
    return _requirement_approvals(project)[0]


def _requirement_approvals(project: Project) -> tuple[list[dict], Counter]:
    """The stale requirement approvals, and the requirements approved in their current content
    (by id, for :func:`gap_analysis`'s counts per ASIL). Headings and obsolete ones are left
    out."""
    rows = (
        Requirement.objects.filter(project=project, is_heading=False)
        .exclude(approved_digest="")
        .exclude(status=RequirementStatus.OBSOLETE)
        .order_by("code")
        .values_list(
            "id", "status", "version", "approved_version", "approved_digest", *reviews.DIGEST_FIELDS
        )
    )
    stale, current = [], Counter()
    for pk, status, version, approved_version, approved, *content in rows:
        if approved != reviews.requirement_digest_of_row(content):
            stale.append(
                {
                    "id": pk,
                    "code": content[0],
                    "status": status,
                    "version": version,
                    "approved_version": approved_version,
                }
            )
        elif status == RequirementStatus.APPROVED:
            current[pk] += 1
    return stale, current


def _stale_reviews(currency: dict[int, reviews.Currency], requirements: list[dict]) -> dict:
    approvals = [
        {
            "id": c.approval.pk,
            "measure": c.approval.measure,
            "work_product": c.approval.work_product,
            "outcome": c.approval.outcome,
            "reason": c.reason,
        }
        for c in currency.values()
        if c.stale
    ]
    return {
        "count": len(approvals) + len(requirements),
        "approvals": approvals,
        "requirements": requirements[:LISTED],
    }


def stale_reviews(*, project: Project) -> dict:
    """The confirmation reviews and requirement approvals that no longer hold: ``count``,
    ``approvals`` (id, measure, work product, outcome, reason) and ``requirements`` (id, code,
    status, version and the version approved). What the GSN and the evidence pack mark stale."""
    return _stale_reviews(
        approval_currency(project=project), stale_requirement_approvals(project=project)
    )


def _approval_gaps(project: Project, currency: dict[int, reviews.Currency]) -> dict:
    """Table 1 measures required at the highest goal ASIL that no sufficient, current approval
    covers (:func:`compliance.reviews.approval_gaps` of the live approvals)."""
    return reviews.approval_gaps(
        highest_goal_asil(project),
        [
            reviews.Confirmation(
                id=c.approval.pk,
                measure=c.approval.measure,
                outcome=c.approval.outcome,
                achieved=c.approval.achieved_independence,
                stale=c.stale,
            )
            for c in currency.values()
        ],
    )


def kinds() -> list[str]:
    return list(RequirementKind.values)


# --- What the web pages read -------------------------------------------------------------------

PARENT_KINDS = (LinkKind.DERIVES_FROM, LinkKind.SATISFIES)


def hazardous_event_list(*, project: Project) -> QuerySet[HazardousEvent]:
    return (
        HazardousEvent.objects.filter(project=project)
        .select_related("hazard", "situation")
        .order_by("code")
    )


def hazardous_event_exists(*, project: Project, code: str) -> bool:
    return HazardousEvent.objects.filter(project=project, code=code).exists()


def safety_goal_list(*, project: Project) -> QuerySet[SafetyGoal]:
    return SafetyGoal.objects.filter(project=project).prefetch_related("events").order_by("code")


# What a form offers to choose from, by code.


def hazard_choices(*, project: Project) -> QuerySet[Hazard]:
    return Hazard.objects.filter(project=project)


def situation_choices(*, project: Project) -> QuerySet[OperationalSituation]:
    return OperationalSituation.objects.filter(project=project)


def goal_choices(*, project: Project) -> QuerySet[SafetyGoal]:
    return SafetyGoal.objects.filter(project=project)


def requirement_choices(*, project: Project) -> QuerySet[Requirement]:
    """Requirements that can carry a criterion or a link: every one but the headings."""
    return Requirement.objects.filter(project=project, is_heading=False)


def criterion_choices(*, project: Project) -> QuerySet[AcceptanceCriterion]:
    return AcceptanceCriterion.objects.filter(project=project).order_by("code")


def baseline_choices(*, project: Project) -> QuerySet[Baseline]:
    """The baselines, oldest first, without their content."""
    return Baseline.objects.filter(project=project).defer("content").order_by("created_at")


def asil_counts(*, project: Project) -> dict[str, list[tuple[str, int]]]:
    """(ASIL, count) rows of the hazardous events and of the safety goals, as rated."""
    return {
        "events": list(
            HazardousEvent.objects.filter(project=project)
            .values_list("asil")
            .annotate(n=Count("id"))
            .order_by()
        ),
        "goals": list(
            SafetyGoal.objects.filter(project=project)
            .values_list("asil")
            .annotate(n=Count("id"))
            .order_by()
        ),
    }


def goal_or_requirement(*, project: Project, code: str) -> SafetyGoal | Requirement | None:
    """The safety goal with this code, else the requirement, else None."""
    goal = SafetyGoal.objects.filter(project=project, code=code).first()
    if goal is not None:
        return goal
    return Requirement.objects.filter(project=project, code=code).first()


def requirements_by_code(*, project: Project, codes) -> dict[str, Requirement]:
    return {r.code: r for r in Requirement.objects.filter(project=project, code__in=list(codes))}


def trace_link_list(*, project: Project) -> QuerySet[TraceLink]:
    return TraceLink.objects.filter(project=project).select_related(
        "source", "target_requirement", "target_goal"
    )


def link_end(*, project: Project, link: TraceLink, code: str) -> Requirement | None:
    """The requirement with this code when it is one end of ``link``, else None."""
    return (
        Requirement.objects.filter(project=project, code=code)
        .filter(Q(links_up=link) | Q(links_down=link))
        .first()
    )


def approval_list(*, project: Project) -> QuerySet[Approval]:
    return Approval.objects.filter(project=project).select_related("author", "reviewer", "entry")


def triggering_condition_list(*, project: Project) -> QuerySet[TriggeringCondition]:
    return TriggeringCondition.objects.filter(project=project).order_by("code")


def acceptance_criterion_list(*, project: Project) -> QuerySet[AcceptanceCriterion]:
    return (
        AcceptanceCriterion.objects.filter(project=project)
        .select_related("goal", "requirement")
        .order_by("code")
    )


def baseline_list(*, project: Project, content: bool = False) -> QuerySet[Baseline]:
    """The baselines, newest first; without ``content`` (every item of the model) unless asked."""
    baselines = Baseline.objects.filter(project=project).select_related("created_by", "entry")
    if not content:
        baselines = baselines.defer("content")
    return baselines.order_by("-created_at")


@dataclass
class VersionChange:
    record: object
    changes: list[tuple[str, object, object]]


#: The newest verifications a requirement's page lists; the rest on asking (a nightly CI
#: records one a night, and the page would otherwise grow with the years).
VERIFICATIONS_SHOWN = 25


def requirement_detail(
    *, requirement: Requirement, verifications_shown: int | None = VERIFICATIONS_SHOWN
) -> dict:
    """A requirement's links both ways, decompositions, verifications (the newest
    ``verifications_shown``, all with None; ``verifications_total`` counts them all when
    some are left out, else is None), commits and versions (newest first, each with the
    fields it changed), and its last approval (the version it approved, and whether it is
    stale: the content changed since)."""
    links_up = list(
        TraceLink.objects.filter(source=requirement)
        .select_related("target_requirement", "target_goal", "cleared_by")
        .order_by("kind", "id")
    )
    links_down = list(
        TraceLink.objects.filter(target_requirement=requirement)
        .select_related("source", "cleared_by")
        .order_by("kind", "id")
    )
    decompositions = list(
        Decomposition.objects.filter(
            Q(parent=requirement) | Q(first=requirement) | Q(second=requirement)
        ).select_related("parent", "first", "second", "entry")
    )
    recorded = (
        Verification.objects.filter(requirement=requirement)
        .annotate(entry_index=F("entry__index"))
        .order_by("-recorded_at", "-pk")
    )
    if verifications_shown is None:
        verifications, verifications_total = list(recorded), None
    else:
        verifications = list(recorded[: verifications_shown + 1])
        verifications_total = None
        if len(verifications) > verifications_shown:
            verifications, verifications_total = verifications[:-1], recorded.count()
    commits = list(CommitLink.objects.filter(requirement=requirement).order_by("-authored_at"))
    records = list(requirement.history.select_related("history_user").order_by("history_id"))
    versions = []
    previous = None
    for record in records:
        changes = []
        if previous is not None:
            delta = record.diff_against(previous, excluded_fields=["updated_at"])
            changes = [(c.field, c.old, c.new) for c in delta.changes]
        versions.append(VersionChange(record, changes))
        previous = record
    versions.reverse()
    approval = None
    if requirement.approved_digest:
        approval = {
            "version": requirement.approved_version,
            "stale": requirement.approved_digest != reviews.requirement_digest(requirement),
        }
    return {
        "approval": approval,
        "links_up": links_up,
        "links_down": links_down,
        "decompositions": decompositions,
        "verifications": verifications,
        "verifications_total": verifications_total,
        "commits": commits,
        "versions": versions,
    }


# --- What the API reads ------------------------------------------------------------------------


def item_definition(*, project: Project) -> ItemDefinition | None:
    return ItemDefinition.objects.filter(project=project).first()


def hazard_list(*, project: Project) -> QuerySet[Hazard]:
    return Hazard.objects.filter(project=project).order_by("code")


def situation_list(*, project: Project) -> QuerySet[OperationalSituation]:
    return OperationalSituation.objects.filter(project=project).order_by("code")


def link_list(*, project: Project, suspect_only: bool = False) -> QuerySet[TraceLink]:
    """The trace links in the order they were made; only the suspect ones if asked."""
    links = trace_link_list(project=project)
    if suspect_only:
        links = links.filter(suspect=True)
    return links.order_by("id")


def decomposition_list(*, project: Project) -> QuerySet[Decomposition]:
    return (
        Decomposition.objects.filter(project=project)
        .select_related("parent", "first", "second", "entry")
        .order_by("id")
    )


def verification_list(*, project: Project) -> QuerySet[Verification]:
    return Verification.objects.filter(project=project).select_related("requirement", "entry")


def baseline_history(*, project: Project) -> QuerySet[Baseline]:
    """The baselines oldest first, as they were frozen, without their content."""
    return baseline_list(project=project).order_by("created_at")


# --- Review sessions, signatures, comments ------------------------------------------------------


def review_session_list(*, project: Project) -> QuerySet:
    """The project's review sessions, newest first, with their counts of items and signatures."""
    return (
        ReviewSession.objects.filter(project=project)
        .select_related("opened_by", "baseline", "entry")
        .prefetch_related("reviewers")
        .annotate(
            item_count=Count("items", distinct=True),
            signature_count=Count("signatures", distinct=True),
        )
        .order_by("-created_at", "-id")
    )


def signature_list(*, project: Project, key: str | None = None) -> QuerySet:
    """The signatures of the project's reviews (of the work product ``key`` only, if given),
    with what their states need loaded."""
    signatures = Signature.objects.filter(session__project=project)
    if key is not None:
        signatures = signatures.filter(item__key=key)
    return signatures.select_related(
        "item", "signer", "session", "entry", "revocation__revoked_by", "revocation__entry"
    ).order_by("item__position", "item_id", "signed_at", "id")


def review_session_detail(*, project: Project, pk: int) -> dict | None:
    """A session with its items, each with its signatures and their states (current, stale
    against the work products now, or revoked); None when the project has no such session."""
    session = review_session_list(project=project).filter(pk=pk).first()
    if session is None:
        return None
    items = list(session.items.order_by("position"))
    signatures = list(signature_list(project=project).filter(session=session))
    states = signature_states(project, signatures)
    by_item: dict[int, list] = defaultdict(list)
    for s in signatures:
        by_item[s.item_id].append(states[s.pk])
    return {
        "session": session,
        "items": [{"item": i, "signatures": by_item[i.pk]} for i in items],
    }


def signature_states_of(*, project: Project, key: str | None = None, content=None) -> list:
    """The :class:`~compliance.review_sessions.SignatureState` of every signature (on ``key``
    only, if given), against ``content`` (a baseline's) or the work products now."""
    signatures = list(signature_list(project=project, key=key))
    states = signature_states(project, signatures, content)
    return [states[s.pk] for s in signatures]


def comment_list(*, project: Project, key: str | None = None) -> QuerySet:
    comments = Comment.objects.filter(project=project)
    if key is not None:
        comments = comments.filter(key=key)
    return (
        comments.select_related("author", "entry")
        .prefetch_related("mentions")
        .order_by("created_at", "id")
    )
