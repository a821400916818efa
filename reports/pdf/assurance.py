"""The sections on the evidence: V&V, SOTIF, confirmation, decisions, register, GSN, verifying."""

from __future__ import annotations

from collections import Counter, defaultdict

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Table

from compliance import units
from compliance.scope import describe
from reports.gsn.drawing import figures, to_drawing
from reports.gsn.model import CONFIRMED
from reports.pdf.charts import _bound_chart, _progress_chart, _verification_chart
from reports.pdf.layout import (
    CELL,
    FONT,
    LANDSCAPE,
    MARGIN,
    VERDICT_COLOURS,
    _cut,
    _p,
    _tables,
    _wrap,
)


def _verdict_label(verdict: str) -> str:
    return "not judged: no case in scope" if verdict == "not_judged" else verdict


def _done(v) -> float:
    """What a verdict has done towards its target: cases judged, or the exposure driven."""
    return v.trials if v.unit == "cases" else (v.exposure or 0.0)


def _failures(v) -> str:
    if v.unit == "cases":
        return f"{v.failures:,} of {v.trials:,} {'case' if v.trials == 1 else 'cases'}"
    return f"{v.failures:,} in {units.exposure(v.exposure or 0, v.unit)}"


def _breakdown_rows(run, scope_width: float):
    for v in run.verdicts:
        scope = _wrap(
            f"{v.scope or 'every case'} ({v.cases_out_of_scope:,} outside)", scope_width, lines=3
        )
        if not v.scenarios:
            yield [v.criterion, scope, "no case in scope", "-", "0", "0", "0"]
            continue
        for number, (name, cases, in_scope, judged, failing) in enumerate(v.scenarios):
            first = number == 0
            yield [
                v.criterion if first else "",
                scope if first else "",
                _cut(name, 24),
                f"{cases:,}",
                f"{in_scope:,}",
                f"{judged:,}",
                f"{failing:,}",
            ]


def _holes(coverage: dict) -> str:
    """The holes of a recorded coverage in words: how many, and which bins of which
    parameter."""
    if not coverage["holes"] and all(p["bins"] for p in coverage["parameters"]):
        return "none"
    parts = [
        f"{p['parameter']} {', '.join(p['holes'])}" if p["bins"] else f"{p['parameter']} (no value)"
        for p in coverage["parameters"]
        if p["holes"] or not p["bins"]
    ]
    return f"{coverage['holes']:,}: " + "; ".join(parts)


def _coverage_rows(run, holes_width: float):
    for v in run.verdicts:
        c = v.coverage
        if not c:
            yield [v.criterion, "-", "not recorded with this run", "-", "-", "-"]
            continue
        met = "met" if c["met"] else f"not met ({c['below_goal']:,} below)"
        yield [
            v.criterion,
            f"{c['cases']:,}",
            f"{c['bins_hit']:,} / {c['bins_total']:,}",
            _wrap(_holes(c), holes_width, lines=4),
            f"{c['goal']:,} per bin",
            met,
        ]


