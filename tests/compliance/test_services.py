"""The compliance services: rules enforced on write, ledger entries, suspect links, baselines,
confirmation measures and SOTIF targets, with the numbers of the domain reference."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compliance import selectors, services
from compliance.models import (
    HazardousEvent,
    Requirement,
    SafetyGoal,
    TraceLink,
    Verification,
)
from evidence.models import LogEntry
from evidence.verification import verify_project

pytestmark = pytest.mark.django_db

# The demo HARA (S, E, C and the ASIL REFERENCE.md §1.2 gives for them).
DEMO_EVENTS = [
    ("HE-01", "S3", "E4", "C3", "D"),
    ("HE-02", "S2", "E4", "C2", "B"),
    ("HE-03", "S3", "E3", "C3", "C"),
    ("HE-04", "S3", "E2", "C3", "B"),
    ("HE-05", "S1", "E4", "C2", "A"),
    ("HE-06", "S0", "E4", "C1", "QM"),
]


def entries(project) -> int:
    return LogEntry.objects.filter(project=project).count()


@pytest.fixture
def engineer(members):
    return members["engineer"]


@pytest.fixture
def hara(project, engineer):
    hazard = services.hazard_create(
        user=engineer, project=project, code="H-01", title="Unintended full braking"
    )
    situation = services.situation_create(
        user=engineer, project=project, code="OS-01", description="Motorway at 100 km/h"
    )
    events = {}
    for code, s, e, c, _ in DEMO_EVENTS:
        events[code] = services.hazardous_event_save(
            user=engineer,
            project=project,
            code=code,
            hazard=hazard,
            situation=situation,
            severity=s,
            exposure=e,
            controllability=c,
            severity_rationale="why S",
            exposure_rationale="why E",
            controllability_rationale="why C",
        )
    return events


def req(project, user, code, asil, kind="FSR"):
    return services.requirement_create(
        user=user,
        project=project,
        code=code,
        kind=kind,
        title=code,
        text=f"{code} shall hold.",
        asil=asil,
    )


class TestHara:
    def test_asil_is_computed_for_every_demo_event(self, hara):
        for code, *_, asil in DEMO_EVENTS:
            assert HazardousEvent.objects.get(code=code).asil == asil

    def test_each_write_appends_one_ledger_entry(self, project, hara):
        assert entries(project) == 2 + len(DEMO_EVENTS)
        assert verify_project(project).ok

    @pytest.mark.parametrize(
        "field,value",
        [("severity", "S4"), ("exposure", "E5"), ("controllability", "c3"), ("severity", "")],
    )
    def test_invalid_class_is_refused_naming_the_field(self, project, engineer, hara, field, value):
        before = entries(project)
        fields = {
            "code": "HE-99",
            "hazard": hara["HE-01"].hazard,
            "situation": hara["HE-01"].situation,
            "severity": "S3",
            "exposure": "E4",
            "controllability": "C3",
            "severity_rationale": "r",
            "exposure_rationale": "r",
            "controllability_rationale": "r",
            field: value,
        }
        with pytest.raises(ValidationError) as exc:
            services.hazardous_event_save(user=engineer, project=project, **fields)
        assert field in exc.value.message_dict
        assert entries(project) == before
        assert not HazardousEvent.objects.filter(code="HE-99").exists()

    def test_a_rating_needs_a_rationale(self, project, engineer, hara):
        with pytest.raises(ValidationError) as exc:
            services.hazardous_event_save(
                user=engineer, project=project, event=hara["HE-02"], exposure_rationale=" "
            )
        assert "exposure_rationale" in exc.value.message_dict

    def test_a_viewer_cannot_write(self, project, members):
        with pytest.raises(PermissionDenied):
            services.hazard_create(user=members["viewer"], project=project, code="H-9", title="x")

    def test_goal_takes_the_highest_asil_and_follows_its_events(self, project, engineer, hara):
        goal = services.safety_goal_save(
            user=engineer,
            project=project,
            code="SG-02",
            text="Brake for stopped vehicles",
            ftti_ms=300,
            events=[hara["HE-03"], hara["HE-05"]],
        )
        assert goal.asil == "C"
        services.hazardous_event_save(
            user=engineer, project=project, event=hara["HE-03"], controllability="C1"
        )  # S3 E3 C1 -> A
        goal.refresh_from_db()
        assert goal.asil == "A"


class TestTraceability:
    @pytest.fixture
    def tree(self, project, engineer, hara):
        goal = services.safety_goal_save(
            user=engineer,
            project=project,
            code="SG-01",
            text="Avoid unintended braking",
            ftti_ms=150,
            events=[hara["HE-01"], hara["HE-02"]],
        )
        fsr = req(project, engineer, "FSR-001", "D")
        services.link_create(
            user=engineer, project=project, source=fsr, kind="derives-from", target_goal=goal
        )
        return goal, fsr

    def test_invalid_asil_notation_is_refused(self, project, engineer):
        for bad in ("E", "B(A)", "b", "ASIL B", "D(C)"):
            with pytest.raises(ValidationError) as exc:
                req(project, engineer, "FSR-9", bad)
            assert "asil" in exc.value.message_dict
        assert not Requirement.objects.exists()

    def test_a_lower_asil_child_needs_a_decomposition(self, project, engineer, tree):
        _, fsr = tree
        tsr1 = req(project, engineer, "TSR-001", "B(D)", "TSR")
        tsr2 = req(project, engineer, "TSR-002", "B(D)", "TSR")
        with pytest.raises(ValidationError, match="decomposition"):
            services.link_create(
                user=engineer,
                project=project,
                source=tsr1,
                kind="derives-from",
                target_requirement=fsr,
            )
        services.decomposition_record(
            user=engineer,
            project=project,
            parent=fsr,
            first=tsr1,
            second=tsr2,
            elements="camera path; radar path",
            dependent_failure_analysis="DFA-01",
        )
        for tsr in (tsr1, tsr2):
            services.link_create(
                user=engineer,
                project=project,
                source=tsr,
                kind="derives-from",
                target_requirement=fsr,
            )
        assert TraceLink.objects.filter(target_requirement=fsr).count() == 2

    @pytest.mark.parametrize("first,second", [("A(D)", "A(D)"), ("C(D)", "B(D)"), ("B", "B")])
    def test_an_illegal_decomposition_is_refused(self, project, engineer, tree, first, second):
        _, fsr = tree
        a = req(project, engineer, "TSR-001", first, "TSR")
        b = req(project, engineer, "TSR-002", second, "TSR")
        before = entries(project)
        with pytest.raises(ValidationError) as exc:
            services.decomposition_record(
                user=engineer,
                project=project,
                parent=fsr,
                first=a,
                second=b,
                elements="e",
                dependent_failure_analysis="d",
            )
        assert "asil" in exc.value.message_dict
        assert entries(project) == before

    def test_a_derives_from_cycle_is_refused(self, project, engineer):
        a, b, c = (req(project, engineer, f"FSR-00{i}", "B") for i in range(1, 4))
        services.link_create(
            user=engineer, project=project, source=b, kind="derives-from", target_requirement=a
        )
        services.link_create(
            user=engineer, project=project, source=c, kind="derives-from", target_requirement=b
        )
        with pytest.raises(ValidationError, match="cycle"):
            services.link_create(
                user=engineer, project=project, source=a, kind="derives-from", target_requirement=c
            )
        with pytest.raises(ValidationError, match="itself"):
            services.link_create(
                user=engineer, project=project, source=a, kind="derives-from", target_requirement=a
            )

    def test_a_content_change_makes_links_suspect_and_evidence_stale(
        self, project, members, engineer, tree
    ):
        _, fsr = tree
        tsr = req(project, engineer, "TSR-003", "D", "TSR")
        link = services.link_create(
            user=engineer, project=project, source=tsr, kind="derives-from", target_requirement=fsr
        )
        verification = services.verification_record(
            user=engineer, project=project, requirement=fsr, method="test", result="pass"
        )
        services.requirement_update(user=engineer, requirement=fsr, status="in_review")
        fsr.refresh_from_db()
        assert fsr.version == 1  # status is not content
        services.requirement_update(user=engineer, requirement=fsr, text="Changed text.")
        fsr.refresh_from_db()
        link.refresh_from_db()
        verification.refresh_from_db()
        assert fsr.version == 2
        assert link.suspect and "FSR-001 changed to version 2" in link.suspect_reason
        assert verification.stale
        with pytest.raises(PermissionDenied):
            services.link_clear_suspect(user=engineer, link=link, comment="fine")
        with pytest.raises(ValidationError):
            services.link_clear_suspect(user=members["safety_manager"], link=link, comment=" ")
        services.link_clear_suspect(
            user=members["safety_manager"],
            link=link,
            comment="TSR-003 still realises the changed FSR",
        )
        link.refresh_from_db()
        assert not link.suspect and link.target_version == 2

    def test_gap_analysis_reports_by_asil(self, project, engineer, tree):
        _, fsr = tree
        req(project, engineer, "TSR-009", "B", "TSR")  # no parent, no verification
        gaps = selectors.gap_analysis(project=project)
        assert gaps["without_parent"]["codes"] == ["TSR-009"]
        assert gaps["without_parent"]["by_asil"]["B"] == 1
        assert gaps["without_verification"]["count"] == 2
        assert gaps["without_verification"]["by_asil"]["D"] == 1
        assert gaps["approvals"]["asil"] == "D"
        missing = {m["measure"]: m["required"] for m in gaps["approvals"]["missing"]}
        assert missing["hara"] == "I3" and missing["safety_plan"] == "I3"
        assert len(missing) == 11
        assert gaps["release_ready"] is False


class TestBaselines:
    def test_freeze_and_diff(self, project, members, engineer, hara):
        manager = members["safety_manager"]
        fsr = req(project, engineer, "FSR-001", "D")
        first = services.baseline_freeze(user=manager, project=project, name="v0.1")
        services.requirement_update(user=engineer, requirement=fsr, text="New text.")
        req(project, engineer, "FSR-002", "D")
        second = services.baseline_freeze(user=manager, project=project, name="v0.2")
        assert first.root != second.root
        assert first.entry.kind == "baseline"
        diff = services.baseline_diff(first, second)
        assert diff["added"] == ["requirement:FSR-002"]
        assert diff["removed"] == []
        assert diff["changed"]["requirement:FSR-001"] == {
            "text": ["FSR-001 shall hold.", "New text."],
            "version": [1, 2],
        }

    def test_the_same_content_gives_the_same_root(self, project, members, hara):
        a = services.baseline_freeze(user=members["safety_manager"], project=project, name="a")
        b = services.baseline_freeze(user=members["safety_manager"], project=project, name="b")
        assert a.root == b.root

    def test_an_engineer_cannot_freeze_and_names_are_unique(self, project, members, hara):
        with pytest.raises(PermissionDenied):
            services.baseline_freeze(user=members["engineer"], project=project, name="x")
        services.baseline_freeze(user=members["safety_manager"], project=project, name="x")
        with pytest.raises(ValidationError):
            services.baseline_freeze(user=members["safety_manager"], project=project, name="x")


class TestApprovals:
    @pytest.fixture
    def people(self, project, make_member):
        return {
            "author": make_member(project, "engineer", "author", "AEB", "ADAS", recorded=True),
            "teammate": make_member(
                project, "safety_manager", "mate", "AEB", "ADAS", recorded=True
            ),
            "other_team": make_member(
                project, "safety_manager", "other", "Safety", "ADAS", recorded=True
            ),
            "assessor": make_member(
                project, "assessor", "assessor", "FSA", "Independent Assessment", recorded=True
            ),
        }

    def approve(self, project, reviewer, author, measure="safety_plan", asil="D"):
        return services.approval_record(
            user=reviewer,
            project=project,
            measure=measure,
            work_product="Safety plan v1",
            author=author,
            asil=asil,
            outcome="confirmed",
        )

    def test_the_author_cannot_approve(self, project, people):
        author = people["author"]
        from evidence.membership import membership_seed

        membership_seed(
            project=project, member=author, role="safety_manager", team="AEB", org_unit="ADAS"
        )
        with pytest.raises(ValidationError, match="reviewer is the author"):
            self.approve(project, author, author, asil="A")

    def test_asil_d_safety_plan_needs_another_org_unit(self, project, people):
        with pytest.raises(ValidationError, match="I3"):
            self.approve(project, people["other_team"], people["author"])
        approval = self.approve(project, people["assessor"], people["author"])
        assert (approval.required_independence, approval.achieved_independence) == ("I3", "I3")
        assert approval.entry.kind == "approval"

    def test_asil_c_needs_another_team(self, project, people):
        with pytest.raises(ValidationError, match="I2"):
            self.approve(project, people["teammate"], people["author"], asil="C")
        assert (
            self.approve(
                project, people["other_team"], people["author"], asil="C"
            ).achieved_independence
            == "I2"
        )

    def test_decomposed_work_products_keep_the_goals_asil(self, project, people):
        with pytest.raises(ValidationError, match="I3"):
            self.approve(project, people["other_team"], people["author"], asil="B(D)")

    def test_an_engineer_may_not_confirm(self, project, people, members):
        with pytest.raises(PermissionDenied):
            self.approve(project, members["engineer"], people["author"], asil="A")


class TestSotif:
    def test_annex_c_breakdown_and_target(self, project, engineer):
        ac = services.acceptance_criterion_save(
            user=engineer,
            project=project,
            code="AC-09",
            description="Annex C example",
            unit="h",
            acceptable_harm_rate=1e-8,
            p_exposure=0.05,
            p_not_controllable=0.1,
            p_severe=0.5,
            confidence=0.95,
        )
        assert ac.hazardous_behaviour_rate == pytest.approx(4.000e-6, rel=5e-4)
        assert ac.validation_target == pytest.approx(7.489e5, rel=5e-4)

    def test_demo_ac02_needs_2995_cases(self, project, engineer):
        ac = services.acceptance_criterion_save(
            user=engineer,
            project=project,
            code="AC-02",
            description="stopped vehicle",
            unit="cases",
            allowed_failure_probability=1e-3,
            confidence=0.95,
            kpi="min_ttc",
            comparator=">",
            threshold=1.0,
        )
        assert ac.validation_target == 2995

    def test_demo_ac01_needs_about_3_million_km(self, project, engineer):
        ac = services.acceptance_criterion_save(
            user=engineer,
            project=project,
            code="AC-01",
            description="false braking",
            unit="km",
            hazardous_behaviour_rate=1e-6,
            confidence=0.95,
        )
        assert ac.validation_target == pytest.approx(2.996e6, rel=5e-4)

    def test_tolerating_failures_raises_the_target(self, project, engineer):
        ac = services.acceptance_criterion_save(
            user=engineer,
            project=project,
            code="AC-03",
            description="x",
            unit="h",
            hazardous_behaviour_rate=1e-6,
            confidence=0.95,
            tolerated_failures=2,
        )
        assert ac.validation_target == pytest.approx(6.296e6, rel=5e-4)

    def test_bad_probabilities_are_refused(self, project, engineer):
        with pytest.raises(ValidationError):
            services.acceptance_criterion_save(
                user=engineer,
                project=project,
                code="AC-04",
                description="x",
                unit="h",
                acceptable_harm_rate=1e-8,
                p_exposure=1.5,
                p_not_controllable=0.1,
                p_severe=0.5,
            )
        assert not SafetyGoal.objects.exists()
        assert not Verification.objects.exists()
