"""What a review confirms, and whether it still holds.

A review cites the digests of the work products it confirmed: a requirement approval the digest
of the requirement's content at its version, a confirmation measure the digest of every work
product in its scope (for the HARA review: each hazardous event and safety goal). Whether a
review is current is computed, never stored: the cited digests are compared with the digests of
the work products as they are now, so any change, addition or removal makes it stale.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from compliance import content_memo
from compliance.iso26262 import (
    NO_REQUIREMENT,
    ConfirmationMeasure,
    meets_independence,
    required_independence,
)
from compliance.models import (
    AcceptanceCriterion,
    Approval,
    Decomposition,
    FunctionalInsufficiency,
    Hazard,
    HazardousBehaviour,
    HazardousEvent,
    ItemDefinition,
    OperationalSituation,
    Requirement,
    SafetyGoal,
    TraceLink,
    TriggeringCondition,
)
from evidence.verify import canonical_json
from projects.models import Project


def digest_of(data) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


# --- Requirements ------------------------------------------------------------------------------


def requirement_content(code: str, kind: str, title: str, text: str, asil: str) -> dict:
    """The content a requirement approval confirms: what a new version changes."""
    return {"code": code, "kind": kind, "title": title, "text": text, "asil": asil}


def requirement_digest(requirement: Requirement) -> str:
    return digest_of(
        requirement_content(
            requirement.code,
            requirement.kind,
            requirement.title,
            requirement.text,
            requirement.asil,
        )
    )


#: The fields :func:`requirement_digest_of_row` reads, in its order.
DIGEST_FIELDS = ("code", "kind", "title", "text", "asil")


def requirement_digest_of_row(row: Iterable[str]) -> str:
    """:func:`requirement_digest` of a ``values_list(*DIGEST_FIELDS)`` row."""
    return digest_of(requirement_content(*row))


# --- Work products by key ----------------------------------------------------------------------

Scope = Callable[[str, dict], bool]


def _prefixes(*names: str) -> Scope:
    return lambda key, value: key.split(":", 1)[0] in names


def _requirements_of(*kinds: str) -> Scope:
    return lambda key, value: key.startswith("requirement:") and value.get("kind") in kinds


def _everything(key: str, value: dict) -> bool:
    return True


def _nothing(key: str, value: dict) -> bool:
    return False


#: The work products each confirmation measure confirms, by the key baselines use. Measures
#: whose work product Safecase does not hold (the safety plan, the integration and testing
#: strategy) cite no digest: nothing here can make them stale.
MEASURE_SCOPES: dict[str, Scope] = {
    ConfirmationMeasure.IMPACT_ANALYSIS: _prefixes("item"),
    ConfirmationMeasure.HARA: _prefixes("event", "goal"),
    ConfirmationMeasure.SAFETY_PLAN: _nothing,
    ConfirmationMeasure.FUNCTIONAL_SAFETY_CONCEPT: _requirements_of("FSR"),
    ConfirmationMeasure.TECHNICAL_SAFETY_CONCEPT: _requirements_of("TSR"),
    ConfirmationMeasure.INTEGRATION_TESTING_STRATEGY: _nothing,
    ConfirmationMeasure.SAFETY_VALIDATION_SPECIFICATION: _prefixes("ac"),
    ConfirmationMeasure.SAFETY_ANALYSES: _prefixes("decomposition", "tc", "fi", "hb"),
    ConfirmationMeasure.SAFETY_CASE: _everything,
    ConfirmationMeasure.FUNCTIONAL_SAFETY_AUDIT: _everything,
    ConfirmationMeasure.FUNCTIONAL_SAFETY_ASSESSMENT: _everything,
}

# Which model rows make up which key prefix; loading only the prefixes a scope can hold keeps
# the HARA review's check to two queries on a project with thousands of requirements.
_PREFIXES_OF_SCOPE: dict[str, tuple[str, ...] | None] = {
    ConfirmationMeasure.IMPACT_ANALYSIS: ("item",),
    ConfirmationMeasure.HARA: ("event", "goal"),
    ConfirmationMeasure.SAFETY_PLAN: (),
    ConfirmationMeasure.FUNCTIONAL_SAFETY_CONCEPT: ("requirement",),
    ConfirmationMeasure.TECHNICAL_SAFETY_CONCEPT: ("requirement",),
    ConfirmationMeasure.INTEGRATION_TESTING_STRATEGY: (),
    ConfirmationMeasure.SAFETY_VALIDATION_SPECIFICATION: ("ac",),
    ConfirmationMeasure.SAFETY_ANALYSES: ("decomposition", "tc", "fi", "hb"),
}


def work_product_content(project: Project, prefixes: Iterable[str] | None = None) -> dict:
    """Every item, HARA row, goal, requirement, link and SOTIF element by a stable key (what a
    baseline freezes); only the key prefixes in ``prefixes`` when given."""
    return content_and_digests(project, prefixes)[0]


def content_and_digests(
    project: Project, prefixes: Iterable[str] | None = None
) -> tuple[dict[str, dict], dict[str, str]]:
    """:func:`work_product_content`, and the digests already known of its work products (on
    PostgreSQL those of every requirement and link, kept by :mod:`compliance.content_memo`), to
    seed :func:`scope_digests`."""
    wanted = None if prefixes is None else set(prefixes)
    known: dict[str, str] = {}

    def want(prefix: str) -> bool:
        return wanted is None or prefix in wanted

    content: dict[str, dict] = {}
    item = ItemDefinition.objects.filter(project=project).first() if want("item") else None
    if item:
        content["item"] = item.snapshot()
    for model, prefix, related in (
        (Hazard, "hazard", ()),
        (OperationalSituation, "situation", ()),
        (HazardousEvent, "event", ("hazard", "situation")),
        (TriggeringCondition, "tc", ()),
    ):
        if want(prefix):
            for obj in model.objects.filter(project=project).select_related(*related):
                content[f"{prefix}:{obj.code}"] = obj.snapshot()
    # The codes of the requirements and goals read, by id: the links name their ends by id,
    # and looking the codes up here spares joining them in for each of tens of thousands.
    codes: dict[str, dict[int, str]] = {}
    tracked = content_memo.tracked()
    if tracked and (want("requirement") or want("link")):  # read where changed, the rest kept
        requirements, requirement_codes = content_memo.read_requirements(project, digest_of)
        if want("requirement"):
            content.update(requirements.content)
            known.update(requirements.digests)
        if want("link"):
            links = content_memo.read_links(project, requirement_codes, digest_of)
            content.update(links.content)
            known.update(links.digests)
    if want("requirement") and not tracked:  # thousands: read as rows, not instances
        fields = Requirement.SNAPSHOT_FIELDS
        by_id = codes["requirement"] = {}
        rows = Requirement.objects.filter(project=project).values_list("id", *fields)
        for pk, *values in rows:
            row = dict(zip(fields, values, strict=True))
            by_id[pk] = row["code"]
            content[f"requirement:{row['code']}"] = row
    if want("goal"):
        by_id = codes["goal"] = {}
        for goal in SafetyGoal.objects.filter(project=project).prefetch_related("events"):
            by_id[goal.pk] = goal.code
            content[f"goal:{goal.code}"] = goal.snapshot()
    if want("fi"):
        for fi in FunctionalInsufficiency.objects.filter(project=project).prefetch_related(
            "triggering_conditions"
        ):
            content[f"fi:{fi.code}"] = fi.snapshot()
    if want("hb"):
        for hb in (
            HazardousBehaviour.objects.filter(project=project)
            .select_related("goal")
            .prefetch_related("insufficiencies")
        ):
            content[f"hb:{hb.code}"] = hb.snapshot()
    if want("ac"):
        for ac in AcceptanceCriterion.objects.filter(project=project):
            content[f"ac:{ac.code}"] = ac.snapshot()
    if want("link") and not tracked:  # tens of thousands: rows of ids, codes looked up
        links = list(
            TraceLink.objects.filter(project=project).values_list(
                "source_id", "kind", "target_requirement_id", "target_goal_id", "suspect"
            )
        )
        requirement_code = _codes(Requirement, codes.get("requirement"), links, (0, 2))
        goal_code = _codes(SafetyGoal, codes.get("goal"), links, (3,))
        for source_id, kind, target_requirement, target_goal, suspect in links:
            source = requirement_code[source_id]
            target = (
                goal_code.get(target_goal)
                if target_requirement is None
                else requirement_code[target_requirement]
            )
            content[f"link:{source}>{kind}>{target}"] = {
                "source": source,
                "kind": kind,
                "target": target,
                "suspect": suspect,
            }
    if want("decomposition"):  # as Decomposition.snapshot
        decompositions = Decomposition.objects.filter(project=project).values_list(
            "parent__code", "first__code", "second__code", "elements", "dependent_failure_analysis"
        )
        for parent, first, second, elements, dfa in decompositions:
            content[f"decomposition:{parent}:{first}+{second}"] = {
                "parent": parent,
                "children": sorted([first, second]),
                "elements": elements,
                "dfa": dfa,
            }
    return content, known


def _codes(model, known: dict[int, str] | None, rows: list, columns) -> dict[int, str]:
    """The code of every ``model`` row that ``rows`` name by id in ``columns``: those read
    already (``known``), any other (a row of another project, or a prefix not read) from the
    database in one query."""
    found = dict(known or {})
    missing = {row[c] for row in rows for c in columns if row[c] is not None} - found.keys()
    if missing:
        found.update(model.objects.filter(pk__in=missing).values_list("id", "code"))
    return found


def scope_digests(
    measure: str,
    content: dict[str, dict],
    known: dict[str, str] | None = None,
    ordered: list[str] | None = None,
) -> dict[str, str]:
    """The digest of each work product in ``content`` that ``measure`` confirms, by key (in
    key order). ``known`` keeps the digests computed, by key, for the next measure over the
    same content: the measures over the whole case share tens of thousands; ``ordered``, the
    keys of ``content`` sorted, spares sorting them again for each measure."""
    scope = MEASURE_SCOPES.get(measure, _nothing)
    if scope is _nothing:
        return {}
    known = {} if known is None else known
    ordered = sorted(content) if ordered is None else ordered
    if scope is _everything:
        keys = ordered
    else:
        prefixes = _PREFIXES_OF_SCOPE.get(measure)
        candidates = ordered if prefixes is None else _with_prefixes(ordered, prefixes)
        keys = [key for key in candidates if scope(key, content[key])]
    for key in keys:
        if key not in known:
            known[key] = item_digest(key, content[key])
    return {key: known[key] for key in keys}


def _with_prefixes(ordered: list[str], prefixes: Iterable[str]) -> list[str]:
    """The keys of ``ordered`` (sorted) under any of ``prefixes`` (``item``, or ``<prefix>:``
    and the rest), in order: found by bisection, each prefix's keys being one run."""
    runs = []
    for prefix in prefixes:
        at = bisect.bisect_left(ordered, prefix)
        if at < len(ordered) and ordered[at] == prefix:
            runs.append(prefix)
        runs += ordered[
            bisect.bisect_left(ordered, f"{prefix}:") : bisect.bisect_left(ordered, f"{prefix};")
        ]
    return runs if len(prefixes) < 2 else sorted(runs)


