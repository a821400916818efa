"""Who may call what, for every route of the site, generated from the URL resolver.

For each route the resolver knows, the sweep fills the URL's parameters from the seeded project
(``tests/config/conftest.py``) and sends every method the route takes as an anonymous visitor,
as the administrator of another project and as a member in each role (``projects.models.Role``):

* anonymous: 401 from the API, the login page for a web page;
* another project's member: 404, so nobody learns that the project exists;
* a role that the action matrix (``projects.permissions.ROLE_ACTIONS``) refuses: 403, the same
  when the URL names objects that do not exist (the role is checked before the lookup) and, in
  the API, with an invalid body (before the body is read), the answer naming no field;
* a role the matrix allows: 200 for a reading GET; a write is not refused and never a 5xx;
* every refusal writes nothing to any project's log.

``ACCESS`` says what each route needs, per method. A route missing from it, a URL parameter the
sweep cannot fill, or an API method it does not list fails the test and says what to add: an
endpoint is covered the day it is routed.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from evidence import ledger
from evidence.models import LogEntry
from projects.models import Role
from projects.permissions import ROLE_ACTIONS, Action
from tests.config.conftest import OUTSIDER, Seeded
from tests.routes import Route, all_routes

pytestmark = pytest.mark.django_db


class Rule(StrEnum):
    """Access that is not a project role's action."""

    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed in"  # any signed-in user; no project is involved
    STAFF = "staff"  # staff users only (creating a project)
    SIGNATURE = "signature"  # the hosting service's shared secret, not a user (webhooks)
    ADMIN_SITE = "admin site"  # Django's admin: staff only, others are sent to its login


VIEW, EDIT, RUN = Action.VIEW, Action.EDIT, Action.RUN
REVIEW, CONFIRM, MANAGE = Action.REVIEW, Action.CONFIRM, Action.MANAGE

