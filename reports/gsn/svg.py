"""The safety case as SVG, written through ElementTree so that every text is escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from reports.gsn.geometry import (
    FONT_SIZE,
    LEGEND_HEIGHT,
    LINE,
    MARGIN,
    Layout,
    _diamond,
    _edge_geometry,
    _shape_points,
    _text_top,
    clean,
    layout,
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

DASH = " ".join(str(n) for n in STALE_DASH)

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
        if node.status == STALE:  # dashed as well as orange: stale reads without colour too
            style.update({"stroke-width": "1.8", "stroke-dasharray": DASH})
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
            {
                "x": _f(x),
                "y": _f(y),
                "width": "10",
                "height": "10",
                "fill": fill,
                "stroke": stroke,
                **({"stroke-dasharray": DASH} if status == STALE else {}),
            },
        )
        ET.SubElement(legend, "text", {"x": _f(x + 14), "y": _f(y + 8)}).text = status
        x += 80
    if plan.shown < plan.total:
        note = f"{plan.shown} of {plan.total} nodes shown"
        ET.SubElement(legend, "text", {"x": _f(x), "y": _f(y + 8)}).text = note
