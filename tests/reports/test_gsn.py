"""The GSN safety case: statuses produced deliberately, propagation, layout, SVG and drawing."""

import xml.etree.ElementTree as ET

import pytest

from compliance import services
from compliance.models import Requirement
from evidence.models import LogEntry
from projects.models import Role
from reports import gsn, selectors
from reports.gsn import CHALLENGED, STALE, SUPPORTED, UNDEVELOPED, Edge, Node, SafetyCase
from reports.gsn.argument import _propagate

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = 'Brake <script>alert("x")</script> & stop ]]> \x01 "quoted" \'single\''


@pytest.fixture
def people(project, make_member):
    return {
        "sam": make_member(
            project, Role.SAFETY_MANAGER, "sam", "Safety", "Vehicle Safety", recorded=True
        ),
        "erin": make_member(
            project, Role.ENGINEER, "erin", "Perception", "Engineering", recorded=True
        ),
        "ada": make_member(
            project, Role.ASSESSOR, "ada", "Assessment", "Assessment", recorded=True
        ),
        "vic": make_member(project, Role.VIEWER, "vic"),
    }


@pytest.fixture
def model(db, project, people):
    """Four safety goals, one requirement each, evidence chosen to give each status once:
    REQ-A passes (supported), REQ-B fails (challenged), REQ-C passed before it changed
    (stale) and REQ-D has no evidence (undeveloped)."""
    sam, erin = people["sam"], people["erin"]
    services.item_set(user=sam, project=project, function=HOSTILE, odd="Dry motorways by day")
    reqs = {}
    for letter in "ABCD":
        goal = services.safety_goal_save(
            user=sam, project=project, code=f"SG-{letter}", text=f"Goal {letter}"
        )
        reqs[letter] = services.requirement_create(
            user=erin,
            project=project,
            code=f"REQ-{letter}",
            kind="FSR",
            text=f"Requirement {letter}",
            asil="QM",
        )
        services.link_create(
            user=erin,
            project=project,
            source=reqs[letter],
            kind="derives-from",
            target_goal=goal,
        )
    for letter, result in (("A", "pass"), ("B", "fail"), ("C", "pass")):
        services.verification_record(
            user=erin, project=project, requirement=reqs[letter], method="hil", result=result
        )
    services.requirement_update(
        user=erin, requirement=Requirement.objects.get(pk=reqs["C"].pk), text="Changed"
    )
    services.approval_record(
        user=people["ada"],
        project=project,
        measure="hara",
        work_product="HARA",
        author=sam,
        asil="QM",
        outcome="confirmed",
    )
    return reqs


def case_of(project, user, **kwargs):
    return gsn.build(selectors.case_snapshot(user=user, project=project, **kwargs))


def test_each_status_comes_from_its_evidence(project, people, model):
    case = case_of(project, people["vic"])
    assert case.status_of("requirement:REQ-A") == SUPPORTED
    assert case.status_of("requirement:REQ-B") == CHALLENGED
    assert case.status_of("requirement:REQ-C") == STALE
    assert case.status_of("requirement:REQ-D") == UNDEVELOPED
    assert case.nodes["G:requirement:REQ-D"].undeveloped  # the diamond decorator
    assert not case.nodes["G:requirement:REQ-A"].undeveloped
    for letter, status in zip("ABCD", (SUPPORTED, CHALLENGED, STALE, UNDEVELOPED), strict=True):
        assert case.status_of(f"goal:SG-{letter}") == status
    assert case.status_of("measure:hara") == SUPPORTED


def test_status_propagates_to_the_top_goal_and_the_gate(project, people, model):
    case = case_of(project, people["vic"])
    assert case.status == CHALLENGED
    assert case.nodes["S1"].status == CHALLENGED
    gate = case.release_gate()
    assert gate["passed"] is False
    assert "G:requirement:REQ-D" in gate["undeveloped"]
    stale = [i for i in gate["unsupported_solutions"] if ":requirement:REQ-C:" in i]
    assert len(stale) == 1


def test_solutions_point_at_ledger_entries(project, people, model):
    case = case_of(project, people["vic"])
    solutions = [n for n in case.nodes.values() if n.type == gsn.SOLUTION]
    assert solutions
    for node in solutions:
        entry = LogEntry.objects.get(project=project, index=node.entry)
        assert entry.kind in ("validation-result", "approval", "decision")
    assert case.cited_entries() == sorted({n.entry for n in solutions})


