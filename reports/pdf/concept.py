"""The sections on the safety concept: item, HARA, safety goals, requirements, traceability."""

from __future__ import annotations

from collections import defaultdict

from reportlab.platypus import Paragraph

from reports.pdf.layout import _clean, _p, _tables, _wrap


class _ConceptSections:
    """Sections 2 to 6 of the evidence pack (mixed into :class:`reports.pdf.pack._Pack`)."""

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
