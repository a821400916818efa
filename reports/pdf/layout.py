"""Page geometry, fonts, colours and paragraph styles, and the text and table primitives."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.platypus import Paragraph, Table, TableStyle

from reports.gsn.fonts import BOLD, FONT, register_fonts
from reports.gsn.geometry import clean

CHUNK = 400
CELL = 6.5  # table font size
MARGIN = 16 * mm
PORTRAIT = A4
LANDSCAPE = landscape(A4)
GREY = colors.HexColor("#f2f2f2")
HEADER_FILL = colors.HexColor("#dfe6ea")
VERDICT_COLOURS = {
    "pass": colors.HexColor("#2e7d32"),
    "fail": colors.HexColor("#c62828"),
    "inconclusive": colors.HexColor("#9e9e9e"),
}


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=8.5, leading=11)
    return {
        "title": ParagraphStyle(
            "title", parent=base["Title"], fontName=BOLD, fontSize=24, leading=30, alignment=0
        ),
        "h1": ParagraphStyle(
            "h1",
            parent=base["Heading1"],
            fontName=BOLD,
            fontSize=15,
            leading=19,
            spaceBefore=4,
            spaceAfter=8,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base["Heading2"],
            fontName=BOLD,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        ),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5),
    }


def _clean(text) -> str:
    return clean("" if text is None else text)


def _p(text, style) -> Paragraph:
    return Paragraph(escape(_clean(text)), style)


def _wrap(text, width: float, lines: int = 6, size: float = CELL) -> str:
    """Plain text wrapped to ``width`` points in table cells (at most ``lines`` lines)."""
    parts = simpleSplit(_clean(text), FONT, size, max(width - 6, 10))
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: max(len(parts[-1]) - 3, 0)] + "..."
    return "\n".join(parts)


def _cut(text, chars: int) -> str:
    text = _clean(text)
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _tables(header, rows: Iterable, widths, *, row_height: float | None = None, extra=()):
    """Tables of at most CHUNK rows that repeat ``header`` on every page they span."""
    style = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, CELL),
            ("FONT", (0, 0), (-1, 0), BOLD, CELL),
            ("LEADING", (0, 0), (-1, -1), CELL + 1.5),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, GREY]),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#90a4ae")),
            *extra,
        ]
    )
    out, chunk = [], []

    def flush():
        data = [list(header), *chunk]
        heights = [row_height] * len(data) if row_height else None
        out.append(Table(data, colWidths=widths, rowHeights=heights, repeatRows=1, style=style))

    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            flush()
            chunk = []
    if chunk or not out:
        if not chunk:
            chunk = [["none"] + [""] * (len(header) - 1)]
        flush()
    return out


def _key_values(pairs, widths=(130, None), style=None):
    rows = [[k, v] for k, v in pairs]
    table = Table(rows, colWidths=list(widths))
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8),
                ("FONT", (0, 0), (0, -1), BOLD, 8),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 0), (-1, -1), [colors.white, GREY]),
                *(style or ()),
            ]
        )
    )
    return table


def _fingerprint(text: str) -> str:
    """A fingerprint in groups of eight hex digits, easier to compare by eye."""
    if not text:
        return "not registered"
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))
