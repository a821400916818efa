"""Reviews bound to what they confirmed: a change after a review makes it stale everywhere it is
shown, a changed requirement goes back to review with its ledger entry, and the gap analysis
lists what is missing, each gap with the items it is about."""

import base64
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from compliance import selectors, services
from compliance.models import Requirement
from evidence.models import LogEntry
from reports import gsn, pdf
from reports import selectors as report_selectors

pytestmark = pytest.mark.django_db
GAPS = "/api/v1/projects/AEB/gaps/"


def statement(entry: LogEntry) -> dict:
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


def last_entry(project, subject: str) -> LogEntry:
    return LogEntry.objects.filter(project=project, subject=subject).order_by("-index").first()


def event(project, user, code, hazard, situation, s="S3", e="E4", c="C3", why="why S"):
    return services.hazardous_event_save(
        user=user,
        project=project,
        code=code,
        hazard=hazard,
        situation=situation,
        severity=s,
        exposure=e,
        controllability=c,
        severity_rationale=why,
        exposure_rationale="why E",
        controllability_rationale="why C",
    )


@pytest.fixture
def people(project, make_member):
    return {
        "author": make_member(project, "engineer", "author", "AEB", "ADAS", recorded=True),
        "manager": make_member(project, "safety_manager", "mgr", "Safety", "ADAS", recorded=True),
        "assessor": make_member(
            project, "assessor", "assessor", "FSA", "Independent Assessment", recorded=True
        ),
    }


@pytest.fixture
def case(project, people):
    """A HARA with one goal and one requirement derived from it, the requirement approved and
    the HARA and the functional safety concept confirmed."""
    author, manager = people["author"], people["manager"]
    hazard = services.hazard_create(user=author, project=project, code="H-01", title="Braking")
    situation = services.situation_create(
        user=author, project=project, code="OS-01", description="Motorway"
    )
    he1 = event(project, author, "HE-01", hazard, situation)
    goal = services.safety_goal_save(
        user=author, project=project, code="SG-01", text="Avoid braking", events=[he1]
    )
    fsr = services.requirement_create(
        user=author, project=project, code="FSR-001", kind="FSR", text="Brake.", asil="D"
    )
    services.link_create(
        user=author, project=project, source=fsr, kind="derives-from", target_goal=goal
    )
    fsr = services.requirement_review(user=manager, requirement=fsr, status="approved")
    approvals = {
        measure: services.approval_record(
            user=people["assessor"],
            project=project,
            measure=measure,
            work_product=measure,
            author=author,
            asil="D",
            outcome="confirmed",
        )
        for measure in ("hara", "functional_safety_concept")
    }
    return {
        "hazard": hazard,
        "situation": situation,
        "event": he1,
        "goal": goal,
        "fsr": fsr,
        "approvals": approvals,
    }


def pack_text(project, user, baseline=None) -> str:
    """The evidence pack of ``baseline`` (the latest) at the latest checkpoint, as text."""
    from pypdf import PdfReader

    baseline = baseline or report_selectors.baseline_named(project)
    checkpoint = report_selectors.latest_checkpoint(project)
    snapshot = report_selectors.case_snapshot(
        user=user, project=project, baseline=baseline, checkpoint=checkpoint
    )
    data = pdf.render(
        snapshot,
        gsn.build(snapshot),
        report_selectors.register_rows(project, checkpoint.size),
        compress=False,
    ).data
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def stale_ids(project) -> set[int]:
    return {a.pk for a in selectors.approval_currency(project=project).values() if a.stale}


