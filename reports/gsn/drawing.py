"""The safety case as reportlab graphics for the PDF, cut into pages when it is large."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from reports.gsn.fonts import BOLD, FONT, drawing_of, register_fonts
from reports.gsn.geometry import (
    FONT_SIZE,
    LEGEND_HEIGHT,
    LINE,
    MARGIN,
    _diamond,
    _edge_geometry,
    _shape_points,
    _text_top,
    clean,
    layout,
    subtree,
)
from reports.gsn.model import (
    COLOURS,
    CONTEXT,
    GOAL,
    STALE,
    STALE_DASH,
    STATUSES,
    STRATEGY,
    SafetyCase,
)


def to_drawing(
    case: SafetyCase,
    root: str | None = None,
    include: Iterable[str] | None = None,
    *,
    max_width: float = 500.0,
    max_height: float = 700.0,
):
    """The same picture as :func:`to_svg`, as a reportlab Drawing scaled to fit the frame."""
    from reportlab.graphics.shapes import Circle, Group, Polygon, PolyLine, Rect, String
    from reportlab.lib.colors import HexColor, white

    register_fonts()
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
        if node.status == STALE:
            style.update(strokeWidth=1.6, strokeDashArray=STALE_DASH)
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
                    fontName=BOLD if position == 0 else FONT,
                    fontSize=FONT_SIZE,
                )
            )
    x, y = MARGIN, height - (plan.height - LEGEND_HEIGHT + 4) - 10
    for status in STATUSES:
        stroke, fill = (HexColor(c) for c in COLOURS[status])
        dash = {"strokeDashArray": STALE_DASH} if status == STALE else {}
        group.add(Rect(x, y, 10, 10, fillColor=fill, strokeColor=stroke, **dash))
        group.add(String(x + 14, y + 2, status, fontName=FONT, fontSize=FONT_SIZE))
        x += 80
    if plan.shown < plan.total:
        note = f"{plan.shown} of {plan.total} nodes shown"
        group.add(String(x, y + 2, note, fontName=FONT, fontSize=FONT_SIZE))
    group.transform = (scale, 0, 0, scale, 0, 0)
    drawing = drawing_of(plan.width * scale, plan.height * scale)
    drawing.add(group)
    return drawing


def figures(
    case: SafetyCase,
    *,
    max_width: float,
    max_height: float,
    min_scale: float = 1.0,
    budget: int = 40,
) -> list[tuple[str, str, list[str]]]:
    """Split the case into drawable parts: ``[(title, root, node ids)]``.

    A part is the subtree under a root, cut at the deepest level whose layout still fits the
    frame at ``min_scale`` (1: the text is printed at its own size, ``FONT_SIZE`` points); when
    even one level does not fit, the children are drawn in groups, one part each. The nodes on
    a cut get parts of their own, breadth first, so each safety goal of a large case is drawn
    on its own, until ``budget`` parts are made; the first part is the top of the argument.
    """

    def fits(root: str, ids: list[str]) -> bool:
        plan = layout(case, root, ids)
        return min(max_width / plan.width, max_height / plan.height) >= min_scale

    parts = []
    queue = deque([case.root])
    queued = {case.root}
    while queue and len(parts) < budget:
        root = queue.popleft()
        # the deepest cut that fits, found from the top down: small layouts first, and a
        # large subtree is laid out once, when it is tried one level deeper than what fitted
        deepest, depth = _depth(case, root), 1
        ids = subtree(case, root, depth)
        fitted = fits(root, ids)
        while fitted and depth < deepest:
            trial = subtree(case, root, depth + 1)
            if not fits(root, trial):
                break
            ids, depth = trial, depth + 1
        if not fitted:  # one level is still too much: the children in groups
            children = case.supporters(root)
            groups = []
            while children:
                low, high = 1, len(children)
                while low < high:
                    middle = (low + high + 1) // 2
                    trial = subtree(case, root, 0) + children[:middle]
                    low, high = (middle, high) if fits(root, trial) else (low, middle - 1)
                groups.append(children[:low])
                children = children[low:]
            for number, group in enumerate(groups[:-1], start=1):
                title = f"{_title(case, root)} (part {number} of {len(groups)})"
                parts.append((title, root, subtree(case, root, 0) + group))
                _queue_cut(case, group, queue, queued, set(group))
            ids = subtree(case, root, 0) + groups[-1]
            if len(groups) > 1:
                title = f"{_title(case, root)} (part {len(groups)} of {len(groups)})"
                parts.append((title, root, ids))
                _queue_cut(case, groups[-1], queue, queued, set(ids))
                continue
        parts.append((_title(case, root), root, ids))
        _queue_cut(case, ids, queue, queued, set(ids))
    return parts


def _queue_cut(case: SafetyCase, ids, queue, queued, shown) -> None:
    """Queue the nodes of ``ids`` that have supporters not drawn in their part."""
    for node_id in ids:
        if node_id not in queued and any(c not in shown for c in case.supporters(node_id)):
            queued.add(node_id)
            queue.append(node_id)


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