# Route name -> {method: what it needs}: a project action, or a Rule.
ACCESS: dict[str, dict[str, Action | Rule]] = {
    # The API, /api/v1/
    "v1:project-list": {"get": Rule.SIGNED_IN, "post": Rule.STAFF},
    "v1:project-detail": {"get": VIEW, "patch": MANAGE},
    "v1:membership-list": {"get": VIEW, "post": MANAGE},
    "v1:membership-detail": {"get": VIEW, "patch": MANAGE, "delete": MANAGE},
    "v1:ledger-entries": {"get": VIEW},
    "v1:ledger-entry": {"get": VIEW},
    "v1:ledger-checkpoint": {"get": VIEW},
    "v1:ledger-inclusion": {"get": VIEW},
    "v1:ledger-consistency": {"get": VIEW},
    "v1:artifacts": {"get": VIEW},
    "v1:decisions": {"get": VIEW, "post": REVIEW},
    "v1:reqif-import": {"post": EDIT},
    "v1:reqif-export": {"get": VIEW},
    "v1:requirements-import": {"post": EDIT},
    "v1:requirements-xlsx-export": {"get": VIEW},
    "v1:requirements-xlsx-reimport": {"post": EDIT},
    "v1:item": {"get": VIEW, "put": EDIT},
    "v1:hazards": {"get": VIEW, "post": EDIT},
    "v1:situations": {"get": VIEW, "post": EDIT},
    "v1:hazardous-events": {"get": VIEW, "post": EDIT},
    "v1:hazardous-event": {"patch": EDIT},
    "v1:safety-goals": {"get": VIEW, "post": EDIT},
    "v1:requirements": {"get": VIEW, "post": EDIT},
    "v1:requirement": {"get": VIEW, "patch": EDIT},
    "v1:links": {"get": VIEW, "post": EDIT},
    "v1:link-remove": {"post": EDIT},
    "v1:link-clear": {"post": REVIEW},
    "v1:decompositions": {"get": VIEW, "post": EDIT},
    "v1:verifications": {"get": VIEW, "post": EDIT},
    "v1:baselines": {"get": VIEW, "post": REVIEW},
    "v1:baseline-diff": {"get": VIEW},
    "v1:approvals": {"get": VIEW, "post": CONFIRM},
    "v1:confirmation-matrix": {"get": VIEW},
    "v1:triggering-conditions": {"get": VIEW, "post": EDIT},
    "v1:acceptance-criteria": {"get": VIEW, "post": EDIT},
    "v1:gaps": {"get": VIEW},
    "v1:traceability": {"get": VIEW},
    "v1:review-sessions": {"get": VIEW, "post": REVIEW},
    "v1:review-session": {"get": VIEW},
    # any member may send it; the service then signs only for a named reviewer whose role
    # allows the meaning, and revokes only the signer's own or for a role that reviews
    "v1:review-session-sign": {"post": VIEW},
    "v1:signature-revoke": {"post": VIEW},
    "v1:comments": {"get": VIEW, "post": VIEW},
    "v1:impact-preview": {"post": VIEW},
    "v1:impact": {"get": VIEW},
    "v1:webhook-github": {"post": Rule.SIGNATURE},
    "v1:webhook-gitlab": {"post": Rule.SIGNATURE},
    "v1:scenarios": {"get": VIEW},
    "v1:scenario-catalogs": {"get": VIEW},
    "v1:campaigns": {"get": VIEW},
    "v1:campaign-run": {"post": RUN},
    "v1:runs": {"get": VIEW},
    "v1:run": {"get": VIEW},
    "v1:run-cancel": {"post": RUN},
    "v1:run-results": {"get": VIEW},
    "v1:run-compare": {"post": RUN},
    "v1:comparisons": {"get": VIEW},
    "v1:searches": {"get": VIEW, "post": RUN},
    "v1:run-coverage": {"get": VIEW},
    "v1:recorded-events": {"get": VIEW},
    # The API's description and the operations endpoints
    "schema": {"get": Rule.PUBLIC},
    "api-docs": {"get": Rule.PUBLIC},
    "healthz": {"get": Rule.PUBLIC},
    "metrics": {"get": Rule.PUBLIC},
    "admin:login": {"get": Rule.PUBLIC},
    # The web UI
    "ui:login": {"get": Rule.PUBLIC, "post": Rule.PUBLIC, "put": Rule.PUBLIC},
    "ui:logout": {"post": Rule.PUBLIC},
    "sso:login": {"get": Rule.PUBLIC},  # to the provider, or the login page when it is off
    "sso:callback": {"get": Rule.PUBLIC},  # back from the provider: its answer is checked
    "ui:projects": {"get": Rule.SIGNED_IN},
    "ui:asil": {"get": Rule.SIGNED_IN},
    "ui:dashboard": {"get": VIEW},
    "ui:dashboard-runs": {"get": VIEW},
    "ui:verify-ledger": {"post": VIEW},
    "ui:hara": {"get": VIEW, "post": EDIT},
    "ui:hazardous-event": {"get": VIEW, "post": EDIT},  # read by every role, saved by editors
    "ui:requirements": {"get": VIEW},
    "ui:requirement-tree-children": {"get": VIEW},
    "ui:requirement-new": {"post": EDIT},
    "ui:requirement": {"get": VIEW},
    "ui:requirement-edit": {"post": EDIT},
    "ui:requirement-decompose": {"post": EDIT},
    "ui:link-clear": {"post": REVIEW},
    "ui:matrix": {"get": VIEW},
    "ui:chains": {"get": VIEW},
    "ui:campaigns": {"get": VIEW},
    "ui:campaign-new": {"get": EDIT, "post": EDIT},
    "ui:space-new": {"post": EDIT},
    "ui:campaign": {"get": VIEW},
    "ui:run-start": {"post": RUN},
    "ui:run": {"get": VIEW},
    "ui:run-progress": {"get": VIEW},
    "ui:run-cancel": {"post": RUN},
    "ui:run-compare": {"get": VIEW},
    "ui:run-coverage": {"get": VIEW},
    "ui:run-compare-record": {"post": RUN},
    "ui:evidence": {"get": VIEW},
    "ui:entry-proof": {"get": VIEW},
    "ui:gsn": {"get": VIEW},
    "ui:gsn-svg": {"get": VIEW},
    "ui:sotif": {"get": VIEW},
    "ui:criterion-new": {"post": EDIT},
    "ui:confirmation": {"get": VIEW},
    "ui:approve": {"post": CONFIRM},
    "ui:reviews": {"get": VIEW},
    "ui:review-open": {"post": REVIEW},
    "ui:review": {"get": VIEW},
    "ui:review-sign": {"post": VIEW},  # the service signs for a named reviewer only
    "ui:review-close": {"post": REVIEW},
    "ui:signature-revoke": {"post": VIEW},  # the signer's own, or a role that reviews
    "ui:item-reviews": {"get": VIEW},
    "ui:item-comment": {"post": VIEW},
    "ui:impact": {"get": VIEW},
    "ui:requirement-impact": {"get": VIEW},
    "ui:baselines": {"get": VIEW},
    "ui:baseline-freeze": {"post": REVIEW},
    "ui:package": {"post": VIEW},
    "ui:evidence-pack": {"get": VIEW},
    "ui:searches": {"get": VIEW},
    "ui:search-new": {"post": RUN},
    "ui:search": {"get": VIEW},
    "ui:search-promote": {"post": RUN},
    "ui:favicon": {"get": Rule.PUBLIC},
    "ui:item": {"get": VIEW, "post": EDIT},  # read by every role, saved by editors
    "ui:hazards": {"get": VIEW},
    "ui:hazard-new": {"post": EDIT},
    "ui:hazard": {"get": VIEW, "post": EDIT},
    "ui:situation-new": {"post": EDIT},
    "ui:situation": {"get": VIEW, "post": EDIT},
    "ui:goals": {"get": VIEW},
    "ui:goal-new": {"post": EDIT},
    "ui:goal": {"get": VIEW},
    "ui:link-new": {"post": EDIT},
    "ui:link-remove": {"post": EDIT},
    "ui:condition-new": {"post": EDIT},
    "ui:scenarios": {"get": VIEW},
    "ui:scenario-upload": {"post": EDIT},
}
# Every other route of these namespaces: Django's admin, staff only.
NAMESPACES: dict[str, dict[str, Action | Rule]] = {"admin": {"get": Rule.ADMIN_SITE}}
# Query strings of the GETs that need one.
QUERIES = {
    "v1:baseline-diff": "from={s.baseline_name}&to={s.baseline_name}",
    "v1:ledger-inclusion": "index=0",
    "v1:ledger-consistency": "first=1",
}
# Sent with every write: no route accepts it, so a role checked after the body is read shows.
INVALID_BODY = {"username": "ghost", "code": "", "role": "god", "name": ["x"], "status": "approved"}
INVALID_FORM = {"comment": "", "name": "", "code": ""}

