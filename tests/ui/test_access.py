"""What each role is shown: the forms and buttons of the actions it may take, and only those.

Whether each page answers a role, an anonymous visitor (the login page) and a member of another
project (404) is the access sweep's, over every route (``tests/config/test_access_sweep.py``).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.models import Baseline
from validation.models import Campaign


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


def test_the_project_list_shows_only_the_users_projects(as_user, stranger):
    client = as_user()
    client.force_login(stranger)
    page = client.get(reverse("ui:projects")).content.decode()
    assert "LKA" in page and "AEB" not in page


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
