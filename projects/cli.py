"""Helpers shared by management commands: who is acting, which project, JSON output."""

from __future__ import annotations

import json
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from projects.models import Project


def add_actor_arguments(parser) -> None:
    parser.add_argument(
        "--user",
        help="who the change is recorded for (default: $SAFECASE_USER, else the only superuser)",
    )


def resolve_actor(username: str | None):
    """The acting user: --user, then $SAFECASE_USER, then the installation's only superuser."""
    User = get_user_model()
    username = username or settings.SAFECASE_USER
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named {username!r}")
        return user
    superusers = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
    if len(superusers) != 1:
        raise CommandError("say who acts: pass --user NAME or set SAFECASE_USER")
    return superusers[0]


def resolve_project(key: str) -> Project:
    project = Project.objects.filter(key=key).first()
    if project is None:
        raise CommandError(f"no project with key {key!r}")
    return project


def resolve_projects(key: str | None) -> list[Project]:
    """The project named by ``--project``, or every project (in key order) when none is."""
    return [resolve_project(key)] if key else list(Project.objects.order_by("key"))


def dump(data) -> str:
    return json.dumps(data, sort_keys=True)


@contextmanager
def refusals_as_errors(*errors: type[Exception]):
    """Turn a service's refusal into a one-line ``CommandError``: the messages of a
    ``ValidationError``, or the text of any of ``errors`` (a command's domain errors)."""
    try:
        yield
    except ValidationError as exc:
        raise CommandError("; ".join(exc.messages)) from exc
    except errors as exc:
        raise CommandError(str(exc) or "not allowed") from exc
