"""The trace-link policy: the rules every trace link obeys, held once.

:func:`compliance.services.link_create` (the API, the UI, the demo) and every importer
(ReqIF and CSV / Excel tables, through :class:`LinkBatch` and :func:`link_batch_write`) ask
:func:`violation` about each link, so the same link gets the same verdict on every path.

The rules, in the order they are checked:

``project``
    Both ends belong to the link's project.
``kind``
    The kind is one of :class:`~compliance.models.LinkKind`.
``self``
    A requirement does not link to itself.
``cycle``
    Following derives-from links upward never comes back to where it started.
``asil``
    A derives-from child carries its parent's ASIL (ISO 26262-9 clause 5): a lower ASIL is
    accepted only under a requirement parent with a recorded
    :class:`~compliance.models.Decomposition` naming the child. A safety goal cannot be
    decomposed, so a child below a goal's ASIL is always a violation.

What happens on a violation:

* ``link_create`` always refuses: ``ValidationError`` naming the field, nothing written.
* An import takes ``on_violation``:

  ``"refuse"`` (the default, :data:`REFUSE`)
      the whole import is refused with a ``ValidationError`` under ``links`` that names each
      offending relation or row; nothing is written, not even the requirements.
  ``"note"`` (:data:`NOTE`)
      the import goes ahead. A link that lowers an ASIL without a decomposition is created
      and reported in the import's ``warnings`` (the gap analysis lists it too); a link that
      cannot exist at all (a self link, a cycle, an end outside the project) is not created
      and is listed in ``unmapped`` with the reason.

What is not a rule violation but a mapping problem of an import (an end that names nothing in
the project, a relation identifier used twice, a relation repeating another) is listed in
``unmapped`` in both modes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_update_with_history

from compliance import iso26262
from compliance.bulk import create_with_history
from compliance.models import Decomposition, LinkKind, Requirement, SafetyGoal, TraceLink
from projects.models import Project
from projects.permissions import Action, require

__all__ = [
    "NOTE",
    "ON_VIOLATION",
    "REFUSE",
    "LinkBatch",
    "LinkGraph",
    "Violation",
    "check_on_violation",
    "end_violation",
    "graph_violation",
    "link_batch_write",
    "violation",
]

REFUSE = "refuse"
NOTE = "note"
ON_VIOLATION = (REFUSE, NOTE)
"""What an import does with a link that breaks a rule: refuse the import, or go ahead and
record a note (see the module documentation)."""

ASIL_NOTE = (
    "derives-from link lowers the ASIL without a recorded decomposition "
    "(ISO 26262-9 clause 5); imported, listed in the gap analysis"
)
MAX_LISTED = 10  # offending links named in a refusal; the rest are counted
_BATCH = 1000
_UPDATE_FIELDS = [
    "kind",
    "source",
    "target_requirement",
    "target_goal",
    "source_version",
    "target_version",
    "suspect",
    "suspect_reason",
    "reqif_identifier",
]


def check_on_violation(value: str) -> str:
    if value not in ON_VIOLATION:
        raise ValidationError(
            {"on_violation": f"Unknown choice {value!r}; use {' or '.join(ON_VIOLATION)}."}
        )
    return value


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule: ``rule`` (see the module documentation), the ``field`` a refusal names,
    the ``message`` saying why, and ``link`` naming the link in the report's terms."""

    rule: str
    field: str
    message: str
    link: str

    @property
    def may_be_noted(self) -> bool:
        """Whether a ``"note"`` import still creates the link (only an ASIL drop: the gap
        analysis shows it; a cycle or a self link cannot exist)."""
        return self.rule == "asil"

    def error(self) -> ValidationError:
        return ValidationError({self.field: self.message})


