"""The GSN safety case, generated from the model, with a status on every node.

Structure (GSN Community Standard v3, REFERENCE.md §6.4)::

    G0  <item> is acceptably safe within its ODD         in the context of C1 item, C2 ODD, C3
     ├─ S1  argument over each safety goal of the HARA                           baseline
     │   └─ G:SG-01  the safety goal
     │       └─ S:SG-01  argument over the requirements derived from SG-01
     │           └─ G:FSR-001  the requirement holds
     │               ├─ S:FSR-001  argument over its derived requirements (and decomposition)
     │               │   ├─ Sn  the ASIL decomposition record
     │               │   └─ G:TSR-001 ...   (following derives-from / satisfies links down)
     │               └─ Sn  its verifications and validation runs (ledger entries)
     └─ S2  argument over the confirmation measures ISO 26262-2 Table 1 requires
         └─ G:CM:hara  the measure is done at the required independence
             └─ Sn  the approvals (ledger entries)

Statuses. A solution takes the status of its evidence:

* ``supported``: a passing verification or run of the current requirement version, a
  confirmation at the required independence, a decomposition record;
* ``challenged``: a failing verification or verdict, a confirmation that did not confirm;
* ``stale``: evidence older than what it verifies (a verification of an earlier requirement
  version, an approval given for another baseline);
* ``undeveloped``: evidence that does not decide (an inconclusive verdict, an approval below
  the required independence).

Only the latest verification per requirement and method is a solution: a newer one of the same
kind supersedes it (every entry stays in the evidence register).

Propagation. A goal or strategy without supporting children is ``undeveloped`` and carries the
undeveloped decorator (hollow diamond). Otherwise it takes the worst status of its supporting
children, in the order ``challenged`` > ``stale`` > ``undeveloped`` > ``supported``: a claim
is supported only when everything beneath it is, counter-evidence anywhere shows at the top, and
out-of-date evidence outranks a known hole because it means the case on record says something
that no longer holds. Context nodes have no status. The release gate of REFERENCE.md §6.4 passes
when no goal or strategy is undeveloped and every solution is supported.

Rendering is pure Python: :func:`layout` places a layered tree (a spanning tree of the graph;
a node with two parents is drawn once, with both edges), :func:`to_svg` writes SVG through
ElementTree (so every text is escaped), :func:`to_drawing` builds the same picture from
reportlab.graphics shapes for the PDF. :meth:`SafetyCase.to_json` is the nodes-and-edges form.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from compliance import iso26262
from reports.selectors import CaseSnapshot

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


@dataclass
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


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str


@dataclass
class SafetyCase:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    root: str = "G0"
    _index: dict = field(default_factory=dict, repr=False, compare=False)

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


# --------------------------------------------------------------------------------------------
# Building the argument
# --------------------------------------------------------------------------------------------


def build(snapshot: CaseSnapshot) -> SafetyCase:
    """The safety case of ``snapshot`` with every status computed."""
    case = SafetyCase()
    content = snapshot.content
    goals = {g["code"]: g for g in snapshot.items("goal")}
    requirements = {
        r["code"]: r for r in snapshot.items("requirement") if r.get("status") != "obsolete"
    }
    children: dict[tuple[str, str], list[str]] = defaultdict(list)
    for link in snapshot.items("link"):
        if link["kind"] not in ("derives-from", "satisfies") or link["source"] not in requirements:
            continue
        target = link["target"]
        if target in goals:
            children[("goal", target)].append(link["source"])
        elif target in requirements:
            children[("requirement", target)].append(link["source"])
    latest: dict[tuple[str, str], object] = {}
    for row in snapshot.verifications:  # in entry order: a later one replaces an earlier one
        latest[(row.requirement, row.method)] = row
    evidence = defaultdict(list)
    for (code, _method), row in sorted(latest.items()):
        evidence[code].append(row)
    decompositions = defaultdict(list)
    for row in snapshot.decompositions:
        decompositions[row.parent].append(row)

    top = case.add(
        Node(
            "G0",
            GOAL,
            "G0",
            f"{snapshot.project_name} ({snapshot.project_key}) is acceptably safe within its "
            "operational design domain",
        )
    )
    item = content.get("item") or {}
    for node_id, label, text in (
        ("C1", "Item definition", item.get("function") or "not defined"),
        ("C2", "Operational design domain", item.get("odd") or "not defined"),
    ):
        case.add(Node(node_id, CONTEXT, label, text), top.id, IN_CONTEXT_OF)
    if snapshot.baseline_name:
        case.add(
            Node(
                "C3",
                CONTEXT,
                "Baseline",
                f"{snapshot.baseline_name}, Merkle root {snapshot.baseline_root[:16]}..., "
                f"ledger of {snapshot.size} entries",
                entry=snapshot.baseline_entry,
            ),
            top.id,
            IN_CONTEXT_OF,
        )

    if goals:
        over_goals = case.add(
            Node(
                "S1", STRATEGY, "S1", f"Argument over each safety goal of the HARA ({len(goals)})"
            ),
            top.id,
        )
        for code in sorted(goals):
            goal = goals[code]
            node = case.add(
                Node(
                    _goal_id(f"goal:{code}"),
                    GOAL,
                    f"{code} - ASIL {goal.get('asil', 'QM')}",
                    goal.get("text", ""),
                    ref=f"goal:{code}",
                ),
                over_goals.id,
            )
            derived = sorted(children.get(("goal", code), []))
            if derived:
                strategy = case.add(
                    Node(
                        f"S:goal:{code}",
                        STRATEGY,
                        f"S {code}",
                        f"Argument over the requirements derived from {code}",
                    ),
                    node.id,
                )
                for child in derived:
                    _requirement(
                        case, strategy.id, child, requirements, children, evidence, decompositions
                    )

    _confirmation(case, top.id, snapshot)
    _propagate(case)
    return case


def _requirement(case, parent_id, root_code, requirements, children, evidence, decompositions):
    """Add the goal of ``root_code`` under ``parent_id`` and develop it, iteratively (a
    requirement reached twice is drawn once, with one more edge; cycles are cut)."""
    stack = [(parent_id, root_code, ())]
    while stack:
        parent, code, path = stack.pop()
        goal_id = _goal_id(f"requirement:{code}")
        if code in path:
            continue  # a cycle of links: the ledger's link rules should have refused it
        if goal_id in case.nodes:
            case.edges.append(Edge(parent, goal_id, SUPPORTED_BY))
            continue
        requirement = requirements[code]
        node = case.add(
            Node(
                goal_id,
                GOAL,
                f"{code} - ASIL {requirement.get('asil', 'QM')}",
                requirement.get("text") or requirement.get("title") or "",
                ref=f"requirement:{code}",
            ),
            parent,
        )
        derived = sorted(children.get(("requirement", code), []))
        splits = decompositions.get(code, [])
        if derived or splits:
            text = f"Argument over the requirements derived from {code}"
            if splits:
                parts = "; ".join(" + ".join(s.children) for s in splits)
                text += f", with its ASIL decomposition into {parts} (ISO 26262-9)"
            strategy = case.add(Node(f"S:requirement:{code}", STRATEGY, f"S {code}", text), goal_id)
            for split in splits:
                case.add(
                    Node(
                        f"Sn:{split.entry}:decomposition:{code}",
                        SOLUTION,
                        f"entry {split.entry}",
                        f"Decomposition record of {code}",
                        status=SUPPORTED,
                        entry=split.entry,
                        ref=f"decomposition:{code}",
                    ),
                    strategy.id,
                )
            for child in reversed(derived):  # popped in code order
                stack.append((strategy.id, child, (*path, code)))
        current = int(requirement.get("version") or 1)
        for row in evidence.get(code, []):
            if row.requirement_version > current:
                continue  # evidence for a later version than this baseline holds
            stale = row.requirement_version < current
            status = (
                STALE
                if stale
                else {"pass": SUPPORTED, "fail": CHALLENGED}.get(row.result, UNDEVELOPED)
            )
            text = f"{row.method}: {row.result} of v{row.requirement_version}"
            if stale:
                text += f", older than v{current}"
            case.add(
                Node(
                    f"Sn:{row.entry}:requirement:{code}:{row.method}",
                    SOLUTION,
                    f"entry {row.entry}",
                    text,
                    status=status,
                    entry=row.entry,
                    ref=f"verification:{code}",
                ),
                node.id,
            )


def _confirmation(case: SafetyCase, top: str, snapshot: CaseSnapshot) -> None:
    asil = snapshot.highest_asil
    required = [
        (m, iso26262.required_independence(m.value, asil)) for m in iso26262.ConfirmationMeasure
    ]
    required = [(m, level) for m, level in required if level != iso26262.NO_REQUIREMENT]
    if not required:
        return
    strategy = case.add(
        Node(
            "S2",
            STRATEGY,
            "S2",
            f"Argument over the confirmation measures ISO 26262-2 Table 1 requires at ASIL {asil}",
        ),
        top,
    )
    by_measure = defaultdict(list)
    for row in snapshot.approvals:
        by_measure[row.measure].append(row)
    for measure, level in required:
        goal = case.add(
            Node(
                _goal_id(f"measure:{measure.value}"),
                GOAL,
                f"{measure.value} - {level}",
                f"{measure.label} is performed with independence {level} or more",
                ref=f"measure:{measure.value}",
            ),
            strategy.id,
        )
        for row in by_measure.get(measure.value, []):
            if row.outcome not in CONFIRMED:
                status = CHALLENGED
            elif not iso26262.meets_independence(row.achieved, level):
                status = UNDEVELOPED
            elif row.baseline_root and row.baseline_root != snapshot.baseline_root:
                status = STALE
            else:
                status = SUPPORTED
            case.add(
                Node(
                    f"Sn:{row.entry}:approval",
                    SOLUTION,
                    f"entry {row.entry}",
                    f"{row.reviewer} ({row.achieved}): {row.outcome.replace('_', ' ')}",
                    status=status,
                    entry=row.entry,
                    ref=f"approval:{measure.value}",
                ),
                goal.id,
            )


def _propagate(case: SafetyCase) -> None:
    """Statuses bottom-up (iterative post-order, so deep trees do not exhaust the stack)."""
    done: set[str] = set()
    for start in case.nodes:
        if start in done or case.nodes[start].type in (SOLUTION, CONTEXT):
            continue
        stack = [(start, False)]
        visiting: set[str] = set()
        while stack:
            node_id, expanded = stack.pop()
            if node_id in done:
                continue
            node = case.nodes[node_id]
            if node.type in (SOLUTION, CONTEXT):
                done.add(node_id)
                continue
            supporters = case.supporters(node_id)
            if not expanded:
                visiting.add(node_id)
                stack.append((node_id, True))
                stack.extend((s, False) for s in supporters if s not in done and s not in visiting)
                continue
            visiting.discard(node_id)
            statuses = [case.nodes[s].status for s in supporters if case.nodes[s].status]
            if not supporters:
                node.status, node.undeveloped = UNDEVELOPED, True
            else:
                node.status = max(statuses or [UNDEVELOPED], key=_SEVERITY.__getitem__)
            done.add(node_id)


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------

GAP_X, GAP_Y = 16.0, 34.0
MARGIN = 12.0
LINE = 9.0
FONT_SIZE = 7.0
LEGEND_HEIGHT = 22.0
_WIDTH = {GOAL: 176.0, STRATEGY: 176.0, CONTEXT: 150.0, SOLUTION: 92.0}
_CHARS = {GOAL: 40, STRATEGY: 38, CONTEXT: 34, SOLUTION: 18}
_MAX_LINES = {GOAL: 4, STRATEGY: 3, CONTEXT: 4, SOLUTION: 4}
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Text safe to draw: no characters XML 1.0 forbids, whitespace collapsed."""
    return " ".join(_INVALID_XML.sub("", str(text)).split())