def test_a_baseline_keeps_the_evidence_current_it_had(project, people, model):
    baseline = services.baseline_freeze(user=people["sam"], project=project, name="B1")
    services.requirement_update(
        user=people["erin"], requirement=Requirement.objects.get(code="REQ-A"), text="Changed"
    )
    live = case_of(project, people["vic"])
    frozen = case_of(project, people["vic"], baseline=baseline)
    assert live.status_of("requirement:REQ-A") == STALE
    assert frozen.status_of("requirement:REQ-A") == SUPPORTED
    assert frozen.nodes["C3"].entry == baseline.entry.index


def test_evidence_after_the_checkpoint_is_not_used(project, people, model):
    checkpoint = selectors.latest_checkpoint(project)
    services.verification_record(
        user=people["erin"], project=project, requirement=model["D"], method="hil", result="pass"
    )
    assert case_of(project, people["vic"]).status_of("requirement:REQ-D") == SUPPORTED
    earlier = case_of(project, people["vic"], checkpoint=checkpoint)
    assert earlier.status_of("requirement:REQ-D") == UNDEVELOPED


def test_a_newer_verification_supersedes_an_older_one(project, people, model):
    services.verification_record(
        user=people["erin"], project=project, requirement=model["B"], method="hil", result="pass"
    )
    case = case_of(project, people["vic"])
    assert case.status_of("requirement:REQ-B") == SUPPORTED
    assert len(case.supporters("G:requirement:REQ-B")) == 1


def test_the_json_form_lists_nodes_and_edges(project, people, model):
    data = case_of(project, people["vic"]).to_json()
    ids = {n["id"] for n in data["nodes"]}
    assert data["root"] == "G0" and "G0" in ids
    assert all(e["from"] in ids and e["to"] in ids for e in data["edges"])
    assert {n["type"] for n in data["nodes"]} == {"goal", "strategy", "solution", "context"}
    assert {e["kind"] for e in data["edges"]} == {"supportedBy", "inContextOf"}
    assert sum(data["counts"].values()) == sum(1 for n in data["nodes"] if n["status"])


def test_the_viewer_needs_to_be_a_member(project, outsider, model):
    from django.http import Http404

    with pytest.raises(Http404):
        selectors.case_snapshot(user=outsider, project=project)


def test_the_svg_is_well_formed_and_escapes_hostile_text(project, people, model):
    case = case_of(project, people["vic"])
    svg = gsn.to_svg(case)
    assert "<script>" not in svg and "\x01" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    groups = root.findall(f".//{SVG}g[@class]")
    nodes = [g for g in groups if g.get("class").startswith("gsn-node ")]
    assert len(nodes) == len(case.nodes)
    text = "".join(root.itertext())
    assert "<script>alert" in text  # shown literally, as text
    statuses = {g.get("data-status") for g in nodes}
    assert {SUPPORTED, CHALLENGED, STALE, UNDEVELOPED} <= statuses
    assert root.findall(f".//{SVG}circle") and root.findall(f".//{SVG}rect[@rx]")
    assert root.findall(f".//{SVG}polygon[@class='gsn-undeveloped']")


def test_the_layout_does_not_overlap(project, people, model):
    plan = gsn.layout(case_of(project, people["vic"]))
    boxes = list(plan.boxes.values())
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.y >= 0 and a.x + a.w <= plan.width and a.bottom <= plan.height
        for b in boxes[i + 1 :]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.bottom <= b.y or b.bottom <= a.y
            assert apart, (a, b)


def test_the_drawing_renders_with_reportlab(project, people, model):
    from reportlab.graphics import renderPDF

    drawing = gsn.to_drawing(case_of(project, people["vic"]), max_width=400, max_height=300)
    assert drawing.width <= 400 and drawing.height <= 300
    assert renderPDF.drawToString(drawing).startswith(b"%PDF")


def hand_made(*statuses):
    case = SafetyCase()
    case.add(Node("G0", gsn.GOAL, "G0", "top"))
    case.add(Node("S", gsn.STRATEGY, "S", "over"), "G0")
    for n, status in enumerate(statuses):
        case.add(Node(f"Sn{n}", gsn.SOLUTION, "Sn", "evidence", status=status), "S")
    _propagate(case)
    return case


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ((SUPPORTED, SUPPORTED), SUPPORTED),
        ((SUPPORTED, UNDEVELOPED), UNDEVELOPED),
        ((UNDEVELOPED, STALE, SUPPORTED), STALE),
        ((STALE, CHALLENGED, UNDEVELOPED), CHALLENGED),
        ((), UNDEVELOPED),
    ],
)
def test_the_propagation_rule(statuses, expected):
    case = hand_made(*statuses)
    assert case.status == expected
    assert case.nodes["S"].undeveloped is (not statuses)


