"""A requirement becomes approved only through a review, by a role that may review."""

import base64
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compliance import services
from compliance.interchange.tables import table_import
from compliance.models import Requirement
from evidence.models import LogEntry

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/AEB/requirements/"

CSV = "code;kind;title;status\nFSR-1;FSR;Brake;approved\nFSR-2;FSR;Warn;in review\n"


@pytest.fixture
def fsr(project, members):
    return services.requirement_create(
        user=members["engineer"], project=project, code="FSR-1", kind="FSR", asil="C"
    )


def entries(project) -> int:
    return LogEntry.objects.filter(project=project).count()


class TestApi:
    @pytest.mark.parametrize("status", ["approved", "obsolete"])
    def test_an_engineer_creating_with_a_review_status_gets_400_naming_status(
        self, api, project, members, status
    ):
        body = {"code": "FSR-9", "kind": "FSR", "status": status}
        response = api(members["engineer"]).post(URL, body, format="json")
        assert response.status_code == 400
        assert "status" in response.json()
        assert "review" in response.json()["status"][0]
        assert not Requirement.objects.filter(project=project, code="FSR-9").exists()
        assert entries(project) == 0

    @pytest.mark.parametrize("status", ["approved", "obsolete"])
    def test_an_engineer_updating_to_a_review_status_gets_400(
        self, api, project, members, fsr, status
    ):
        before = entries(project)
        response = api(members["engineer"]).patch(
            f"{URL}FSR-1/", {"status": status, "title": "x"}, format="json"
        )
        assert response.status_code == 400
        assert list(response.json()) == ["status"]
        fsr.refresh_from_db()
        assert (fsr.status, fsr.title) == ("draft", "")
        assert entries(project) == before

    def test_an_engineer_may_send_a_requirement_to_review(self, api, project, members, fsr):
        response = api(members["engineer"]).patch(
            f"{URL}FSR-1/", {"status": "in_review"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["status"] == "in_review"

    def test_a_safety_manager_approves(self, api, project, members, fsr):
        response = api(members["safety_manager"]).patch(
            f"{URL}FSR-1/", {"status": "approved"}, format="json"
        )
        assert response.status_code == 200, response.json()
        fsr.refresh_from_db()
        assert fsr.status == "approved"


class TestReviewService:
    def test_review_is_recorded_as_a_review(self, project, members, fsr):
        reviewed = services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        assert reviewed.status == "approved" and reviewed.version == 1
        entry = LogEntry.objects.filter(project=project).order_by("-index").first()
        assert entry.subject == "requirement:FSR-1"
        statement = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))
        assert statement["predicate"]["action"] == "review"
        assert statement["predicate"]["changed"] == ["status"]

    @pytest.mark.parametrize("role", ["engineer", "assessor", "viewer"])
    def test_other_roles_may_not_review(self, project, members, fsr, role):
        with pytest.raises(PermissionDenied):
            services.requirement_review(user=members[role], requirement=fsr, status="approved")
        fsr.refresh_from_db()
        assert fsr.status == "draft"

    def test_an_unknown_status_is_refused(self, project, members, fsr):
        with pytest.raises(ValidationError) as refused:
            services.requirement_review(
                user=members["safety_manager"], requirement=fsr, status="done"
            )
        assert "status" in refused.value.message_dict


class TestContentChangeAfterApproval:
    def test_an_edit_of_approved_content_goes_back_to_review(self, project, members, fsr):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        changed = services.requirement_update(
            user=members["engineer"], requirement=fsr, text="Brake earlier."
        )
        assert (changed.status, changed.version) == ("in_review", 2)

    def test_a_non_content_change_keeps_the_approval(self, project, members, fsr):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        changed = services.requirement_update(
            user=members["engineer"], requirement=fsr, section="Braking"
        )
        assert changed.status == "approved"

    def test_a_reviewer_may_change_and_approve_at_once(self, project, members, fsr):
        changed = services.requirement_update(
            user=members["safety_manager"], requirement=fsr, text="x", status="approved"
        )
        assert changed.status == "approved"

    def test_a_reimport_of_changed_content_goes_back_to_review(self, project, members, fsr):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        table_import(
            user=members["engineer"],
            project=project,
            data=b"code;kind;title;text\nFSR-1;FSR;;Brake now.\n",
            filename="r.csv",
        )
        fsr.refresh_from_db()
        assert (fsr.status, fsr.text) == ("in_review", "Brake now.")


class TestImport:
    def test_an_engineers_import_does_not_approve(self, project, members):
        report = table_import(
            user=members["engineer"], project=project, data=CSV.encode(), filename="r.csv"
        )
        statuses = dict(Requirement.objects.filter(project=project).values_list("code", "status"))
        assert statuses == {"FSR-1": "draft", "FSR-2": "in_review"}
        assert any("status not applied" in w and "FSR-1: approved" in w for w in report.warnings)

    def test_an_engineer_reimporting_keeps_an_approval_as_it_is(self, project, members, fsr):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        data = b"code;kind;section;status\nFSR-1;FSR;Braking;obsolete\n"
        table_import(user=members["engineer"], project=project, data=data, filename="r.csv")
        fsr.refresh_from_db()
        assert (fsr.status, fsr.section) == ("approved", "Braking")

    def test_a_safety_managers_import_applies_the_status(self, project, members):
        table_import(
            user=members["safety_manager"], project=project, data=CSV.encode(), filename="r.csv"
        )
        assert Requirement.objects.get(project=project, code="FSR-1").status == "approved"

    def test_an_engineers_status_only_import_cannot_take_an_approval_back_to_draft(
        self, project, members, fsr
    ):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        before = entries(project)
        data = b"code;kind;status\nFSR-1;FSR;draft\n"
        report = table_import(
            user=members["engineer"], project=project, data=data, filename="r.csv"
        )
        fsr.refresh_from_db()
        assert fsr.status == "approved"
        assert any(
            "status not applied" in w and "FSR-1: approved to draft" in w for w in report.warnings
        )
        assert entries(project) == before + 1  # the import's own entry, no status change

    def test_a_status_only_import_takes_only_steps_the_life_cycle_has(self, project, members, fsr):
        manager = members["safety_manager"]
        services.requirement_review(user=manager, requirement=fsr, status="obsolete")
        data = b"code;kind;status\nFSR-1;FSR;in review\n"
        report = table_import(user=manager, project=project, data=data, filename="r.csv")
        fsr.refresh_from_db()
        assert fsr.status == "obsolete"  # an obsolete requirement comes back only as a draft
        assert any("FSR-1: obsolete to in_review" in w for w in report.warnings)
        table_import(
            user=manager,
            project=project,
            data=b"code;kind;status\nFSR-1;FSR;draft\n",
            filename="r.csv",
        )
        fsr.refresh_from_db()
        assert fsr.status == "draft"

    def test_an_engineer_may_send_an_approved_requirement_back_to_review(
        self, project, members, fsr
    ):
        services.requirement_review(
            user=members["safety_manager"], requirement=fsr, status="approved"
        )
        data = b"code;kind;status\nFSR-1;FSR;in review\n"
        table_import(user=members["engineer"], project=project, data=data, filename="r.csv")
        fsr.refresh_from_db()
        assert fsr.status == "in_review"