#: The digest of each flat work product last digested in this process, by key, with what it
#: was computed from: the item's keys, the types of its values and the values. After a change
#: most items are as they were, and comparing them costs a fraction of digesting them again.
_DIGESTS: dict[str, tuple[tuple, str]] = {}
#: Beyond this many items the memo starts again (a process serving many large projects).
DIGEST_MEMO_SIZE = 200_000
_FLAT = frozenset((str, int, bool, type(None)))


def item_digest(key: str, item) -> str:
    """:func:`digest_of` ``item``, the work product at ``key``, from the memo when the item is
    the one it was computed from. Compared type by type, since Python's ``1 == True`` and
    ``1 == 1.0`` would otherwise give one digest to items JSON tells apart; an item holding
    anything but strings, integers, booleans and None (a list of events, say) is digested
    each time."""
    if type(item) is not dict:
        return digest_of(item)
    values = tuple(item.values())
    types = tuple(map(type, values))
    if not _FLAT.issuperset(types):
        return digest_of(item)
    seen = (tuple(item), types, values)
    kept = _DIGESTS.get(key)
    if kept is not None and kept[0] == seen:
        return kept[1]
    digest = digest_of(item)
    if len(_DIGESTS) >= DIGEST_MEMO_SIZE:
        _DIGESTS.clear()
    _DIGESTS[key] = (seen, digest)
    return digest


