"""Fixtures shared by every test: people with roles in two projects, and API clients.

With ``DATABASE_OWNER_URL`` set, the test database is created and migrated as the owner and
every test then connects as the application role of ``DATABASE_URL``, as production runs; what
only the owner may do goes through ``tests.owner.owner_cursor``.

``make test`` runs the suite in parallel (pytest-xdist, ``-n auto``; ``tests/parallel.py`` says
how the tests are shared out). Each process has its own test database, copied from a template
migrated once (``tests/testdb.py``), its own default store and signing key, its own S3 server
(``tests/s3.py``) and, when it runs Spark tests, its own Spark session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
from tests import parallel
from tests.owner import flush_database, switch_role
from tests.s3 import s3, s3_endpoint  # noqa: F401  (fixtures)


def pytest_configure(config):
    if config.getvalue("nomigrations"):
        raise pytest.UsageError(
            "--nomigrations: the ledger's append-only triggers come with the migrations"
        )
    parallel.start(config)
    if parallel.is_worker(config):
        _own_store_and_key(config)


def _own_store_and_key(config) -> None:
    """An xdist worker's own default store and signing key file.

    ``config/test_settings.py`` puts them in temporary folders through the environment, which
    the workers inherit from the controlling process: two workers would race to write one key
    file and publish two different logs of one project to one store. The processes that a test
    starts inherit the worker's values.
    """
    from django.conf import settings

    scratch = Path(tempfile.mkdtemp(prefix=f"safecase-test-{config.workerinput['workerid']}-"))
    config.add_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
    (scratch / "store").mkdir()
    for name, value in (
        ("SAFECASE_STORAGE_URL", (scratch / "store").as_uri()),
        ("SAFECASE_SIGNING_KEY_FILE", str(scratch / "keys" / "ledger.key")),
    ):
        os.environ[name] = value
        setattr(settings, name, value)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    parallel.order_and_record(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    return parallel.auto_num_workers()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (pyproject.toml) as this suite runs it: whole units."""
    if config.getvalue("dist") == "loadgroup":
        return parallel.UnitScheduling(config, log)
    return None


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The test database is created and migrated by the owner (its post_migrate grants the
    application role its privileges)."""
    switch_role(owner=True)


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_modify_db_settings,
    django_db_keepdb,
    django_db_createdb,
):
    """The test database, a copy of a template migrated once (``tests/testdb.py``); then the
    tests run as the application role, and the owner drops the database at the end."""
    from django.test.utils import teardown_databases

    from tests import testdb

    verbosity = request.config.option.verbose
    keepdb = django_db_keepdb and not django_db_createdb
    run_id = getattr(request.config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex
    with django_db_blocker.unblock():
        old_config = testdb.setup(
            verbosity=verbosity, keepdb=keepdb, rebuild=django_db_createdb, run_id=run_id
        )
    switch_role(owner=False)
    yield
    switch_role(owner=True)
    if not keepdb:
        with django_db_blocker.unblock():
            teardown_databases(old_config, verbosity=verbosity)


@pytest.fixture
def project(db):
    return Project.objects.create(key="AEB", name="Autonomous emergency braking")


@pytest.fixture
def other_project(db):
    return Project.objects.create(key="LKA", name="Lane keeping assist")


@pytest.fixture
def make_member(db, django_user_model):
    """``make_member(project, role, username=..., team=..., org_unit=..., recorded=False)`` -> user.

    By default the membership row is written directly, with no ledger entry: enough for role
    checks, and the project's log stays empty for the tests that count its entries. Approvals
    take a person's team and organisational unit only from the ledger, so a test about
    independence passes ``recorded=True``: the membership is then set through the operator's
    bootstrap service and recorded as a ``membership`` entry, as the demo seed does.
    """

    def make(project, role, username=None, team="", org_unit="", recorded=False):
        username = username or f"{role}-{project.key.lower()}"
        user = django_user_model.objects.filter(username=username).first()
        if user is None:
            user = django_user_model.objects.create_user(username=username, password="pw")
        if recorded:
            from evidence.membership import membership_seed

            membership_seed(project=project, member=user, role=role, team=team, org_unit=org_unit)
        else:
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
    """Forget what this process remembered of earlier tests' logs, store and trusted keys, and
    what the pages kept in the cache (keyed by a log's head, which another test's copy of the
    same seeded project may share)."""
    from django.core.cache import cache

    from compliance import reviews
    from evidence import ledger, publication, trust

    yield
    cache.clear()
    reviews.forget_digests()
    reviews.forget_citations()
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
    """A transactional database whose append-only ledger rows are cleared after the test."""
    yield
    flush_database()


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