def _lines(node: Node) -> list[str]:
    """The label and the wrapped text of a node, computed once per node (figures lay the same
    nodes out many times)."""
    key = (node.type, node.label, node.text)
    if node._wrapped is None or node._wrapped[0] != key:
        body = textwrap.wrap(
            clean(node.text),
            width=_CHARS[node.type],
            max_lines=_MAX_LINES[node.type],
            placeholder="...",
            break_long_words=True,
        )
        node._wrapped = (key, [clean(node.label)[: _CHARS[node.type] + 4], *body])
    return node._wrapped[1]


@dataclass(frozen=True)
class Box:
    x: float
    y: float  # top edge; y grows downwards
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass
class Layout:
    boxes: dict[str, Box]
    lines: dict[str, list[str]]
    width: float
    height: float
    edges: list[Edge]
    routes: dict[tuple[str, str], list[tuple[float, float]]]
    shown: int
    total: int


def _size(node: Node, lines: list[str]) -> tuple[float, float]:
    if node.type == SOLUTION:
        side = max(_WIDTH[SOLUTION], LINE * len(lines) + 24)
        return side, side
    return _WIDTH[node.type], LINE * len(lines) + 10


def subtree(case: SafetyCase, root: str, max_depth: int | None = None) -> list[str]:
    """Node ids of the spanning tree under ``root`` (breadth first), down to ``max_depth``;
    the contexts of included nodes come along."""
    seen = {root}
    order = [root]
    queue = deque([(root, 0)])
    while queue:
        node_id, depth = queue.popleft()
        for context in case.contexts(node_id):
            if context not in seen:
                seen.add(context)
                order.append(context)
        if max_depth is not None and depth >= max_depth:
            continue
        for child in case.supporters(node_id):
            if child not in seen:
                seen.add(child)
                order.append(child)
                queue.append((child, depth + 1))
    return order


