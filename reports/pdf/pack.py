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

from reports.gsn.model import CONFIRMED, STATUSES, SafetyCase
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
    _wrap,
)
from reports.pdf.template import _Contents, _Document, _fixed_canvas, _invariant
from reports.selectors import CaseSnapshot, signing_key_identity

SECTIONS = [
    ("control", "Document control"),
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
            ("control", self.control),
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
                    ("Document", f"{self.identifier()}, revision {self.revision()}"),
                    ("Project", f"{s.project_key}: {_cut(s.project_name, 80)}"),
                    ("Baseline", f"{s.baseline_name} (ledger entry #{s.baseline_entry})"),
                    ("Baseline root", s.baseline_root),
                    ("Date", f"{moment} (time of the ledger checkpoint)"),
                    ("Ledger", s.origin),
                    ("Checkpoint size", _count(s.size, "entry", "entries")),
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

    # -- document control --

    def identifier(self) -> str:
        return f"{self.s.project_key}-EVIDENCE-PACK"

    def revision(self) -> str:
        return f"{self.s.baseline_name} @ {self.s.size} entries"

    def control(self):
        s = self.s
        confirmed = [a for a in s.approvals if a.outcome in CONFIRMED]
        approved = [
            f"{a.reviewer} ({a.reviewer_role}, independence {a.achieved}): "
            f"{a.label} of {a.work_product}, {a.outcome.replace('_', ' ')}, "
            f"ledger entry {self.cite(a.entry)}; {_review_basis(a, s.currency.get(a.entry))}"
            for a in confirmed
        ]
        rows = [
            ("Identifier", self.identifier()),
            ("Revision", self.revision()),
            (
                "Revision means",
                f"baseline {s.baseline_name} (ledger entry #{s.baseline_entry}, Merkle root "
                f"{(s.baseline_root or '')[:16]}...) with the evidence of the ledger's first "
                f"{_count(s.size, 'entry', 'entries')} (checkpoint root "
                f"{s.checkpoint_root.hex()[:16]}...)",
            ),
            ("Prepared by", f"{s.prepared_by or 'unknown'} (exported this document)"),
            (
                "Approved by",
                "\n".join(approved) or "no confirmation review in the ledger at this checkpoint",
            ),
        ]
        out = [
            _key_values(
                [(k, _wrap(v, self.width - 120, lines=40, size=8)) for k, v in rows],
                widths=(110, self.width - 110),
            ),
            Spacer(1, 6),
            _p(
                "Approved by lists the confirmation reviews (ISO 26262-2 Table 1) recorded in "
                "the ledger up to the checkpoint, each with its ledger entry; section "
                f"{self.numbers['confirmation']} shows which measures they meet. A review whose "
                "cited work products differ from this baseline's is stale: it confirms nothing "
                "in this revision.",
                self.st["small"],
            ),
        ]
        return out

    # -- summary --

    def summary(self):
        gaps = self.s.gaps
        gate = self.case.release_gate()
        verdict = "READY for release" if gaps.get("release_ready") else "NOT READY for release"
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
                    else f"fails with {_count(len(gate['undeveloped']), 'undeveloped goal')} "
                    f"or strategies and {_count(len(gate['unsupported_solutions']), 'solution')} "
                    "not supported."
                )
                + " Node statuses: "
                + ", ".join(_count(counts[k], "node") + f" {k}" for k in STATUSES)
                + ".",
                self.st["body"],
            ),
            _p(
                f"Every count below is of baseline {self.s.baseline_name} and of the evidence "
                f"in the ledger at its checkpoint ({_count(self.s.size, 'entry', 'entries')}), "
                "the same work products and evidence the following sections show.",
                self.st["small"],
            ),
            Spacer(1, 6),
        ]
        stale_reviews = gaps.get("stale_reviews") or {}
        without_parent = gaps.get("without_parent", {})
        without_verification = gaps.get("without_verification", {})
        rows = [
            ["Requirements (not obsolete)", _count(gaps.get("requirements", 0), "requirement"), ""],
            [
                "Without a parent (goal or requirement)",
                _count(without_parent.get("count", 0), "requirement"),
                _by_asil(without_parent.get("by_asil")),
            ],
            [
                "Without passing, current verification",
                _count(without_verification.get("count", 0), "requirement"),
                _by_asil(without_verification.get("by_asil")),
            ],
            [
                "Stale verifications",
                _count(gaps.get("stale_verifications", 0), "verification"),
                "",
            ],
            ["Suspect trace links", _count(gaps.get("suspect_links", 0), "link"), ""],
            [
                "ASIL drops without decomposition",
                _count(len(gaps.get("undecomposed_asil_drops", [])), "link"),
                "",
            ],
            [
                "Hazardous events rated ASIL A to D without a safety goal",
                _count(len(gaps.get("events_without_goal", [])), "event"),
                "",
            ],
            [
                "Safety goals without a derived requirement",
                _count(len(gaps.get("goals_without_requirements", [])), "goal"),
                "",
            ],
            [
                "Decomposition children not linked to their parent",
                _count(len(gaps.get("decomposition_children_unlinked", [])), "requirement"),
                "",
            ],
            [
                "Stale reviews (cite other content than this baseline)",
                _count(stale_reviews.get("count", 0), "review"),
                f"{len(stale_reviews.get('approvals', [])):,} confirmation, "
                f"{len(stale_reviews.get('requirements', [])):,} requirement",
            ],
            [
                "Acceptance criteria with no case in scope in any run",
                _count(len(gaps.get("criteria_without_cases", [])), "criterion", "criteria"),
                "",
            ],
            [
                "Confirmation measures missing",
                _count(len(approvals.get("missing", [])), "measure"),
                f"required at ASIL {approvals.get('asil', '-')}",
            ],
            [
                "Confirmation measures below independence",
                _count(len(approvals.get("below_required", [])), "measure"),
                "",
            ],
            [
                "Confirmation measures confirmed only by stale reviews",
                _count(len(approvals.get("stale", [])), "measure"),
                "",
            ],
        ]
        out += _tables(["Gap", "Count", "By ASIL"], rows, [250, 80, self.width - 330])
        out.append(Paragraph("Open gaps", self.st["h2"]))
        lists = [
            ("Requirements without a parent", without_parent.get("codes", [])),
            ("Requirements without verification", without_verification.get("codes", [])),
            ("ASIL drops without decomposition", gaps.get("undecomposed_asil_drops", [])),
            ("Hazardous events without a safety goal", gaps.get("events_without_goal", [])),
            (
                "Safety goals without a derived requirement",
                gaps.get("goals_without_requirements", []),
            ),
            (
                "Decomposition children not linked to their parent",
                gaps.get("decomposition_children_unlinked", []),
            ),
            (
                "Stale confirmation reviews",
                [
                    f"{a['work_product']} ({a['measure']}, ledger entry {self.cite(a['entry'])}): "
                    f"{a['reason']}"
                    for a in stale_reviews.get("approvals", [])
                ],
            ),
            (
                "Stale requirement approvals",
                [
                    f"{r['code']} (approved v{r['approved_version']}, baseline holds "
                    f"v{r['version']}, {r['status'].replace('_', ' ')})"
                    for r in stale_reviews.get("requirements", [])
                ],
            ),
            (
                "Acceptance criteria with no case in scope",
                gaps.get("criteria_without_cases", []),
            ),
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
            (
                "Confirmation measures whose reviews are all stale",
                [m["measure"] for m in approvals.get("stale", [])],
            ),
        ]
        for title, items in lists:
            text = ", ".join(str(i) for i in items) if items else "none"
            out.append(_p(f"{title}: {text}", self.st["small"]))
        return out


def _review_basis(approval, currency) -> str:
    """What a review confirmed against this baseline: current (every work product it cites is
    as the baseline holds it) or stale, with what changed, was added or went."""
    if currency is None:
        return "not compared with this baseline"
    if currency.stale:
        return f"STALE for this revision ({currency.reason})"
    cited = len(approval.cited)
    if not cited:
        return "cites no work product held in this baseline"
    return f"current: the {_count(cited, 'work product')} it cites are as this baseline holds them"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with its unit: "1 requirement", "2,000 requirements".

    Kept here until the shared formatting helpers of the reports are in place.
    """
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _by_asil(by: dict | None) -> str:
    """Counts per ASIL as "ASIL A: 2, ASIL B: 1" (never "A2", which reads as a code)."""
    parts = [
        ("QM" if level == "QM" else f"ASIL {level}") + f": {count:,}"
        for level, count in (by or {}).items()
        if count
    ]
    return ", ".join(parts) or "-"


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
