"""Fixtures shared by every test: people with roles in two projects, and API clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
from tests.s3 import s3, s3_endpoint  # noqa: F401  (fixtures)


@pytest.fixture
def project(db):
    return Project.objects.create(key="AEB", name="Autonomous emergency braking")


@pytest.fixture
def other_project(db):
    return Project.objects.create(key="LKA", name="Lane keeping assist")


@pytest.fixture
def make_member(db, django_user_model):
    """``make_member(project, role, username=..., team=..., org_unit=...)`` -> user."""

    def make(project, role, username=None, team="", org_unit=""):
        username = username or f"{role}-{project.key.lower()}"
        user = django_user_model.objects.filter(username=username).first()
        if user is None:
            user = django_user_model.objects.create_user(username=username, password="pw")
        Membership.objects.create(
            project=project, user=user, role=role, team=team, org_unit=org_unit
        )
        return user

    return make


@pytest.fixture
def members(project, make_member):
    """One user per role in ``project``."""
    return {role.value: make_member(project, role) for role in Role}


@pytest.fixture
def outsider(other_project, make_member):
    """An administrator of another project, with no role in ``project``."""
    return make_member(other_project, Role.ADMIN, username="outsider")


@pytest.fixture
def api():
    """``api(user)`` -> an APIClient authenticated as ``user`` (anonymous when None)."""

    def client(user=None):
        c = APIClient()
        if user is not None:
            c.force_authenticate(user)
        return c

    return client


@pytest.fixture(scope="session", autouse=True)
def signing_key():
    """One Ed25519 ledger key for the whole run, in a temporary folder."""
    from django.conf import settings

    from evidence.keys import generate_key_file

    path = Path(settings.SAFECASE_SIGNING_KEY_FILE)
    if not path.exists():
        generate_key_file(path)
    return path


@pytest.fixture(autouse=True)
def fresh_ledger_caches():
    """Forget what this process remembered of earlier tests' logs, store and trusted keys."""
    from evidence import ledger, publication, trust

    yield
    ledger.forget_checked_heads()
    publication.forget()
    trust.forget()


@pytest.fixture(autouse=True)
def fresh_store(settings, tmp_path):
    """Each test publishes checkpoints and manifests to a store of its own."""
    store = tmp_path / "store"
    store.mkdir()
    settings.SAFECASE_STORAGE_URL = store.as_uri()
    return store


@pytest.fixture
def ledger_transactional_db(transactional_db):
    """A transactional database whose append-only ledger rows are cleared after the test.

    The triggers refuse DELETE, which Django's flush between transactional tests uses on
    SQLite; this fixture lifts them for its own clean-up only and puts them straight back.
    """
    yield
    from django.core.management import call_command
    from django.db import connection

    from evidence.db import drop_triggers, install_triggers

    drop_triggers(connection)
    try:
        call_command("flush", interactive=False, verbosity=0)
    finally:
        install_triggers(connection)


@pytest.fixture(autouse=True)
def celery_eager(request):
    """Tasks run in-process in tests, even when CELERY_BROKER_URL names a real broker.

    Tests marked ``broker`` start a real worker and send real messages instead.
    """
    from config.celery import app

    if request.node.get_closest_marker("broker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