class TestCitations:
    def test_the_hara_review_cites_each_event_and_goal_and_the_entry_their_digest(
        self, project, case
    ):
        hara = case["approvals"]["hara"]
        assert sorted(hara.cited) == ["event:HE-01", "goal:SG-01"]
        cites = statement(hara.entry)["predicate"]["content"]["cites"]
        assert cites["count"] == 2 and cites["items"] == hara.cited
        assert len(cites["digest"]) == 64
        assert sorted(case["approvals"]["functional_safety_concept"].cited) == [
            "requirement:FSR-001"
        ]

    def test_the_approval_of_a_requirement_cites_its_content(self, project, case):
        fsr = case["fsr"]
        assert (fsr.approved_version, len(fsr.approved_digest)) == (1, 64)
        predicate = statement(last_entry(project, "requirement:FSR-001"))["predicate"]
        assert predicate["approvedDigest"] == fsr.approved_digest

    def test_nothing_is_stale_right_after_the_reviews(self, project, case):
        assert stale_ids(project) == set()
        gaps = selectors.gap_analysis(project=project)
        assert gaps["stale_reviews"]["count"] == 0
        assert gaps["approvals"]["stale"] == []
        assert gaps["approved"] == {
            "count": 1,
            "by_asil": {"QM": 0, "A": 0, "B": 0, "C": 0, "D": 1},
        }


