"""Writes to projects that need no ledger entry, and the rules membership changes share.

Creating a project and every membership change are recorded in the project's evidence ledger,
so those services live in :mod:`evidence.membership` (``projects`` may not import ``evidence``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from projects.models import Membership, Project, Role
from projects.permissions import Action, require


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
