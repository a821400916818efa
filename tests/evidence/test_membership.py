"""Who may vouch for independence: membership changes are ledgered, nobody changes their own,
and approvals take team and organisational unit from the ledger, citing the entries."""

import base64
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compliance import services as compliance
from evidence import membership as services
from evidence.models import LogEntry
from projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db
MEMBERS_URL = "/api/v1/projects/AEB/memberships/"


def statement(entry) -> dict:
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


def membership_entries(project):
    return list(LogEntry.objects.filter(project=project, kind="membership").order_by("index"))


@pytest.fixture
def team(project, make_member):
    """An admin, an author and two possible reviewers, all recorded in the ledger."""
    return {
        "admin": make_member(project, Role.ADMIN, "boss", "Office", "Vehicle", recorded=True),
        "author": make_member(project, Role.ENGINEER, "author", "AEB", "ADAS", recorded=True),
        "mate": make_member(project, Role.SAFETY_MANAGER, "mate", "Safety", "ADAS", recorded=True),
        "assessor": make_member(project, Role.ASSESSOR, "ada", "FSA", "ADAS", recorded=True),
    }


def approve(project, reviewer, author, asil="D", measure="safety_plan"):
    return compliance.approval_record(
        user=reviewer,
        project=project,
        measure=measure,
        work_product="Safety plan v1",
        author=author,
        asil=asil,
        outcome="confirmed",
    )


