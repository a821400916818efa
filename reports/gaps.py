"""The gap analysis of a case snapshot: the baseline's work products against the evidence that
the checkpoint holds, so the evidence pack's gap table counts what its other sections show.

It has the shape of :func:`compliance.selectors.gap_analysis` (which reads the live model) and
adds the gaps that need the HARA and the decompositions: hazardous events rated A to D without
a safety goal, safety goals without derived requirements, and decomposition children not
linked to their parent. Reviews are judged against the baseline: a confirmation review is
stale when the work products it cites differ from the baseline's, a requirement approval when
the baseline holds other content than it approved. Acceptance criteria without cases are those
no run inside the checkpoint judged on a case in their scope.
"""

from __future__ import annotations

from collections import Counter

from compliance import iso26262, reviews

PARENT_KINDS = ("derives-from", "satisfies")
LEVELS = ("QM", "A", "B", "C", "D")
LISTED = 50  # how many items of one gap are listed (``count`` gives them all)


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
    reviewed = stale_reviews(snapshot)
    without_cases = criteria_without_cases(snapshot)
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
        "stale_reviews": reviewed,
        "criteria_without_cases": without_cases,
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
        or reviewed["count"]
        or without_cases
        or approvals["missing"]
        or approvals["below_required"]
        or approvals["stale"]
    )
    return summary


def _approval_gaps(snapshot) -> dict:
    """Table 1 measures required at the baseline's highest goal ASIL that no sufficient,
    current approval in the checkpoint covers (:func:`compliance.reviews.approval_gaps`)."""
    return reviews.approval_gaps(snapshot.highest_asil, _confirmations(snapshot))


def _confirmations(snapshot) -> list[reviews.Confirmation]:
    return [
        reviews.Confirmation(
            id=a.id,
            measure=a.measure,
            outcome=a.outcome,
            achieved=a.achieved,
            stale=snapshot.currency[a.entry].stale if a.entry in snapshot.currency else False,
        )
        for a in snapshot.approvals
    ]


def stale_reviews(snapshot) -> dict:
    """The reviews that no longer hold for the snapshot's baseline, in the shape of
    :func:`compliance.selectors.stale_reviews`: the confirmation reviews in the checkpoint
    whose cited work products differ from the baseline's, and the requirements whose last
    approval before the baseline cites other content than the baseline holds."""
    approvals = [
        {
            "id": a.id,
            "entry": a.entry,
            "measure": a.measure,
            "work_product": a.work_product,
            "outcome": a.outcome,
            "reason": snapshot.currency[a.entry].reason,
        }
        for a in snapshot.approvals
        if a.entry in snapshot.currency and snapshot.currency[a.entry].stale
    ]
    requirements = reviews.stale_requirement_approvals(
        [r for r in snapshot.items("requirement") if r.get("status") != "obsolete"],
        snapshot.requirement_approvals,
    )
    return {
        "count": len(approvals) + len(requirements),
        "approvals": approvals,
        "requirements": requirements[:LISTED],
    }


def criteria_without_cases(snapshot) -> list[str]:
    """The baseline's acceptance criteria that no run in the checkpoint judged on a case in
    their scope (the rule of :func:`validation.selectors.criteria_without_cases`, applied to
    the runs the evidence pack shows)."""
    judged = {v.criterion for run in snapshot.runs for v in run.verdicts if v.trials > 0}
    return sorted(ac["code"] for ac in snapshot.items("ac") if ac["code"] not in judged)