#: A node's children are laid out side by side in rows of at most this many subtrees, so a
#: goal with hundreds of derived requirements grows downwards instead of sideways.
FAN = 6


def layout(
    case: SafetyCase, root: str | None = None, include: Iterable[str] | None = None
) -> Layout:
    """Place the spanning tree under ``root`` (default: the top goal) as a layered tree.

    Each subtree is a block: the node (with its contexts stacked to its right) centred over
    its children, which stand side by side in rows of at most :data:`FAN` blocks. Block sizes
    are computed bottom-up and positions top-down, both without recursion. Edges to a second
    row run down a free channel at the block's left edge.
    """
    root = root or case.root
    allowed = set(include) if include is not None else None
    tree: dict[str, list[str]] = defaultdict(list)
    contexts: dict[str, list[str]] = defaultdict(list)
    seen = {root}
    order = [root]
    queue = deque([root])
    while queue:
        node_id = queue.popleft()
        for context in case.contexts(node_id):
            if allowed is None or context in allowed:
                contexts[node_id].append(context)
        for child in case.supporters(node_id):
            if child in seen or (allowed is not None and child not in allowed):
                continue
            seen.add(child)
            tree[node_id].append(child)
            order.append(child)
            queue.append(child)

    lines, size = {}, {}
    for node_id in order + [c for n in order for c in contexts[n]]:
        lines[node_id] = _lines(case.nodes[node_id])
        size[node_id] = _size(case.nodes[node_id], lines[node_id])

    own, block, rows = {}, {}, {}
    for node_id in reversed(order):
        w, h = size[node_id]
        if contexts[node_id]:
            ctx = contexts[node_id]
            w += GAP_X + max(size[c][0] for c in ctx)
            h = max(h, sum(size[c][1] for c in ctx) + GAP_X / 2 * (len(ctx) - 1))
        if case.nodes[node_id].undeveloped:
            h += 14.0  # room for the diamond
        own[node_id] = (w, h)
        kids = tree[node_id]
        groups = [kids[i : i + FAN] for i in range(0, len(kids), FAN)]
        indent = GAP_X if len(groups) > 1 else 0.0  # the channel for edges to later rows
        rows[node_id] = groups
        width = max(
            [w] + [indent + sum(block[c][0] for c in g) + GAP_X * (len(g) - 1) for g in groups]
        )
        height = h + sum(GAP_Y + max(block[c][1] for c in g) for g in groups)
        block[node_id] = (width, height)

    boxes: dict[str, Box] = {}
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    origin = {root: (MARGIN, MARGIN)}
    for node_id in order:
        left, top = origin[node_id]
        width = block[node_id][0]
        w, h = size[node_id]
        x = left + (width - own[node_id][0]) / 2
        box = boxes[node_id] = Box(x, top, w, h)
        cy = top
        for context in contexts[node_id]:
            cw, ch = size[context]
            boxes[context] = Box(x + w + GAP_X, cy, cw, ch)
            cy += ch + GAP_X / 2
        groups = rows[node_id]
        indent = GAP_X if len(groups) > 1 else 0.0
        y = top + own[node_id][1] + GAP_Y
        channel = left + GAP_X / 2
        for number, group in enumerate(groups):
            span = indent + sum(block[c][0] for c in group) + GAP_X * (len(group) - 1)
            cursor = left + indent + (width - span) / 2
            for child in group:
                origin[child] = (cursor, y)
                child_x = cursor + (block[child][0] - own[child][0]) / 2 + size[child][0] / 2
                bend = y - GAP_Y / 2
                if number == 0:
                    route = [(box.cx, box.bottom), (box.cx, bend), (child_x, bend), (child_x, y)]
                else:
                    first_bend = box.bottom + GAP_Y / 2
                    route = [
                        (box.cx, box.bottom),
                        (box.cx, first_bend),
                        (channel, first_bend),
                        (channel, bend),
                        (child_x, bend),
                        (child_x, y),
                    ]
                routes[(node_id, child)] = route
                cursor += block[child][0] + GAP_X
            y += max(block[c][1] for c in group) + GAP_Y

    edges = [e for e in case.edges if e.source in boxes and e.target in boxes]
    total_nodes = len(case.nodes) if include is None else len(set(include))
    return Layout(
        boxes=boxes,
        lines=lines,
        width=block[root][0] + 2 * MARGIN,
        height=block[root][1] + 2 * MARGIN + LEGEND_HEIGHT,
        edges=edges,
        routes=routes,
        shown=len(boxes),
        total=max(total_nodes, len(boxes)),
    )