def forget_digests() -> None:
    """Empty the memos of :func:`item_digest` and of :mod:`compliance.content_memo` (a cold
    process, for the tests and benchmarks)."""
    _DIGESTS.clear()
    content_memo.forget()


#: Up to this many cited digests are listed in the ledger entry itself; beyond, the entry
#: holds their count and the digest over them (the approval row keeps the list).
LISTED_IN_ENTRY = 500


def citation(cited: dict[str, str]) -> dict:
    """What a review's ledger entry says it confirmed: the digest over the set of cited
    digests, their number and, for a set of reasonable size, the digests themselves."""
    entry = {"digest": digest_of(cited), "count": len(cited)}
    if len(cited) <= LISTED_IN_ENTRY:
        entry["items"] = cited
    return entry


def current_digests(project: Project, measure: str) -> dict[str, str]:
    """The digests of the work products in ``measure``'s scope as they are now."""
    prefixes = _PREFIXES_OF_SCOPE.get(measure)
    if prefixes == ():
        return {}
    content, known = content_and_digests(project, prefixes)
    return scope_digests(measure, content, known)


# --- Whether a review holds --------------------------------------------------------------------


@dataclass
class Currency:
    """A confirmation review against the work products now: stale when anything it cited
    changed or went, or when its scope gained a work product it never saw."""

    approval: Approval
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    @property
    def reason(self) -> str:
        parts = []
        for label, keys in (
            ("changed", self.changed),
            ("added", self.added),
            ("removed", self.removed),
        ):
            if keys:
                shown = ", ".join(k.split(":", 1)[-1] for k in keys[:8])
                more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
                parts.append(f"{label} since the review: {shown}{more}")
        return "; ".join(parts)