class TestChangesAfterTheReviews:
    @pytest.fixture
    def changed(self, project, people, case):
        author = people["author"]
        services.hazardous_event_save(
            user=author, project=project, event=case["event"], severity_rationale="fatal"
        )
        services.safety_goal_save(
            user=author, project=project, goal=case["goal"], text="Avoid unintended braking"
        )
        services.requirement_update(user=author, requirement=case["fsr"], text="Brake later.")
        return case

    def test_the_reviews_are_stale_in_the_selector(self, project, changed):
        currency = selectors.approval_currency(project=project)
        hara = currency[changed["approvals"]["hara"].pk]
        assert hara.stale and hara.changed == ["event:HE-01", "goal:SG-01"]
        assert "HE-01" in hara.reason and "SG-01" in hara.reason
        fsc = currency[changed["approvals"]["functional_safety_concept"].pk]
        assert fsc.changed == ["requirement:FSR-001"]
        stale = selectors.stale_reviews(project=project)
        assert stale["count"] == 3
        assert [r["code"] for r in stale["requirements"]] == ["FSR-001"]
        assert stale["requirements"][0]["approved_version"] == 1

    def test_the_requirement_is_back_in_review_with_its_ledger_entry(self, project, changed):
        fsr = Requirement.objects.get(pk=changed["fsr"].pk)
        assert (fsr.status, fsr.version, fsr.approved_version) == ("in_review", 2, 1)
        predicate = statement(last_entry(project, "requirement:FSR-001"))["predicate"]
        assert predicate["content"]["version"] == 2
        assert predicate["status"]["from"] == "approved"
        assert predicate["status"]["to"] == "in_review"
        assert "version 1" in predicate["status"]["reason"]
        assert "stale" in predicate["status"]["reason"]
        assert "status" in predicate["changed"]

    def test_the_gap_analysis_and_approved_share_leave_them_out(self, project, changed):
        gaps = selectors.gap_analysis(project=project)
        stale = gaps["stale_reviews"]
        assert {a["id"] for a in stale["approvals"]} == {
            a.pk for a in changed["approvals"].values()
        }
        assert stale["requirements"][0]["id"] == changed["fsr"].pk
        assert {m["measure"] for m in gaps["approvals"]["stale"]} == {
            "hara",
            "functional_safety_concept",
        }
        assert "hara" not in {m["measure"] for m in gaps["approvals"]["missing"]}
        assert gaps["release_ready"] is False
        assert gaps["approved"]["count"] == 0

    def test_the_api_gap_analysis_lists_them(self, project, api, members, changed):
        body = api(members["viewer"]).get(GAPS).json()
        assert body["stale_reviews"]["count"] == 3
        assert body["stale_reviews"]["requirements"][0]["code"] == "FSR-001"
        assert {m["measure"] for m in body["approvals"]["stale"]} == {
            "hara",
            "functional_safety_concept",
        }

    def test_the_pages_show_them_stale(self, project, client, members, changed):
        client.force_login(members["viewer"])
        dashboard = client.get(reverse("ui:dashboard", args=["AEB"])).content.decode()
        gap = dashboard.split('id="gap-reviews"')[1].split("</li>")[0]
        assert "<strong>3</strong> stale reviews" in gap
        assert reverse("ui:requirement", args=["AEB", "FSR-001"]) + "#approval" in gap
        hara_id = changed["approvals"]["hara"].pk
        assert f"#approval-{hara_id}" in gap
        coverage = dashboard.split('id="cov-h"')[1]
        # The approved share of ASIL D, the last cell of its row (the count links to the list)
        assert ">0</a> <small>(0%)</small></td>\n      </tr>" in coverage.split(">D<")[1]
        page = client.get(reverse("ui:requirement", args=["AEB", "FSR-001"])).content.decode()
        assert "The approval of version 1 is" in page and "back in review" in page
        confirmation = client.get(reverse("ui:confirmation", args=["AEB"])).content.decode()
        row = confirmation.split(f'id="approval-{hara_id}"')[1].split("</div>")[0]
        assert "stale" in row and "changed since the review: HE-01, SG-01" in row

    def test_the_gsn_marks_the_reviews_stale_and_dashed(self, project, client, members, changed):
        snapshot = report_selectors.case_snapshot(user=members["viewer"], project=project)
        case = gsn.build(snapshot)
        for approval in changed["approvals"].values():
            node = case.nodes[f"Sn:{approval.entry.index}:approval"]
            assert node.status == "stale" and node.text.startswith("STALE review")
        hara = case.nodes[f"Sn:{changed['approvals']['hara'].entry.index}:approval"]
        assert "changed since the review: HE-01, SG-01" in hara.text
        assert case.nodes["G:measure:hara"].status == "stale"
        client.force_login(members["viewer"])
        svg = client.get(reverse("ui:gsn-svg", args=["AEB"])).content.decode()
        stale = [g for g in svg.split("<g ")[1:] if 'data-status="stale"' in g]
        assert stale and all('stroke-dasharray="4 2"' in g for g in stale)
        assert any("STALE review" in g for g in stale)
        # the PDF figure draws the same nodes dashed
        drawing = gsn.to_drawing(case, max_width=2000, max_height=2000)
        shapes = drawing.contents[0].contents
        assert sum(1 for shape in shapes if getattr(shape, "strokeDashArray", None)) >= 3

    def test_the_evidence_pack_says_stale_never_met(self, project, people, changed):
        services.baseline_freeze(user=people["manager"], project=project, name="after")
        text = pack_text(project, people["assessor"])
        table = text.split("Measure Required State Approvals (achieved independence)")[1]
        hara = table.split("(incl. safety goals)")[1].split("Confirmation review")[0]
        assert hara.startswith(" I3 STALE assessor I3 confirmed (stale) #") and " met" not in hara
        assert "confirmed, STALE" in table.split("Approvals Work product")[1]
        assert "STALE for this revision (changed since the review: HE-01, SG-01)" in text
        assert "Stale reviews (cite other content than this baseline) 3 reviews" in text
        assert "Stale requirement approvals: FSR-001 (approved v1, baseline holds v2" in text
        assert "Confirmation measures whose reviews are all stale: hara" in text

    def test_the_evidence_pack_judges_reviews_as_of_its_baseline(self, project, people, case):
        before = services.baseline_freeze(user=people["manager"], project=project, name="b0")
        services.requirement_update(user=people["author"], requirement=case["fsr"], text="Later.")
        services.safety_goal_save(
            user=people["author"], project=project, goal=case["goal"], text="Changed"
        )
        text = pack_text(project, people["assessor"], baseline=before)
        assert "Stale reviews (cite other content than this baseline) 0 reviews" in text
        assert "STALE" not in text.split("Confirmation measures and approvals")[-1][:3000]
        assert "Stale requirement approvals: none" in text

    def test_a_new_event_or_goal_makes_the_hara_review_stale(self, project, people, case):
        hara = case["approvals"]["hara"].pk
        event(project, people["author"], "HE-02", case["hazard"], case["situation"], s="S2")
        assert selectors.approval_currency(project=project)[hara].added == ["event:HE-02"]
        services.safety_goal_save(user=people["author"], project=project, code="SG-02", text="x")
        assert selectors.approval_currency(project=project)[hara].added == [
            "event:HE-02",
            "goal:SG-02",
        ]

    def test_a_review_against_a_baseline_cites_the_baseline(self, project, people, case):
        baseline = services.baseline_freeze(user=people["manager"], project=project, name="b1")
        services.requirement_update(user=people["author"], requirement=case["fsr"], text="New.")
        approval = services.approval_record(
            user=people["assessor"],
            project=project,
            measure="functional_safety_concept",
            work_product="FSC at b1",
            author=people["author"],
            asil="D",
            outcome="confirmed",
            baseline=baseline,
        )
        currency = selectors.approval_currency(project=project)[approval.pk]
        assert currency.changed == ["requirement:FSR-001"]  # b1 holds version 1

    def test_approved_share_counts_only_approvals_of_the_current_content(
        self, project, client, members, case
    ):
        # A row changed outside the services (as data from before approvals were bound would
        # be): the approval does not cite this content, so it is not counted.
        Requirement.objects.filter(pk=case["fsr"].pk).update(text="Changed elsewhere.")
        assert selectors.gap_analysis(project=project)["approved"]["count"] == 0
        client.force_login(members["viewer"])
        dashboard = client.get(reverse("ui:dashboard", args=["AEB"])).content.decode()
        row = dashboard.split('id="cov-h"')[1].split(">D<")[1].split("</tr>")[0]
        assert row.rstrip().endswith(">0</a> <small>(0%)</small></td>")