def _shape_points(node: Node, box: Box) -> list[tuple[float, float]]:
    """Outline of a strategy (parallelogram) in y-down coordinates."""
    skew = 10.0
    return [
        (box.x + skew, box.y),
        (box.x + box.w, box.y),
        (box.x + box.w - skew, box.bottom),
        (box.x, box.bottom),
    ]


def _diamond(box: Box) -> list[tuple[float, float]]:
    cx, top = box.cx, box.bottom + 1
    return [(cx, top), (cx + 6, top + 6), (cx, top + 12), (cx - 6, top + 6)]


def _edge_geometry(edge: Edge, plan: Layout):
    """(polyline points, arrowhead points, hollow?) of an edge, y-down."""
    a, b = plan.boxes[edge.source], plan.boxes[edge.target]
    if edge.kind == IN_CONTEXT_OF:
        start = (a.x + a.w, a.y + a.h / 2)
        end = (b.x, b.y + b.h / 2)
        dx, dy = end[0] - start[0], end[1] - start[1]
        length = max((dx * dx + dy * dy) ** 0.5, 1e-6)
        ux, uy = dx / length, dy / length
        base = (end[0] - 8 * ux, end[1] - 8 * uy)
        head = [end, (base[0] - 4 * uy, base[1] + 4 * ux), (base[0] + 4 * uy, base[1] - 4 * ux)]
        return [start, base], head, True
    route = plan.routes.get((edge.source, edge.target))
    if route is None:  # a second parent: a plain elbow to the child drawn elsewhere
        bend = b.y - GAP_Y / 2
        route = [(a.cx, a.bottom), (a.cx, bend), (b.cx, bend), (b.cx, b.y)]
    end = route[-1]
    head = [end, (end[0] - 4, end[1] - 7), (end[0] + 4, end[1] - 7)]
    return [*route[:-1], (end[0], end[1] - 7)], head, False