def compare(approval: Approval, now: dict[str, str]) -> Currency:
    cited = approval.cited or {}
    if cited == now:  # compared in C: the common case of a review still current, at once
        return Currency(approval=approval)
    changed, removed = _differences(cited, now)
    # what ``now`` holds beyond what was cited and is still there
    extra = len(now) - (len(cited) - len(removed))
    added = sorted(k for k in now if k not in cited) if extra else []
    return Currency(approval=approval, changed=changed, added=added, removed=removed)


def _differences(cited: dict[str, str], now: dict[str, str]) -> tuple[list[str], list[str]]:
    """The keys ``cited`` with another digest ``now``, and those ``now`` no longer holds: one
    pass over the citation, without building a set of its tens of thousands of pairs."""
    get = now.get
    changed, removed = [], []
    for key, digest in cited.items():
        found = get(key)
        if found != digest:
            (removed if found is None else changed).append(key)
    changed.sort()
    removed.sort()
    return changed, removed


def with_citations(approvals: QuerySet[Approval]) -> list[Approval]:
    """The ``approvals`` with what each cited (``cited``), read from the database only for the
    approvals this process has not read before. A confirmation review is a ledger entry and
    never edited, and a review over the whole case cites tens of thousands of digests: reading
    them again for every count cost more than the count. Known by id, ledger entry and time of
    recording. For showing and comparing; the integrity check reads the rows themselves."""
    rows = list(approvals.defer("cited"))
    # what the memo holds now, taken once: another thread may empty it meanwhile
    found = {key: _CITED.get(key) for key in map(_citation_key, rows)}
    missing = [a.pk for a in rows if found[_citation_key(a)] is None]
    if missing:
        read = {
            _citation_key(approval): approval.cited or {}
            for approval in Approval.objects.filter(pk__in=missing).only(
                "id", "entry", "created_at", "cited"
            )
        }
        if len(_CITED) + len(read) > CITATION_MEMO_SIZE:
            _CITED.clear()
        _CITED.update(read)
        found.update(read)
    for approval in rows:
        approval.cited = found[_citation_key(approval)]
    return rows


def _citation_key(approval: Approval) -> tuple:
    return approval.pk, approval.entry_id, approval.created_at


#: What each confirmation review cited, by :func:`_citation_key`, as this process read it.
_CITED: dict[tuple, dict[str, str]] = {}
#: Beyond this many reviews the memo starts again.
CITATION_MEMO_SIZE = 1_000


def forget_citations() -> None:
    """Empty the memo of :func:`with_citations` (for the tests and benchmarks)."""
    _CITED.clear()


def currencies(project: Project, approvals: Iterable[Approval]) -> dict[int, Currency]:
    """Each approval's :class:`Currency`, by approval id. The work products every scope needs
    are read once and each digest is computed once, whatever the number of measures: the
    measures over the whole case (safety case, audit, assessment) share tens of thousands.
    A queryset's citations come through :func:`with_citations`."""
    approvals = with_citations(approvals) if isinstance(approvals, QuerySet) else list(approvals)
    measures = sorted({approval.measure for approval in approvals})
    needed: set[str] | None = set()
    for measure in measures:
        prefixes = _PREFIXES_OF_SCOPE.get(measure)
        if prefixes is None:  # the whole case
            needed = None
            break
        needed.update(prefixes)
    content, known = content_and_digests(project, needed) if needed is None or needed else ({}, {})
    return _judged(approvals, content, known, lambda approval: approval.pk)


