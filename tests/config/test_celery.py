"""Celery: the task in-process, and through a real worker on a real broker when one is set."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from projects.models import Role
from projects.tasks import role_census_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_task_runs_in_process_without_a_broker(project, members, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    result = role_census_task.delay(project.pk)
    assert result.get(timeout=5) == {role.value: 1 for role in Role}


@pytest.fixture
def real_worker(transactional_db):
    """A real ``celery worker`` process on the configured broker and the test database."""
    if not django_settings.CELERY_BROKER_URL:
        pytest.skip("no CELERY_BROKER_URL: the real-worker path runs in CI against Redis")
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        pytest.skip("the real worker shares the test database only on PostgreSQL")
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.test_settings")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            "safecase-test",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield worker
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.mark.broker
def test_task_runs_on_a_real_worker(real_worker, project, members, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from config.celery import app

    app.conf.task_always_eager = False
    try:
        result = role_census_task.apply_async((project.pk,), queue="safecase-test")
        counts = result.get(timeout=60)
    finally:
        app.conf.task_always_eager = django_settings.CELERY_TASK_ALWAYS_EAGER
    assert counts == {role.value: 1 for role in Role}
