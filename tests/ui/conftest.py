"""Fixtures of the web UI tests: the seeded demo project, once for the whole package.

Seeding the demo (``demo.seed.seed_demo``) takes a few seconds, so it is committed once
before the first UI test and every test then runs inside a transaction that is rolled back, as
pytest-django's ``db`` fixture does. When the package is done the rows are removed the way
``ledger_transactional_db`` does it (the append-only ledger triggers are lifted for the flush
only), so the other packages' tests see an empty database again.

The tests skip when the ``ui`` app is not installed (``config/settings.py`` lists it).
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

DEMO_PEOPLE = ("admin", "sam", "erin", "eli", "ada", "vic")


@pytest.fixture(autouse=True)
def _needs_ui_app():
    if not apps.is_installed("ui"):
        pytest.skip("the ui app is not in INSTALLED_APPS")


@pytest.fixture(scope="package")
def demo_db(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo project AEB, committed once for the UI tests (see the module docstring);
    the value is the URL of the store the seeding wrote to, a new one: a store that earlier
    tests published an AEB log to would rightly refuse the new log as a rolled-back one."""
    if not apps.is_installed("ui"):
        yield None
        return
    from django.test import override_settings

    from demo.seed import seed_demo
    from tests.owner import flush_database

    store = tmp_path_factory.mktemp("demo-store").as_uri()
    with django_db_blocker.unblock(), override_settings(SAFECASE_STORAGE_URL=store):
        seed_demo()
        _run_demo_campaign()
    yield store
    with django_db_blocker.unblock():
        flush_database()


def _run_demo_campaign() -> None:
    """Run the demo campaign once, in-process, as ``make demo`` does: verdicts to show."""
    from django.contrib.auth import get_user_model

    from config.celery import app
    from validation.models import Campaign
    from validation.services import run_start

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        campaign = Campaign.objects.get(project__key="AEB", name="AEB-demo")
        run_start(user=get_user_model().objects.get(username="erin"), campaign=campaign)
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def demo(demo_db, db, settings, tmp_path):
    """The seeded project, inside the test's rolled-back transaction, with a copy of the store
    that holds its published checkpoints and dataset manifests.

    The copy is the test's own: a checkpoint the test publishes and then rolls back stays in
    it, where the shared store would later show the committed demo as a rolled-back log."""
    import shutil
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    from projects.models import Project

    store = tmp_path / "demo-store"
    shutil.copytree(Path(unquote(urlparse(demo_db).path)), store)
    settings.SAFECASE_STORAGE_URL = store.as_uri()

    return Project.objects.get(key="AEB")


@pytest.fixture
def people(demo, django_user_model):
    """The demo people by username: admin, sam (safety manager), erin and eli (engineers),
    ada (assessor), vic (viewer)."""
    return django_user_model.objects.in_bulk(DEMO_PEOPLE, field_name="username")


@pytest.fixture
def as_user(people):
    """``as_user("vic")`` -> a test client logged in as that demo person (anonymous: None)."""

    def client(username=None):
        c = Client()
        if username is not None:
            c.force_login(people[username])
        return c

    return client


@pytest.fixture
def demo_run(demo):
    """The finished run of the demo campaign."""
    from validation.models import Run

    return Run.objects.select_related("campaign").get(campaign__name="AEB-demo")


@pytest.fixture
def stranger(demo, django_user_model):
    """The administrator of another project, with no role in AEB."""
    from projects.models import Membership, Project, Role

    other = Project.objects.create(key="LKA", name="Lane keeping assist")
    user = django_user_model.objects.create_user(username="stranger", password="pw")
    Membership.objects.create(project=other, user=user, role=Role.ADMIN)
    return user
