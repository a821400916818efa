"""The safety case as nodes and edges: GSN element types, statuses and the release gate."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

SUPPORTED = "supported"
UNDEVELOPED = "undeveloped"
STALE = "stale"
CHALLENGED = "challenged"
#: In increasing severity: a parent takes the most severe status among its supporters.
STATUSES = (SUPPORTED, UNDEVELOPED, STALE, CHALLENGED)
_SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}

GOAL, STRATEGY, SOLUTION, CONTEXT = "goal", "strategy", "solution", "context"
SUPPORTED_BY, IN_CONTEXT_OF = "supportedBy", "inContextOf"
CONFIRMED = ("confirmed", "confirmed_with_findings")

#: Stroke and fill per status; context nodes use the ``None`` entry.
COLOURS = {
    SUPPORTED: ("#1b5e20", "#e8f5e9"),
    UNDEVELOPED: ("#616161", "#f5f5f5"),
    STALE: ("#e65100", "#fff3e0"),
    CHALLENGED: ("#b71c1c", "#ffebee"),
    None: ("#37474f", "#eceff1"),
}
#: A stale node's outline is dashed, so it reads as stale in black and white too.
STALE_DASH = (4, 2)


@dataclass(slots=True)
class Node:
    id: str
    type: str
    label: str
    text: str
    status: str | None = None
    undeveloped: bool = False
    entry: int | None = None  # the ledger entry a solution points at
    ref: str = ""  # the model element behind the node, e.g. "requirement:FSR-001"
    _wrapped: tuple | None = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "label": self.label,
            "text": self.text,
            "status": self.status,
            "undeveloped": self.undeveloped,
            "entry": self.entry,
            "ref": self.ref,
        }


class Edge(NamedTuple):
    """A link from ``source`` to ``target``: a tuple, made in a fraction of a dataclass's time
    (an argument at 10,000 requirements has tens of thousands)."""

    source: str
    target: str
    kind: str


@dataclass
class SafetyCase:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    root: str = "G0"
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    def __reduce__(self):
        """Pickled as tuples of strings (what the cache keeps of a large argument): a fraction
        of the time and size of pickling tens of thousands of dataclass instances."""
        nodes = [
            (n.id, n.type, n.label, n.text, n.status, n.undeveloped, n.entry, n.ref)
            for n in self.nodes.values()
        ]
        return _unpickled, (nodes, [tuple(e) for e in self.edges], self.root)

    def add(self, node: Node, parent: str | None = None, kind: str = SUPPORTED_BY) -> Node:
        self.nodes.setdefault(node.id, node)
        if parent is not None:
            self.edges.append(Edge(parent, node.id, kind))
        return self.nodes[node.id]

    def supporters(self, node_id: str) -> list[str]:
        return self._targets(SUPPORTED_BY).get(node_id, [])

    def contexts(self, node_id: str) -> list[str]:
        return self._targets(IN_CONTEXT_OF).get(node_id, [])

    def _targets(self, kind: str) -> dict[str, list[str]]:
        size, index = self._index.get(kind, (-1, {}))
        if size != len(self.edges):  # edges were added since: index them again
            index = defaultdict(list)
            for edge in self.edges:
                if edge.kind == kind:
                    index[edge.source].append(edge.target)
            self._index[kind] = (len(self.edges), index)
        return index

    @property
    def status(self) -> str:
        return self.nodes[self.root].status or UNDEVELOPED

    def status_of(self, ref: str) -> str | None:
        """The status of the goal for a model element (``requirement:FSR-001``), if drawn."""
        node = self.nodes.get(_goal_id(ref))
        return node.status if node else None

    def cited_entries(self) -> list[int]:
        return sorted({n.entry for n in self.nodes.values() if n.entry is not None})

    def release_gate(self) -> dict:
        undeveloped = [n.id for n in self.nodes.values() if n.undeveloped]
        unsupported = [
            n.id for n in self.nodes.values() if n.type == SOLUTION and n.status != SUPPORTED
        ]
        return {
            "passed": not undeveloped and not unsupported,
            "undeveloped": undeveloped,
            "unsupported_solutions": unsupported,
        }

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for node in self.nodes.values():
            if node.status:
                counts[node.status] += 1
        return counts

    def to_json(self) -> dict:
        return {
            "root": self.root,
            "status": self.status,
            "counts": self.counts(),
            "release_gate": self.release_gate(),
            "nodes": [n.as_json() for n in self.nodes.values()],
            "edges": [{"from": e.source, "to": e.target, "kind": e.kind} for e in self.edges],
        }


def _goal_id(ref: str) -> str:
    return f"G:{ref}"


def _unpickled(nodes: list[tuple], edges: list[tuple], root: str) -> SafetyCase:
    return SafetyCase(
        nodes={fields[0]: Node(*fields) for fields in nodes},
        edges=[Edge._make(fields) for fields in edges],
        root=root,
    )
