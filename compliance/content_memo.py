"""The two large tables of a safety case, requirements and trace links, kept between reads of
the work products in this process and read again only where the database says they changed.

Whether a confirmation review still holds is computed by comparing what it cited with the
digest of every work product now (:mod:`compliance.reviews`): on a project of 10,000
requirements and 30,000 links, every count of the dashboard and every drawing of the GSN read
and digested 40,000 rows, most of them as they were the time before.

On PostgreSQL the database instead names, in ranges of :data:`SPAN` ids, the version of every
row (one grouped query of a few milliseconds): each row's id with its ``xmin``, the transaction
that wrote the version one reads, and its ``ctid``, where that version lies. Every insert and
update writes a new version, under a new transaction or, within one transaction, in another
place (the old one is still there until the transaction ends), and every delete takes a row
out: so any change to a range, made through Safecase or straight in the database, changes what
the query says of it, and only those ranges are read and digested again. A link's work
product also names the codes of its two ends: the links whose end's code changed are made again
from their kept rows. What comes back is what reading every row would give. A range named
before a concurrent write and read after it is kept under the older name: the next read sees
the names differ and reads it again. Only an edit of the database's files beneath PostgreSQL
could change a row without changing its name; the ledger's check, not this memo, is what
answers for the evidence.

On other databases (SQLite, the embedded default) every row is read each time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from compliance.models import Requirement, SafetyGoal, TraceLink
from projects.models import Project

#: Ids per range: a changed requirement costs reading 256 rows again, and a project of 40,000
#: rows about 160 names.
SPAN = 256
#: Beyond this many projects' tables kept, the memo starts again.
MEMO_SIZE = 64


#: How a work product's digest is computed (``compliance.reviews.digest_of``).
Digest = Callable[[dict], str]


@dataclass(frozen=True)
class Part:
    """One table's work products, by key, and the digest of each."""

    content: dict[str, dict]
    digests: dict[str, str]


@dataclass(frozen=True)
class _Range:
    """What one range of ids made when it was read: its work products and their digests, and
    what :func:`read_links` needs to make them again (the rows, and the requirements and goals
    they name)."""

    content: dict[str, dict]
    digests: dict[str, str]
    rows: tuple = ()
    codes: dict[int, str] = field(default_factory=dict)  # a requirement range's codes by id
    ends: frozenset = frozenset()  # a link range's ends: ("r" or "g", id)


@dataclass(frozen=True)
class _Kept:
    names: dict[int, str]
    ranges: dict[int, _Range]
    codes: tuple = ()  # a link table's: the requirements' and goals' codes it was made with
    foreign: dict[tuple[str, int], str] = field(default_factory=dict)  # ends in other projects


_KEPT: dict[tuple, _Kept] = {}
_LOCK = threading.Lock()


def tracked() -> bool:
    """Whether the database names its rows' versions (PostgreSQL); elsewhere every row is
    read."""
    return connection.vendor == "postgresql"


def _key(project: Project, prefix: str) -> tuple:
    return (connection.alias, connection.settings_dict["NAME"], project.pk, prefix)


def _keep(key: tuple, kept: _Kept) -> None:
    with _LOCK:
        if len(_KEPT) >= MEMO_SIZE and key not in _KEPT:
            _KEPT.clear()
        _KEPT[key] = kept


def _changed(cursor, model, project: Project, kept: _Kept) -> tuple[dict[int, str], list[int]]:
    """The name of each range of ``model``'s rows of ``project`` now, and the ranges whose name
    differs from the one kept (or that are new)."""
    table = connection.ops.quote_name(model._meta.db_table)
    cursor.execute(
        f"SELECT id / {SPAN}, "  # noqa: S608 (the names of the models, no input)
        "md5(string_agg(id::text || ':' || xmin::text || ':' || ctid::text, ',' ORDER BY id)) "
        f"FROM {table} WHERE project_id = %s GROUP BY 1",
        [project.pk],
    )
    names = dict(cursor.fetchall())
    return names, sorted(b for b, name in names.items() if kept.names.get(b) != name)


def _rows(cursor, model, columns: tuple[str, ...], project: Project, ranges: list[int]):
    """(range, *columns) of ``model``'s rows of ``project`` in ``ranges``."""
    table = connection.ops.quote_name(model._meta.db_table)
    selected = ", ".join(connection.ops.quote_name(c) for c in columns)
    cursor.execute(
        f"SELECT id / {SPAN}, {selected} FROM {table} "  # noqa: S608 (the names of the models, no input)
        f"WHERE project_id = %s AND id / {SPAN} = ANY(%s)",
        [project.pk, ranges],
    )
    return cursor.fetchall()


def _whole(names: dict[int, str], ranges: dict[int, _Range]) -> Part:
    content: dict[str, dict] = {}
    digests: dict[str, str] = {}
    for b in sorted(names):
        content.update(ranges[b].content)
        digests.update(ranges[b].digests)
    return Part(content, digests)