ANONYMOUS = "anonymous"
PERSONAS = [ANONYMOUS, OUTSIDER, *(role.value for role in Role)]  # usernames in the seed


def personas_for(rule: Action | Rule) -> list[str]:
    """Everyone for a project action; a rule that no role changes: signed in or not."""
    return PERSONAS if isinstance(rule, Action) else [ANONYMOUS, OUTSIDER, Role.VIEWER.value]


# The admin's parameters: any value reaches the staff check, which comes first.
ADMIN_VALUES = {
    ("", "object_id"): 1,
    ("", "content_type_id"): 1,
    ("", "id"): 1,
    ("", "app_label"): "auth",
    ("", "url"): "nope/",
    ("", "arg"): 1,
}
TABLE = "add it to ACCESS in tests/config/test_access_sweep.py"


def access_of(route: Route) -> dict[str, Action | Rule]:
    access = ACCESS.get(route.key) or NAMESPACES.get(route.namespace)
    if access is None:
        pytest.fail(f"{route.key} ({route.route}) is not in the access sweep: {TABLE}")
    return access


def url_of(route: Route, table: dict, seeded: Seeded | None = None) -> str:
    try:
        url = route.url(table)
    except KeyError as exc:
        pytest.fail(
            f"{route.key}: the sweep has no value for the parameter {exc.args[0]}: add one to "
            "Seeded.parameters() in tests/config/conftest.py"
        )
    assert route.resolves(url), f"{url} does not reach {route.key}: its values go elsewhere"
    query = QUERIES.get(route.key)
    return f"{url}?{query.format(s=seeded)}" if query else url


class Clients(dict):
    """``clients[persona]``: one test client per persona, signed in once, for one route."""

    def __init__(self, route: Route):
        super().__init__()
        self.api = route.is_api

    def __missing__(self, persona: str):
        client = APIClient() if self.api else Client()
        if persona != ANONYMOUS:
            user = get_user_model().objects.get(username=persona)
            client.force_authenticate(user) if self.api else client.force_login(user)
        self[persona] = client
        return client


def send(clients: Clients, persona: str, method: str, url: str):
    """``(response, entries written)``: the request in a savepoint that is rolled back, so
    one persona's write never changes what the next one finds."""
    if method == "get":
        data = {}
    else:
        data = {"data": INVALID_BODY, "format": "json"} if clients.api else {"data": INVALID_FORM}
    client = clients[persona]  # signed in outside the savepoint: the session row stays
    with transaction.atomic():
        before = LogEntry.objects.count()
        try:
            response = getattr(client, method)(url, **data)
        except Exception as exc:
            raise AssertionError(f"{method.upper()} {url} as {persona} raised {exc!r}") from exc
        written = LogEntry.objects.count() - before
        transaction.set_rollback(True)
    ledger.forget_checked_heads()  # the rolled-back entries are not the log's head any more
    return response, written


