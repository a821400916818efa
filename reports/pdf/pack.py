"""The evidence pack: its outline, its front matter and summary, and :func:`render`."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import NextPageTemplate, PageBreak, Paragraph, Spacer

from reports.gsn.model import STATUSES, SafetyCase
from reports.pdf.assurance import _AssuranceSections
from reports.pdf.concept import _ConceptSections
from reports.pdf.layout import (
    MARGIN,
    PORTRAIT,
    _cut,
    _fingerprint,
    _key_values,
    _p,
    _styles,
    _tables,
)
from reports.pdf.template import _Contents, _Document, _fixed_canvas, _invariant
from reports.selectors import CaseSnapshot, signing_key_identity

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


@dataclass(frozen=True)
class PdfResult:
    data: bytes
    cited: list[int]  # ledger indexes the document cites as evidence
    pages: int


class _Pack(_ConceptSections, _AssuranceSections):
    def __init__(self, snapshot: CaseSnapshot, case: SafetyCase, styles, key: tuple[str, str]):
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
                + ", ".join(f"{counts[k]} {k}" for k in STATUSES)
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


def render(
    snapshot: CaseSnapshot,
    case: SafetyCase,
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