def _text_top(node: Node, box: Box, count: int) -> float:
    if node.type == SOLUTION:
        return box.y + box.h / 2 - LINE * count / 2 + LINE - 2
    return box.y + LINE + 2


# --------------------------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------------------------

SVG_NS = "http://www.w3.org/2000/svg"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_f(x)},{_f(y)}" for x, y in points)


def to_svg(case: SafetyCase, root: str | None = None, include: Iterable[str] | None = None) -> str:
    """The safety case as a standalone SVG document (UTF-8 text, every string escaped)."""
    plan = layout(case, root, include)
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "version": "1.1",
            "width": _f(plan.width),
            "height": _f(plan.height),
            "viewBox": f"0 0 {_f(plan.width)} {_f(plan.height)}",
            "font-family": "Helvetica, Arial, sans-serif",
            "font-size": _f(FONT_SIZE),
            "role": "img",
        },
    )
    top = case.nodes[root or case.root]
    ET.SubElement(svg, "title").text = clean(f"GSN safety case: {top.text}")
    edges = ET.SubElement(svg, "g", {"class": "gsn-edges", "stroke": "#455a64", "fill": "none"})
    for edge in plan.edges:
        points, head, hollow = _edge_geometry(edge, plan)
        ET.SubElement(
            edges,
            "polyline",
            {"points": _points(points), "class": f"gsn-edge gsn-{edge.kind}"},
        )
        ET.SubElement(
            edges, "polygon", {"points": _points(head), "fill": "#ffffff" if hollow else "#455a64"}
        )
    nodes = ET.SubElement(svg, "g", {"class": "gsn-nodes"})
    for number, (node_id, box) in enumerate(plan.boxes.items()):
        node = case.nodes[node_id]
        stroke, fill = COLOURS[node.status]
        group = ET.SubElement(
            nodes,
            "g",
            {
                "id": f"gsn-node-{number}",
                "class": f"gsn-node gsn-{node.type} gsn-{node.status or 'context'}",
                "data-node": clean(node_id),
                "data-status": node.status or "",
            },
        )
        ET.SubElement(group, "title").text = clean(
            f"{node.label}: {node.text} [{node.status or 'context'}]"
        )
        style = {"fill": fill, "stroke": stroke, "stroke-width": "1.2"}
        if node.type == GOAL:
            ET.SubElement(
                group,
                "rect",
                {"x": _f(box.x), "y": _f(box.y), "width": _f(box.w), "height": _f(box.h), **style},
            )
        elif node.type == CONTEXT:
            ET.SubElement(
                group,
                "rect",
                {
                    "x": _f(box.x),
                    "y": _f(box.y),
                    "width": _f(box.w),
                    "height": _f(box.h),
                    "rx": "10",
                    "ry": "10",
                    **style,
                },
            )
        elif node.type == STRATEGY:
            ET.SubElement(group, "polygon", {"points": _points(_shape_points(node, box)), **style})
        else:
            ET.SubElement(
                group,
                "circle",
                {"cx": _f(box.cx), "cy": _f(box.y + box.h / 2), "r": _f(box.w / 2), **style},
            )
        if node.undeveloped:
            ET.SubElement(
                group,
                "polygon",
                {
                    "points": _points(_diamond(box)),
                    "fill": "#ffffff",
                    "stroke": stroke,
                    "class": "gsn-undeveloped",
                },
            )
        lines = plan.lines[node_id]
        text = ET.SubElement(group, "text", {"text-anchor": "middle", "fill": "#212121"})
        y = _text_top(node, box, len(lines))
        for position, line in enumerate(lines):
            span = ET.SubElement(text, "tspan", {"x": _f(box.cx), "y": _f(y + position * LINE)})
            if position == 0:
                span.set("font-weight", "bold")
            span.text = line
    _svg_legend(svg, plan)
    return ET.tostring(svg, encoding="unicode")


