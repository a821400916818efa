"""Reads for navigating a large safety case a page at a time: the requirement tree one level
at a time, the filtered requirement lists the dashboard links to, and the chains from hazard to
verification.

Every function answers a queryset (or a fixed number of queries) whose cost does not grow with
the project: the page slices it. Each takes the project the view resolved for the user.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from compliance import iso26262
from compliance import selectors as compliance
from compliance.models import (
    Approval,
    Baseline,
    Decomposition,
    LinkKind,
    Requirement,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    Verification,
)
from compliance.selectors import LISTED, PARENT_KINDS, requirement_list
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


# --- The dashboard's gaps, counted by the database ---------------------------------------------

LEVELS = ("QM", "A", "B", "C", "D")


def _counted_requirements(project: Project) -> QuerySet[Requirement]:
    """What the gap analysis counts: no headings, nothing obsolete."""
    return Requirement.objects.filter(project=project, is_heading=False).exclude(
        status=RequirementStatus.OBSOLETE
    )


def _counted_end(name: str) -> Q:
    """The requirement at ``name`` (a foreign key) is one the gap analysis counts: a join,
    where ``__in`` a subquery of the requirements would make PostgreSQL plan a semi-join."""
    return Q(**{f"{name}__is_heading": False}) & ~Q(
        **{f"{name}__status": RequirementStatus.OBSOLETE}
    )


def _level(asil: str) -> str:
    try:
        return iso26262.parse_asil(asil).level
    except ValueError:
        return "QM"


def _drops(project: Project) -> int:
    """How many derives-from links go to a requirement of a higher ASIL than the source
    inherits, without a decomposition of the target that names the source. One grouped query:
    the links counted per pair of ratings, the pairs (a handful) judged in Python."""
    decomposed = Decomposition.objects.filter(parent=OuterRef("target_requirement")).filter(
        Q(first=OuterRef("source")) | Q(second=OuterRef("source"))
    )
    pairs = (
        TraceLink.objects.filter(project=project, kind=LinkKind.DERIVES_FROM)
        .filter(_counted_end("source") & _counted_end("target_requirement"))
        .values_list("target_requirement__asil", "source__asil")
        .annotate(n=Count("id", filter=~Q(Exists(decomposed))))
        .order_by()
    )
    return sum(n for parent, child, n in pairs if not iso26262.inherits_correctly(parent, child))


def _unlinked_decomposition_children(project: Project) -> dict:
    """Children of a decomposition that do not derive from its parent (both counted)."""
    rows = []
    for child in ("first", "second"):
        derives = TraceLink.objects.filter(
            source=OuterRef(child),
            target_requirement=OuterRef("parent"),
            kind=LinkKind.DERIVES_FROM,
        )
        rows += (
            Decomposition.objects.filter(project=project)
            .filter(_counted_end("parent") & _counted_end(child))
            .exclude(Exists(derives))
            .values("id", f"{child}_id", f"{child}__code", "parent_id", "parent__code")
        )
    rows.sort(key=lambda r: (r["id"], "second_id" in r))
    items = [
        {
            "id": r.get("first_id") or r.get("second_id"),
            "code": r.get("first__code") or r.get("second__code"),
            "parent_id": r["parent_id"],
            "parent": r["parent__code"],
        }
        for r in rows
    ]
    return {"count": len(items), "items": items[:LISTED]}


def dashboard_gaps(*, project: Project) -> dict:
    """The gaps of :func:`compliance.selectors.full_gap_analysis` as the dashboard shows them,
    counted by the database in a fixed number of queries: the totals, the requirements without
    a parent and without a verification per ASIL are one grouped query, the links and
    verifications counts one each; only the listed items (at most :data:`LISTED` of a gap) come
    back as rows. ``totals`` gives the counted requirements per ASIL level and
    ``undecomposed_asil_drops`` is ``{"count", "items"}`` rather than the full list."""
    parents = TraceLink.objects.filter(source=OuterRef("pk"), kind__in=PARENT_KINDS)
    passed = Verification.objects.filter(requirement=OuterRef("pk"), result="pass", stale=False)
    counted = _counted_requirements(project)
    per_asil = (
        counted.values("asil")
        .annotate(
            total=Count("id"),
            orphans=Count("id", filter=~Q(Exists(parents))),
            unverified=Count("id", filter=~Q(Exists(passed))),
        )
        .order_by()
    )
    totals, orphans, unverified = Counter(), Counter(), Counter()
    for row in per_asil:
        level = _level(row["asil"])
        totals[level] += row["total"]
        orphans[level] += row["orphans"]
        unverified[level] += row["unverified"]
    links = TraceLink.objects.filter(project=project).aggregate(
        suspect=Count("id", filter=Q(suspect=True))
    )
    stale = Verification.objects.filter(project=project, stale=True).count()
    listed_unverified = list(
        counted.exclude(Exists(passed)).order_by("code").values("id", "code")[:LISTED]
    )
    derived_goals = TraceLink.objects.filter(
        _counted_end("source"), target_goal=OuterRef("pk"), kind__in=PARENT_KINDS
    )
    goals = list(
        SafetyGoal.objects.filter(project=project)
        .exclude(Exists(derived_goals))
        .order_by("code")
        .values("id", "code", "asil")
    )
    events = compliance._events_without_goal(project)
    currency = compliance.approval_currency(project=project)
    approvals = compliance._approval_gaps(project, currency)
    stale_requirements, approved = compliance._requirement_approvals(project)
    approved_by_level = Counter()
    for asil, n in (
        counted.filter(pk__in=list(approved)).values_list("asil").annotate(n=Count("id")).order_by()
        if approved
        else []
    ):
        approved_by_level[_level(asil)] += n
    stale_reviews = compliance._stale_reviews(currency, stale_requirements)
    drops = {"count": _drops(project)}
    children = _unlinked_decomposition_children(project)
    gaps = {
        "requirements": sum(totals.values()),
        "totals": {level: totals[level] for level in LEVELS},
        "without_parent": {
            "count": sum(orphans.values()),
            "by_asil": {level: orphans[level] for level in LEVELS},
        },
        "without_verification": {
            "count": sum(unverified.values()),
            "by_asil": {level: unverified[level] for level in LEVELS},
            "items": listed_unverified,
        },
        "stale_verifications": stale,
        "suspect_links": links["suspect"],
        "undecomposed_asil_drops": drops,
        "events_without_goal": events,
        "goals_without_requirements": {"count": len(goals), "items": goals[:LISTED]},
        "unlinked_decomposition_children": children,
        "stale_reviews": stale_reviews,
        "approved": {
            "count": sum(approved.values()),
            "by_asil": {level: approved_by_level[level] for level in LEVELS},
        },
        "approvals": approvals,
    }
    gaps["release_ready"] = not (
        gaps["without_parent"]["count"]
        or gaps["without_verification"]["count"]
        or stale_reviews["count"]
        or links["suspect"]
        or drops["count"]
        or events["count"]
        or goals
        or children["count"]
        or approvals["missing"]
        or approvals["below_required"]
        or approvals["stale"]
    )
    for name, provider in compliance.GAP_PROVIDERS.items():
        gaps[name] = provider(project=project)
        gaps["release_ready"] = gaps["release_ready"] and not gaps[name]["count"]
    return gaps


# --- The chains from the safety goal down to a verified requirement -----------------------------


@dataclass
class Chain:
    """One chain: a safety goal, an FSR that derives from it, a TSR from that FSR and a
    software or hardware requirement from that TSR, as far as the chain goes (the missing
    levels None); the verification of its deepest requirement and whether a link is suspect."""

    goal_id: int
    goal: str
    goal_asil: str
    fsr: tuple[int, str, str, str] | None  # id, code, ASIL, title
    tsr: tuple[int, str, str, str] | None
    leaf: tuple[int, str, str, str, str] | None  # id, code, ASIL, title, kind (SW or HW)
    verification: str  # the latest current result, "stale" or "none"
    suspect: bool

    @property
    def deepest(self):
        return self.leaf or self.tsr or self.fsr

    @property
    def gaps(self) -> list[str]:
        """What keeps this chain from being complete, in words."""
        found = []
        for level, part in (("FSR", self.fsr), ("TSR", self.tsr), ("SW/HW", self.leaf)):
            if part is None:
                found.append(f"no {level}")
                break
        if self.deepest is not None and self.verification != "pass":
            found.append("not verified" if self.verification == "none" else self.verification)
        if self.suspect:
            found.append("suspect link")
        return found


class ChainQuery:
    """The chains of a project, one row per path goal → FSR → TSR → SW/HW (a goal or a
    requirement with nothing below it ends its chain), ordered by the codes along the path.

    Sliceable and countable, so Django's ``Paginator`` pages it: a slice is one query with
    ``LIMIT``/``OFFSET``, the count one query, whatever the size of the project; :meth:`iterate`
    reads every chain for an export, in batches. ``goal`` filters by a goal's code, ``asil`` by
    the goal's ASIL level, ``gap`` keeps the chains that stop short, end unverified or hold a
    suspect link. One SQL statement that PostgreSQL and SQLite both run.
    """

    def __init__(self, project: Project, *, goal: str = "", asil: str = "", gap: bool = False):
        self.project, self.goal, self.asil, self.gap = project, goal, asil, gap

    def _sql(self) -> tuple[str, list]:
        goal_t, req_t = SafetyGoal._meta.db_table, Requirement._meta.db_table
        link_t, ver_t = TraceLink._meta.db_table, Verification._meta.db_table
        kinds = list(PARENT_KINDS)
        obsolete = RequirementStatus.OBSOLETE
        params: list = [False, True]  # the placeholders in the order the text has them

        def level(alias: str, link: str, target: str, parent: str, req_kinds: list[str]) -> str:
            marks = ", ".join(["%s"] * len(req_kinds))
            params.extend([*req_kinds, obsolete, *kinds])
            return (
                f"LEFT JOIN ({link_t} {link} JOIN {req_t} {alias} ON {alias}.id = {link}.source_id"
                f" AND {alias}.kind IN ({marks}) AND {alias}.status <> %s)"
                f" ON {link}.{target} = {parent}.id AND {link}.kind IN (%s, %s)"
            )

        joins = "\n".join(
            [
                level("f", "lf", "target_goal_id", "g", ["FSR"]),
                level("t", "lt", "target_requirement_id", "f", ["TSR"]),
                level("s", "ls", "target_requirement_id", "t", ["SW", "HW"]),
            ]
        )
        leaf = "COALESCE(s.id, t.id, f.id)"
        where = ["g.project_id = %s"]
        params.append(self.project.pk)
        if self.goal:
            where.append("g.code = %s")
            params.append(self.goal)
        if self.asil:
            where.append("g.asil LIKE %s")
            params.append(f"{self.asil}%")
        # Only table names from the models' metadata and fixed aliases are put in the text; every
        # value is a placeholder.
        inner = f"""
            SELECT g.id AS goal_id, g.code AS goal, g.asil AS goal_asil,
                   f.id AS f_id, f.code AS f_code, f.asil AS f_asil, f.title AS f_title,
                   t.id AS t_id, t.code AS t_code, t.asil AS t_asil, t.title AS t_title,
                   s.id AS s_id, s.code AS s_code, s.asil AS s_asil, s.title AS s_title,
                   s.kind AS s_kind,
                   (SELECT v.result FROM {ver_t} v WHERE v.requirement_id = {leaf}
                      AND v.stale = %s ORDER BY v.recorded_at DESC, v.id DESC LIMIT 1)
                      AS verification,
                   EXISTS (SELECT 1 FROM {ver_t} v WHERE v.requirement_id = {leaf}
                      AND v.stale = %s) AS stale,
                   CASE WHEN lf.suspect OR lt.suspect OR ls.suspect THEN 1 ELSE 0 END AS suspect
            FROM {goal_t} g
            {joins}
            WHERE {" AND ".join(where)}
        """  # noqa: S608
        outer = ""
        if self.gap:
            outer = (
                " WHERE c.f_id IS NULL OR c.t_id IS NULL OR c.s_id IS NULL OR c.suspect = 1"
                " OR c.verification IS NULL OR c.verification <> 'pass'"
            )
        return f"SELECT * FROM ({inner}) c{outer}", params  # noqa: S608

    def count(self) -> int:
        sql, params = self._sql()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) n", params)  # noqa: S608
            return cursor.fetchone()[0]

    def _rows(self, sql: str, params: list):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column[0] for column in cursor.description]
            while batch := cursor.fetchmany(2000):
                yield from (_chain(dict(zip(names, row, strict=True))) for row in batch)

    def _ordered(self) -> tuple[str, list]:
        sql, params = self._sql()
        # NULL sorts first in SQLite and last in PostgreSQL: a goal's own row first in both
        nulls = ", ".join(f"CASE WHEN {c} IS NULL THEN 0 ELSE 1 END, {c}" for c in _ORDER)
        return f"{sql} ORDER BY c.goal, {nulls}", params

    def __getitem__(self, window: slice) -> list[Chain]:
        start, stop = window.start or 0, window.stop
        sql, params = self._ordered()
        return list(self._rows(f"{sql} LIMIT %s OFFSET %s", [*params, stop - start, start]))

    def iterate(self):
        """Every chain, in order, read in batches: for the exports."""
        sql, params = self._ordered()
        return self._rows(sql, params)


_ORDER = ("c.f_code", "c.t_code", "c.s_code")


def _chain(row: dict) -> Chain:
    def part(prefix: str, *extra: str):
        if row[f"{prefix}_id"] is None:
            return None
        names = ("id", "code", "asil", "title", *extra)
        return tuple(row[f"{prefix}_{n}"] for n in names)

    verification = row["verification"] or ("stale" if row["stale"] else "none")
    return Chain(
        goal_id=row["goal_id"],
        goal=row["goal"],
        goal_asil=row["goal_asil"],
        fsr=part("f"),
        tsr=part("t"),
        leaf=part("s", "kind"),
        verification=verification,
        suspect=bool(row["suspect"]),
    )


def chain_goals(*, project: Project, goal_ids=None) -> dict[int, list[tuple[str, str]]]:
    """The hazardous events (and their hazards) each of these goals (all when None) covers:
    (event, hazard) codes by goal id, in one query."""
    rows = SafetyGoal.events.through.objects.filter(safetygoal__project=project)
    if goal_ids is not None:
        rows = rows.filter(safetygoal_id__in=list(goal_ids))
    rows = rows.order_by("hazardousevent__code").values_list(
        "safetygoal_id", "hazardousevent__code", "hazardousevent__hazard__code"
    )
    by_goal: dict[int, list[tuple[str, str]]] = {}
    for goal_id, event, hazard in rows:
        by_goal.setdefault(goal_id, []).append((event, hazard))
    return by_goal


# --- The difference between two baselines, compared by the database ----------------------------


class BaselineChanges:
    """The items that differ between two baselines, one ``{key, status, fields}`` per item
    (status ``added``, ``removed`` or ``changed``; ``fields`` the (name, before, after) of each
    field that differs), ordered by key; ``kind`` keeps the keys with that prefix.

    The database compares the two frozen contents item by item (PostgreSQL's ``jsonb_each``,
    SQLite's ``json_each``) and answers only the items that differ: Python never loads the tens
    of thousands of items both sides hold, and parses the fields of the page it shows only.
    Frozen baselines never change, so the comparison is kept in the cache under both
    baselines' Merkle roots and made once per pair. Sliceable and countable, for Django's
    ``Paginator``.
    """

    #: The kinds of item a baseline holds, by the prefix of their keys.
    KINDS = {
        "hazard": "hazards",
        "situation": "operational situations",
        "event": "hazardous events",
        "goal": "safety goals",
        "requirement": "requirements",
        "link": "trace links",
        "decomposition": "decompositions",
        "tc": "triggering conditions",
        "fi": "functional insufficiencies",
        "hb": "hazardous behaviours",
        "ac": "acceptance criteria",
    }

    def __init__(self, old: Baseline, new: Baseline, kind: str = ""):
        self.old, self.new = old, new
        self.kind = kind if kind in self.KINDS else ""
        self._rows: list | None = None

    def _compare(self) -> list[tuple[str, str, object, object]]:
        """(key, status, old value, new value) of every item that differs, in key order."""
        sql = _DIFF_POSTGRESQL if connection.vendor == "postgresql" else _DIFF_SQLITE
        # the table name from the model, every value a placeholder
        sql = sql.format(table=Baseline._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.old.pk, self.new.pk])
            return list(cursor.fetchall())

    def rows(self) -> list[tuple[str, str, object, object]]:
        if self._rows is None:
            key = f"baseline-diff:{self.old.pk}:{self.old.root}:{self.new.pk}:{self.new.root}"
            rows = cache.get(key)
            if rows is None:
                rows = self._compare()
                cache.set(key, rows, 3600)
            prefix = f"{self.kind}:"
            self._rows = [r for r in rows if not self.kind or r[0].startswith(prefix)]
        return self._rows

    def count(self) -> int:
        return len(self.rows())

    def counts(self) -> dict[str, int]:
        """How many items were added, removed and changed."""
        found = Counter(status for _key, status, _old, _new in self.rows())
        return {s: found.get(s, 0) for s in ("added", "removed", "changed")}

    def __getitem__(self, window: slice) -> list[dict]:
        return [_change(*row) for row in self.rows()[window]]


#: PostgreSQL joins the two baselines' items by key (a hash join), keys in code-point order.
_DIFF_POSTGRESQL = """
    SELECT * FROM (
        SELECT COALESCE(a.key, b.key) AS key,
               CASE WHEN a.key IS NULL THEN 'added' WHEN b.key IS NULL THEN 'removed'
                    ELSE 'changed' END AS status,
               a.value AS old, b.value AS new
        FROM (SELECT e.key, e.value FROM {table} x, jsonb_each(x.content) e WHERE x.id = %s) a
        FULL OUTER JOIN
             (SELECT e.key, e.value FROM {table} x, jsonb_each(x.content) e WHERE x.id = %s) b
        ON a.key = b.key
        WHERE a.value IS DISTINCT FROM b.value
    ) d ORDER BY d.key COLLATE "C"
"""

#: SQLite would join the two ``json_each`` tables by a nested loop (seconds at a few thousand
#: items): both sides' items are grouped by key instead, each value as JSON text.
_DIFF_SQLITE = """
    SELECT key,
           CASE WHEN SUM(side = 0) = 0 THEN 'added' WHEN SUM(side = 1) = 0 THEN 'removed'
                ELSE 'changed' END AS status,
           MAX(CASE WHEN side = 0 THEN value END) AS old,
           MAX(CASE WHEN side = 1 THEN value END) AS new
    FROM (SELECT e.key AS key, json_quote(e.value) AS value, 0 AS side
          FROM {table} x, json_each(x.content) e WHERE x.id = %s
          UNION ALL
          SELECT e.key, json_quote(e.value), 1
          FROM {table} x, json_each(x.content) e WHERE x.id = %s) u
    GROUP BY key
    HAVING COUNT(*) = 1
        OR MAX(CASE WHEN side = 0 THEN value END) IS NOT MAX(CASE WHEN side = 1 THEN value END)
    ORDER BY key
"""


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _change(key: str, status: str, old, new) -> dict:
    """One item that differs: its fields, each with the value before and after (only the
    fields that differ when the item changed)."""
    old, new = _json(old), _json(new)
    before = old if isinstance(old, dict) else {"value": old} if old is not None else {}
    after = new if isinstance(new, dict) else {"value": new} if new is not None else {}
    fields = [
        (name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if status != "changed" or before.get(name) != after.get(name)
    ]
    return {"key": key, "status": status, "fields": fields}


def recorded_between(*, project: Project, old: Baseline, new: Baseline) -> dict:
    """What the ledger recorded after ``old`` was frozen and up to ``new``: the verifications
    and the confirmation reviews (approvals), each a queryset to page or count."""
    low, high = sorted((old.entry.index, new.entry.index))
    window = {"project": project, "entry__index__gt": low, "entry__index__lte": high}
    return {
        "verifications": Verification.objects.filter(**window)
        .select_related("requirement", "entry")
        .order_by("entry__index", "id"),
        "approvals": Approval.objects.filter(**window)
        .select_related("reviewer", "entry")
        .order_by("entry__index", "id"),
    }
