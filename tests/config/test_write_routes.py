"""Every write route of the API, found by walking the URL configuration: the role is checked
before the body is read, and PATCH changes only the fields it is sent.

The routes are not listed by hand: a new write endpoint is covered the moment it is routed,
and a new PATCH endpoint fails :func:`test_every_patch_route_is_covered` until a case for it is
added to ``PATCH_CASES``.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from compliance import services as compliance
from compliance.models import Hazard, HazardousEvent, OperationalSituation, Requirement
from projects.models import Membership, Role

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
# Values for the URL's parameters: none of them names an existing object, so a route that looked
# the object up before checking the role would answer 404 to the viewer and fail the test.
PARAMETERS = {"key": "AEB", "code": "NOPE-1", "pk": "999999", "name": "nope", "index": "999999"}
INVALID_BODY = {"username": "ghost", "code": "", "role": "god", "name": ["x"], "status": "approved"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def write_routes() -> list[tuple[str, str]]:
    """(method, URL) for every write method of every view under /api/v1/, webhooks excepted
    (they authenticate by signature, not by role)."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if not route.startswith("api/v1/") or view is None or "webhooks/" in route:
            continue
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PARAMETERS[m.group(1)], route)
        found += [(method, url) for method in WRITE_METHODS if hasattr(view, method)]
    return sorted(set(found))


ROUTES = write_routes()


def test_the_walk_finds_the_write_routes():
    """A guard on the walk itself: it sees routes of every app."""
    urls = {url for _, url in ROUTES}
    for expected in (
        "/api/v1/projects/",
        "/api/v1/projects/AEB/memberships/999999/",
        "/api/v1/projects/AEB/decisions/",
        "/api/v1/projects/AEB/requirements/",
        "/api/v1/projects/AEB/reqif/import/",
        "/api/v1/projects/AEB/campaigns/nope/runs/",
    ):
        assert expected in urls
    assert not any("webhooks" in url for url in urls)


def _send(client, method, url):
    return getattr(client, method)(url, INVALID_BODY, format="json")


@pytest.mark.parametrize("method,url", ROUTES, ids=[f"{m} {u}" for m, u in ROUTES])
def test_a_viewer_with_an_invalid_body_gets_403(api, project, members, method, url):
    response = _send(api(members["viewer"]), method, url)
    assert response.status_code == 403, response.content
    body = response.json()
    assert set(body) == {"detail"}  # no field-by-field validation leaked


@pytest.mark.parametrize("method,url", ROUTES, ids=[f"{m} {u}" for m, u in ROUTES])
def test_an_outsider_gets_404(api, project, members, outsider, method, url):
    response = _send(api(outsider), method, url)
    if "/AEB/" not in url:  # creating a project is not about AEB: staff only
        assert response.status_code == 403
    else:
        assert response.status_code == 404, response.content


# --- PATCH is partial everywhere -------------------------------------------------------------


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
    routes = set()
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None)
        if route.startswith("api/v1/") and view is not None and hasattr(view, "patch"):
            routes.add(route)
    return routes


def test_every_patch_route_is_covered():
    assert patch_routes() == set(PATCH_CASES)


@pytest.mark.parametrize("route", sorted(PATCH_CASES))
def test_patch_changes_only_the_field_sent(api, project, members, route):
    setup, field, value, read, unchanged = PATCH_CASES[route]
    ident = setup(project, members)
    before = read(project, ident)
    params = {**PARAMETERS, "pk": str(ident), "code": str(ident)}
    url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: params[m.group(1)], route)
    response = api(members["admin"]).patch(url, {field: value}, format="json")
    assert response.status_code == 200, response.content
    after = read(project, ident)
    assert getattr(after, field) == value
    for name in unchanged:
        assert getattr(after, name) == getattr(before, name), name