class _AssuranceSections:
    """Sections 7 to 13 of the evidence pack (mixed into :class:`reports.pdf.pack._Pack`)."""

    def vv(self):
        s = self.s
        versions = {r["code"]: int(r.get("version") or 1) for r in s.items("requirement")}
        kinds = {r["code"]: r.get("kind", "?") for r in s.items("requirement")}
        verifications = [row for row in s.verifications if row.requirement in versions]
        latest = {}
        for row in verifications:
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
                for row in verifications
            ),
            widths,
        )
        if len(verifications) < len(s.verifications):
            outside = len(s.verifications) - len(verifications)
            out.append(
                _p(
                    f"{outside:,} more "
                    f"{'verification is' if outside == 1 else 'verifications are'} "
                    "of requirements not in this baseline: they are in the evidence register.",
                    self.st["small"],
                )
            )
        out.append(Paragraph("Validation runs", self.st["h2"]))
        if not s.runs:
            out.append(_p("No validation run is recorded in this ledger.", self.st["body"]))
        latest = {run.campaign: run for run in s.runs}  # runs are in entry order
        earlier = [run for run in s.runs if latest[run.campaign] is not run]
        if earlier:
            out.append(
                _p(
                    "Earlier runs of the same campaigns, superseded by the latest run of each "
                    "(their verdicts are in the evidence register): "
                    + "; ".join(
                        f"run {r.run} of {r.campaign} ({r.cases:,} cases, entry "
                        f"{self.cite(r.entry)})"
                        for r in earlier
                    )
                    + ".",
                    self.st["small"],
                )
            )
        for run in latest.values():
            out.append(
                _p(
                    f"Latest run {run.run} of campaign {run.campaign} (executor {run.executor}, "
                    f"{run.cases:,} cases), ledger entry {self.cite(run.entry)}",
                    self.st["body"],
                )
            )
            widths = [40, 70, 62, 86, 62, 40, self.width - 360]
            table = _tables(
                [
                    "Criterion",
                    "Verdict",
                    "Failures",
                    "Upper bound",
                    "Allowed",
                    "Conf.",
                    "Progress towards the validation target",
                ],
                (
                    [
                        v.criterion,
                        _wrap(_verdict_label(v.verdict), widths[1], lines=3),
                        _wrap(_failures(v), widths[2], lines=3),
                        _wrap(
                            "none: nothing judged"
                            if v.verdict == "not_judged"
                            else units.bound(v.upper_bound, v.unit),
                            widths[3],
                            lines=2,
                        ),
                        _wrap(units.rate(v.allowed, v.unit), widths[4], lines=2),
                        units.confidence(v.confidence),
                        _wrap(
                            f"{units.target_progress(_done(v), v.target, v.unit)} "
                            f"({units.percent(v.progress)})",
                            widths[6],
                            lines=3,
                        ),
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
                    for i, v in enumerate(run.verdicts)
                ],
            )
            out += table
            out.append(
                _p(
                    f"What each criterion of run {run.run} was judged on: the cases of each "
                    "scenario that fed it, those inside its scope, judged by it and failing "
                    "its rule. Cases outside a criterion's scope are never counted for it.",
                    self.st["small"],
                )
            )
            out += _tables(
                ["Criterion", "Scope", "Scenario", "Cases", "In scope", "Judged", "Failing"],
                _breakdown_rows(run, self.width - 280),
                [40, self.width - 280, 80, 40, 40, 40, 40],
            )
            out.append(
                _p(
                    f"Coverage of each criterion in run {run.run}, as recorded with its verdict "
                    "(the ledger entry states its digest): the judged cases' parameters and ODD "
                    "conditions in the campaign's bins, the bins hit of all bins, the holes (bins "
                    "no case fell in) and whether every bin has the goal's number of cases.",
                    self.st["small"],
                )
            )
            out += _tables(
                ["Criterion", "Cases", "Bins hit / total", "Holes", "Goal", "Goal met"],
                _coverage_rows(run, self.width - 300),
                [40, 40, 70, self.width - 300, 50, 100],
            )
            charts = [
                _progress_chart(run, self.width / 2 - 6),
                _bound_chart(run, self.width / 2 - 6),
            ]
            side_by_side = Table(
                [charts], colWidths=[self.width / 2] * 2, style=[("FONT", (0, 0), (-1, -1), FONT)]
            )
            out.append(KeepTogether([side_by_side]))
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
        widths = [40, 64, 110, 60, 36, 70, self.width - 380]
        out += _tables(
            [
                "Code",
                "Goal / req.",
                "Criterion and scope",
                "Allowed",
                "Conf.",
                "KPI rule",
                "Target",
            ],
            (
                [
                    a["code"],
                    f"{getattr(links.get(a['code']), 'goal', None) or '-'}\n"
                    f"{getattr(links.get(a['code']), 'requirement', None) or '-'}",
                    _wrap(
                        f"{a.get('description') or ''} Scope: {describe(a.get('scope') or {})}.",
                        widths[2],
                        lines=6,
                    ),
                    _wrap(
                        units.rate(
                            a.get("allowed_failure_probability")
                            if a.get("unit") == "cases"
                            else a.get("hazardous_behaviour_rate"),
                            a.get("unit", ""),
                        ),
                        widths[3],
                        lines=2,
                    ),
                    units.confidence(a.get("confidence")),
                    _cut(
                        f"{a.get('kpi') or '-'} {a.get('comparator') or ''} "
                        f"{'' if a.get('threshold') is None else units.number(a['threshold'])}",
                        30,
                    ),
                    _wrap(
                        f"{units.exposure(a.get('validation_target') or 0, a.get('unit', ''))}, "
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
                current = [a for a in done if not self._stale(a)]
                met = any(
                    a.outcome in CONFIRMED and iso26262.meets_independence(a.achieved, required)
                    for a in current
                )
                if met:
                    state = "met"
                elif not current and any(a.outcome in CONFIRMED for a in done):
                    state = "STALE"  # confirmed once, for work products since changed
                else:
                    state = "NOT met"
                detail = "; ".join(
                    f"{a.reviewer} {a.achieved} {a.outcome.replace('_', ' ')}"
                    f"{' (stale)' if self._stale(a) else ''} {self.cite(a.entry)}"
                    for a in done
                )
            else:
                state = "not required" if required == iso26262.NO_REQUIREMENT else "MISSING"
                detail = "-"
            rows.append(
                [_wrap(measure.label, 180), required, state, _wrap(detail, self.width - 290)]
            )
        stale = [a for a in s.approvals if self._stale(a)]
        if stale:
            out.append(
                _p(
                    "A review is stale when a work product it cites differs from this "
                    "baseline's, or the baseline holds one in its scope it never saw; a stale "
                    "review meets no measure: "
                    + "; ".join(
                        f"{a.label} ({self.cite(a.entry)}): {s.currency[a.entry].reason}"
                        for a in stale
                    ),
                    self.st["small"],
                )
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
                    _wrap(
                        a.outcome.replace("_", " ") + (", STALE" if self._stale(a) else ""),
                        widths[6],
                    ),
                    _wrap(a.findings or "-", widths[7]),
                    self.cite(a.entry),
                ]
                for a in s.approvals
            ),
            widths,
        )
        if s.signatures:
            out.append(Paragraph("Review signatures", self.st["h2"]))
            out += self.signatures()
        return out

    def signatures(self):
        """The review sessions' electronic signatures, each with its state as of the pack."""
        rows = self.s.signatures
        out = [
            _p(
                "Each signature cites the digest of the content signed; it is stale when the "
                "work product differs from this pack's, and a withdrawal is a later entry with "
                "its reason.",
                self.st["small"],
            )
        ]
        widths = [70, 90, 50, 60, 52, 50, self.width - 412, 40]
        out += _tables(
            ["Work product", "Review", "Signer", "Decision", "Meaning", "Indep.", "State", "Entry"],
            (
                [
                    _wrap(r.key.split(":", 1)[-1], widths[0]),
                    _wrap(r.review, widths[1]),
                    r.signer,
                    _wrap(r.decision + (f": {r.comment}" if r.comment else ""), widths[3]),
                    r.meaning,
                    f"{r.achieved or '-'}/{r.required or '-'}",
                    _wrap(
                        (r.state if r.state == "current" else r.state.upper())
                        + (f" ({r.reason})" if r.reason else ""),
                        widths[6],
                    ),
                    self.cite(r.entry),
                ]
                for r in rows
            ),
            widths,
        )
        return out

    def _stale(self, approval) -> bool:
        currency = self.s.currency.get(approval.entry)
        return currency is not None and currency.stale

    def decisions(self):
        records = {d.entry for d in self.s.decisions}
        splits = {d.entry: d for d in self.s.decompositions}
        entries = self.s.decision_entries
        out = [
            _p(
                f"The ledger holds {len(entries):,} decision "
                f"{'entry' if len(entries) == 1 else 'entries'} up to the checkpoint: "
                f"{len(records):,} decision {'record' if len(records) == 1 else 'records'} "
                "(below) and the ASIL decompositions, whose independence argument is in "
                f"section {self.numbers['requirements']}.",
                self.st["body"],
            )
        ]
        rows = []
        for index, subject in entries:
            if index in records:
                what = "decision record (below)"
            elif index in splits:
                d = splits[index]
                what = f"ASIL decomposition of {d.parent} into {' + '.join(d.children)}"
            else:
                what = "a decision outside this baseline (see the evidence register)"
            rows.append([self.cite(index), _cut(subject, 60), _wrap(what, self.width - 260)])
        out += _tables(["Entry", "Subject", "What it records"], rows, [40, 220, self.width - 260])
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
        parts = figures(self.case, max_width=frame_w, max_height=frame_h)
        for number, (title, root, ids) in enumerate(parts, start=1):
            drawing = to_drawing(self.case, root, ids, max_width=frame_w, max_height=frame_h)
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
