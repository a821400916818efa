"""The reads behind the web pages, each in a fixed number of queries whatever the data size.

The apps' own selectors do the heavy lifting (``compliance.selectors.gap_analysis`` and
``traceability_matrix``, ``evidence.ledger``); what is here assembles what a page shows. None of
these functions checks permissions: the views resolve the project for the user first.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from compliance import iso26262
from compliance.models import (
    AcceptanceCriterion,
    CommitLink,
    Decomposition,
    HazardousEvent,
    LinkKind,
    Requirement,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    Verification,
)
from compliance.selectors import gap_analysis
from evidence import ledger, verify
from evidence.models import LogEntry, SigningKey
from projects.models import Project
from validation.models import Campaign, CaseResult, Run, RunStatus, Verdict

LEVELS = ("QM", "A", "B", "C", "D")
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
PARENT_KINDS = (LinkKind.DERIVES_FROM, LinkKind.SATISFIES)


def asil_level(asil: str) -> str:
    """The developed level of an ASIL in the standard's notation: ``B(D)`` is developed as B."""
    try:
        return iso26262.parse_asil(asil).level
    except ValueError:
        return "QM"


def _by_level(rows) -> dict[str, int]:
    counts = dict.fromkeys(LEVELS, 0)
    for asil, n in rows:
        counts[asil_level(asil)] += n
    return counts


# --- Dashboard --------------------------------------------------------------------------------


@dataclass
class CoverageRow:
    level: str
    total: int
    derived: int
    verified: int
    approved: int

    def share(self, n: int) -> int:
        return round(100 * n / self.total) if self.total else 0

    @property
    def derived_pct(self) -> int:
        return self.share(self.derived)

    @property
    def verified_pct(self) -> int:
        return self.share(self.verified)

    @property
    def approved_pct(self) -> int:
        return self.share(self.approved)