class TestLifeCycle:
    def test_an_engineer_cannot_take_an_approved_requirement_to_draft(self, project, people, case):
        with pytest.raises(ValidationError) as refused:
            services.requirement_update(
                user=people["author"], requirement=case["fsr"], status="draft"
            )
        message = refused.value.message_dict["status"][0]
        assert "from approved to draft" in message and "in_review" in message
        assert Requirement.objects.get(pk=case["fsr"].pk).status == "approved"

    def test_a_retired_requirement_comes_back_only_as_a_draft(self, project, people, case):
        manager = people["manager"]
        fsr = services.requirement_review(user=manager, requirement=case["fsr"], status="obsolete")
        with pytest.raises(ValidationError, match="from obsolete to approved"):
            services.requirement_review(user=manager, requirement=fsr, status="approved")
        fsr = services.requirement_review(user=manager, requirement=fsr, status="draft")
        assert fsr.status == "draft"

    def test_an_engineer_may_send_to_review_and_withdraw(self, project, people):
        fsr = services.requirement_create(
            user=people["author"], project=project, code="FSR-9", kind="FSR"
        )
        fsr = services.requirement_update(
            user=people["author"], requirement=fsr, status="in_review"
        )
        fsr = services.requirement_update(user=people["author"], requirement=fsr, status="draft")
        assert fsr.status == "draft"
        step = statement(last_entry(project, "requirement:FSR-9"))["predicate"]["status"]
        assert step == {"from": "in_review", "to": "draft"}

    def test_an_import_that_changes_an_approved_requirement_sends_it_back_to_review(
        self, project, people, case
    ):
        from compliance.interchange.tables import table_import

        before = LogEntry.objects.filter(project=project).count()
        table_import(
            user=people["author"],
            project=project,
            data=b"code,kind,text,asil\nFSR-001,FSR,Brake harder.,D\n",
            filename="changes.csv",
        )
        fsr = Requirement.objects.get(pk=case["fsr"].pk)
        assert (fsr.status, fsr.version, fsr.approved_version) == ("in_review", 2, 1)
        entry = last_entry(project, "requirement:FSR-001")
        assert entry.index >= before  # recorded by the import, beside its own entry
        predicate = statement(entry)["predicate"]
        assert predicate["status"]["from"] == "approved"
        assert predicate["status"]["to"] == "in_review"
        assert "the approval of version 1" in predicate["status"]["reason"]
        assert predicate["content"]["text"] == "Brake harder."
        assert LogEntry.objects.filter(project=project).count() == before + 2
        assert [r["code"] for r in selectors.stale_requirement_approvals(project=project)] == [
            "FSR-001"
        ]

    def test_a_reviewer_approving_again_makes_the_approval_current(self, project, people, case):
        fsr = services.requirement_update(
            user=people["author"], requirement=case["fsr"], text="Brake later."
        )
        assert selectors.stale_requirement_approvals(project=project)
        fsr = services.requirement_review(
            user=people["manager"], requirement=fsr, status="approved"
        )
        assert fsr.approved_version == 2
        assert selectors.stale_requirement_approvals(project=project) == []


