"""What the web pages show, shaped from the apps' selectors.

The reads themselves live with the app that owns the data (``compliance.selectors``,
``validation.selectors``, ``evidence.selectors``); what is here turns their results into what
a page draws, without queries of its own. The views resolve the project for the user first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from compliance import iso26262, navigation
from compliance import selectors as compliance
from compliance.models import Requirement, RequirementStatus
from evidence import selectors as evidence
from projects.models import Project
from validation import selectors as validation
from validation.models import Run

LEVELS = ("QM", "A", "B", "C", "D")


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


def requirement_coverage(gaps: dict) -> list[CoverageRow]:
    """Per ASIL level: requirements, and how many are traced to a parent, verified, approved.
    "Approved" counts current approvals only: an approval of an older version is stale.

    Every figure comes from :func:`compliance.navigation.dashboard_gaps`: "derived" and
    "verified" are the complements of its counts and "approved" its count of current approvals,
    so the two views never disagree; headings and obsolete requirements count in neither.
    """
    totals = gaps["totals"]
    approved = gaps["approved"]["by_asil"]
    orphans = gaps["without_parent"]["by_asil"]
    unverified = gaps["without_verification"]["by_asil"]
    return [
        CoverageRow(
            level=level,
            total=totals[level],
            derived=totals[level] - orphans.get(level, 0),
            verified=totals[level] - unverified.get(level, 0),
            approved=approved.get(level, 0),
        )
        for level in LEVELS
    ]


def dashboard(project: Project) -> dict:
    size, root = evidence.log_head(project=project)
    gaps, counted_at, recounting = _counted_gaps(project, size, root)
    counts = compliance.asil_counts(project=project)
    return {
        "gaps": gaps,
        "gaps_counted_at": counted_at,
        "gaps_lag": size - counted_at,  # entries recorded since the gaps were counted
        "gaps_max_age": settings.SAFECASE_DASHBOARD_MAX_AGE,
        "gaps_recounting": recounting,  # older than the maximum age: being counted now
        "events": _by_level(counts["events"]),
        "goals": _by_level(counts["goals"]),
        "coverage": requirement_coverage(gaps),
        "targets": validation.latest_verdicts(project=project),
        "campaigns": validation.campaign_summaries(project=project),
        "ledger_size": size,
        "checkpoint": evidence.latest_checkpoint(project=project),
        "verification": evidence.last_verification(project=project, size=size, root=root),
    }


def _counted_gaps(project: Project, size: int, root: bytes) -> tuple[dict, int, bool]:
    """The dashboard's gaps (:func:`compliance.navigation.dashboard_gaps`, the costliest read of
    the page), the size of the log they were counted at, and whether they are older than the
    maximum age because another process is counting them again right now.

    They are kept in the cache under the project with the log's head, and used again while the
    head is the same: every write to the safety case appends an entry, so an unchanged head
    means unchanged counts. With ``SAFECASE_DASHBOARD_MAX_AGE`` seconds they are also used that
    long while the log grows (many writers at once), and the page says which entry they were
    counted at; after that, or with 0, a new entry means counting again.

    When they may lag, one process counts them again at a time: while it counts (a second or
    so at 10,000 requirements under load), the others show the kept counts, named by their
    entry, rather than all counting the same thing at once. With 0 every view whose head
    differs counts for itself: nothing older is ever shown."""
    key = f"ui-dashboard-gaps:{project.pk}"
    kept = cache.get(key)
    if kept is not None:
        kept_size, kept_root, counted, gaps = kept
        if kept_size == size and kept_root == root:
            return gaps, size, False
        max_age = settings.SAFECASE_DASHBOARD_MAX_AGE
        if 0 < max_age and kept_size < size:
            age = time.time() - counted
            if age < max_age:
                return gaps, kept_size, False
            if age < max_age + RECOUNT_SECONDS and not cache.add(
                f"{key}:counting", True, RECOUNT_SECONDS
            ):
                return gaps, kept_size, True  # another process is counting them
    try:
        gaps = navigation.dashboard_gaps(project=project)
        cache.set(key, (size, root, time.time(), gaps), GAPS_CACHE_SECONDS)
    finally:
        cache.delete(f"{key}:counting")
    return gaps, size, False


#: How long the dashboard's counted gaps stay in the cache (they are keyed by the log's head).
GAPS_CACHE_SECONDS = 600
#: How long one process may count the gaps again while the others show the kept ones; should
#: it fail to finish, the next view after that counts.
RECOUNT_SECONDS = 15


# --- Requirements -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatrixLink:
    """The other end of a link, as a row of the matrix names it."""

    code: str
    kind: str
    suspect: bool


def matrix_rows(rows: list[dict]) -> list[dict]:
    """What the matrix shows of a page of :func:`compliance.selectors.matrix_requirements`:
    each requirement with its status's label, its parents and children and its verification
    state (the latest current result, else ``stale`` when every one recorded went stale, else
    ``none``)."""
    ids = [row["id"] for row in rows]
    up, down = compliance.matrix_links(ids)
    verifications = compliance.matrix_verifications(ids)
    labels = dict(RequirementStatus.choices)
    shown = []
    for row in rows:
        parents = [MatrixLink(*link) for link in up.get(row["id"], ())]
        children = [MatrixLink(*link) for link in down.get(row["id"], ())]
        latest, ever = verifications.get(row["id"], (None, False))
        shown.append(
            {
                "req": {**row, "status_label": labels.get(row["status"], row["status"])},
                "parents": parents,
                "children": children,
                "verification": latest or ("stale" if ever else "none"),
                "suspect": any(link.suspect for link in parents + children),
            }
        )
    return shown


def requirement_validation(project: Project, requirement: Requirement) -> list[dict]:
    """The acceptance criteria of ``requirement``, each with the verdict of the last finished
    run that judged it and, per scenario of that run which fed it, the cases in its scope,
    judged and failing (:func:`validation.selectors.criterion_scenario_breakdown`)."""
    rows = []
    for criterion, verdict in validation.latest_verdicts(project=project):
        if criterion.requirement_id != requirement.pk:
            continue
        scenarios = (
            validation.criterion_scenario_breakdown(verdict=verdict) if verdict is not None else []
        )
        rows.append({"criterion": criterion, "verdict": verdict, "scenarios": scenarios})
    return rows


# --- Validation -------------------------------------------------------------------------------


def run_progress(run: Run) -> dict:
    done = validation.run_cases_done(run=run)
    total = run.cases_total or 0
    return {
        "done": done,
        "total": total,
        "pct": round(100 * done / total) if total else 0,
        "active": run.status in validation.ACTIVE,
    }
