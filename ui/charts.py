"""Small charts drawn on the server as inline SVG: no JavaScript, no chart library.

Every function returns markup that is safe to put in a template: numbers are formatted here and
every piece of text goes through ``format_html``, so a label taken from the database cannot
inject markup. The charts carry a ``<title>`` and ``role="img"`` so that screen readers name
them, and each has a table or text beside it on the page that says the same in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tone: str = "neutral"
    title: str = ""


def _num(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _quantile(ordered: Sequence[float], q: float) -> float:
    at = (len(ordered) - 1) * q
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def robust_range(values: Sequence[float], k: float = 3.0) -> tuple[float, float] | None:
    """The range of ``values`` without their far outliers (beyond Tukey's fences, ``k`` times
    the interquartile range outside the quartiles), or None when no value lies that far out.

    A plot drawn over it keeps its resolution when one case is far off (a minimum TTC of
    5,481 s among values of 0.5 to 5 s); the outliers are drawn at its edge and counted.
    """
    ordered = sorted(values)
    if len(ordered) < 4:
        return None
    q1, q3 = _quantile(ordered, 0.25), _quantile(ordered, 0.75)
    spread = q3 - q1
    if spread <= 0:
        return None
    low_fence, high_fence = q1 - k * spread, q3 + k * spread
    inside = [v for v in ordered if low_fence <= v <= high_fence]
    if len(inside) == len(ordered):
        return None
    return inside[0], inside[-1]


def _tick_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.1e}"


def _frame(x_ticks, y_ticks, sx, sy, left, top, plot_w, plot_h, x_label, y_label) -> str:
    parts = [
        format_html(
            '<rect class="frame" x="{}" y="{}" width="{}" height="{}"></rect>',
            left,
            top,
            plot_w,
            plot_h,
        )
    ]
    for t in x_ticks:
        parts.append(
            format_html(
                '<line class="grid" x1="{x}" y1="{t}" x2="{x}" y2="{b}"></line>'
                '<text class="tick" x="{x}" y="{ty}" text-anchor="middle">{v}</text>',
                x=_num(sx(t)),
                t=top,
                b=top + plot_h,
                ty=top + plot_h + 16,
                v=_tick_text(t),
            )
        )
    for t in y_ticks:
        parts.append(
            format_html(
                '<line class="grid" x1="{l}" y1="{y}" x2="{r}" y2="{y}"></line>'
                '<text class="tick" x="{tx}" y="{ty}" text-anchor="end">{v}</text>',
                y=_num(sy(t)),
                l=left,
                r=left + plot_w,
                tx=left - 6,
                ty=_num(sy(t) + 4),
                v=_tick_text(t),
            )
        )
    parts.append(
        format_html(
            '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text class="axis" transform="translate(14 {}) rotate(-90)" '
            'text-anchor="middle">{}</text>',
            left + plot_w // 2,
            top + plot_h + 34,
            x_label,
            top + plot_h // 2,
            y_label,
        )
    )
    return "".join(parts)


def scatter(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    threshold: float | None = None,
    width: int = 560,
    height: int = 340,
    robust: bool = True,
) -> SafeString:
    """A scatter plot of cases; ``threshold`` draws the criterion's limit as a dashed line.

    With ``robust`` the y axis spans :func:`robust_range`: a point beyond it is drawn at the
    axis' edge as an open circle (class ``outlier``, its real value in its title) and the plot
    says how many there are.
    """
    left, top, right, bottom = 58, 12, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p.x for p in points] or [0.0, 1.0]
    clip = robust_range([p.y for p in points]) if robust else None
    ys = list(clip) if clip else [p.y for p in points]
    ys = ys + ([threshold] if threshold is not None else []) or [0.0, 1.0]
    x_ticks = nice_ticks(min(xs), max(xs))
    y_ticks = nice_ticks(min(ys), max(ys))
    x0, x1 = x_ticks[0], x_ticks[-1] if x_ticks[-1] > x_ticks[0] else x_ticks[0] + 1
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y0) / (y1 - y0) * plot_h

    frame = _frame(x_ticks, y_ticks, sx, sy, left, top, plot_w, plot_h, x_label, y_label)
    beyond = [p for p in points if not y0 <= p.y <= y1]
    dots = format_html_join(
        "",
        '<circle class="dot {}" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>',
        (
            (
                p.tone if y0 <= p.y <= y1 else f"{p.tone} outlier",
                _num(sx(p.x)),
                _num(sy(min(max(p.y, y0), y1))),
                p.title,
            )
            for p in points
        ),
    )
    if beyond:
        dots += format_html(
            '<text class="note" x="{}" y="{}" text-anchor="end">{} beyond the axis, '
            "drawn at its edge (open circles)</text>",
            left + plot_w - 4,
            top + 12,
            len(beyond),
        )
    limit = ""
    if threshold is not None:
        limit = format_html(
            '<line class="limit" x1="{}" y1="{y}" x2="{}" y2="{y}"></line>'
            '<text class="limit-label" x="{}" y="{ty}" text-anchor="end">limit {}</text>',
            left,
            left + plot_w,
            left + plot_w - 4,
            _tick_text(threshold),
            y=_num(sy(threshold)),
            ty=_num(sy(threshold) - 5),
        )
    return format_html(
        '<svg class="chart scatter" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{title}</title>{frame}{dots}{limit}</svg>',
        w=width,
        h=height,
        title=title,
        frame=mark_safe(frame),  # noqa: S308 (built with format_html above)
        dots=dots,
        limit=limit,
    )


def histogram(
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    bins: int = 12,
    threshold: float | None = None,
    width: int = 560,
    height: int = 260,
    robust: bool = True,
) -> SafeString:
    """Vertical bars counting the cases per range of a KPI; with ``robust`` the bars span
    :func:`robust_range` and the plot says how many cases lie beyond it."""
    left, top, right, bottom = 58, 12, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    clip = robust_range(values) if robust else None
    beyond = 0
    if clip:
        kept = [v for v in values if clip[0] <= v <= clip[1]]
        beyond, values = len(values) - len(kept), kept
    low = min(values) if values else 0.0
    high = max(values) if values else 1.0
    if high <= low:
        high = low + 1.0
    step = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / step), bins - 1)] += 1
    y_ticks = nice_ticks(0, max(counts) or 1)
    y1 = y_ticks[-1] or 1

    def sx(v: float) -> float:
        return left + (v - low) / (high - low) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - v / y1 * plot_h

    x_ticks = [t for t in nice_ticks(low, high) if low <= t <= high]
    frame = _frame(x_ticks, y_ticks, sx, sy, left, top, plot_w, plot_h, x_label, "cases")
    bars = format_html_join(
        "",
        '<rect class="column" x="{}" y="{}" width="{}" height="{}"><title>{} to {}: {} cases'
        "</title></rect>",
        (
            (
                _num(sx(low + i * step) + 1),
                _num(sy(n)),
                _num(max(plot_w / bins - 2, 1)),
                _num(plot_h - (sy(n) - top)),
                _tick_text(low + i * step),
                _tick_text(low + (i + 1) * step),
                n,
            )
            for i, n in enumerate(counts)
        ),
    )
    limit = ""
    if threshold is not None and low <= threshold <= high:
        limit = format_html(
            '<line class="limit" x1="{x}" y1="{}" x2="{x}" y2="{}"></line>',
            top,
            top + plot_h,
            x=_num(sx(threshold)),
        )
    if beyond:
        limit += format_html(
            '<text class="note" x="{}" y="{}" text-anchor="end">{} beyond the axis, not drawn'
            "</text>",
            left + plot_w - 4,
            top + 12,
            beyond,
        )
    return format_html(
        '<svg class="chart histogram" role="img" viewBox="0 0 {w} {h}" width="{w}" '
        'height="{h}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
        "{frame}{bars}{limit}</svg>",
        w=width,
        h=height,
        title=title,
        frame=mark_safe(frame),  # noqa: S308 (built with format_html above)
        bars=bars,
        limit=limit,
    )


def heatmap(grid: dict, *, title: str, cell: int = 44) -> SafeString:
    """Hits per cell of two parameters (a grid of :func:`validation.coverage.grid`): a hole
    (no case) is drawn hatched red, a cell below the goal amber, a cell at the goal green, its
    shade by its count; every cell shows its count and names its bins in its title."""
    xs, ys, counts = grid["x"]["bins"], grid["y"]["bins"], grid["counts"]
    goal = grid["goal"]
    top_count = max((max(row) for row in counts if row), default=0) or 1
    left, top, bottom = 96, 12, 56
    width, height = left + cell * len(xs) + 12, top + cell * len(ys) + bottom
    cells = []
    for j, row in enumerate(counts):
        y = top + cell * (len(ys) - 1 - j)  # the first y bin at the bottom
        for i, n in enumerate(row):
            tone = "hole" if n == 0 else ("low" if n < goal else "met")
            shade = 0.25 + 0.75 * n / top_count if n else 1.0
            cells.append(
                format_html(
                    '<g class="cell {}"><rect x="{}" y="{}" width="{}" height="{}" '
                    'fill-opacity="{}"><title>{}: {}; {}: {}; {} case(s)</title></rect>'
                    '<text class="count" x="{}" y="{}" text-anchor="middle">{}</text></g>',
                    tone,
                    left + cell * i,
                    y,
                    cell - 2,
                    cell - 2,
                    f"{shade:.2f}",
                    grid["x"]["parameter"],
                    xs[i],
                    grid["y"]["parameter"],
                    ys[j],
                    n,
                    left + cell * i + cell / 2 - 1,
                    y + cell / 2 + 4,
                    n,
                )
            )
    x_labels = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (left + cell * i + cell / 2 - 1, top + cell * len(ys) + 14, label)
            for i, label in enumerate(xs)
        ),
    )
    y_labels = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (left - 6, top + cell * (len(ys) - 1 - j) + cell / 2 + 4, label)
            for j, label in enumerate(ys)
        ),
    )
    return format_html(
        '<svg class="chart heatmap" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{title}</title>{cells}{xl}{yl}'
        '<text class="axis" x="{xa}" y="{ya}" text-anchor="middle">{xn}</text>'
        '<text class="axis" x="12" y="{yy}" text-anchor="start">{yn}</text></svg>',
        w=width,
        h=height,
        title=title,
        cells=mark_safe("".join(cells)),  # noqa: S308 (each built with format_html)
        xl=x_labels,
        yl=y_labels,
        xa=left + cell * len(xs) / 2,
        ya=height - 14,
        xn=grid["x"]["parameter"],
        yy=top + 2,
        yn=grid["y"]["parameter"],
    )
