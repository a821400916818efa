"""Every write to projects and memberships. Each is atomic and checks the caller's role."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from projects.models import Membership, Project, Role
from projects.permissions import Action, require


@transaction.atomic
def project_create(*, user, key: str, name: str, description: str = "") -> Project:
    """Create a project; the creator becomes its administrator. Staff only."""
    if not (user.is_staff or user.is_superuser):
        raise PermissionDenied("Only staff users may create projects.")
    project = Project(key=key, name=name, description=description)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


@transaction.atomic
def project_update(*, user, project: Project, **fields) -> Project:
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


@transaction.atomic
def membership_set(
    *, user, project: Project, member, role: str, team: str = "", org_unit: str = ""
) -> Membership:
    """Add ``member`` to ``project`` or change their role and organisational placement."""
    require(user, project, Action.MANAGE)
    membership = Membership.objects.filter(project=project, user=member).first()
    if membership is None:
        membership = Membership(project=project, user=member)
    membership.role = role
    membership.team = team
    membership.org_unit = org_unit
    membership.full_clean()
    if role != Role.ADMIN:
        _keep_an_admin(project, without=membership)
    membership.save()
    return membership


@transaction.atomic
def membership_remove(*, user, project: Project, membership: Membership) -> None:
    require(user, project, Action.MANAGE)
    if membership.project_id != project.pk:
        raise ValidationError("The membership belongs to another project.")
    _keep_an_admin(project, without=membership)
    Membership.objects.filter(pk=membership.pk).delete()


def _keep_an_admin(project: Project, *, without: Membership) -> None:
    """Refuse a change that would leave the project without an administrator."""
    others = Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN)
    if without.pk:
        others = others.exclude(pk=without.pk)
    if not others.exists():
        raise ValidationError({"role": "A project must keep at least one administrator."})