class LinkGraph:
    """A project's derives-from edges and recorded decompositions, in memory, so that a whole
    import is checked without a query per link. ``links`` gives the project's links when the
    caller already holds them."""

    def __init__(self, project: Project, links: Iterable[TraceLink] | None = None) -> None:
        self.up: dict[int, set[int]] = defaultdict(set)
        if links is None:
            rows = TraceLink.objects.filter(
                project=project, kind=LinkKind.DERIVES_FROM, target_requirement__isnull=False
            ).values_list("source_id", "target_requirement_id")
        else:
            rows = (
                (link.source_id, link.target_requirement_id)
                for link in links
                if link.kind == LinkKind.DERIVES_FROM and link.target_requirement_id
            )
        for source, target in rows:
            self.up[source].add(target)
        self.decomposed: set[tuple[int, int]] = set()
        for parent, first, second in Decomposition.objects.filter(project=project).values_list(
            "parent_id", "first_id", "second_id"
        ):
            self.decomposed.update({(parent, first), (parent, second)})

    def add(self, link: TraceLink) -> None:
        if link.kind == LinkKind.DERIVES_FROM and link.target_requirement_id:
            self.up[link.source_id].add(link.target_requirement_id)

    def discard(self, link: TraceLink) -> None:
        if link.kind == LinkKind.DERIVES_FROM and link.target_requirement_id:
            self.up[link.source_id].discard(link.target_requirement_id)

    def reaches(self, start: int, goal: int) -> bool:
        """Whether following derives-from links upward from ``start`` reaches ``goal``."""
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(self.up.get(node, ()))
        return False


def violation(
    graph: LinkGraph | Callable[[], LinkGraph],
    project: Project,
    source: Requirement,
    kind: str,
    target: Requirement | SafetyGoal,
) -> Violation | None:
    """The first rule the link ``source kind target`` breaks in ``project``, or None.

    ``graph`` may be a callable that builds it: it is only needed for a derives-from link.
    """
    broken = end_violation(project, source, kind, target)
    if broken is not None or kind != LinkKind.DERIVES_FROM:
        return broken
    return graph_violation(graph() if callable(graph) else graph, source, kind, target)


def end_violation(
    project: Project, source: Requirement, kind: str, target: Requirement | SafetyGoal
) -> Violation | None:
    """The rules that look only at the link itself: ``project``, ``kind``, ``self``."""
    link = f"{source.code} {kind} {target.code}"
    if source.project_id != project.pk or target.project_id != project.pk:
        return Violation(
            "project", "target", "Both ends of a link must belong to this project.", link
        )
    if kind not in LinkKind.values:
        return Violation(
            "kind", "kind", f"Unknown link kind {kind!r}; use {', '.join(LinkKind.values)}.", link
        )
    if not isinstance(target, SafetyGoal) and target.pk == source.pk:
        return Violation("self", "target", f"{source.code} cannot link to itself.", link)
    return None


def graph_violation(
    graph: LinkGraph, source: Requirement, kind: str, target: Requirement | SafetyGoal
) -> Violation | None:
    """The rules that look at the project's links: ``cycle`` and ``asil`` (derives-from)."""
    if kind != LinkKind.DERIVES_FROM:
        return None
    is_goal = isinstance(target, SafetyGoal)
    if not is_goal and graph.reaches(target.pk, source.pk):
        return Violation(
            "cycle",
            "target",
            f"{source.code} derives-from {target.code} would close a cycle.",
            f"{source.code} {kind} {target.code}",
        )
    if not iso26262.inherits_correctly(target.asil, source.asil) and (
        is_goal or (target.pk, source.pk) not in graph.decomposed
    ):
        return Violation(
            "asil",
            "source",
            f"{source.code} has ASIL {source.asil}, below its parent {target.code} "
            f"({target.asil}); lowering an ASIL needs a recorded decomposition "
            "(ISO 26262-9 clause 5).",
            f"{source.code} ({source.asil}) under {target.code} ({target.asil})",
        )
    return None


