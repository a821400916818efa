"""Which role a process connects as: the owner for migrate and grant_app_role, else the app."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from config.settings import _running_owner_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "owner"),
    [
        (["manage.py", "migrate"], True),
        (["/srv/safecase/manage.py", "grant_app_role", "safecase_app"], True),
        (["django-admin", "migrate", "evidence"], True),
        (["manage.py", "runserver"], False),
        (["manage.py", "verify_ledger"], False),
        (["manage.py"], False),
        (["celery", "migrate"], False),
        (["pytest", "migrate"], False),
    ],
)
def test_only_the_schema_commands_connect_as_the_owner(argv, owner):
    assert _running_owner_command(argv) is owner


def manage(*args, **env_extra):
    env = dict(os.environ, SECRET_KEY="x", DJANGO_SETTINGS_MODULE="config.settings", **env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_an_owner_url_for_another_database_is_refused_before_migrating():
    result = manage(
        "migrate",
        "--plan",
        DATABASE_URL="postgres://safecase_app@127.0.0.1:5432/safecase",
        DATABASE_OWNER_URL="postgres://safecase_owner@127.0.0.1:5432/elsewhere",
    )
    assert result.returncode != 0
    assert "must name the same database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_grant_app_role_needs_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL the command grants (tests/evidence/test_database_roles.py)")
    with pytest.raises(CommandError, match="need PostgreSQL"):
        call_command("grant_app_role", "safecase_app")