def read_requirements(project: Project, digest_of: Digest) -> tuple[Part, dict[int, str]]:
    """The requirements of ``project`` as work products (``requirement:<code>``, the fields of
    ``Requirement.SNAPSHOT_FIELDS``) with their digests (``digest_of`` each), and their codes
    by id."""
    key = _key(project, "requirement")
    kept = _KEPT.get(key) or _Kept({}, {})
    fields = Requirement.SNAPSHOT_FIELDS
    with connection.cursor() as cursor:
        names, stale = _changed(cursor, Requirement, project, kept)
        ranges = {b: kept.ranges[b] for b in names if b not in stale}
        if stale:
            made = {b: _Range({}, {}) for b in stale}
            for b, pk, *values in _rows(cursor, Requirement, ("id", *fields), project, stale):
                value = dict(zip(fields, values, strict=True))
                key_of = f"requirement:{value['code']}"
                made[b].content[key_of] = value
                made[b].digests[key_of] = digest_of(value)
                made[b].codes[pk] = value["code"]
            ranges.update(made)
    _keep(key, _Kept(names, ranges))
    codes: dict[int, str] = {}
    for b in sorted(names):
        codes.update(ranges[b].codes)
    return _whole(names, ranges), codes


LINK_COLUMNS = ("id", "source_id", "kind", "target_requirement_id", "target_goal_id", "suspect")


def read_links(project: Project, requirement_codes: dict[int, str], digest_of: Digest) -> Part:
    """The trace links of ``project`` as work products (``link:<source>><kind>><target>``, as
    ``TraceLink.snapshot``) with their digests. ``requirement_codes`` are the project's
    requirements' codes by id (:func:`read_requirements`); the goals' are read here, and the
    code of an end in another project, should a link have one, is looked up each time."""
    key = _key(project, "link")
    kept = _KEPT.get(key) or _Kept({}, {})
    with connection.cursor() as cursor:
        names, stale = _changed(cursor, TraceLink, project, kept)
        fresh = _rows(cursor, TraceLink, LINK_COLUMNS, project, stale) if stale else []
    goal_codes = dict(SafetyGoal.objects.filter(project=project).values_list("id", "code"))
    rows_of: dict[int, list] = {b: [] for b in stale}
    for b, *row in fresh:
        rows_of[b].append(tuple(row))
    ranges = {b: kept.ranges[b] for b in names if b not in stale}
    # the ends whose code is no longer the one the kept ranges were made with: the common case,
    # no code changed, is two comparisons of whole maps in C
    kept_requirements, kept_goals = kept.codes or ({}, {})
    moved = set()
    if requirement_codes != kept_requirements:
        moved.update(
            ("r", pk) for pk, code in kept_requirements.items() if requirement_codes.get(pk) != code
        )
    if goal_codes != kept_goals:
        moved.update(("g", pk) for pk, code in kept_goals.items() if goal_codes.get(pk) != code)
    foreign = _codes_of(kept.foreign) if kept.foreign else {}
    moved.update(end for end, code in kept.foreign.items() if foreign.get(end) != code)
    if moved:
        for b, made in list(ranges.items()):
            if made.ends & moved:
                rows_of[b] = list(made.rows)
                del ranges[b]
    mine = {"r": requirement_codes, "g": goal_codes}
    needed = {
        end
        for rows in rows_of.values()
        for _, source, _, target_requirement, target_goal, _ in rows
        for end in (
            ("r", source),
            ("r", target_requirement) if target_requirement else ("g", target_goal),
        )
        if end[1] not in mine[end[0]] and end not in foreign
    }
    if needed:
        foreign.update(_codes_of(needed))
    for b, rows in rows_of.items():
        content, digests, ends = {}, {}, set()
        for _, source_id, kind, target_requirement, target_goal, suspect in rows:
            source_end = ("r", source_id)
            target_end = ("r", target_requirement) if target_requirement else ("g", target_goal)
            ends.update((source_end, target_end))
            source = mine["r"].get(source_id) or foreign.get(source_end)
            target = mine[target_end[0]].get(target_end[1]) or foreign.get(target_end)
            value = {"source": source, "kind": kind, "target": target, "suspect": suspect}
            key_of = f"link:{source}>{kind}>{target}"
            content[key_of] = value
            digests[key_of] = digest_of(value)
        ranges[b] = _Range(content, digests, tuple(rows), ends=frozenset(ends))
    if foreign:  # only the other projects' ends a kept range still names
        named = set().union(*(made.ends for made in ranges.values()))
        foreign = {end: code for end, code in foreign.items() if end in named}
    _keep(key, _Kept(names, ranges, (requirement_codes, goal_codes), foreign))
    return _whole(names, ranges)


def _codes_of(ends) -> dict[tuple[str, int], str]:
    """The code of each end (``("r", id)`` a requirement, ``("g", id)`` a goal) that exists."""
    found = {}
    for kind, model in (("r", Requirement), ("g", SafetyGoal)):
        ids = [pk for k, pk in ends if k == kind and pk is not None]
        if ids:
            found.update(
                ((kind, pk), code)
                for pk, code in model.objects.filter(pk__in=ids).values_list("id", "code")
            )
    return found


def forget() -> None:
    """Empty the memo (a cold process, for the tests and benchmarks)."""
    with _LOCK:
        _KEPT.clear()
