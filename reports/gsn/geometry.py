"""Where every node goes: wrapped text, box sizes, the layered tree layout and shape outlines."""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from reports.gsn.model import (
    CONTEXT,
    GOAL,
    IN_CONTEXT_OF,
    SOLUTION,
    STRATEGY,
    Edge,
    Node,
    SafetyCase,
)

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