def _sent_to_log_in(route: Route, response, url: str, login: str) -> bool:
    if route.is_api:
        return response.status_code == 401
    expected = f"{resolve_url(login)}?{urlencode({'next': url}, safe='/')}"
    return response.status_code == 302 and response["Location"] == expected


def _refusal_says_nothing_more(route: Route, response) -> bool:
    """An API refusal is ``{"detail": ...}`` only: no validation message for any field."""
    return not route.is_api or set(response.json()) == {"detail"}


def outcome(route: Route, rule: Action | Rule, persona: str, method: str) -> str:
    """What ``persona`` must get: "allowed", "log in", "not found", "forbidden", "signature"
    or "admin login"."""
    if rule is Rule.PUBLIC:
        return "allowed"
    if rule is Rule.ADMIN_SITE:
        return "admin login"
    if rule is Rule.SIGNATURE:
        return "signature"
    if persona == ANONYMOUS:
        return "log in"
    if rule is Rule.SIGNED_IN:
        return "allowed"
    if rule is Rule.STAFF:
        return "forbidden"  # no persona is staff
    if persona == OUTSIDER:
        return "not found"
    return "allowed" if rule in ROLE_ACTIONS[persona] else "forbidden"


def check(clients: Clients, route: Route, url: str, method: str, persona: str, rule) -> str:
    """Send ``method`` to ``url`` as ``persona`` and check the answer; returns the outcome."""
    expected = outcome(route, rule, persona, method)
    response, written = send(clients, persona, method, url)
    status = response.status_code
    what = f"{method.upper()} {url} as {persona}: expected {expected}, got {status}"
    assert status < 500, what
    if expected == "allowed":
        if rule is Rule.PUBLIC:
            assert status < 400, what
        elif method == "get":
            assert status == 200, what
            assert written == 0, f"{what}; a read wrote {written} log entries"
        else:
            assert status not in (401, 403, 404), what
        return expected
    assert written == 0, f"{what}; yet {written} log entries were written"
    if expected == "log in":
        assert _sent_to_log_in(route, response, url, settings.LOGIN_URL), what
    elif expected == "admin login" and route.key == "admin:logout":
        assert status == 302 and response["Location"] == reverse("admin:index"), what
    elif expected == "admin login":
        assert _sent_to_log_in(route, response, url, reverse("admin:login")), what
    elif expected == "signature":
        assert status == 401, what
    else:
        assert status == (404 if expected == "not found" else 403), what
        assert _refusal_says_nothing_more(route, response), f"{what}: {response.content[:200]}"
    return expected


ROUTES = [route for route in all_routes() if route.namespace not in NAMESPACES]
ADMIN_ROUTES = [route for route in all_routes() if route.namespace in NAMESPACES]


@pytest.mark.parametrize("route", ROUTES, ids=[route.key for route in ROUTES])
def test_each_persona_gets_what_the_route_allows(route, seeded):
    access = access_of(route)
    if route.view_class is not None and route.methods() != set(access):
        pytest.fail(
            f"{route.key} answers {sorted(route.methods())} but the sweep lists "
            f"{sorted(access)}: give every method the action it needs in ACCESS"
        )
    url = url_of(route, seeded.parameters(), seeded)
    missing = url_of(route, seeded.parameters(missing=True), seeded)
    clients = Clients(route)
    for method, rule in access.items():
        for persona in personas_for(rule):
            if check(clients, route, url, method, persona, rule) == "forbidden" and missing != url:
                check(clients, route, missing, method, persona, rule)


# Function views whose only method is POST (class-based views are checked above).
POST_ONLY = [
    route
    for route in ROUTES
    if route.view_class is None and set(ACCESS.get(route.key, {"get": None})) == {"post"}
]


@pytest.mark.parametrize("route", POST_ONLY, ids=[route.key for route in POST_ONLY])
def test_an_action_answers_405_to_a_get(route, seeded):
    url = url_of(route, seeded.parameters(), seeded)
    response, _ = send(Clients(route), Role.ADMIN.value, "get", url)
    assert response.status_code == 405


def test_the_admin_site_is_for_staff_only(seeded):
    assert len(ADMIN_ROUTES) > 50  # every registered model's pages, found by the walk
    clients = Clients(ADMIN_ROUTES[0])
    for route in ADMIN_ROUTES:
        url = url_of(route, ADMIN_VALUES)
        for method, rule in access_of(route).items():
            for persona in personas_for(rule):
                check(clients, route, url, method, persona, rule)


def test_the_table_names_only_routes_that_exist():
    names = {route.key for route in all_routes()}
    assert set(ACCESS) - names == set(), "remove routes that are gone from ACCESS"
