"""Page geometry, fonts, colours and paragraph styles, and the text and table primitives."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from reports.gsn.fonts import BOLD, FONT, register_fonts
from reports.gsn.geometry import clean

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
    text = _clean(text)
    room = max(width - 6, 10)
    if "\n" not in text and pdfmetrics.stringWidth(text, FONT, size) <= room:
        return text  # fits on one line: no need to split it into words
    parts = simpleSplit(text, FONT, size, room)
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: max(len(parts[-1]) - 3, 0)] + "..."
    return "\n".join(parts)


def _cut(text, chars: int) -> str:
    text = _clean(text)
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _tables(header, rows: Iterable, widths, *, row_height: float | None = None, extra=()):
    """A table of plain-text cells that repeats ``header`` on every page it spans, as one
    :class:`_Rows` flowable (``extra``: ``("TEXTCOLOR", (col, row), (col, row), colour)``
    commands, rows counted from the header at 0)."""
    colours = {
        (start[1], start[0]): colour
        for command, start, _end, colour in extra
        if command == "TEXTCOLOR" and start == _end
    }
    data = [[_cell(value) for value in row] for row in rows]
    if not data:
        data = [["none"] + [""] * (len(header) - 1)]
    return [_Rows([_cell(h) for h in header], data, list(widths), row_height, colours)]


def _cell(value) -> str:
    return "" if value is None else str(value)


class _Rows(Flowable):
    """A long table drawn straight onto the page: header row, zebra rows, top-aligned lines of
    plain text (a cell's lines are split at "\\n"), as platypus ``Table`` drew them with the
    style of the evidence pack, but without a cell object per cell. It splits between rows and
    repeats the header on every part. Text goes out as PDF text operators through the
    TrueType subsets of the embedded fonts, one text object per part."""

    LEADING = CELL + 1.5
    PAD_Y = 1.5
    PAD_X = 3.0

    def __init__(self, header, rows, widths, row_height=None, colours=None, part=None):
        super().__init__()
        self.header = header
        self.widths = widths
        self.row_height = row_height
        self.colours = colours or {}
        self.header_height = self._height(header)
        if part is None:  # the whole table; its parts share the rows and their heights
            heights = [self._height(r) for r in rows]
            tops = [0.0]  # tops[i]: the height of rows 0 .. i-1
            for height in heights:
                tops.append(tops[-1] + height)
            part = (rows, heights, tops, 0, len(rows))
        self.rows, self.heights, self.tops, self.start, self.stop = part

    def _height(self, row) -> float:
        if self.row_height:
            return self.row_height
        lines = max((cell.count("\n") + 1 for cell in row), default=1)
        return lines * self.LEADING + 2 * self.PAD_Y

    def _body(self) -> float:
        return self.tops[self.stop] - self.tops[self.start]

    def wrap(self, available_width, available_height):
        self.width = sum(self.widths)
        self.height = self.header_height + self._body()
        return self.width, self.height

    def split(self, available_width, available_height):
        room = available_height - self.header_height
        # the last row whose bottom is within the room (the tops grow with the row index)
        limit = self.tops[self.start] + room
        stop = bisect.bisect_right(self.tops, limit, self.start, self.stop + 1) - 1
        if stop <= self.start:
            return []
        if stop >= self.stop:
            return [self]
        return [self._part(self.start, stop), self._part(stop, self.stop)]

    def _part(self, start: int, stop: int) -> _Rows:
        return _Rows(
            self.header,
            None,
            self.widths,
            self.row_height,
            self.colours,
            (self.rows, self.heights, self.tops, start, stop),
        )

    def draw(self):
        canvas = self.canv
        width = sum(self.widths)
        top = self.header_height + self._body()
        # backgrounds: the header, then every second row (the first row of the table is white)
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#90a4ae"))
        canvas.setFillColor(HEADER_FILL)
        canvas.rect(0, top - self.header_height, width, self.header_height, stroke=0, fill=1)
        canvas.setFillColor(GREY)
        y = top - self.header_height
        for index in range(self.start, self.stop):
            height = self.heights[index]
            if index % 2:  # rows count from 1 after the header: every even one is grey
                canvas.rect(0, y - height, width, height, stroke=0, fill=1)
            y -= height
        canvas.setLineWidth(0.5)
        canvas.line(0, top - self.header_height, width, top - self.header_height)
        canvas.restoreState()
        # text
        writer = _TextWriter(canvas, self.widths)
        writer.row(self.header, top, BOLD)
        y = top - self.header_height
        colours = self.colours
        for index in range(self.start, self.stop):
            writer.row(self.rows[index], y, FONT, colours, index + 1)
            y -= self.heights[index]
        writer.close()


class _TextWriter:
    """PDF text operators for table cells, in one BT ... ET block."""

    def __init__(self, canvas, widths):
        self.canvas = canvas
        self.doc = canvas._doc
        self.code = ["BT", "0 g"]
        self.font = None  # (name, subset) in use
        self.fonts = {name: pdfmetrics.getFont(name) for name in (FONT, BOLD)}
        # per font, for the whole document: the characters coded in the first subset so far,
        # and their codes (kept on the canvas, which lives as long as the document)
        self.codes = canvas.__dict__.setdefault("_subset_codes", {})
        lefts = [_Rows.PAD_X]
        for width in widths[:-1]:
            lefts.append(lefts[-1] + width)
        self.lefts = [f"1 0 0 1 {fp_str(x)}" for x in lefts]

    def row(self, cells, top, font_name, colours=None, index=0):
        baseline = top - _Rows.PAD_Y - CELL
        ys: dict[int, str] = {}
        code = self.code
        for column, (cell, left) in enumerate(zip(cells, self.lefts, strict=False)):
            if not cell:
                continue
            colour = colours.get((index, column)) if colours else None
            if colour is not None:
                code.append(f"{fp_str(colour.red, colour.green, colour.blue)} rg")
            for number, line in enumerate(cell.split("\n")):
                if line:
                    y = ys.get(number)
                    if y is None:
                        y = ys[number] = fp_str(baseline - number * _Rows.LEADING)
                    code.append(f"{left} {y} Tm")
                    self.text(line, font_name)
            if colour is not None:
                code.append("0 g")

    def text(self, line: str, font_name: str) -> None:
        font = self.fonts[font_name]
        code = self.code
        escape = self.canvas._escape
        for subset, chunk in self.encode(font, line):
            if self.font != (font_name, subset):
                name = font.getSubsetInternalName(subset, self.doc)
                code.append(f"{name} {fp_str(CELL)} Tf")
                self.font = (font_name, subset)
            code.append(f"({escape(chunk)}) Tj")

    def encode(self, font, line: str):
        """``font.splitString(line)``: the (subset, bytes) chunks of ``line``. A line whose
        characters all have a code in the first subset already (almost every line after the
        first pages) is encoded with ``str.translate`` instead of character by character."""
        known, table = self.codes.setdefault(font.fontName, (set(), {}))
        if known.issuperset(line):
            return ((0, line.translate(table).encode("latin-1")),)
        chunks = font.splitString(line, self.doc)
        for code, n in font.state[self.doc].assignments.items():
            if n < 256 and code not in table and code != 0xA0:
                table[code] = n
                known.add(chr(code))
        return chunks

    def close(self) -> None:
        self.code.append("ET")
        self.canvas._code.append("\n".join(self.code))


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
