"""The projects and memberships API: happy paths, 400, 401, 403, 404 and other projects.
Every route's 401, 403 and 404 per role: ``tests/config/test_access_sweep.py``."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db

PROJECT_URL = "/api/v1/projects/AEB/"
MEMBERS_URL = "/api/v1/projects/AEB/memberships/"


class TestAuthentication:
    def test_it_accepts_a_token(self, project, members):
        token = Token.objects.create(user=members["viewer"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = client.get("/api/v1/projects/")
        assert response.status_code == 200
        assert [p["key"] for p in response.json()["results"]] == ["AEB"]

    def test_it_refuses_a_wrong_token(self, project):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
        assert client.get("/api/v1/projects/").status_code == 401

    def test_it_accepts_a_session(self, client, project, members):
        client.force_login(members["engineer"])
        assert client.get(PROJECT_URL).status_code == 200


class TestProjectList:
    def test_it_lists_only_my_projects(self, api, project, other_project, members, outsider):
        keys = [p["key"] for p in api(members["viewer"]).get("/api/v1/projects/").json()["results"]]
        assert keys == ["AEB"]
        keys = [p["key"] for p in api(outsider).get("/api/v1/projects/").json()["results"]]
        assert keys == ["LKA"]

    def test_it_shows_my_role(self, api, project, members):
        data = api(members["assessor"]).get(PROJECT_URL).json()
        assert data["role"] == "assessor"


class TestProjectCreate:
    def test_staff_creates_and_becomes_admin(self, api, django_user_model):
        staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
        response = api(staff).post(
            "/api/v1/projects/", {"key": "ALKS", "name": "Lane keeping"}, format="json"
        )
        assert response.status_code == 201, response.json()
        assert Membership.objects.get(project__key="ALKS", user=staff).role == Role.ADMIN

    def test_non_staff_is_refused(self, api, members):
        response = api(members["admin"]).post(
            "/api/v1/projects/", {"key": "ALKS", "name": "x"}, format="json"
        )
        assert response.status_code == 403
        assert not Project.objects.filter(key="ALKS").exists()

    @pytest.mark.parametrize("key", ["aeb", "A", "1AB", "AB-C", "ABCDEFGHIJKLMNOPQ", ""])
    def test_invalid_key_is_400_naming_the_field(self, api, django_user_model, key):
        staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
        response = api(staff).post("/api/v1/projects/", {"key": key, "name": "x"}, format="json")
        assert response.status_code == 400
        assert "key" in response.json()
        assert Project.objects.count() == 0

    def test_duplicate_key_is_409_naming_the_field(self, api, project, django_user_model):
        staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
        response = api(staff).post("/api/v1/projects/", {"key": "AEB", "name": "x"}, format="json")
        assert response.status_code == 409
        assert "key" in response.json()


class TestProjectUpdate:
    def test_admin_renames(self, api, project, members):
        response = api(members["admin"]).patch(PROJECT_URL, {"name": "AEB v2"}, format="json")
        assert response.status_code == 200
        project.refresh_from_db()
        assert project.name == "AEB v2"

    @pytest.mark.parametrize("role", ["viewer", "engineer", "safety_manager", "assessor"])
    def test_other_roles_are_forbidden(self, api, project, members, role):
        response = api(members[role]).patch(PROJECT_URL, {"name": "hacked"}, format="json")
        assert response.status_code == 403
        project.refresh_from_db()
        assert project.name == "Autonomous emergency braking"

    def test_unknown_project_is_404(self, api, members):
        assert api(members["admin"]).get("/api/v1/projects/NOPE/").status_code == 404


class TestMemberships:
    def test_viewer_lists_members(self, api, project, members):
        response = api(members["viewer"]).get(MEMBERS_URL)
        assert response.status_code == 200
        assert response.json()["count"] == 5

    def test_admin_adds_a_member_with_org_unit(self, api, project, members, django_user_model):
        django_user_model.objects.create_user("newbie", password="pw")
        response = api(members["admin"]).post(
            MEMBERS_URL,
            {"username": "newbie", "role": "assessor", "team": "FSA", "org_unit": "External"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        membership = Membership.objects.get(user__username="newbie")
        assert (membership.role, membership.org_unit) == ("assessor", "External")

    def test_invalid_role_is_400_naming_the_field(self, api, project, members):
        response = api(members["admin"]).post(
            MEMBERS_URL, {"username": "viewer-aeb", "role": "god"}, format="json"
        )
        assert response.status_code == 400
        assert "role" in response.json()

    def test_unknown_user_is_400(self, api, project, members):
        response = api(members["admin"]).post(
            MEMBERS_URL, {"username": "ghost", "role": "viewer"}, format="json"
        )
        assert response.status_code == 400
        assert "username" in response.json()

    def test_engineer_may_not_add_members(self, api, project, members):
        response = api(members["engineer"]).post(
            MEMBERS_URL, {"username": "viewer-aeb", "role": "admin"}, format="json"
        )
        assert response.status_code == 403
        assert Membership.objects.get(user=members["viewer"]).role == "viewer"

    def test_membership_of_another_project_is_404(self, api, project, members, outsider):
        foreign = Membership.objects.get(user=outsider)
        response = api(members["admin"]).get(f"{MEMBERS_URL}{foreign.pk}/")
        assert response.status_code == 404

    def test_last_admin_cannot_be_demoted_or_removed(
        self, api, project, members, django_user_model
    ):
        root = django_user_model.objects.create_superuser("root", password="pw")
        admin = Membership.objects.get(user=members["admin"])
        response = api(root).patch(f"{MEMBERS_URL}{admin.pk}/", {"role": "viewer"}, format="json")
        assert response.status_code == 400
        assert "role" in response.json()
        assert api(root).delete(f"{MEMBERS_URL}{admin.pk}/").status_code == 400
        admin.refresh_from_db()
        assert admin.role == "admin"

    def test_admin_removes_a_member(self, api, project, members):
        viewer = Membership.objects.get(user=members["viewer"])
        assert api(members["admin"]).delete(f"{MEMBERS_URL}{viewer.pk}/").status_code == 204
        assert not Membership.objects.filter(pk=viewer.pk).exists()
        assert get_user_model().objects.filter(pk=members["viewer"].pk).exists()