class TestLedgeredChanges:
    def test_project_creation_records_the_first_admin(self, api, django_user_model):
        staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
        response = api(staff).post("/api/v1/projects/", {"key": "ALKS", "name": "x"}, format="json")
        assert response.status_code == 201
        project = Project.objects.get(key="ALKS")
        (entry,) = membership_entries(project)
        predicate = statement(entry)["predicate"]
        assert (entry.index, predicate["action"], predicate["role"]) == (
            0,
            "create-project",
            "admin",
        )
        assert (predicate["member"], predicate["changedBy"], predicate["orgUnit"]) == (
            "staff",
            "staff",
            "",
        )

    def test_adding_a_member_records_who_what_and_by_whom(
        self, api, project, team, django_user_model
    ):
        django_user_model.objects.create_user("newbie", password="pw")
        before = LogEntry.objects.filter(project=project).count()
        response = api(team["admin"]).post(
            MEMBERS_URL,
            {"username": "newbie", "role": "assessor", "team": "FSA", "org_unit": "External"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert LogEntry.objects.filter(project=project).count() == before + 1
        entry = membership_entries(project)[-1]
        predicate = statement(entry)["predicate"]
        assert {k: predicate[k] for k in ("action", "member", "role", "team", "orgUnit")} == {
            "action": "add",
            "member": "newbie",
            "role": "assessor",
            "team": "FSA",
            "orgUnit": "External",
        }
        assert predicate["changedBy"] == "boss" and entry.recorded_by == team["admin"]
        assert entry.subject == "membership:newbie"

    def test_adding_an_existing_member_is_409_and_writes_nothing(self, api, project, team):
        before = LogEntry.objects.filter(project=project).count()
        response = api(team["admin"]).post(
            MEMBERS_URL, {"username": "ada", "role": "viewer"}, format="json"
        )
        assert response.status_code == 409 and "username" in response.json()
        assert LogEntry.objects.filter(project=project).count() == before
        assert Membership.objects.get(user=team["assessor"]).role == "assessor"

    def test_patch_of_the_role_alone_keeps_team_and_unit(self, api, project, team):
        membership = Membership.objects.get(user=team["mate"])
        response = api(team["admin"]).patch(
            f"{MEMBERS_URL}{membership.pk}/", {"role": "engineer"}, format="json"
        )
        assert response.status_code == 200, response.json()
        membership.refresh_from_db()
        assert (membership.role, membership.team, membership.org_unit) == (
            "engineer",
            "Safety",
            "ADAS",
        )
        predicate = statement(membership_entries(project)[-1])["predicate"]
        assert (predicate["changed"], predicate["team"], predicate["orgUnit"]) == (
            ["role"],
            "Safety",
            "ADAS",
        )

    def test_a_patch_that_changes_nothing_writes_nothing(self, api, project, team):
        membership = Membership.objects.get(user=team["mate"])
        before = LogEntry.objects.filter(project=project).count()
        response = api(team["admin"]).patch(
            f"{MEMBERS_URL}{membership.pk}/", {"team": "Safety"}, format="json"
        )
        assert response.status_code == 200
        assert LogEntry.objects.filter(project=project).count() == before

    def test_removal_is_recorded(self, api, project, team):
        membership = Membership.objects.get(user=team["assessor"])
        assert api(team["admin"]).delete(f"{MEMBERS_URL}{membership.pk}/").status_code == 204
        predicate = statement(membership_entries(project)[-1])["predicate"]
        assert (predicate["action"], predicate["member"], predicate["role"]) == (
            "remove",
            "ada",
            None,
        )
        assert not Membership.objects.filter(pk=membership.pk).exists()

    def test_a_refused_change_writes_nothing(self, project, team):
        membership = Membership.objects.get(user=team["mate"])
        before = LogEntry.objects.filter(project=project).count()
        with pytest.raises(ValidationError) as refused:
            services.membership_update(
                user=team["admin"], project=project, membership=membership, role="god"
            )
        assert "role" in refused.value.message_dict
        assert LogEntry.objects.filter(project=project).count() == before
        membership.refresh_from_db()
        assert membership.role == Role.SAFETY_MANAGER


class TestNobodyChangesTheirOwnMembership:
    @pytest.mark.parametrize(
        "body", [{"org_unit": "Independent Assessment"}, {"team": "FSA"}, {"role": "assessor"}]
    )
    def test_an_admin_changing_his_own_placement_is_refused(self, api, project, team, body):
        membership = Membership.objects.get(user=team["admin"])
        before = LogEntry.objects.filter(project=project).count()
        response = api(team["admin"]).patch(f"{MEMBERS_URL}{membership.pk}/", body, format="json")
        assert response.status_code == 403
        assert "own membership" in response.json()["detail"]
        assert LogEntry.objects.filter(project=project).count() == before
        membership.refresh_from_db()
        assert (membership.role, membership.team, membership.org_unit) == (
            "admin",
            "Office",
            "Vehicle",
        )

    def test_an_admin_cannot_remove_himself(self, api, project, team):
        membership = Membership.objects.get(user=team["admin"])
        assert api(team["admin"]).delete(f"{MEMBERS_URL}{membership.pk}/").status_code == 403
        assert Membership.objects.filter(pk=membership.pk).exists()

    def test_a_superuser_neither_adds_nor_changes_himself(self, project, team, django_user_model):
        root = django_user_model.objects.create_superuser("root", password="pw")
        with pytest.raises(PermissionDenied, match="own membership"):
            services.membership_add(
                user=root, project=project, member=root, role="assessor", org_unit="External"
            )
        assert not Membership.objects.filter(user=root).exists()
        services.membership_add(user=team["admin"], project=project, member=root, role="assessor")
        membership = Membership.objects.get(user=root)
        with pytest.raises(PermissionDenied, match="own membership"):
            services.membership_update(
                user=root, project=project, membership=membership, org_unit="External"
            )
        membership.refresh_from_db()
        assert membership.org_unit == ""


class TestIndependenceFromTheLedger:
    def test_own_org_unit_change_refused_and_no_i3(self, api, project, team, make_member):
        """The attack of the issue: an admin in the author's team moves himself to another
        unit through the API, then signs an ASIL D safety plan."""
        insider = make_member(project, Role.ADMIN, "insider", "AEB", "ADAS", recorded=True)
        membership = Membership.objects.get(user=insider)
        before = LogEntry.objects.filter(project=project).count()
        response = api(insider).patch(
            f"{MEMBERS_URL}{membership.pk}/",
            {"team": "FSA", "org_unit": "Independent Assessment"},
            format="json",
        )
        assert response.status_code == 403
        assert LogEntry.objects.filter(project=project).count() == before
        with pytest.raises(ValidationError, match="I3"):
            approve(project, insider, team["author"])
        # Even with his row rewritten behind the services' back, the ledger decides.
        Membership.objects.filter(pk=membership.pk).update(
            team="FSA", org_unit="Independent Assessment"
        )
        with pytest.raises(ValidationError, match="I3"):
            approve(project, insider, team["author"])
        assert not LogEntry.objects.filter(project=project, kind="approval").exists()

    def test_another_members_org_unit_change_is_recorded_and_followed(self, api, project, team):
        with pytest.raises(ValidationError, match="I3"):
            approve(project, team["assessor"], team["author"])  # FSA/ADAS vs AEB/ADAS: I2
        membership = Membership.objects.get(user=team["assessor"])
        response = api(team["admin"]).patch(
            f"{MEMBERS_URL}{membership.pk}/",
            {"org_unit": "Independent Assessment"},
            format="json",
        )
        assert response.status_code == 200
        change = membership_entries(project)[-1]
        assert statement(change)["predicate"]["orgUnit"] == "Independent Assessment"
        approval = approve(project, team["assessor"], team["author"])
        assert approval.achieved_independence == "I3"
        assert approval.reviewer_org_unit == "Independent Assessment"
        cited = statement(approval.entry)["predicate"]["memberships"]
        assert cited["reviewer"] == {
            "index": change.index,
            "sha256": change.digest,
            "leafHash": bytes(change.leaf_hash).hex(),
        }
        author_entry = LogEntry.objects.get(project=project, subject="membership:author")
        assert cited["author"]["index"] == author_entry.index
        assert cited["author"]["sha256"] == author_entry.digest

    def test_editing_the_row_directly_changes_nothing_an_approval_records(self, project, team):
        """An insider moves the reviewer to another unit with SQL, bypassing the services."""
        Membership.objects.filter(user=team["mate"]).update(org_unit="Independent Assessment")
        Membership.objects.filter(user=team["author"]).update(team="Safety")
        with pytest.raises(ValidationError, match="I3"):
            approve(project, team["mate"], team["author"])
        approval = approve(project, team["mate"], team["author"], asil="C")
        assert (approval.achieved_independence, approval.reviewer_org_unit) == ("I2", "ADAS")

    def test_a_role_given_by_sql_does_not_confirm(self, project, team, make_member):
        viewer = make_member(project, Role.VIEWER, "vic", "Audit", "Quality", recorded=True)
        Membership.objects.filter(user=viewer).update(role=Role.ASSESSOR)
        with pytest.raises(ValidationError, match="records vic as viewer"):
            approve(project, viewer, team["author"], asil="A")
        assert not LogEntry.objects.filter(project=project, kind="approval").exists()

    def test_a_member_with_no_entry_has_an_unknown_placement(self, project, team, make_member):
        """Legacy data: a membership row with no ledger entry counts as unknown team and
        unit, so it reaches I1 at most, and the refusal says why."""
        legacy = make_member(project, Role.ASSESSOR, "old", "FSA", "External")
        with pytest.raises(ValidationError, match="no membership of old is recorded"):
            approve(project, legacy, team["author"])
        approval = approve(project, legacy, team["author"], asil="A")
        assert approval.achieved_independence == "I1"
        assert (approval.reviewer_role, approval.reviewer_org_unit) == ("assessor", "")
        cited = statement(approval.entry)["predicate"]["memberships"]
        assert cited["reviewer"] is None and cited["author"] is not None

    def test_a_removed_reviewer_counts_as_unknown(self, project, team, make_member):
        membership = Membership.objects.get(user=team["assessor"])
        services.membership_remove(user=team["admin"], project=project, membership=membership)
        Membership.objects.create(
            project=project, user=team["assessor"], role=Role.ASSESSOR, org_unit="External"
        )
        with pytest.raises(ValidationError, match="no longer a member"):
            approve(project, team["assessor"], team["author"], asil="A")


class TestNoUsernameOracle:
    @pytest.mark.parametrize("username", ["ghost", "author"])
    def test_a_viewer_gets_403_whether_the_user_exists_or_not(
        self, api, project, members, team, username
    ):
        response = api(members["viewer"]).post(
            MEMBERS_URL, {"username": username, "role": "viewer"}, format="json"
        )
        assert response.status_code == 403
        assert "username" not in response.json()

    @pytest.mark.parametrize("username", ["ghost", "author"])
    def test_an_outsider_gets_404_either_way(self, api, project, team, outsider, username):
        response = api(outsider).post(
            MEMBERS_URL, {"username": username, "role": "viewer"}, format="json"
        )
        assert response.status_code == 404


class TestRecordingExistingMemberships:
    def test_legacy_memberships_are_recorded_and_edited_rows_are_reported(
        self, project, team, make_member
    ):
        from io import StringIO

        from django.core.management import CommandError, call_command

        legacy = make_member(project, Role.ASSESSOR, "old", "FSA", "External")
        Membership.objects.filter(user=team["mate"]).update(org_unit="External")
        out = StringIO()
        with pytest.raises(CommandError, match="mate: row safety_manager/Safety/External"):
            call_command("record_memberships", "--project", "AEB", stdout=out)
        assert "recorded the membership of old" in out.getvalue()
        entry = membership_entries(project)[-1]
        predicate = statement(entry)["predicate"]
        assert (predicate["action"], predicate["member"], predicate["orgUnit"]) == (
            "record-existing",
            "old",
            "External",
        )
        assert predicate["changedBy"] is None
        assert approve(project, legacy, team["author"]).achieved_independence == "I3"
        # The edited row was not recorded: the ledger still says ADAS for mate.
        with pytest.raises(ValidationError, match="I3"):
            approve(project, team["mate"], team["author"])
        before = LogEntry.objects.filter(project=project).count()
        with pytest.raises(CommandError):
            call_command("record_memberships", stdout=StringIO())
        assert LogEntry.objects.filter(project=project).count() == before


class TestBootstrap:
    """The operator's bootstrap: only the system actor creates people and projects this way."""

    def test_only_the_system_actor_bootstraps(self, project, members):
        from projects.services import SYSTEM, user_bootstrap

        with pytest.raises(PermissionDenied):
            user_bootstrap(actor=members["admin"], username="x", email="x@a.example", password="p")
        with pytest.raises(PermissionDenied):
            services.project_bootstrap(
                actor=members["admin"], key="ALKS", name="x", description="", admin=None, members=[]
            )
        user, created = user_bootstrap(
            actor=SYSTEM, username="boss", email="boss@a.example", password="pw-1", staff=True
        )
        assert created and user.is_staff and user.is_superuser and user.check_password("pw-1")
        again, created = user_bootstrap(
            actor=SYSTEM, username="boss", email="other@a.example", password="pw-2"
        )
        assert (again.pk, created, again.check_password("pw-1")) == (user.pk, False, True)

    def test_a_project_is_bootstrapped_once_with_ledgered_memberships(self, django_user_model):
        from projects.services import SYSTEM, user_bootstrap

        boss, _ = user_bootstrap(
            actor=SYSTEM, username="boss", email="b@a.example", password="pw", staff=True
        )
        eng, _ = user_bootstrap(actor=SYSTEM, username="eng", email="e@a.example", password="pw")
        people = [(boss, Role.ADMIN, "Office", "Vehicle"), (eng, Role.ENGINEER, "AEB", "ADAS")]
        project, created = services.project_bootstrap(
            actor=SYSTEM, key="ALKS", name="x", description="d", admin=boss, members=people
        )
        assert created == ["project ALKS", "membership eng as engineer"]
        actions = [statement(e)["predicate"]["action"] for e in membership_entries(project)]
        assert actions == ["create-project", "seed", "seed"]
        again, created = services.project_bootstrap(
            actor=SYSTEM, key="ALKS", name="x", description="d", admin=boss, members=people
        )
        assert (again.pk, created) == (project.pk, [])
        assert len(membership_entries(project)) == 3
        placements = set(project.memberships.values_list("user__username", "role", "team"))
        assert placements == {("boss", "admin", "Office"), ("eng", "engineer", "AEB")}