class LinkBatch:
    """The links of one import, planned under the rules of :func:`violation` and written by
    :func:`link_batch_write`.

    Holds the project's links (and its derives-from graph, with the links planned so far) in
    memory. A relation that carries an ``identifier`` (a ReqIF SPEC-RELATION) is matched to
    the link an earlier import made from it: an unchanged relation is left alone, a changed
    one moves its link. ``note(message, example)`` receives the warnings of a ``"note"``
    import.
    """

    def __init__(
        self,
        user,
        project: Project,
        *,
        on_violation: str = REFUSE,
        note: Callable[[str, str], None],
    ) -> None:
        self.user = user
        self.project = project
        self.on_violation = check_on_violation(on_violation)
        self.note = note
        existing = list(TraceLink.objects.filter(project=project))
        self.graph = LinkGraph(project, existing)
        self.triples: dict[tuple, TraceLink] = {}
        self.by_identifier: dict[str, TraceLink] = {}
        for link in existing:
            self._index(link)
        self.new: list[TraceLink] = []
        self.changed: dict[int, TraceLink] = {}
        self.claimed: set[str] = set()
        self.refused: list[str] = []

    @staticmethod
    def _triple(link: TraceLink) -> tuple:
        return (link.source_id, link.kind, link.target_requirement_id, link.target_goal_id)

    def _index(self, link: TraceLink) -> None:
        self.triples[self._triple(link)] = link
        if link.reqif_identifier:
            self.by_identifier[link.reqif_identifier] = link
        self.graph.add(link)

    def _unindex(self, link: TraceLink) -> None:
        triple = self._triple(link)
        if self.triples.get(triple) is link:
            del self.triples[triple]
        self.graph.discard(link)

    def add(
        self,
        source: Requirement,
        kind: str,
        target: Requirement | SafetyGoal,
        identifier: str = "",
        where: str = "",
    ) -> str | None:
        """Plan one link; return None when it is (or already was) in place, else the reason
        it is not created. ``where`` names the relation or row in a refusal."""
        is_goal = isinstance(target, SafetyGoal)
        broken = end_violation(self.project, source, kind, target)
        if broken is not None:
            return self._refuse(broken, where)
        triple = (source.pk, kind, None if is_goal else target.pk, target.pk if is_goal else None)
        if identifier:
            if identifier in self.claimed:
                return f"relation identifier {identifier!r} is used more than once"
            self.claimed.add(identifier)
        previous = self.by_identifier.get(identifier) if identifier else None
        if previous is not None and self._triple(previous) == triple:
            return None  # re-import of the same relation
        same = self.triples.get(triple)
        if same is not None:
            if not identifier:
                return None  # a table row naming a parent it is already linked to
            if not same.reqif_identifier and previous is None:
                same.reqif_identifier = identifier  # a link made in Safecase, now identified
                self.by_identifier[identifier] = same
                if same.pk:
                    self.changed[same.pk] = same
                return None
            return (
                f"repeats the link {source.code} {kind} {target.code} of relation "
                f"{same.reqif_identifier or '(made in Safecase)'}"
            )
        if previous is not None:
            self._unindex(previous)  # the relation changed in the tool: move the link
        broken = graph_violation(self.graph, source, kind, target)
        if broken is not None and (self.on_violation == REFUSE or not broken.may_be_noted):
            if previous is not None:
                self._index(previous)
            return self._refuse(broken, where)
        if broken is not None:
            self.note(ASIL_NOTE, broken.link)
        if previous is not None:
            previous.kind = kind
            previous.source = source
            previous.target_requirement = None if is_goal else target
            previous.target_goal = target if is_goal else None
            previous.source_version = source.version
            previous.target_version = getattr(target, "version", 1)
            previous.suspect = False
            previous.suspect_reason = ""
            self._index(previous)
            if previous.pk:
                self.changed[previous.pk] = previous
            return None
        link = TraceLink(
            project=self.project,
            kind=kind,
            source=source,
            target_requirement=None if is_goal else target,
            target_goal=target if is_goal else None,
            source_version=source.version,
            target_version=getattr(target, "version", 1),
            reqif_identifier=identifier,
        )
        self.new.append(link)
        self._index(link)
        return None

    def _refuse(self, broken: Violation, where: str) -> str:
        """Keep ``broken`` for the refusal of a ``"refuse"`` import; the reason for
        ``unmapped``."""
        if self.on_violation == REFUSE:
            self.refused.append(f"{where}: {broken.message}" if where else broken.message)
        return broken.message.rstrip(".")


@transaction.atomic
def link_batch_write(batch: LinkBatch) -> None:
    """Write a planned batch in bulk (with history), in the caller's transaction.

    Refuses with a ``ValidationError`` under ``links`` when the batch is in ``"refuse"`` mode
    and a link broke a rule; the caller's transaction then rolls back whatever else the
    import wrote. The caller records the import's ledger entry in the same transaction.
    """
    require(batch.user, batch.project, Action.EDIT)
    if batch.refused:
        listed = batch.refused[:MAX_LISTED]
        more = len(batch.refused) - len(listed)
        if more:
            listed.append(f"and {more} more")
        raise ValidationError(
            {
                "links": [
                    "The import breaks the trace-link rules and was refused; nothing was "
                    "written (on_violation note imports the rest and lists them):",
                    *listed,
                ]
            }
        )
    if batch.changed:
        bulk_update_with_history(
            list(batch.changed.values()),
            TraceLink,
            _UPDATE_FIELDS,
            batch_size=_BATCH,
            default_user=batch.user,
        )
    if batch.new:
        create_with_history(batch.new, TraceLink, batch.user)