def requirement_coverage(project: Project, gaps: dict) -> list[CoverageRow]:
    """Per ASIL level: requirements, and how many are traced to a parent, verified, approved.

    "Derived" and "verified" are the complements of the gap analysis's lists, so the two views
    never disagree; headings and obsolete requirements count in neither.
    """
    totals: dict[str, int] = dict.fromkeys(LEVELS, 0)
    approved: dict[str, int] = dict.fromkeys(LEVELS, 0)
    rows = (
        Requirement.objects.filter(project=project, is_heading=False)
        .exclude(status=RequirementStatus.OBSOLETE)
        .values_list("asil", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for asil, status, n in rows:
        level = asil_level(asil)
        totals[level] += n
        if status == RequirementStatus.APPROVED:
            approved[level] += n
    orphans = gaps["without_parent"]["by_asil"]
    unverified = gaps["without_verification"]["by_asil"]
    return [
        CoverageRow(
            level=level,
            total=totals[level],
            derived=totals[level] - orphans.get(level, 0),
            verified=totals[level] - unverified.get(level, 0),
            approved=approved[level],
        )
        for level in LEVELS
    ]


def latest_verdicts(project: Project) -> list[tuple[AcceptanceCriterion, Verdict | None]]:
    """Each acceptance criterion with the verdict of the last finished run that judged it."""
    latest = (
        Verdict.objects.filter(criterion=OuterRef("pk"), run__status=RunStatus.SUCCEEDED)
        .order_by("-run__created_at", "-pk")
        .values("pk")[:1]
    )
    criteria = list(
        AcceptanceCriterion.objects.filter(project=project)
        .annotate(latest_verdict=Subquery(latest))
        .order_by("code")
    )
    ids = [c.latest_verdict for c in criteria if c.latest_verdict]
    verdicts = Verdict.objects.select_related("run__campaign").in_bulk(ids) if ids else {}
    return [(c, verdicts.get(c.latest_verdict)) for c in criteria]


def campaign_summaries(project: Project) -> list[tuple[Campaign, list[Verdict]]]:
    """Every campaign with the verdicts of its last successful run (empty when none)."""
    last = (
        Run.objects.filter(campaign=OuterRef("pk"), status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    campaigns = list(
        Campaign.objects.filter(project=project).annotate(last_run=Subquery(last)).order_by("name")
    )
    by_run: dict[int, list[Verdict]] = defaultdict(list)
    run_ids = [c.last_run for c in campaigns if c.last_run]
    if run_ids:
        for verdict in (
            Verdict.objects.filter(run_id__in=run_ids)
            .select_related("criterion")
            .order_by("criterion__code")
        ):
            by_run[verdict.run_id].append(verdict)
    return [(c, by_run.get(c.last_run, [])) for c in campaigns]


def active_runs(project: Project):
    """Queued and running runs, with ``cases_done`` counted as the validation API counts it."""
    return (
        Run.objects.filter(campaign__project=project, status__in=ACTIVE)
        .select_related("campaign")
        .annotate(cases_done=Count("results"))
        .order_by("created_at")
    )


def run_list(project: Project):
    return (
        Run.objects.filter(campaign__project=project)
        .select_related("campaign", "started_by")
        .annotate(cases_done=Count("results"))
    )


def verification_cache_key(project: Project, size: int | None = None) -> str:
    return f"ui:verify:{project.pk}:{'last' if size is None else size}"


def cached_verification(project: Project, size: int) -> dict | None:
    """The last ledger verification of the project: the result at ``size`` when there is one,
    else the most recent result at another size (``current`` says which)."""
    result = cache.get(verification_cache_key(project, size))
    if result is not None:
        return {**result, "current": True}
    last = cache.get(verification_cache_key(project))
    return {**last, "current": False} if last else None


def remember_verification(project: Project, result) -> dict:
    """Keep a ``verify_project`` result under the project and the log size it covered."""
    summary = {
        "ok": result.ok,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "published": result.published,
        "problems": list(result.problems[:10]),
        "checked_at": timezone.now(),
    }
    cache.set(verification_cache_key(project, result.entries), summary, timeout=None)
    cache.set(verification_cache_key(project), summary, timeout=None)
    return summary


def dashboard(project: Project) -> dict:
    gaps = gap_analysis(project=project)
    size, _root = ledger.head_of(project)
    return {
        "gaps": gaps,
        "events": _by_level(
            HazardousEvent.objects.filter(project=project)
            .values_list("asil")
            .annotate(n=Count("id"))
            .order_by()
        ),
        "goals": _by_level(
            SafetyGoal.objects.filter(project=project)
            .values_list("asil")
            .annotate(n=Count("id"))
            .order_by()
        ),
        "coverage": requirement_coverage(project, gaps),
        "targets": latest_verdicts(project),
        "campaigns": campaign_summaries(project),
        "ledger_size": size,
        "checkpoint": ledger.latest_checkpoint(project),
        "verification": cached_verification(project, size),
    }


# --- HARA -------------------------------------------------------------------------------------


def hara(project: Project) -> dict:
    return {
        "events": list(
            HazardousEvent.objects.filter(project=project)
            .select_related("hazard", "situation")
            .order_by("code")
        ),
        "goals": list(
            SafetyGoal.objects.filter(project=project).prefetch_related("events").order_by("code")
        ),
    }


# --- Requirements -----------------------------------------------------------------------------


@dataclass
class TreeRow:
    """One line of the requirement tree, indented by ``depth``."""

    depth: int
    code: str
    title: str
    asil: str
    kind: str = ""
    status: str = ""
    is_goal: bool = False
    suspect: bool = False
    decomposed: bool = False
    repeated: bool = False  # shown (with its children) further up already


def requirement_tree(project: Project) -> dict:
    """Safety goals at the top, each requirement under the parents it derives from or
    satisfies, and the requirements with no parent at the end.

    A requirement with two parents appears under both, but its children are listed only the
    first time, so the tree has one row per link however the requirements interlock. Four
    queries; the tree is walked without recursion, so a deep chain cannot exhaust the stack.
    """
    goals = list(SafetyGoal.objects.filter(project=project).order_by("code"))
    reqs = list(
        Requirement.objects.filter(project=project)
        .exclude(status=RequirementStatus.OBSOLETE)
        .order_by("code")
        .only("id", "code", "title", "asil", "kind", "status")
    )
    links = TraceLink.objects.filter(project=project, kind__in=PARENT_KINDS).values_list(
        "source_id", "target_requirement_id", "target_goal_id", "suspect"
    )
    decomposed = set(
        Decomposition.objects.filter(project=project).values_list("parent_id", flat=True)
    )
    by_id = {r.pk: r for r in reqs}
    under_goal: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    under_req: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    has_parent = set()
    for source, target_req, target_goal, suspect in links:
        if source not in by_id:
            continue
        has_parent.add(source)
        if target_goal:
            under_goal[target_goal].append((source, suspect))
        elif target_req in by_id:
            under_req[target_req].append((source, suspect))

    def ordered(pairs):
        return sorted(pairs, key=lambda pair: by_id[pair[0]].code, reverse=True)

    rows: list[TreeRow] = []
    expanded: set[int] = set()

    def walk(start: list[tuple[int, bool]], depth: int) -> None:
        stack = [(req_id, suspect, depth) for req_id, suspect in ordered(start)]
        while stack:
            req_id, suspect, level = stack.pop()
            req = by_id[req_id]
            repeated = req_id in expanded
            rows.append(
                TreeRow(
                    depth=level,
                    code=req.code,
                    title=req.title,
                    asil=req.asil,
                    kind=req.kind,
                    status=req.status,
                    suspect=suspect,
                    decomposed=req_id in decomposed,
                    repeated=repeated and bool(under_req[req_id]),
                )
            )
            if not repeated:
                expanded.add(req_id)
                stack.extend((c, s, level + 1) for c, s in ordered(under_req[req_id]))

    for goal in goals:
        rows.append(TreeRow(0, goal.code, goal.text, goal.asil, is_goal=True))
        walk(under_goal[goal.pk], 1)
    orphans = [(r.pk, False) for r in reqs if r.pk not in has_parent]
    orphan_start = len(rows)
    walk(orphans, 0)
    return {"rows": rows[:orphan_start], "orphans": rows[orphan_start:], "count": len(reqs)}


@dataclass
class VersionChange:
    record: object
    changes: list[tuple[str, object, object]]


def requirement_detail(project: Project, requirement: Requirement) -> dict:
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
    verifications = list(
        Verification.objects.filter(requirement=requirement)
        .select_related("entry")
        .order_by("-recorded_at", "-pk")
    )
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
    return {
        "links_up": links_up,
        "links_down": links_down,
        "decompositions": decompositions,
        "verifications": verifications,
        "commits": commits,
        "versions": versions,
    }


def matrix_row(req: Requirement) -> dict:
    """What the matrix shows of a prefetched row: its parents, children, verification state."""
    up = list(req.links_up.all())
    down = list(req.links_down.all())
    current = [v for v in req.verifications.all() if not v.stale]
    if current:
        verification = current[0].result
    else:
        verification = "stale" if req.verifications.all() else "none"
    return {
        "req": req,
        "parents": up,
        "children": down,
        "verification": verification,
        "suspect": any(link.suspect for link in up + down),
    }


# --- Validation -------------------------------------------------------------------------------


def campaign_list(project: Project) -> list[Campaign]:
    latest = Run.objects.filter(campaign=OuterRef("pk")).order_by("-created_at", "-pk")
    return list(
        Campaign.objects.filter(project=project)
        .annotate(
            run_count=Count("runs", distinct=True),
            last_status=Subquery(latest.values("status")[:1]),
            last_run=Subquery(latest.values("pk")[:1]),
        )
        .order_by("name")
    )


def run_progress(run: Run) -> dict:
    done = getattr(run, "cases_done", None)
    if done is None:
        done = CaseResult.objects.filter(run=run).count()
    total = run.cases_total or 0
    return {
        "done": done,
        "total": total,
        "pct": round(100 * done / total) if total else 0,
        "active": run.status in ACTIVE,
    }


KPI_POINTS = 2000  # the most cases a plot draws; beyond that every n-th case is drawn


def run_cases_for_plot(run: Run) -> list[tuple[str, str, dict, dict]]:
    """(case id, scenario, params, KPIs) of at most :data:`KPI_POINTS` cases, spread evenly."""
    total = getattr(run, "cases_done", None) or run.cases_total
    rows = CaseResult.objects.filter(run=run).order_by("case_id")
    if total > KPI_POINTS:
        stride = -(-total // KPI_POINTS)
        ids = list(rows.values_list("pk", flat=True))[::stride]
        rows = rows.filter(pk__in=ids)
    return list(rows.values_list("case_id", "scenario", "params", "kpis"))


# --- Evidence ---------------------------------------------------------------------------------


def statement_of(entry: LogEntry) -> dict:
    """The in-toto statement inside an entry's DSSE envelope (empty when unreadable)."""
    try:
        envelope = json.loads(bytes(entry.envelope))
        return json.loads(base64.b64decode(envelope["payload"]))
    except (ValueError, KeyError, TypeError):
        return {}


def trusted_keys() -> list[tuple[str, bytes]]:
    return [(k.name, bytes(k.public_key)) for k in SigningKey.objects.all()]


@dataclass
class ProofCheck:
    """Whether an entry is in the log that the latest signed checkpoint commits to."""

    ok: bool
    reason: str = ""
    size: int = 0
    root: str = ""
    proof: list[str] = field(default_factory=list)


def check_inclusion(project: Project, entry: LogEntry) -> ProofCheck:
    """Recompute the entry's leaf from its envelope bytes, have the ledger build the RFC 9162
    inclusion proof up to the latest checkpoint, and check it with the offline verifier against
    the root in the checkpoint's signed note (whose signature is checked too)."""
    checkpoint = ledger.latest_checkpoint(project)
    if checkpoint is None:
        return ProofCheck(False, "The log has no checkpoint yet.")
    try:
        note = verify.verify_checkpoint(
            checkpoint.note, trusted_keys(), origin=ledger.origin(project)
        )
    except ValueError as exc:
        return ProofCheck(False, f"The latest checkpoint does not verify: {exc}")
    if entry.index >= note.size:
        return ProofCheck(False, f"Entry {entry.index} is newer than the checkpoint.", note.size)
    try:
        proof = ledger.inclusion_proof(project, entry.index, note.size)
    except ledger.LedgerError as exc:
        return ProofCheck(False, str(exc), note.size)
    leaf = verify.leaf_hash(bytes(entry.envelope))
    ok = verify.verify_inclusion(leaf, entry.index, note.size, proof, note.root)
    return ProofCheck(
        ok,
        "" if ok else "The proof does not lead to the checkpoint's root.",
        note.size,
        note.root.hex(),
        [h.hex() for h in proof],
    )
