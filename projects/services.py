"""Writes to projects that need no ledger entry, and the rules membership changes share.

Creating a project and every membership change are recorded in the project's evidence ledger,
so those services live in :mod:`evidence.membership` (``projects`` may not import ``evidence``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from projects.models import Membership, Project, Role
from projects.permissions import Action, require


@dataclass(frozen=True)
class SystemActor:
    """The installation acting on its own authority: the operator's bootstrap run from the
    command line (the demo seed, an installation's first set-up) by someone who already holds the
    signing key. No request ever carries it, so the web cannot reach what only it may do; the
    ledger records its changes with no acting user (``changedBy`` null)."""

    username = None
    pk = None


#: The one system actor.
SYSTEM = SystemActor()


def require_system(actor) -> None:
    """Refuse anyone but the system actor (a bootstrap service called with a person)."""
    if actor is not SYSTEM:
        raise PermissionDenied("Only the installation's bootstrap may do this.")


@transaction.atomic
def user_bootstrap(*, actor: SystemActor, username: str, email: str, password: str, staff=False):
    """The operator's bootstrap of a login: ``(user, created)``. An existing user stays as it
    is (password included); a new one is a superuser when ``staff``."""
    require_system(actor)
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = User(username=username, email=email, is_staff=staff, is_superuser=staff)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, True


@transaction.atomic
def project_update(*, user, project: Project, **fields) -> Project:
    """Change some of a project's name and description; fields not given stay as they are."""
    require(user, project, Action.MANAGE)
    allowed = {"name", "description"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save(update_fields=list(fields) or None)
    return project


def keep_an_admin(project: Project, *, without: Membership) -> None:
    """Refuse a change that would leave the project without an administrator."""
    others = Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN)
    if without.pk:
        others = others.exclude(pk=without.pk)
    if not others.exists():
        raise ValidationError({"role": "A project must keep at least one administrator."})
