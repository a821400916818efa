"""Who may open which page and press which button.

Every page: 200 for a member, a redirect to the login page for an anonymous visitor, 404 for a
member of another project (nobody learns that AEB exists). Every action: 403 for a role that
may not take it, and the button is not shown to that role in the first place.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from compliance.models import Baseline, TraceLink
from validation.models import Campaign

# (url name, extra kwargs): every page a viewer may read.
READ_PAGES = [
    ("ui:dashboard", {}),
    ("ui:dashboard-runs", {}),
    ("ui:hara", {}),
    ("ui:requirements", {}),
    ("ui:requirement", {"code": "FSR-002"}),
    ("ui:matrix", {}),
    ("ui:campaigns", {}),
    ("ui:campaign", {"pk": "campaign"}),
    ("ui:run", {"pk": "run"}),
    ("ui:run-progress", {"pk": "run"}),
    ("ui:evidence", {}),
    ("ui:entry-proof", {"index": 0}),
    ("ui:gsn", {}),
    ("ui:gsn-svg", {}),
    ("ui:baselines", {}),
    ("ui:evidence-pack", {"pk": "baseline"}),
]
# Pages that only show a form: the roles that may edit.
EDIT_PAGES = [("ui:hazardous-event", {"code": "HE-01"}), ("ui:campaign-new", {})]


@pytest.fixture
def url(demo, demo_run):
    """``url(name, kwargs)`` with the placeholders "campaign", "run", "baseline" filled in."""
    ids = {
        "campaign": demo_run.campaign_id,
        "run": demo_run.pk,
        "baseline": Baseline.objects.get(project=demo).pk,
    }

    def build(name, kwargs=None):
        kwargs = {k: ids.get(v, v) for k, v in (kwargs or {}).items()}
        return reverse(name, kwargs={"key": "AEB", **kwargs})

    return build


def _login_redirect(response, url):
    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next={url}"


@pytest.mark.parametrize("name,kwargs", READ_PAGES)
def test_a_viewer_reads_every_page(as_user, url, name, kwargs):
    assert as_user("vic").get(url(name, kwargs)).status_code == 200


@pytest.mark.parametrize("name,kwargs", READ_PAGES + EDIT_PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(as_user, url, name, kwargs):
    target = url(name, kwargs)
    _login_redirect(as_user().get(target), target)


@pytest.mark.parametrize("name,kwargs", READ_PAGES + EDIT_PAGES)
def test_another_projects_member_gets_404(as_user, url, stranger, name, kwargs):
    client = as_user()
    client.force_login(stranger)
    assert client.get(url(name, kwargs)).status_code == 404


@pytest.mark.parametrize("name,kwargs", EDIT_PAGES)
def test_edit_pages_are_for_the_roles_that_edit(as_user, url, name, kwargs):
    assert as_user("vic").get(url(name, kwargs)).status_code == 403
    assert as_user("ada").get(url(name, kwargs)).status_code == 403
    assert as_user("erin").get(url(name, kwargs)).status_code == 200


def test_the_project_list_and_login_page(as_user, people):
    assert as_user("vic").get(reverse("ui:projects")).status_code == 200
    _login_redirect(as_user().get(reverse("ui:projects")), reverse("ui:projects"))
    assert as_user().get(reverse("ui:login")).status_code == 200


def test_the_project_list_shows_only_the_users_projects(as_user, stranger):
    client = as_user()
    client.force_login(stranger)
    page = client.get(reverse("ui:projects")).content.decode()
    assert "LKA" in page and "AEB" not in page


@pytest.mark.parametrize(
    "name,kwargs,role",
    [
        ("ui:hara", {}, "vic"),
        ("ui:hara", {}, "ada"),
        ("ui:hazardous-event", {"code": "HE-01"}, "vic"),
        ("ui:requirement-edit", {"code": "FSR-001"}, "vic"),
        ("ui:requirement-edit", {"code": "FSR-001"}, "ada"),
        ("ui:link-clear", {"pk": "link"}, "erin"),
        ("ui:link-clear", {"pk": "link"}, "ada"),
        ("ui:campaign-new", {}, "vic"),
        ("ui:space-new", {}, "ada"),
        ("ui:run-start", {"pk": "campaign"}, "vic"),
        ("ui:run-start", {"pk": "campaign"}, "ada"),
        ("ui:run-cancel", {"pk": "run"}, "vic"),
        ("ui:baseline-freeze", {}, "erin"),
        ("ui:baseline-freeze", {}, "vic"),
    ],
)
def test_a_role_that_may_not_act_gets_403(as_user, url, demo, name, kwargs, role):
    link = TraceLink.objects.filter(project=demo, suspect=True).first()
    kwargs = {k: link.pk if v == "link" else v for k, v in kwargs.items()}
    response = as_user(role).post(url(name, kwargs), {"comment": "x", "name": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("ui:requirement-edit", {"code": "FSR-001"}),
        ("ui:link-clear", {"pk": 1}),
        ("ui:run-start", {"pk": "campaign"}),
        ("ui:run-cancel", {"pk": "run"}),
        ("ui:verify-ledger", {}),
        ("ui:baseline-freeze", {}),
        ("ui:package", {"pk": "baseline"}),
    ],
)
def test_actions_only_answer_post(as_user, url, name, kwargs):
    assert as_user("admin").get(url(name, kwargs)).status_code == 405


@pytest.mark.parametrize(
    "name,kwargs",
    [("ui:verify-ledger", {}), ("ui:package", {"pk": "baseline"}), ("ui:run-start", {"pk": 1})],
)
def test_actions_are_hidden_from_other_projects(as_user, url, stranger, name, kwargs):
    client = as_user()
    client.force_login(stranger)
    assert client.post(url(name, kwargs)).status_code == 404
    target = url(name, kwargs)
    _login_redirect(as_user().post(target), target)


def _page(client, target) -> str:
    response = client.get(target)
    assert response.status_code == 200
    return response.content.decode()


def test_the_hara_form_shows_only_to_editors(as_user, url):
    assert "Add a hazardous event" not in _page(as_user("vic"), url("ui:hara"))
    assert "Add a hazardous event" not in _page(as_user("ada"), url("ui:hara"))
    assert "Add a hazardous event" in _page(as_user("erin"), url("ui:hara"))


def test_only_reviewers_see_how_to_clear_a_suspect_link(as_user, url):
    target = url("ui:requirement", {"code": "FSR-002"})
    for role in ("vic", "erin", "ada"):
        assert "Clear: the link still holds" not in _page(as_user(role), target)
    assert "Clear: the link still holds" in _page(as_user("sam"), target)


def test_only_editors_see_the_requirement_form(as_user, url):
    target = url("ui:requirement", {"code": "FSR-002"})
    assert 'action="/p/AEB/requirements/FSR-002/edit/"' not in _page(as_user("vic"), target)
    assert 'action="/p/AEB/requirements/FSR-002/edit/"' in _page(as_user("erin"), target)


def test_only_runners_see_the_start_button(as_user, url, demo):
    target = url("ui:campaign", {"pk": "campaign"})
    assert "Start a run" not in _page(as_user("vic"), target)
    assert "Start a run" not in _page(as_user("ada"), target)
    assert "Start a run" in _page(as_user("erin"), target)
    assert "Plan a campaign" not in _page(as_user("vic"), url("ui:campaigns"))
    assert "Plan a campaign" in _page(as_user("erin"), url("ui:campaigns"))


def test_only_reviewers_see_the_freeze_form(as_user, url):
    assert "Freeze the current model" not in _page(as_user("erin"), url("ui:baselines"))
    assert "Freeze the current model" in _page(as_user("sam"), url("ui:baselines"))


def test_a_finished_run_has_no_cancel_button(as_user, url):
    assert "Cancel the run" not in _page(as_user("erin"), url("ui:run", {"pk": "run"}))


def test_a_campaign_of_another_project_is_not_found(as_user, stranger, django_user_model):
    from projects.models import Project

    other = Project.objects.get(key="LKA")
    campaign = Campaign.objects.filter(project__key="AEB").first()
    client = as_user("admin")  # a superuser sees every project, but the pk must match the key
    assert client.get(reverse("ui:campaign", args=[other.key, campaign.pk])).status_code == 404
