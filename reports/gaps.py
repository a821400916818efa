"""The gap analysis of a case snapshot: the baseline's work products against the evidence that
the checkpoint holds, so the evidence pack's gap table counts what its other sections show.

It has the shape of :func:`compliance.selectors.gap_analysis` (which reads the live model) and
adds the gaps that need the HARA and the decompositions: hazardous events rated A to D without
a safety goal, safety goals without derived requirements, and decomposition children not
linked to their parent. Two entries are left for the selectors that will provide them:
``stale_reviews`` and ``criteria_without_cases`` are ``None`` (not assessed) until then.
"""

from __future__ import annotations

from collections import Counter

from compliance import iso26262

PARENT_KINDS = ("derives-from", "satisfies")
CONFIRMED = ("confirmed", "confirmed_with_findings")
LEVELS = ("QM", "A", "B", "C", "D")


def snapshot_gaps(snapshot) -> dict:
    """What stands between the snapshot's baseline and a release, by ASIL."""
    requirements = {
        r["code"]: r for r in snapshot.items("requirement") if r.get("status") != "obsolete"
    }
    links = snapshot.items("link")
    parents: dict[str, set[str]] = {}
    for link in links:
        if link["kind"] in PARENT_KINDS:
            parents.setdefault(link["source"], set()).add(link["target"])
    version = {code: int(r.get("version") or 1) for code, r in requirements.items()}
    verified, stale = set(), 0
    for row in snapshot.verifications:
        if row.requirement not in version:
            continue
        if row.requirement_version < version[row.requirement]:
            stale += 1
        elif row.requirement_version == version[row.requirement] and row.result == "pass":
            verified.add(row.requirement)
    asil = {code: r.get("asil", "QM") for code, r in requirements.items()}

    def by_asil(codes):
        counts = Counter(iso26262.parse_asil(asil[c]).level for c in codes)
        return {level: counts.get(level, 0) for level in LEVELS}

    def listing(codes):
        codes = sorted(codes)
        return {"count": len(codes), "by_asil": by_asil(codes), "codes": codes[:50]}

    decomposed = {
        (d["parent"], child) for d in snapshot.items("decomposition") for child in d["children"]
    }
    drops = [
        f"{link['source']} ({asil[link['source']]}) under {link['target']} ({asil[link['target']]})"
        for link in links
        if link["kind"] == "derives-from"
        and link["source"] in asil
        and link["target"] in asil
        and not iso26262.inherits_correctly(asil[link["target"]], asil[link["source"]])
        and (link["target"], link["source"]) not in decomposed
    ]
    goals = snapshot.items("goal")
    covered = {event for goal in goals for event in goal.get("events") or ()}
    events_without_goal = sorted(
        e["code"]
        for e in snapshot.items("event")
        if e.get("asil") in ("A", "B", "C", "D") and e["code"] not in covered
    )
    derived_goals = {target for targets in parents.values() for target in targets}
    goals_without_requirements = sorted(g["code"] for g in goals if g["code"] not in derived_goals)
    unlinked_children = sorted(
        f"{child} (of {parent})"
        for parent, child in decomposed
        if parent not in parents.get(child, set())
    )
    orphans = [code for code in requirements if not parents.get(code)]
    unverified = [code for code in requirements if code not in verified]
    suspect = sum(1 for link in links if link.get("suspect"))
    approvals = _approval_gaps(snapshot)
    summary = {
        "requirements": len(requirements),
        "without_parent": listing(orphans),
        "without_verification": listing(unverified),
        "stale_verifications": stale,
        "suspect_links": suspect,
        "undecomposed_asil_drops": drops,
        "events_without_goal": events_without_goal,
        "goals_without_requirements": goals_without_requirements,
        "decomposition_children_unlinked": unlinked_children,
        "stale_reviews": None,
        "criteria_without_cases": None,
        "approvals": approvals,
    }
    summary["release_ready"] = not (
        orphans
        or unverified
        or suspect
        or drops
        or events_without_goal
        or goals_without_requirements
        or unlinked_children
        or approvals["missing"]
        or approvals["below_required"]
    )
    return summary


def _approval_gaps(snapshot) -> dict:
    """Table 1 measures required at the baseline's highest goal ASIL that no sufficient
    approval in the checkpoint covers."""
    asil = snapshot.highest_asil
    confirmed = [a for a in snapshot.approvals if a.outcome in CONFIRMED]
    missing, below = [], []
    for measure in iso26262.ConfirmationMeasure:
        required = iso26262.required_independence(measure.value, asil)
        if required == iso26262.NO_REQUIREMENT:
            continue
        done = [a for a in confirmed if a.measure == measure.value]
        if not done:
            missing.append({"measure": measure.value, "required": required})
        elif not any(iso26262.meets_independence(a.achieved, required) for a in done):
            below.append(
                {
                    "measure": measure.value,
                    "required": required,
                    "achieved": max(a.achieved for a in done),
                }
            )
    return {"asil": asil, "missing": missing, "below_required": below}