def _svg_legend(svg: ET.Element, plan: Layout) -> None:
    legend = ET.SubElement(svg, "g", {"class": "gsn-legend"})
    x, y = MARGIN, plan.height - LEGEND_HEIGHT + 4
    for status in STATUSES:
        stroke, fill = COLOURS[status]
        ET.SubElement(
            legend,
            "rect",
            {"x": _f(x), "y": _f(y), "width": "10", "height": "10", "fill": fill, "stroke": stroke},
        )
        ET.SubElement(legend, "text", {"x": _f(x + 14), "y": _f(y + 8)}).text = status
        x += 80
    if plan.shown < plan.total:
        note = f"{plan.shown} of {plan.total} nodes shown"
        ET.SubElement(legend, "text", {"x": _f(x), "y": _f(y + 8)}).text = note


# --------------------------------------------------------------------------------------------
# reportlab drawing (for the PDF)
# --------------------------------------------------------------------------------------------


def to_drawing(
    case: SafetyCase,
    root: str | None = None,
    include: Iterable[str] | None = None,
    *,
    max_width: float = 500.0,
    max_height: float = 700.0,
):
    """The same picture as :func:`to_svg`, as a reportlab Drawing scaled to fit the frame."""
    from reportlab.graphics.shapes import Circle, Drawing, Group, Polygon, PolyLine, Rect, String
    from reportlab.lib.colors import HexColor, white

    plan = layout(case, root, include)
    scale = min(1.0, max_width / plan.width, max_height / plan.height)
    height = plan.height

    def flip(points):
        flat = []
        for x, y in points:
            flat += [x, height - y]
        return flat

    group = Group()
    edge_colour = HexColor("#455a64")
    for edge in plan.edges:
        points, head, hollow = _edge_geometry(edge, plan)
        group.add(PolyLine(flip(points), strokeColor=edge_colour, strokeWidth=0.8))
        group.add(
            Polygon(
                flip(head),
                fillColor=white if hollow else edge_colour,
                strokeColor=edge_colour,
                strokeWidth=0.8,
            )
        )
    for node_id, box in plan.boxes.items():
        node = case.nodes[node_id]
        stroke, fill = (HexColor(c) for c in COLOURS[node.status])
        style = {"fillColor": fill, "strokeColor": stroke, "strokeWidth": 1.1}
        if node.type in (GOAL, CONTEXT):
            radius = 10 if node.type == CONTEXT else 0
            group.add(Rect(box.x, height - box.bottom, box.w, box.h, rx=radius, ry=radius, **style))
        elif node.type == STRATEGY:
            group.add(Polygon(flip(_shape_points(node, box)), **style))
        else:
            group.add(Circle(box.cx, height - box.y - box.h / 2, box.w / 2, **style))
        if node.undeveloped:
            group.add(
                Polygon(flip(_diamond(box)), fillColor=white, strokeColor=stroke, strokeWidth=1)
            )
        lines = plan.lines[node_id]
        y = _text_top(node, box, len(lines))
        for position, line in enumerate(lines):
            group.add(
                String(
                    box.cx,
                    height - (y + position * LINE),
                    line,
                    textAnchor="middle",
                    fontName="Helvetica-Bold" if position == 0 else "Helvetica",
                    fontSize=FONT_SIZE,
                )
            )
    x, y = MARGIN, height - (plan.height - LEGEND_HEIGHT + 4) - 10
    for status in STATUSES:
        stroke, fill = (HexColor(c) for c in COLOURS[status])
        group.add(Rect(x, y, 10, 10, fillColor=fill, strokeColor=stroke))
        group.add(String(x + 14, y + 2, status, fontName="Helvetica", fontSize=FONT_SIZE))
        x += 80
    if plan.shown < plan.total:
        note = f"{plan.shown} of {plan.total} nodes shown"
        group.add(String(x, y + 2, note, fontName="Helvetica", fontSize=FONT_SIZE))
    group.transform = (scale, 0, 0, scale, 0, 0)
    drawing = Drawing(plan.width * scale, plan.height * scale)
    drawing.add(group)
    return drawing