def test_deep_and_wide_trees_lay_out_without_recursion():
    case = SafetyCase()
    case.add(Node("G0", gsn.GOAL, "G0", "top"))
    parent = "G0"
    for n in range(3000):  # deeper than Python's recursion limit
        case.add(Node(f"G{n + 1}", gsn.GOAL, "G", "step"), parent)
        parent = f"G{n + 1}"
    for n in range(200):  # a wide fan of leaves
        case.add(Node(f"F{n}", gsn.GOAL, "F", "leaf"), "G0")
    _propagate(case)
    assert case.status == UNDEVELOPED
    plan = gsn.layout(case)
    assert len(plan.boxes) == len(case.nodes)
    assert plan.width < 7 * 200  # the fan wraps into rows of gsn.FAN


def test_cycles_and_second_parents_are_drawn_once():
    case = SafetyCase()
    case.add(Node("G0", gsn.GOAL, "G0", "top"))
    case.add(Node("A", gsn.GOAL, "A", "a"), "G0")
    case.add(Node("B", gsn.GOAL, "B", "b"), "G0")
    case.add(Node("C", gsn.SOLUTION, "C", "c", status=SUPPORTED), "A")
    case.edges.append(Edge("B", "C", gsn.SUPPORTED_BY))
    case.edges.append(Edge("C", "A", gsn.SUPPORTED_BY))  # a cycle through a solution
    _propagate(case)
    plan = gsn.layout(case)
    assert sorted(plan.boxes) == ["A", "B", "C", "G0"]
    assert len(plan.edges) == 5
    ET.fromstring(gsn.to_svg(case))


def test_characters_xml_forbids_are_dropped():
    case = SafetyCase()
    case.add(Node("G0", gsn.GOAL, "G\ud800", "a\x00b\x1fc\ufffe & <d>"))
    _propagate(case)
    root = ET.fromstring(gsn.to_svg(case))
    assert "abc & <d>" in "".join(root.itertext())


def test_figures_split_a_large_case_to_fit_the_page():
    case = SafetyCase()
    case.add(Node("G0", gsn.GOAL, "G0", "top"))
    case.add(Node("S", gsn.STRATEGY, "S", "over"), "G0")
    for n in range(60):
        case.add(Node(f"G{n}", gsn.GOAL, f"G{n}", "goal"), "S")
        for m in range(8):
            case.add(Node(f"Sn{n}.{m}", gsn.SOLUTION, "Sn", "e", status=SUPPORTED), f"G{n}")
    _propagate(case)
    parts = gsn.figures(case, max_width=770, max_height=480, budget=100)
    assert parts[0][1] == "G0"
    drawn = {i for _, _, ids in parts for i in ids}
    assert drawn == set(case.nodes)
    for _, root, ids in parts:
        plan = gsn.layout(case, root, ids)
        assert min(770 / plan.width, 480 / plan.height) >= 0.5


def test_a_cycle_of_links_is_cut_and_a_second_parent_gets_an_edge():
    """R1 <- R2 <- R3 <- R1 is a cycle (cut where it closes); R4 derives from R2 and from R1
    (drawn once under R2, with a second edge from R1); R5 from R4."""
    parents = {"R1": "SG-1", "R2": "R1", "R3": "R2", "R4": "R2", "R5": "R4"}
    links = [*parents.items(), ("R1", "R3"), ("R4", "R1")]
    content = {"goal:SG-1": {"code": "SG-1", "text": "Goal", "asil": "B"}}
    for code in parents:
        content[f"requirement:{code}"] = {"code": code, "text": code, "asil": "B", "version": 1}
    for source, target in links:
        content[f"link:{source}>derives-from>{target}"] = {
            "source": source,
            "kind": "derives-from",
            "target": target,
            "suspect": False,
        }
    case = gsn.build(selectors.CaseSnapshot("P", "P", "", content, size=1))
    under = {
        (e.source.split(":")[-1], e.target.split(":")[-1])
        for e in case.edges
        if e.source.startswith("S:requirement:")
    }
    assert under == {("R1", "R2"), ("R2", "R3"), ("R2", "R4"), ("R4", "R5"), ("R1", "R4")}
    assert case.nodes["S:requirement:R3"].undeveloped  # its only child closed the cycle
    assert [n for n in case.nodes if n == "G:requirement:R1"] == ["G:requirement:R1"]


def test_a_pickled_case_is_the_same_case(project, people, model):
    import pickle

    case = case_of(project, people["vic"])
    again = pickle.loads(pickle.dumps(case))
    assert again.to_json() == case.to_json()
    assert again.supporters("G0") == case.supporters("G0")
    ET.fromstring(gsn.to_svg(again))