class TestGaps:
    def test_a_rated_event_without_a_goal_is_listed_and_a_qm_one_is_not(
        self, project, people, case
    ):
        he2 = event(
            project, people["author"], "HE-02", case["hazard"], case["situation"], s="S2", c="C2"
        )
        event(project, people["author"], "HE-03", case["hazard"], case["situation"], s="S0")
        gap = selectors.gap_analysis(project=project)["events_without_goal"]
        assert gap == {"count": 1, "items": [{"id": he2.pk, "code": "HE-02", "asil": he2.asil}]}
        assert he2.asil == "B"

    def test_a_goal_without_a_derived_requirement_is_listed(self, project, people, case):
        sg2 = services.safety_goal_save(
            user=people["author"], project=project, code="SG-02", text="Brake", events=[]
        )
        gaps = selectors.gap_analysis(project=project)
        assert gaps["goals_without_requirements"]["items"] == [
            {"id": sg2.pk, "code": "SG-02", "asil": "QM"}
        ]
        assert gaps["release_ready"] is False

    def test_a_decomposition_child_not_linked_to_its_parent_is_listed(self, project, people, case):
        author = people["author"]
        children = [
            services.requirement_create(
                user=author, project=project, code=code, kind="TSR", asil="B(D)"
            )
            for code in ("TSR-001", "TSR-002")
        ]
        services.decomposition_record(
            user=author,
            project=project,
            parent=case["fsr"],
            first=children[0],
            second=children[1],
            elements="camera and radar",
            dependent_failure_analysis="DFA-01",
        )
        services.link_create(
            user=author,
            project=project,
            source=children[0],
            kind="derives-from",
            target_requirement=case["fsr"],
        )
        gap = selectors.gap_analysis(project=project)["unlinked_decomposition_children"]
        assert [(c["code"], c["parent"], c["id"]) for c in gap["items"]] == [
            ("TSR-002", "FSR-001", children[1].pk)
        ]

    def test_requirements_without_verification_are_listed_with_their_ids(self, project, case):
        gap = selectors.gap_analysis(project=project)["without_verification"]
        assert gap["items"] == [{"id": case["fsr"].pk, "code": "FSR-001"}]

    def test_the_dashboard_links_each_gap_to_its_item(self, project, people, client, case):
        event(project, people["author"], "HE-02", case["hazard"], case["situation"], s="S2")
        services.safety_goal_save(user=people["author"], project=project, code="SG-02", text="x")
        client.force_login(people["author"])
        page = client.get(reverse("ui:dashboard", args=["AEB"])).content.decode()
        assert reverse("ui:hazardous-event", args=["AEB", "HE-02"]) in page
        assert reverse("ui:hara", args=["AEB"]) + "#goal-SG-02" in page
        assert reverse("ui:requirement", args=["AEB", "FSR-001"]) in page

    def test_the_api_gap_analysis_lists_criteria_without_a_case_in_scope(
        self, project, people, api, members, case
    ):
        criterion = services.acceptance_criterion_save(
            user=people["author"],
            project=project,
            code="AC-01",
            goal=case["goal"],
            unit="cases",
            allowed_failure_probability=0.01,
            confidence=0.9,
            description="no run judged it",
            scope={"scenarios": ["CCRs"]},
        )
        body = api(members["viewer"]).get(GAPS).json()
        assert body["criteria_without_cases"] == {
            "count": 1,
            "items": [{"id": criterion.pk, "code": "AC-01"}],
        }
        assert body["release_ready"] is False
        # compliance's own analysis leaves the field to the app that holds the runs
        assert "criteria_without_cases" not in selectors.gap_analysis(project=project)
