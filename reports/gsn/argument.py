"""Building the argument from a case snapshot, and propagating statuses up the tree."""

from __future__ import annotations

from collections import defaultdict

from compliance import iso26262
from reports.gsn.model import (
    _SEVERITY,
    CHALLENGED,
    CONFIRMED,
    CONTEXT,
    GOAL,
    IN_CONTEXT_OF,
    SOLUTION,
    STALE,
    STATUSES,
    STRATEGY,
    SUPPORTED,
    SUPPORTED_BY,
    UNDEVELOPED,
    Edge,
    Node,
    SafetyCase,
    _goal_id,
)
from reports.selectors import CaseSnapshot


def build(snapshot: CaseSnapshot) -> SafetyCase:
    """The safety case of ``snapshot`` with every status computed."""
    case = SafetyCase()
    content = snapshot.content
    goals = {g["code"]: g for g in snapshot.items("goal")}
    # Looked up by code, and each node's children sorted below: no need to sort the keys of
    # tens of thousands of requirements and links first.
    requirements, links = {}, []
    for key, value in content.items():
        if key.startswith("requirement:"):
            if value.get("status") != "obsolete":
                requirements[value["code"]] = value
        elif key.startswith("link:"):
            links.append(value)
    # what derives from or satisfies each goal, and each requirement, by code
    goal_children: dict[str, list[str]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    for link in links:
        if link["kind"] not in ("derives-from", "satisfies") or link["source"] not in requirements:
            continue
        target = link["target"]
        if target in goals:
            goal_children[target].append(link["source"])
        elif target in requirements:
            children[target].append(link["source"])
    latest: dict[tuple[str, str], object] = {}
    for row in snapshot.verifications:  # in entry order: a later one replaces an earlier one
        latest[(row.requirement, row.method)] = row
    evidence = defaultdict(list)
    for (code, _method), row in sorted(latest.items()):
        evidence[code].append(row)
    decompositions = defaultdict(list)
    for row in snapshot.decompositions:
        decompositions[row.parent].append(row)

    top = case.add(
        Node(
            "G0",
            GOAL,
            "G0",
            f"{snapshot.project_name} ({snapshot.project_key}) is acceptably safe within its "
            "operational design domain",
        )
    )
    item = content.get("item") or {}
    for node_id, label, text in (
        ("C1", "Item definition", item.get("function") or "not defined"),
        ("C2", "Operational design domain", item.get("odd") or "not defined"),
    ):
        case.add(Node(node_id, CONTEXT, label, text), top.id, IN_CONTEXT_OF)
    if snapshot.baseline_name:
        case.add(
            Node(
                "C3",
                CONTEXT,
                "Baseline",
                f"{snapshot.baseline_name}, Merkle root {snapshot.baseline_root[:16]}..., "
                f"ledger of {snapshot.size} entries",
                entry=snapshot.baseline_entry,
            ),
            top.id,
            IN_CONTEXT_OF,
        )

    finished: list[str] = []  # the requirements' goals and strategies, supporters first
    if goals:
        over_goals = case.add(
            Node(
                "S1", STRATEGY, "S1", f"Argument over each safety goal of the HARA ({len(goals)})"
            ),
            top.id,
        )
        for code in sorted(goals):
            goal = goals[code]
            node = case.add(
                Node(
                    _goal_id(f"goal:{code}"),
                    GOAL,
                    f"{code} - ASIL {goal.get('asil', 'QM')}",
                    goal.get("text", ""),
                    ref=f"goal:{code}",
                ),
                over_goals.id,
            )
            derived = sorted(goal_children.get(code, []))
            if derived:
                strategy = case.add(
                    Node(
                        f"S:goal:{code}",
                        STRATEGY,
                        f"S {code}",
                        f"Argument over the requirements derived from {code}",
                    ),
                    node.id,
                )
                for child in derived:
                    _requirement(
                        case,
                        strategy.id,
                        child,
                        requirements,
                        children,
                        evidence,
                        decompositions,
                        finished,
                    )

    _judged_on(case, snapshot)
    _supplier(case, top.id, snapshot)
    _confirmation(case, top.id, snapshot)
    _signatures(case, snapshot)
    _propagate(case, finished)
    return case


def _judged_on(case: SafetyCase, snapshot: CaseSnapshot) -> None:
    """In the context of each requirement (else safety goal) an acceptance criterion speaks
    to: what the criterion's latest verdict was judged on, per scenario that fed it."""
    latest = {}
    for run in snapshot.runs:  # in entry order: a later run's verdict replaces an earlier one
        for verdict in run.verdicts:
            latest[verdict.criterion] = (run, verdict)
    for link in snapshot.criteria:
        if link.code not in latest:
            continue
        parent = next(
            (
                node_id
                for node_id in (
                    _goal_id(f"requirement:{link.requirement}") if link.requirement else None,
                    _goal_id(f"goal:{link.goal}") if link.goal else None,
                )
                if node_id in case.nodes
            ),
            None,
        )
        if parent is None:
            continue
        run, verdict = latest[link.code]
        case.add(
            Node(
                f"C:criterion:{link.code}",
                CONTEXT,
                f"{link.code} {verdict.verdict.replace('_', ' ')}",
                scope_breakdown(verdict),
                entry=run.entry,
                ref=f"criterion:{link.code}",
            ),
            parent,
            IN_CONTEXT_OF,
        )


def scope_breakdown(verdict) -> str:
    """What a verdict was judged on, in words: its scope, then per scenario that fed it the
    cases in scope, judged and failing."""
    if not verdict.scenarios:
        return f"not judged: no case in its scope ({verdict.scope or 'every case'})"
    per_scenario = "; ".join(
        f"{name} {in_scope}/{cases} in scope, {judged} judged, {failing} failing"
        for name, cases, in_scope, judged, failing in verdict.scenarios
    )
    return f"scope {verdict.scope or 'every case'}: {per_scenario}"


def _requirement(
    case, parent_id, root_code, requirements, children, evidence, decompositions, finished
):
    """Add the goal of ``root_code`` under ``parent_id`` and develop it, iteratively (a
    requirement reached twice is drawn once, with one more edge; cycles are cut). Each goal
    and strategy added is appended to ``finished`` once everything under it is added: in that
    order, each one's supporters come before it (see :func:`_propagate`).

    Each stack entry carries the depth of its path (the requirements from ``root_code`` down
    to its parent): the entries are popped depth first, so the path of the one popped is the
    first ``depth`` codes of the path last developed, kept in a list and a set."""
    stack = [(parent_id, root_code, 0)]
    path: list[str] = []  # the codes developed above the entry popped
    ends: list[tuple[str, str]] = []  # the goal and strategy of each code on the path
    on_path: set[str] = set()
    nodes, edges = case.nodes, case.edges
    while stack:
        parent, code, depth = stack.pop()
        while len(path) > depth:
            on_path.discard(path.pop())
            finished.extend(ends.pop())
        if code in on_path:
            continue  # a cycle of links: the ledger's link rules should have refused it
        goal_id = f"G:requirement:{code}"
        if goal_id in nodes:
            edges.append(Edge(parent, goal_id, SUPPORTED_BY))
            continue
        requirement = requirements[code]
        nodes[goal_id] = Node(
            goal_id,
            GOAL,
            f"{code} - ASIL {requirement.get('asil', 'QM')}",
            requirement.get("text") or requirement.get("title") or "",
            ref=f"requirement:{code}",
        )
        edges.append(Edge(parent, goal_id, SUPPORTED_BY))
        derived = children.get(code)
        splits = decompositions.get(code)
        rows = evidence.get(code)
        if not (derived or splits):
            if rows:
                _solutions(nodes, edges, goal_id, code, requirement, rows)
            finished.append(goal_id)
            continue
        text = f"Argument over the requirements derived from {code}"
        if splits:
            parts = "; ".join(" + ".join(s.children) for s in splits)
            text += f", with its ASIL decomposition into {parts} (ISO 26262-9)"
        strategy = f"S:requirement:{code}"
        case.add(Node(strategy, STRATEGY, f"S {code}", text), goal_id)
        for split in splits or ():
            case.add(
                Node(
                    f"Sn:{split.entry}:decomposition:{code}",
                    SOLUTION,
                    f"entry {split.entry}",
                    f"Decomposition record of {code}",
                    status=SUPPORTED,
                    entry=split.entry,
                    ref=f"decomposition:{code}",
                ),
                strategy,
            )
        path.append(code)
        on_path.add(code)
        ends.append((strategy, goal_id))
        # popped in code order
        stack.extend((strategy, child, depth + 1) for child in sorted(derived or (), reverse=True))
        if rows:  # after the children are stacked, so before them in the argument
            _solutions(nodes, edges, goal_id, code, requirement, rows)
    while path:
        path.pop()
        finished.extend(ends.pop())


def _solutions(nodes, edges, goal_id, code, requirement, rows) -> None:
    """The verifications of the requirement ``code`` under its goal, each judged against the
    version the snapshot holds."""
    current = int(requirement.get("version") or 1)
    for row in rows:
        if row.requirement_version > current:
            continue  # evidence for a later version than this baseline holds
        stale = row.requirement_version < current
        status = (
            STALE if stale else {"pass": SUPPORTED, "fail": CHALLENGED}.get(row.result, UNDEVELOPED)
        )
        text = f"{row.method}: {row.result} of v{row.requirement_version}"
        if stale:
            text += f", older than v{current}"
        node_id = f"Sn:{row.entry}:requirement:{code}:{row.method}"
        if node_id not in nodes:
            nodes[node_id] = Node(
                node_id,
                SOLUTION,
                f"entry {row.entry}",
                text,
                status=status,
                entry=row.entry,
                ref=f"verification:{code}",
            )
        edges.append(Edge(goal_id, node_id, SUPPORTED_BY))


def _supplier(case: SafetyCase, top: str, snapshot: CaseSnapshot) -> None:
    """The supplier's requirements imported from its certification package (a Safety Element
    out of Context, ISO 26262-8 clause 5): each a solution under the requirement of this project
    that cites it, or under a "Supplier evidence" strategy when none here cites it (or the
    citing requirement is not part of the argument)."""
    strategy = None
    for claim in snapshot.supplier_claims:
        package = claim.package
        index = package.entry.index
        status = {"pass": SUPPORTED, "fail": CHALLENGED}.get(claim.result, UNDEVELOPED)
        result = (
            f"{claim.method}: {claim.result} of v{claim.version}"
            if claim.result
            else f"no verification of v{claim.version}"
        )
        parent = _goal_id(f"requirement:{claim.cited_by}") if claim.cited_by else None
        if parent not in case.nodes:
            if strategy is None:
                strategy = case.add(
                    Node(
                        "S3",
                        STRATEGY,
                        "S3",
                        "Supplier evidence: the supplier's safety requirements, imported from "
                        "its verified certification package as a Safety Element out of Context",
                    ),
                    top,
                )
            parent = strategy.id
        case.add(
            Node(
                f"Sn:{index}:supplier:{package.origin}:{claim.code}",
                SOLUTION,
                f"entry {index}",
                f"{claim.code} ({result}) supported by supplier evidence: {package.origin} "
                f"checkpoint {package.size}, package {package.sha256[:12]}",
                status=status,
                entry=index,
                ref=f"supplier:{claim.code}",
            ),
            parent,
        )


def _confirmation(case: SafetyCase, top: str, snapshot: CaseSnapshot) -> None:
    asil = snapshot.highest_asil
    required = [
        (m, iso26262.required_independence(m.value, asil)) for m in iso26262.ConfirmationMeasure
    ]
    required = [(m, level) for m, level in required if level != iso26262.NO_REQUIREMENT]
    if not required:
        return
    strategy = case.add(
        Node(
            "S2",
            STRATEGY,
            "S2",
            f"Argument over the confirmation measures ISO 26262-2 Table 1 requires at ASIL {asil}",
        ),
        top,
    )
    by_measure = defaultdict(list)
    for row in snapshot.approvals:
        by_measure[row.measure].append(row)
    for measure, level in required:
        goal = case.add(
            Node(
                _goal_id(f"measure:{measure.value}"),
                GOAL,
                f"{measure.value} - {level}",
                f"{measure.label} is performed with independence {level} or more",
                ref=f"measure:{measure.value}",
            ),
            strategy.id,
        )
        for row in by_measure.get(measure.value, []):
            currency = snapshot.currency.get(row.entry)
            text = f"{row.reviewer} ({row.achieved}): {row.outcome.replace('_', ' ')}"
            if row.outcome not in CONFIRMED:
                status = CHALLENGED
            elif currency is not None and currency.stale:
                status = STALE
                text = f"STALE review: {text}; {currency.reason}"
            elif not iso26262.meets_independence(row.achieved, level):
                status = UNDEVELOPED
            else:
                status = SUPPORTED
            case.add(
                Node(
                    f"Sn:{row.entry}:approval",
                    SOLUTION,
                    f"entry {row.entry}",
                    text,
                    status=status,
                    entry=row.entry,
                    ref=f"approval:{measure.value}",
                ),
                goal.id,
            )


def _signatures(case: SafetyCase, snapshot: CaseSnapshot) -> None:
    """Each review signature beside the goal of the work product it signed, in its context: a
    review speaks to the requirement's adequacy, not to its being met, so it neither supports
    nor challenges the goal; a stale one says so, a withdrawn one is left out."""
    for row in snapshot.signatures:
        goal = _goal_id(row.key)
        if row.state == "revoked" or goal not in case.nodes:
            continue
        level = f"{row.achieved} of {row.required}" if row.required else "as author"
        text = f"{row.signer} signed {row.decision} as {row.meaning} ({level}) in {row.review}"
        if row.comment:
            text += f": {row.comment}"
        status = CHALLENGED if row.decision == "reject" else SUPPORTED
        if row.state == "stale":
            status, text = STALE, f"STALE signature: {text}; {row.reason}"
        case.add(
            Node(
                f"C:{row.entry}:signature",
                CONTEXT,
                f"entry {row.entry}",
                text,
                status=status,
                entry=row.entry,
                ref=f"signature:{row.key}",
            ),
            goal,
            IN_CONTEXT_OF,
        )


def _propagate(case: SafetyCase, finished: list[str] = ()) -> None:
    """Statuses bottom-up: first the nodes of ``finished`` in that order (each one's
    supporters come before it: the order in which :func:`_requirement` finished them), then
    the rest by an iterative post-order walk (so deep trees do not exhaust the stack)."""
    nodes = case.nodes
    supporters_of = case._targets(SUPPORTED_BY)  # indexed once: no edge is added below
    done: set[str] = set()
    for node_id in finished:
        _judge(nodes, node_id, supporters_of.get(node_id, ()))
        done.add(node_id)
    for start, first in nodes.items():
        if start in done or first.type in (SOLUTION, CONTEXT):
            continue
        stack = [(start, False)]
        visiting: set[str] = set()
        while stack:
            node_id, expanded = stack.pop()
            if node_id in done:
                continue
            node = nodes[node_id]
            if node.type in (SOLUTION, CONTEXT):
                done.add(node_id)
                continue
            supporters = supporters_of.get(node_id, ())
            if not expanded:
                visiting.add(node_id)
                stack.append((node_id, True))
                stack.extend((s, False) for s in supporters if s not in done and s not in visiting)
                continue
            visiting.discard(node_id)
            _judge(nodes, node_id, supporters)
            done.add(node_id)


def _judge(nodes, node_id: str, supporters) -> None:
    """A goal or strategy takes the most severe status among its supporters (undeveloped when
    none has one); one with no supporter is undeveloped."""
    node = nodes[node_id]
    if not supporters:
        node.status, node.undeveloped = UNDEVELOPED, True
        return
    found = {nodes[s].status for s in supporters}
    node.status = next((status for status in _MOST_SEVERE_FIRST if status in found), UNDEVELOPED)


_MOST_SEVERE_FIRST = sorted(STATUSES, key=_SEVERITY.__getitem__, reverse=True)
