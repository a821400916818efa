"""The charts of the verification and validation section."""

from __future__ import annotations

import math
from collections import Counter

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Line, Rect, String
from reportlab.lib import colors

from compliance import units
from reports.gsn.fonts import drawing_of
from reports.pdf.layout import FONT, VERDICT_COLOURS

_STATE_COLOURS = [
    ("pass", colors.HexColor("#2e7d32")),
    ("fail", colors.HexColor("#c62828")),
    ("inconclusive", colors.HexColor("#9e9e9e")),
    ("stale", colors.HexColor("#ef6c00")),
    ("none", colors.HexColor("#cfd8dc")),
]


def _verification_chart(outcome: Counter, width: float):
    kinds = sorted({kind for kind, _ in outcome}) or ["-"]
    height = 40 + 18 * len(kinds)
    drawing = drawing_of(width, height + 20)
    chart = HorizontalBarChart()
    chart.x, chart.y = 50, 24
    chart.width, chart.height = width - 160, height - 20
    chart.data = [[outcome[(k, state)] for k in kinds] for state, _ in _STATE_COLOURS]
    chart.categoryAxis.categoryNames = kinds
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    top = max(sum(outcome[(k, s)] for s, _ in _STATE_COLOURS) for k in kinds)
    chart.valueAxis.valueMax = max(top, 1)
    chart.valueAxis.valueStep = max(1, math.ceil(max(top, 1) / 8))
    for number, (_, colour) in enumerate(_STATE_COLOURS):
        chart.bars[number].fillColor = colour
        chart.bars[number].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 100, height
    legend.fontName, legend.fontSize = FONT, 7
    legend.colorNamePairs = [(c, label) for label, c in _STATE_COLOURS]
    drawing.add(legend)
    drawing.add(
        String(0, 4, "latest verification of each requirement (count)", fontName=FONT, fontSize=7)
    )
    return drawing


def _progress_chart(run, width: float):
    """Progress towards each criterion's validation target on a log scale (one tick per factor
    of ten, from 1e-10 of the target to the target), so 0.026 km of 3 million km shows."""
    verdicts = list(run.verdicts)
    height = 30 + 16 * max(len(verdicts), 1)
    drawing = drawing_of(width, height + 16)
    left, right = 40, width - 46
    decades = units.LOG_DECADES
    for step in range(decades + 1):
        x = left + (right - left) * step / decades
        drawing.add(Line(x, 14, x, height, strokeColor=colors.HexColor("#cfd8dc"), strokeWidth=0.4))
        label = "target" if step == decades else f"1e-{decades - step}"
        if step % 2 == 0 or step == decades:
            drawing.add(String(x, 4, label, fontName=FONT, fontSize=6, textAnchor="middle"))
    for number, v in enumerate(verdicts):
        y = height - 16 * (number + 1)
        position = units.log_position(v.progress, 1.0)
        drawing.add(String(0, y + 3, v.criterion, fontName=FONT, fontSize=7))
        drawing.add(
            Rect(
                left,
                y,
                max((right - left) * position, 0.5),
                9,
                fillColor=colors.HexColor("#1565c0"),
                strokeColor=None,
            )
        )
        drawing.add(
            String(
                left + (right - left) * position + 3,
                y + 2,
                units.percent(v.progress),
                fontName=FONT,
                fontSize=6,
            )
        )
    drawing.add(
        String(
            0,
            height + 6,
            "share of the validation target reached, log scale (one tick per factor of 10)",
            fontName=FONT,
            fontSize=7,
        )
    )
    return drawing


def _bound_chart(run, width: float):
    """Upper confidence bound (bar) against the allowed value (tick), on a log scale."""
    verdicts = list(run.verdicts)
    height = 30 + 16 * max(len(verdicts), 1)
    drawing = drawing_of(width, height + 16)
    left, right = 40, width - 10
    values = [v.upper_bound for v in verdicts] + [v.allowed for v in verdicts if v.allowed]
    positive = [x for x in values if x and x > 0]
    low = math.floor(math.log10(min(positive))) if positive else -6
    high = max(0, math.ceil(math.log10(max(positive)))) if positive else 0
    if high <= low:
        high = low + 1

    def x_of(value):
        if not value or value <= 0:
            return left
        fraction = (math.log10(value) - low) / (high - low)
        return left + max(0.0, min(1.0, fraction)) * (right - left)

    for exponent in range(low, high + 1):
        x = x_of(10.0**exponent)
        drawing.add(Line(x, 14, x, height, strokeColor=colors.HexColor("#cfd8dc"), strokeWidth=0.4))
        drawing.add(String(x, 4, f"1e{exponent}", fontName=FONT, fontSize=6, textAnchor="middle"))
    for number, v in enumerate(verdicts):
        y = height - 16 * (number + 1)
        per = units.PER.get(v.unit, v.unit)
        drawing.add(String(0, y + 3, f"{v.criterion} /{per}", fontName=FONT, fontSize=6))
        drawing.add(
            Rect(
                left,
                y,
                max(x_of(v.upper_bound) - left, 0.5),
                9,
                fillColor=VERDICT_COLOURS.get(v.verdict, colors.grey),
                strokeColor=None,
            )
        )
        if v.allowed:
            x = x_of(v.allowed)
            drawing.add(Line(x, y - 2, x, y + 11, strokeColor=colors.black, strokeWidth=1.2))
    drawing.add(
        String(
            0,
            height + 6,
            "upper confidence bound (bar) vs allowed (tick), per unit of exposure, log scale",
            fontName=FONT,
            fontSize=7,
        )
    )
    return drawing