def _judged(approvals: list, content: dict[str, dict], known: dict[str, str], key) -> dict:
    """Each approval's :class:`Currency` against ``content``, by ``key(approval)``. The
    measures of one scope (the three over the whole case) share one set of digests, seeded by
    ``known``, and the reviews of one scope that cite the same digests (those three, signed one
    after the other) are compared once: equal citations are found equal in C."""
    by_scope: dict[Scope, dict[str, str]] = {}
    now = {}
    ordered = sorted(content)
    for measure in sorted({approval.measure for approval in approvals}):
        scope = MEASURE_SCOPES.get(measure, _nothing)
        if scope not in by_scope:
            by_scope[scope] = scope_digests(measure, content, known, ordered)
        now[measure] = by_scope[scope]
    compared: dict[int, list[tuple[dict, Currency]]] = {}
    result = {}
    for approval in approvals:
        against = now[approval.measure]
        done = compared.setdefault(id(against), [])
        same = next((c for cited, c in done if cited == approval.cited), None)
        if same is None:
            currency = compare(approval, against)
            done.append((approval.cited, currency))
        else:
            currency = Currency(approval, [*same.changed], [*same.added], [*same.removed])
        result[key(approval)] = currency
    return result


# --- What the confirmation reviews leave open --------------------------------------------------

CONFIRMED = ("confirmed", "confirmed_with_findings")


@dataclass(frozen=True)
class Confirmation:
    """One confirmation review as the gap analysis reads it, wherever it comes from (the live
    approvals or the approvals inside a ledger checkpoint)."""

    id: int
    measure: str
    outcome: str
    achieved: str
    stale: bool = False


def approval_gaps(asil: str, confirmations: Iterable[Confirmation]) -> dict:
    """The Table 1 measures required at ``asil`` that no sufficient, current confirmation
    covers: ``missing`` (never confirmed), ``stale`` (every confirmation cites work products
    since changed) and ``below_required`` (current, but below the required independence)."""
    confirmed = [c for c in confirmations if c.outcome in CONFIRMED]
    missing, below, stale = [], [], []
    for measure in ConfirmationMeasure:
        required = required_independence(measure.value, asil)
        if required == NO_REQUIREMENT:
            continue
        signed = [c for c in confirmed if c.measure == measure.value]
        done = [c for c in signed if not c.stale]
        if not signed:
            missing.append({"measure": measure.value, "required": required})
        elif not done:
            stale.append(
                {
                    "measure": measure.value,
                    "required": required,
                    "approvals": [c.id for c in signed],
                }
            )
        elif not any(meets_independence(c.achieved, required) for c in done):
            below.append(
                {
                    "measure": measure.value,
                    "required": required,
                    "achieved": max(c.achieved for c in done),
                }
            )
    return {"asil": asil, "missing": missing, "below_required": below, "stale": stale}


def currencies_in(
    content: dict[str, dict], approvals: Iterable, known: dict[str, str] | None = None
) -> dict[int, Currency]:
    """Each approval (anything with ``measure``, ``cited`` and ``entry``) against the work
    products of ``content`` (a baseline's frozen content, or the live one, with the digests
    already ``known`` of it), by ledger entry: what the evidence pack and the GSN mark stale,
    as of the baseline they show."""
    known = {} if known is None else known
    return _judged(list(approvals), content, known, lambda approval: approval.entry)


def stale_requirement_approvals(
    requirements: Iterable[dict], approved: dict[str, tuple[str, int | None]]
) -> list[dict]:
    """The requirements (snapshots, as a baseline holds them) whose last approval, in
    ``approved`` (code -> approved digest and version), cites other content: code, status,
    version and the version approved, by code."""
    stale = []
    for r in sorted(requirements, key=lambda r: r["code"]):
        digest, version = approved.get(r["code"], ("", None))
        if digest and digest != requirement_digest_of_row(r[f] for f in DIGEST_FIELDS):
            stale.append(
                {
                    "code": r["code"],
                    "status": r.get("status", ""),
                    "version": r.get("version"),
                    "approved_version": version,
                }
            )
    return stale
