"""PATCH changes only the fields it is sent, on every PATCH route of the API.

The routes come from the URL resolver: a new PATCH endpoint fails
:func:`test_every_patch_route_is_covered` until a case for it is added to ``PATCH_CASES``. Who
may send a write to which route, and that the role is checked before the body is read, is the
access sweep's (``tests/config/test_access_sweep.py``).
"""

from __future__ import annotations

import pytest

from compliance import services as compliance
from compliance.models import Hazard, HazardousEvent, OperationalSituation, Requirement
from projects.models import Membership, Role
from tests.routes import all_routes

pytestmark = pytest.mark.django_db


def _membership(project, members):
    membership = Membership.objects.get(user=members["assessor"])
    Membership.objects.filter(pk=membership.pk).update(team="FSA", org_unit="External")
    return membership.pk


def _event(project, members):
    hazard = Hazard.objects.create(project=project, code="H-1", title="Late braking")
    situation = OperationalSituation.objects.create(project=project, code="OS-1", description="x")
    compliance.hazardous_event_save(
        user=members["engineer"],
        project=project,
        code="HE-1",
        hazard=hazard,
        situation=situation,
        severity="S3",
        exposure="E4",
        controllability="C3",
        severity_rationale="fatal",
        exposure_rationale="every drive",
        controllability_rationale="no time",
    )
    return "HE-1"


def _requirement(project, members):
    compliance.requirement_create(
        user=members["engineer"],
        project=project,
        code="FSR-1",
        kind="FSR",
        title="Brake",
        text="The AEB shall brake.",
        asil="C",
        section="Braking",
    )
    return "FSR-1"


def _project(project, members):
    project.description = "Brakes for the driver."
    project.save()
    return None


# route pattern -> (set-up returning the URL's id, the one field sent, its new value, how to read
# the object back, the fields that must not change)
PATCH_CASES = {
    "api/v1/projects/<str:key>/": (
        _project,
        "name",
        "AEB v2",
        lambda project, _: type(project).objects.get(pk=project.pk),
        ["description", "key"],
    ),
    "api/v1/projects/<str:key>/memberships/<int:pk>/": (
        _membership,
        "role",
        Role.SAFETY_MANAGER,
        lambda project, pk: Membership.objects.get(pk=pk),
        ["team", "org_unit", "user_id"],
    ),
    "api/v1/projects/<str:key>/hazardous-events/<str:code>/": (
        _event,
        "controllability_rationale",
        "the driver is distracted",
        lambda project, code: HazardousEvent.objects.get(project=project, code=code),
        ["severity", "exposure", "controllability", "severity_rationale", "hazard_id"],
    ),
    "api/v1/projects/<str:key>/requirements/<str:code>/": (
        _requirement,
        "title",
        "Brake harder",
        lambda project, code: Requirement.objects.get(project=project, code=code),
        ["text", "asil", "kind", "section", "status"],
    ),
}


def patch_routes() -> set[str]:
    return {route.route for route in all_routes() if route.is_api and "patch" in route.methods()}


def test_every_patch_route_is_covered():
    assert patch_routes() == set(PATCH_CASES)


@pytest.mark.parametrize("route", sorted(PATCH_CASES))
def test_patch_changes_only_the_field_sent(api, project, members, route):
    setup, field, value, read, unchanged = PATCH_CASES[route]
    ident = setup(project, members)
    before = read(project, ident)
    (found,) = [r for r in all_routes() if r.route == route]
    url = found.url({("", "key"): project.key, ("", "pk"): ident, ("", "code"): ident})
    response = api(members["admin"]).patch(url, {field: value}, format="json")
    assert response.status_code == 200, response.content
    after = read(project, ident)
    assert getattr(after, field) == value
    for name in unchanged:
        assert getattr(after, name) == getattr(before, name), name
