"""Several real processes appending to one project's log at once (PostgreSQL)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from evidence.models import Checkpoint, LogEntry
from evidence.verification import verify_project
from projects.models import Project

ROOT = Path(__file__).resolve().parents[2]

APPENDER = """
import sys
import django
django.setup()
from evidence import ledger
from projects.models import Project
project = Project.objects.get(key=sys.argv[1])
worker, count = sys.argv[2], int(sys.argv[3])
for i in range(count):
    subject = ledger.Subject(f"worker-{worker}-{i}", f"{i:064x}")
    ledger.append(project, [ledger.Record("validation-result", [subject], {"i": i})])
print("done")
"""


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.postgres
def test_concurrent_appenders_get_gapless_unique_indexes(ledger_transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("several processes share the test database only on PostgreSQL")
    project = Project.objects.create(key="CONC", name="Concurrency")
    env = dict(
        os.environ,
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="config.test_settings",
        SAFECASE_SIGNING_KEY_FILE=settings.SAFECASE_SIGNING_KEY_FILE,
        SAFECASE_STORAGE_URL=settings.SAFECASE_STORAGE_URL,
    )
    workers, each = 6, 15
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, "CONC", str(w), str(each)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    indexes = list(
        LogEntry.objects.filter(project=project).order_by("index").values_list("index", flat=True)
    )
    assert indexes == list(range(workers * each))
    subjects = set(LogEntry.objects.filter(project=project).values_list("subject", flat=True))
    assert len(subjects) == workers * each
    assert Checkpoint.objects.filter(project=project).count() == workers * each
    result = verify_project(project)
    assert result.ok, result.problems
    assert result.published == workers * each