def figures(
    case: SafetyCase,
    *,
    max_width: float,
    max_height: float,
    min_scale: float = 0.5,
    budget: int = 40,
) -> list[tuple[str, str, list[str]]]:
    """Split the case into drawable parts: ``[(title, root, node ids)]``.

    A part is the subtree under a root, cut at the deepest level whose layout still fits the
    frame at ``min_scale`` (when even one level does not fit, only the first children that do
    are drawn). The nodes on a cut get parts of their own, breadth first, until ``budget``
    parts are made; the first part is the top of the argument.
    """

    def fits(root: str, ids: list[str]) -> bool:
        plan = layout(case, root, ids)
        return min(max_width / plan.width, max_height / plan.height) >= min_scale

    parts = []
    queue = deque([case.root])
    queued = {case.root}
    while queue and len(parts) < budget:
        root = queue.popleft()
        depth = _depth(case, root)
        ids = subtree(case, root)
        while depth > 1 and not fits(root, ids):
            depth -= 1
            ids = subtree(case, root, depth)
        if not fits(root, ids):  # one level is still too much: draw the first children only
            children = case.supporters(root)
            low, high = 1, len(children)
            while low < high:
                middle = (low + high + 1) // 2
                trial = subtree(case, root, 0) + children[:middle]
                low, high = (middle, high) if fits(root, trial) else (low, middle - 1)
            ids = subtree(case, root, 0) + children[:low]
        parts.append((_title(case, root), root, ids))
        shown = set(ids)
        for node_id in ids:
            if node_id in queued:
                continue
            if any(child not in shown for child in case.supporters(node_id)):
                queued.add(node_id)
                queue.append(node_id)
    return parts


def _depth(case: SafetyCase, root: str) -> int:
    deepest = 0
    queue = deque([(root, 0)])
    seen = {root}
    while queue:
        node_id, depth = queue.popleft()
        deepest = max(deepest, depth)
        for child in case.supporters(node_id):
            if child not in seen:
                seen.add(child)
                queue.append((child, depth + 1))
    return deepest


def _title(case: SafetyCase, root: str) -> str:
    node = case.nodes[root]
    return clean(f"{node.label}: {node.text}")[:120]
