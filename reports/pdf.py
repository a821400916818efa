"""The PDF evidence pack of a baseline, drawn with reportlab (no system packages).

Reproducible by construction: the same snapshot gives the same bytes. reportlab runs in its
invariant mode, the creation and modification dates are the checkpoint's time (never the
clock), the document ID is derived from the baseline and checkpoint roots, and every list is
in a fixed order. Large projects stay fast: tables hold plain strings (wrapped once with
``simpleSplit``, no Paragraph per cell), are cut into chunks of :data:`CHUNK` rows that repeat
their header, and the contents page gets its page numbers from PDF forms filled in as the
sections are laid out, so the document is built in one pass.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfdoc import DummyDoc, PDFText
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports import gsn
from reports.selectors import CaseSnapshot, signing_key_identity

CHUNK = 400
FONT, BOLD = "Helvetica", "Helvetica-Bold"
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

SECTIONS = [
    ("summary", "Summary and release readiness"),
    ("item", "Item definition and operational design domain"),
    ("hara", "Hazard analysis and risk assessment"),
    ("goals", "Safety goals"),
    ("requirements", "Safety requirements and ASIL decompositions"),
    ("trace", "Traceability matrix"),
    ("vv", "Verification and validation results"),
    ("sotif", "SOTIF: triggering conditions and acceptance criteria"),
    ("confirmation", "Confirmation measures and approvals"),
    ("decisions", "Decision records"),
    ("register", "Evidence register"),
    ("gsn", "GSN safety case"),
    ("verify", "How to verify this package"),
]

_lock = threading.Lock()


@dataclass(frozen=True)
class PdfResult:
    data: bytes
    cited: list[int]  # ledger indexes the document cites as evidence
    pages: int


def _styles() -> dict[str, ParagraphStyle]:
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
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=7.5, leading=9.5),
    }


def _clean(text) -> str:
    return gsn.clean("" if text is None else text)


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


# --------------------------------------------------------------------------------------------
# Document template: fixed dates and ID, contents with page numbers in one pass
# --------------------------------------------------------------------------------------------


def _fixed_canvas(stamp: str, doc_id: bytes):
    class FixedCanvas(Canvas):
        """A canvas whose dates and document ID come from the evidence, not the clock."""

        def __init__(self, *args, **kwargs):
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)
            ids = PDFText(doc_id, enc="raw").format(DummyDoc())
            self._doc._ID = b"\n[" + ids + ids + b"]\n% Safecase evidence pack\n"
            self._pages_shown = 0

        def showPage(self):
            self._pages_shown += 1
            super().showPage()

        def save(self):
            self.beginForm("page-count")
            self.setFont(FONT, 7)
            self.drawString(0, 0, str(self._pages_shown))
            self.endForm()
            super().save()

    return FixedCanvas


class _Contents(Flowable):
    """One line of the contents: a link to the section and its page number (a form that the
    document fills in when the section is laid out)."""

    def __init__(self, key: str, text: str):
        super().__init__()
        self.key, self.text = key, text

    def wrap(self, available_width, available_height):
        self.width = available_width
        return available_width, 16

    def draw(self):
        canvas = self.canv
        canvas.setFont(FONT, 10)
        canvas.drawString(0, 4, self.text)
        canvas.linkRect("", self.key, (0, 0, self.width, 14), relative=1, thickness=0)
        canvas.saveState()
        canvas.translate(self.width, 4)
        canvas.doForm(f"toc-{self.key}")
        canvas.restoreState()


class _Document(BaseDocTemplate):
    def __init__(self, buffer, snapshot: CaseSnapshot, *, compress: bool):
        self.snapshot = snapshot
        title = f"Evidence pack {snapshot.project_key} {snapshot.baseline_name}"
        super().__init__(
            buffer,
            pagesize=PORTRAIT,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN + 4 * mm,
            bottomMargin=MARGIN,
            title=title,
            author="Safecase",
            subject=f"Safety case of {snapshot.project_name}",
            creator="Safecase",
            keywords=f"{snapshot.baseline_root} {snapshot.checkpoint_root.hex()}",
            invariant=1,
            pageCompression=1 if compress else 0,
        )
        self.addPageTemplates(
            [
                self._template("cover", PORTRAIT, decorate=False),
                self._template("portrait", PORTRAIT),
                self._template("landscape", LANDSCAPE),
            ]
        )

    def _template(self, name, size, decorate=True):
        width, height = size
        frame = Frame(
            self.leftMargin,
            self.bottomMargin,
            width - self.leftMargin - self.rightMargin,
            height - self.topMargin - self.bottomMargin,
            id=f"{name}-frame",
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
        )
        if decorate:
            return PageTemplate(
                id=name,
                frames=[frame],
                pagesize=size,
                onPage=lambda canvas, doc: self._decorate(canvas, size),
            )
        return PageTemplate(id=name, frames=[frame], pagesize=size)

    def _decorate(self, canvas, size):
        """Header (project, baseline) and footer (checkpoint, page N of M) of a page."""
        s = self.snapshot
        width, height = size
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#546e7a"))
        canvas.drawString(
            self.leftMargin,
            height - MARGIN + 2,
            _cut(
                f"{s.project_name} ({s.project_key}) - evidence pack, baseline {s.baseline_name}",
                110,
            ),
        )
        canvas.drawString(
            self.leftMargin,
            MARGIN - 12,
            f"ledger checkpoint {s.size} entries, root {s.checkpoint_root.hex()}",
        )
        label = f"page {canvas.getPageNumber()} of "
        right = width - self.rightMargin
        canvas.drawRightString(right - 12, MARGIN - 12, label)
        canvas.translate(right - 10, MARGIN - 12)
        canvas.doForm("page-count")
        canvas.restoreState()

    def afterFlowable(self, flowable):
        key = getattr(flowable, "_section", None)
        if not key:
            return
        canvas = self.canv
        canvas.bookmarkPage(key)
        canvas.addOutlineEntry(flowable.getPlainText(), key, 0)
        canvas.beginForm(f"toc-{key}")
        canvas.setFont(FONT, 10)
        canvas.drawRightString(0, 0, str(canvas.getPageNumber()))
        canvas.endForm()


@contextmanager
def _invariant():
    """reportlab's global switches for one build: invariant output, and binary (not ASCII85)
    compressed streams, a quarter smaller and faster to write."""
    with _lock:
        previous = rl_config.invariant, rl_config.useA85
        rl_config.invariant, rl_config.useA85 = 1, 0
        try:
            yield
        finally:
            rl_config.invariant, rl_config.useA85 = previous


def render(
    snapshot: CaseSnapshot,
    case: gsn.SafetyCase,
    register: Iterable[tuple[int, str, str, str]],
    *,
    compress: bool = True,
) -> PdfResult:
    """The evidence pack of ``snapshot`` (a baseline at a checkpoint) as PDF bytes.

    ``register`` yields ``(index, kind, subject, digest)`` for every ledger entry of the
    checkpoint, in index order. ``compress=False`` leaves the page streams readable (tests).
    """
    if snapshot.baseline_name is None or snapshot.checkpoint_time is None:
        raise ValueError("an evidence pack is made for a baseline at a checkpoint")
    styles = _styles()
    pack = _Pack(snapshot, case, styles, signing_key_identity(snapshot.key_id))
    story = pack.story(register)
    moment = snapshot.checkpoint_time.astimezone(UTC)
    stamp = moment.strftime("D:%Y%m%d%H%M%S+00'00'")
    doc_id = hashlib.sha256(
        f"{snapshot.baseline_root}:{snapshot.checkpoint_root.hex()}".encode()
    ).digest()[:16]
    buffer = io.BytesIO()
    with _invariant():
        document = _Document(buffer, snapshot, compress=compress)
        canvas_class = _fixed_canvas(stamp, doc_id)
        document.build(story, canvasmaker=canvas_class)
    return PdfResult(data=buffer.getvalue(), cited=sorted(pack.cited), pages=document.page)


# --------------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------------


class _Pack:
    def __init__(self, snapshot: CaseSnapshot, case: gsn.SafetyCase, styles, key: tuple[str, str]):
        self.s = snapshot
        self.key_name, self.key_fingerprint = key
        self.case = case
        self.st = styles
        self.cited: set[int] = set()
        self.width = PORTRAIT[0] - 2 * MARGIN
        self.numbers = {key: n for n, (key, _) in enumerate(SECTIONS, start=1)}

    def cite(self, index: int | None) -> str:
        if index is None:
            return ""
        self.cited.add(index)
        return f"#{index}"

    def heading(self, key: str) -> Paragraph:
        title = dict(SECTIONS)[key]
        paragraph = Paragraph(f"{self.numbers[key]}  {escape(title)}", self.st["h1"])
        paragraph._section = key
        return paragraph

    def story(self, register) -> list:
        story = [*self.cover(), NextPageTemplate("portrait"), PageBreak(), *self.contents()]
        for key, builder in (
            ("summary", self.summary),
            ("item", self.item),
            ("hara", self.hara),
            ("goals", self.goals),
            ("requirements", self.requirements),
            ("trace", self.trace),
            ("vv", self.vv),
            ("sotif", self.sotif),
            ("confirmation", self.confirmation),
            ("decisions", self.decisions),
        ):
            story += [PageBreak(), self.heading(key), *builder()]
        story += [PageBreak(), self.heading("register"), *self.register(register)]
        story += [NextPageTemplate("landscape"), PageBreak(), self.heading("gsn"), *self.gsn()]
        story += [NextPageTemplate("portrait"), PageBreak(), self.heading("verify")]
        story += self.how_to_verify()
        return story

    # -- cover and contents --

    def cover(self):
        s = self.s
        self.cite(s.baseline_entry)
        moment = s.checkpoint_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return [
            Spacer(1, 40 * mm),
            Paragraph("Safety case evidence pack", self.st["title"]),
            Spacer(1, 4 * mm),
            _p(f"{s.project_name} ({s.project_key})", self.st["h2"]),
            _p(s.project_description, self.st["body"]),
            Spacer(1, 10 * mm),
            _key_values(
                [
                    ("Project", f"{s.project_key}: {_cut(s.project_name, 80)}"),
                    ("Baseline", f"{s.baseline_name} (ledger entry #{s.baseline_entry})"),
                    ("Baseline root", s.baseline_root),
                    ("Date", f"{moment} (time of the ledger checkpoint)"),
                    ("Ledger", s.origin),
                    ("Checkpoint size", f"{s.size} entries"),
                    ("Checkpoint root", s.checkpoint_root.hex()),
                    ("Signing key", f"{self.key_name}+{s.key_id}" if self.key_name else s.key_id),
                    ("Signing key fingerprint", _fingerprint(self.key_fingerprint)),
                    ("Safety case status", f"top goal {self.case.status}"),
                ],
                widths=(110, self.width - 110),
            ),
            Spacer(1, 10 * mm),
            _p(
                "This document is part of a certification package. Every claim in it cites "
                "entries of the project's tamper-evident evidence ledger (#index). Compare the "
                "signing key fingerprint above with the one the operator publishes, obtained "
                "independently of this package, and check the package with the verifier it "
                "carries: python verify.py PACKAGE.zip --trusted-fingerprint FINGERPRINT "
                f"(section {self.numbers['verify']}).",
                self.st["small"],
            ),
        ]

    def contents(self):
        out = [Paragraph("Contents", self.st["h1"]), Spacer(1, 4)]
        for key, title in SECTIONS:
            out.append(_Contents(key, f"{self.numbers[key]}  {title}"))
        return out

    # -- summary --

    def summary(self):
        gaps = self.s.gaps
        gate = self.case.release_gate()
        ready = gaps.get("release_ready")
        verdict = "READY for release" if ready else "NOT READY for release"
        approvals = gaps.get("approvals", {})
        counts = self.case.counts()
        out = [
            _p(f"Release readiness (gap analysis): {verdict}.", self.st["h2"]),
            _p(
                f"GSN: the top goal is {self.case.status}; the release gate (no undeveloped "
                "goal, every solution supported) "
                + (
                    "passes."
                    if gate["passed"]
                    else f"fails with {len(gate['undeveloped'])} undeveloped goals or strategies "
                    f"and {len(gate['unsupported_solutions'])} solutions not supported."
                )
                + " Node statuses: "
                + ", ".join(f"{counts[k]} {k}" for k in gsn.STATUSES)
                + ".",
                self.st["body"],
            ),
            _p(
                "The gap analysis describes the project as it stood when the package was made; "
                "the work products in the following sections are those frozen in the baseline.",
                self.st["small"],
            ),
            Spacer(1, 6),
        ]

        def asil(by):
            return ", ".join(f"{k} {v}" for k, v in (by or {}).items() if v) or "-"

        rows = [
            ["Requirements (not headings, not obsolete)", str(gaps.get("requirements", 0)), ""],
            [
                "Without a parent (goal or requirement)",
                str(gaps.get("without_parent", {}).get("count", 0)),
                asil(gaps.get("without_parent", {}).get("by_asil")),
            ],
            [
                "Without passing, current verification",
                str(gaps.get("without_verification", {}).get("count", 0)),
                asil(gaps.get("without_verification", {}).get("by_asil")),
            ],
            ["Stale verifications", str(gaps.get("stale_verifications", 0)), ""],
            ["Suspect trace links", str(gaps.get("suspect_links", 0)), ""],
            [
                "ASIL drops without decomposition",
                str(len(gaps.get("undecomposed_asil_drops", []))),
                "",
            ],
            [
                "Confirmation measures missing",
                str(len(approvals.get("missing", []))),
                f"at ASIL {approvals.get('asil', '-')}",
            ],
            [
                "Confirmation measures below independence",
                str(len(approvals.get("below_required", []))),
                "",
            ],
        ]
        out += _tables(["Gap", "Count", "By ASIL"], rows, [260, 60, self.width - 320])
        out.append(Paragraph("Open gaps", self.st["h2"]))
        lists = [
            ("Requirements without a parent", gaps.get("without_parent", {}).get("codes", [])),
            (
                "Requirements without verification",
                gaps.get("without_verification", {}).get("codes", []),
            ),
            ("ASIL drops without decomposition", gaps.get("undecomposed_asil_drops", [])),
            (
                "Missing confirmation measures",
                [f"{m['measure']} (needs {m['required']})" for m in approvals.get("missing", [])],
            ),
            (
                "Confirmation below the required independence",
                [
                    f"{m['measure']} (needs {m['required']}, has {m['achieved']})"
                    for m in approvals.get("below_required", [])
                ],
            ),
        ]
        for title, items in lists:
            text = ", ".join(str(i) for i in items) if items else "none"
            out.append(_p(f"{title}: {text}", self.st["small"]))
        return out

    # -- item and HARA --

    def item(self):
        item = self.s.content.get("item") or {}
        out = []
        for label, key in (
            ("Function", "function"),
            ("Boundaries and interfaces", "boundaries"),
            ("Operational design domain", "odd"),
            ("Assumptions", "assumptions"),
        ):
            out += [
                Paragraph(label, self.st["h2"]),
                _p(item.get(key) or "not stated", self.st["body"]),
            ]
        return out

    def hara(self):
        s = self.s
        out = [Paragraph("Hazards", self.st["h2"])]
        out += _tables(
            ["Code", "Hazard", "Description"],
            (
                [
                    h["code"],
                    _wrap(h.get("title"), 200),
                    _wrap(h.get("description"), self.width - 260),
                ]
                for h in s.items("hazard")
            ),
            [60, 200, self.width - 260],
        )
        out.append(Paragraph("Operational situations", self.st["h2"]))
        out += _tables(
            ["Code", "Situation"],
            (
                [o["code"], _wrap(o.get("description"), self.width - 60)]
                for o in s.items("situation")
            ),
            [60, self.width - 60],
        )
        out.append(Paragraph("Hazardous events", self.st["h2"]))
        widths = [42, 40, 40, 22, 22, 22, 30, self.width - 218]
        out += _tables(
            ["Code", "Hazard", "Situation", "S", "E", "C", "ASIL", "Rationale (S / E / C)"],
            (
                [
                    e["code"],
                    e.get("hazard", ""),
                    e.get("situation", ""),
                    e.get("severity", ""),
                    e.get("exposure", ""),
                    e.get("controllability", ""),
                    e.get("asil", ""),
                    _wrap(
                        " / ".join(_clean((e.get("rationale") or {}).get(k, "")) for k in "SEC"),
                        widths[-1],
                        lines=5,
                    ),
                ]
                for e in s.items("event")
            ),
            widths,
        )
        return out

    def goals(self):
        widths = [42, 30, self.width - 262, 120, 30, 40]
        return _tables(
            ["Code", "ASIL", "Safety goal", "Safe state", "FTTI", "Events"],
            (
                [
                    g["code"],
                    g.get("asil", ""),
                    _wrap(g.get("text"), widths[2]),
                    _wrap(g.get("safe_state"), widths[3]),
                    f"{g['ftti_ms']} ms" if g.get("ftti_ms") else "-",
                    "\n".join(g.get("events") or []),
                ]
                for g in self.s.items("goal")
            ),
            widths,
        )

    # -- requirements and traceability --

    def requirements(self):
        widths = [58, 34, 34, 44, 20, self.width - 250, 60]
        out = _tables(
            ["Code", "Kind", "ASIL", "Status", "v", "Requirement", "GSN status"],
            (
                [
                    r["code"],
                    r.get("kind", ""),
                    r.get("asil", ""),
                    r.get("status", ""),
                    str(r.get("version", "")),
                    _wrap(r.get("text") or r.get("title"), widths[5], lines=4),
                    self.case.status_of(f"requirement:{r['code']}") or "not in the argument",
                ]
                for r in self.s.items("requirement")
            ),
            widths,
        )
        out.append(Paragraph("ASIL decompositions (ISO 26262-9 clause 5)", self.st["h2"]))
        asil = {r["code"]: r.get("asil", "") for r in self.s.items("requirement")}
        widths = [70, 110, 140, self.width - 360, 40]
        out += _tables(
            ["Parent", "Children", "Independent elements", "Dependent failure analysis", "Entry"],
            (
                [
                    f"{d.parent} ({asil.get(d.parent, '?')})",
                    "\n".join(f"{c} ({asil.get(c, '?')})" for c in d.children),
                    _wrap(d.elements, widths[2]),
                    _wrap(d.dfa, widths[3]),
                    self.cite(d.entry),
                ]
                for d in self.s.decompositions
            ),
            widths,
        )
        return out

    def trace(self):
        up, down = defaultdict(list), defaultdict(list)
        for link in self.s.items("link"):
            mark = "*" if link.get("suspect") else ""
            up[link["source"]].append(f"{link['kind']} {link['target']}{mark}")
            down[link["target"]].append(link["source"])
        latest = {}
        for row in self.s.verifications:
            latest[(row.requirement, row.method)] = row
        evidence = defaultdict(list)
        for (code, method), row in sorted(latest.items()):
            evidence[code].append(
                f"{method}: {row.result} v{row.requirement_version} {self.cite(row.entry)}"
            )
        widths = [58, 150, 110, self.width - 318]
        out = [
            _p(
                "Links upwards (derives-from, satisfies, ...) and downwards, and the latest "
                "verification per method with its ledger entry. * marks a suspect link.",
                self.st["small"],
            )
        ]
        out += _tables(
            ["Requirement", "Traces to", "Traced from", "Verification evidence"],
            (
                [
                    r["code"],
                    _wrap("; ".join(up.get(r["code"], [])) or "-", widths[1], lines=4),
                    _wrap(", ".join(sorted(down.get(r["code"], []))) or "-", widths[2], lines=4),
                    _wrap("; ".join(evidence.get(r["code"], [])) or "none", widths[3], lines=4),
                ]
                for r in self.s.items("requirement")
            ),
            widths,
        )
        return out

    # -- verification and validation --

    def vv(self):
        s = self.s
        versions = {r["code"]: int(r.get("version") or 1) for r in s.items("requirement")}
        kinds = {r["code"]: r.get("kind", "?") for r in s.items("requirement")}
        latest = {}
        for row in s.verifications:
            latest[row.requirement] = row
        outcome = Counter()
        for code, kind in kinds.items():
            row = latest.get(code)
            if row is None:
                state = "none"
            elif row.requirement_version < versions[code]:
                state = "stale"
            else:
                state = row.result
            outcome[(kind, state)] += 1
        out = [
            Paragraph("Verification status by requirement kind", self.st["h2"]),
            _verification_chart(outcome, self.width),
            Paragraph("Verifications", self.st["h2"]),
        ]
        widths = [58, 22, 90, 54, 36, self.width - 300, 40]
        out += _tables(
            ["Requirement", "v", "Method", "Result", "Current", "Summary", "Entry"],
            (
                [
                    row.requirement,
                    str(row.requirement_version),
                    _cut(row.method, 28),
                    row.result,
                    "stale"
                    if row.requirement_version < versions.get(row.requirement, 0)
                    else "yes",
                    _wrap(row.summary, widths[5], lines=3),
                    self.cite(row.entry),
                ]
                for row in s.verifications
            ),
            widths,
        )
        out.append(Paragraph("Validation runs", self.st["h2"]))
        if not s.runs:
            out.append(_p("No validation run is recorded in this ledger.", self.st["body"]))
        for run in s.runs:
            out.append(
                _p(
                    f"Run {run.run} of campaign {run.campaign} ({run.executor}, {run.cases} "
                    f"cases), ledger entry {self.cite(run.entry)}",
                    self.st["body"],
                )
            )
            widths = [44, 54, 58, 62, 62, 62, 70, self.width - 412]
            table = _tables(
                [
                    "Criterion",
                    "Verdict",
                    "Failures",
                    "Upper bound",
                    "Allowed",
                    "Confidence",
                    "Target",
                    "Progress",
                ],
                (
                    [
                        v.criterion,
                        v.verdict,
                        f"{v.failures} / {v.trials}",
                        f"{v.upper_bound:.3g}",
                        "-" if v.allowed is None else f"{v.allowed:.3g}",
                        f"{v.confidence:.0%}",
                        f"{v.target:,.0f} {v.unit}",
                        f"{min(v.progress, 9.99):.0%}",
                    ]
                    for v in run.verdicts
                ),
                widths,
                extra=[
                    (
                        "TEXTCOLOR",
                        (1, i + 1),
                        (1, i + 1),
                        VERDICT_COLOURS.get(v.verdict, colors.black),
                    )
                    for i, v in enumerate(run.verdicts[:CHUNK])
                ],
            )
            charts = [
                _progress_chart(run, self.width / 2 - 6),
                _bound_chart(run, self.width / 2 - 6),
            ]
            out += table
            out.append(KeepTogether([Table([charts], colWidths=[self.width / 2] * 2)]))
        return out

    # -- SOTIF --

    def sotif(self):
        s = self.s
        areas = {
            1: "1 known safe",
            2: "2 known hazardous",
            3: "3 unknown hazardous",
            4: "4 unknown safe",
        }
        out = [Paragraph("Triggering conditions", self.st["h2"])]
        out += _tables(
            ["Code", "Area", "Triggering condition"],
            (
                [
                    t["code"],
                    areas.get(t.get("area"), str(t.get("area"))),
                    _wrap(t.get("description"), self.width - 160),
                ]
                for t in s.items("tc")
            ),
            [60, 100, self.width - 160],
        )
        out.append(Paragraph("Functional insufficiencies and hazardous behaviours", self.st["h2"]))
        rows = [
            [
                f["code"],
                f.get("kind", ""),
                _wrap(f.get("description"), self.width - 220),
                ", ".join(f.get("triggering_conditions") or []),
            ]
            for f in s.items("fi")
        ] + [
            [
                h["code"],
                f"behaviour, goal {h.get('goal') or '-'}",
                _wrap(h.get("description"), self.width - 220),
                ", ".join(h.get("insufficiencies") or []),
            ]
            for h in s.items("hb")
        ]
        out += _tables(
            ["Code", "Kind", "Description", "Linked"], rows, [50, 80, self.width - 220, 90]
        )
        out.append(Paragraph("Acceptance criteria and validation targets", self.st["h2"]))
        links = {c.code: c for c in s.criteria}
        widths = [40, 70, 130, 64, 40, 90, self.width - 434]
        out += _tables(
            ["Code", "Goal / req.", "Criterion", "Allowed", "Conf.", "KPI rule", "Target"],
            (
                [
                    a["code"],
                    f"{getattr(links.get(a['code']), 'goal', None) or '-'}\n"
                    f"{getattr(links.get(a['code']), 'requirement', None) or '-'}",
                    _wrap(a.get("description"), widths[2], lines=4),
                    (
                        f"{a['allowed_failure_probability']:.3g} / case"
                        if a.get("unit") == "cases"
                        and a.get("allowed_failure_probability") is not None
                        else f"{a.get('hazardous_behaviour_rate') or 0:.3g} / {a.get('unit')}"
                    ),
                    f"{a.get('confidence', 0):.0%}",
                    _cut(
                        f"{a.get('kpi') or '-'} {a.get('comparator') or ''} "
                        f"{'' if a.get('threshold') is None else a.get('threshold')}",
                        30,
                    ),
                    _wrap(
                        f"{a.get('validation_target') or 0:,.0f} {a.get('unit', '')}, "
                        f"{a.get('tolerated_failures', 0)} failures tolerated",
                        widths[6],
                        lines=3,
                    ),
                ]
                for a in s.items("ac")
            ),
            widths,
        )
        return out

    # -- confirmation measures and decisions --

    def confirmation(self):
        from compliance import iso26262

        s = self.s
        asil = s.highest_asil
        by_measure = defaultdict(list)
        for a in s.approvals:
            by_measure[a.measure].append(a)
        out = [
            _p(
                f"ISO 26262-2 Table 1 at the highest safety goal ASIL ({asil}): the "
                "independence each confirmation measure requires, and the approvals that "
                "meet it.",
                self.st["small"],
            )
        ]
        rows = []
        for measure in iso26262.ConfirmationMeasure:
            required = iso26262.required_independence(measure.value, asil)
            done = by_measure.get(measure.value, [])
            if done:
                met = any(
                    a.outcome in gsn.CONFIRMED and iso26262.meets_independence(a.achieved, required)
                    for a in done
                )
                state = "met" if met else "NOT met"
                detail = "; ".join(
                    f"{a.reviewer} {a.achieved} {a.outcome.replace('_', ' ')} {self.cite(a.entry)}"
                    for a in done
                )
            else:
                state = "not required" if required == iso26262.NO_REQUIREMENT else "MISSING"
                detail = "-"
            rows.append(
                [_wrap(measure.label, 180), required, state, _wrap(detail, self.width - 290)]
            )
        out += _tables(
            ["Measure", "Required", "State", "Approvals (achieved independence)"],
            rows,
            [180, 50, 60, self.width - 290],
        )
        out.append(Paragraph("Approvals", self.st["h2"]))
        widths = [100, 40, 52, 80, 40, 40, 60, self.width - 452, 40]
        out += _tables(
            [
                "Work product",
                "ASIL",
                "Author",
                "Reviewer (role)",
                "Req.",
                "Achieved",
                "Outcome",
                "Findings",
                "Entry",
            ],
            (
                [
                    _wrap(a.work_product, widths[0]),
                    a.asil,
                    a.author,
                    f"{a.reviewer}\n({a.reviewer_role})",
                    a.required,
                    a.achieved,
                    _wrap(a.outcome.replace("_", " "), widths[6]),
                    _wrap(a.findings or "-", widths[7]),
                    self.cite(a.entry),
                ]
                for a in s.approvals
            ),
            widths,
        )
        return out

    def decisions(self):
        out = []
        if not self.s.decisions:
            out.append(_p("No decision record is in this ledger.", self.st["body"]))
        for d in self.s.decisions:
            out += [
                _p(
                    f"{d.title} (by {d.decided_by}, ledger entry {self.cite(d.entry)})",
                    self.st["h2"],
                ),
                _p(f"Context: {d.context}", self.st["small"]),
                _p("Options considered: " + "; ".join(d.options), self.st["small"]),
                _p(f"Decision: {d.decision}", self.st["small"]),
                _p(f"Consequences: {d.consequences or '-'}", self.st["small"]),
            ]
        out.append(Paragraph("Registered datasets and models", self.st["h2"]))
        widths = [40, 110, 60, 70, self.width - 320, 40]
        out += _tables(
            ["Kind", "Name", "Objects", "Bytes", "SHA-256 / Merkle root", "Entry"],
            (
                [
                    a.kind,
                    _cut(f"{a.name} v{a.version}", 30),
                    f"{a.objects:,}",
                    f"{a.total_bytes:,}",
                    f"{a.sha256[:32]}\n{a.sha256[32:]}",
                    self.cite(a.entry),
                ]
                for a in self.s.artifacts
            ),
            widths,
        )
        return out

    # -- register, GSN and verification instructions --

    def register(self, rows):
        out = [
            _p(
                f"Every entry of the ledger at the checkpoint ({self.s.size} entries), in index "
                "order. The digest is the SHA-256 of the entry's first subject; the package "
                "carries each entry's signed envelope.",
                self.st["small"],
            )
        ]
        widths = [32, 58, 170, self.width - 260]  # a 64-digit digest needs about 235 points
        out += _tables(
            ["Index", "Kind", "Subject", "Digest (SHA-256)"],
            ([str(i), kind, _cut(subject, 46), digest] for i, kind, subject, digest in rows),
            widths,
            row_height=CELL + 3.5,
        )
        return out

    def gsn(self):
        frame_w = LANDSCAPE[0] - 2 * MARGIN
        frame_h = LANDSCAPE[1] - 2 * MARGIN - 4 * mm - 40
        for node in self.case.nodes.values():
            if node.entry is not None:
                self.cite(node.entry)
        out = [
            _p(
                "Goals (rectangles) are claims, strategies (parallelograms) the reasoning, "
                "solutions (circles) cite ledger entries, contexts (rounded) frame the top "
                "goal; a hollow diamond marks an undeveloped goal. A solution is supported, "
                "challenged (failing evidence), stale (evidence older than what it verifies) or "
                "undeveloped (evidence that does not decide). A goal or strategy without "
                "support is undeveloped; otherwise it takes the worst status beneath it "
                "(challenged > stale > undeveloped > supported).",
                self.st["small"],
            )
        ]
        parts = gsn.figures(self.case, max_width=frame_w, max_height=frame_h)
        for number, (title, root, ids) in enumerate(parts, start=1):
            drawing = gsn.to_drawing(self.case, root, ids, max_width=frame_w, max_height=frame_h)
            out.append(KeepTogether([_p(f"Figure {number}. {title}", self.st["small"]), drawing]))
        drawn = {i for _, _, ids in parts for i in ids}
        if len(drawn) < len(self.case.nodes):
            out.append(
                _p(
                    f"{len(self.case.nodes) - len(drawn)} of {len(self.case.nodes)} nodes are "
                    "not drawn; the status of every requirement is in section "
                    f"{self.numbers['requirements']}, and the whole argument is in the web view "
                    "and its JSON form.",
                    self.st["small"],
                )
            )
        return out

    def how_to_verify(self):
        s = self.s
        steps = [
            "You need Python 3 and nothing else. Unpack nothing: the verifier reads the zip in "
            "memory.",
            "Obtain the installation's signing key fingerprint from the operator, independently "
            "of this package (they publish it, and their store's keys/ folder holds the key). "
            "It must equal the one on the cover; a fingerprint or key taken from the package "
            "itself proves nothing, since whoever rewrites a package can put their own there.",
            "Run: python verify.py PACKAGE.zip --trusted-fingerprint FINGERPRINT (or "
            "--trusted-key KEY.vkey) with the verify.py inside the package or your own copy. "
            "Exit code 0 and a line beginning OK: verified against your key; 1 and FAIL: "
            "tampered, or not signed by your key; 2: usage error; 3 and ORIGIN NOT VERIFIED: "
            "intact, but you gave no trust root.",
            "It refuses unsafe or unexpected archives (names leaving the folder, duplicates, "
            "files not in the manifest, members that expand far beyond their compressed size).",
            "It checks the manifest's signature, then every file against the SHA-256 in the "
            "manifest, so this PDF is the one the manifest lists.",
            "It verifies the checkpoint signature (ledger/checkpoint.note), recomputes the "
            "leaf hash of every entry of ledger/entries.jsonl from its exact bytes, checks the "
            "numbering 0..n-1, rebuilds the RFC 9162 Merkle "
            f"root and compares it with the signed one ({s.size} entries, root "
            f"{s.checkpoint_root.hex()}).",
            "It verifies each entry's DSSE signature and that its kind, subject and digest are "
            "those of its signed in-toto statement, then that every ledger entry this document "
            "cites is in the log with the same leaf hash, and that the attestations and dataset "
            "manifests are the ones the log names.",
            "It accepts the origin only if the manifest, the checkpoint and every entry are "
            "signed by your trusted key, or by its successor through a key rotation statement "
            "signed by both keys (keys/rotations/ in the package). Compare the checkpoint root "
            "with the copy Safecase publishes outside its database "
            f"(checkpoints/{s.project_key}/ in its store).",
            "With an older package of the same project, run python verify.py NEW.zip "
            "--previous OLD.zip: it proves the log only grew (RFC 9162 consistency proof, and "
            "the older entries byte for byte), so no evidence was removed or rewritten.",
            "Making this package was itself recorded in the ledger after the package was built "
            "(kind report, subject package:FILE, digest the SHA-256 of the zip). A package "
            "cannot contain the record of its own making; the next package carries it.",
        ]
        return [_p(f"{n}. {text}", self.st["body"]) for n, text in enumerate(steps, start=1)]


def _fingerprint(text: str) -> str:
    """A fingerprint in groups of eight hex digits, easier to compare by eye."""
    if not text:
        return "not registered"
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------

_STATE_COLOURS = [
    ("pass", colors.HexColor("#2e7d32")),
    ("fail", colors.HexColor("#c62828")),
    ("inconclusive", colors.HexColor("#9e9e9e")),
    ("stale", colors.HexColor("#ef6c00")),
    ("none", colors.HexColor("#cfd8dc")),
]


def _verification_chart(outcome: Counter, width: float) -> Drawing:
    kinds = sorted({kind for kind, _ in outcome}) or ["-"]
    height = 40 + 18 * len(kinds)
    drawing = Drawing(width, height + 20)
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


def _progress_chart(run, width: float) -> Drawing:
    verdicts = list(run.verdicts) or []
    names = [v.criterion for v in verdicts] or ["-"]
    height = 30 + 16 * len(names)
    drawing = Drawing(width, height + 16)
    chart = HorizontalBarChart()
    chart.x, chart.y = 40, 16
    chart.width, chart.height = width - 60, height - 10
    chart.data = [[min(v.progress, 1.0) * 100 for v in verdicts] or [0]]
    chart.categoryAxis.categoryNames = names
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 25
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#1565c0")
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%.0f%%"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(
        String(
            0, height + 6, "progress towards the validation target (%)", fontName=FONT, fontSize=7
        )
    )
    return drawing


def _bound_chart(run, width: float) -> Drawing:
    """Upper confidence bound (bar) against the allowed value (tick), on a log scale."""
    verdicts = list(run.verdicts)
    height = 30 + 16 * max(len(verdicts), 1)
    drawing = Drawing(width, height + 16)
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
        drawing.add(String(0, y + 3, v.criterion, fontName=FONT, fontSize=7))
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
            "upper confidence bound (bar) vs allowed (tick), log scale",
            fontName=FONT,
            fontSize=7,
        )
    )
    return drawing
