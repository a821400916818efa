"""The one place that decides who may do what in a project.

Every service calls :func:`require` before it writes, and every selector reads through
:func:`visible_projects` or :func:`get_project_for_user`, so a rule changes here and nowhere else.
A user who is not a member of a project gets 404 for it, never 403: nobody learns that another
project exists.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.models import Membership, Project, Role


class Action(StrEnum):
    VIEW = "view"
    EDIT = "edit"  # engineering content: requirements, links, scenarios, datasets, commits
    RUN = "run"  # start and cancel validation campaigns
    REVIEW = "review"  # clear suspect links, decide, freeze baselines
    CONFIRM = "confirm"  # sign confirmation measures (reviews, audits, assessments)
    MANAGE = "manage"  # project settings and memberships


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.ENGINEER: frozenset({Action.VIEW, Action.EDIT, Action.RUN}),
    Role.SAFETY_MANAGER: frozenset(
        {Action.VIEW, Action.EDIT, Action.RUN, Action.REVIEW, Action.CONFIRM}
    ),
    Role.ASSESSOR: frozenset({Action.VIEW, Action.CONFIRM}),
    Role.ADMIN: frozenset(Action),
}


def membership_of(user, project: Project) -> Membership | None:
    """The user's membership of ``project``, remembered on the user object (one request's).

    The first call loads all of the user's memberships in one query, so a page that shows the
    role in each of the user's projects costs one query, not one per project.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    cache = getattr(user, "_safecase_memberships", None)
    if cache is None:
        cache = {m.project_id: m for m in Membership.objects.filter(user=user)}
        cache.setdefault(project.pk, None)
        user._safecase_memberships = cache
    if project.pk not in cache:  # another project the user was not a member of: ask again
        cache[project.pk] = Membership.objects.filter(user=user, project=project).first()
    return cache[project.pk]


def role_of(user, project: Project) -> str | None:
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    membership = membership_of(user, project)
    return membership.role if membership else None


def can(user, project: Project, action: Action | str) -> bool:
    role = role_of(user, project)
    return role is not None and Action(action) in ROLE_ACTIONS[role]


def require(user, project: Project, action: Action | str) -> None:
    """Raise unless ``user`` may perform ``action`` in ``project``.

    Not a member: ``Http404`` (the project is not revealed). A member whose role lacks the action:
    ``PermissionDenied`` naming the role and the action.
    """
    role = role_of(user, project)
    if role is None:
        raise Http404("No such project.")
    if Action(action) not in ROLE_ACTIONS[role]:
        raise PermissionDenied(f"The role {role} may not {Action(action).value} in {project.key}.")


def visible_projects(user):
    """Projects the user may see: their memberships (every project for a superuser)."""
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def get_project_for_user(user, key: str, action: Action | str = Action.VIEW) -> Project:
    """The project with ``key`` if ``user`` may perform ``action`` in it; 404 if not a member."""
    project = Project.objects.filter(key=key).first()
    if project is None:
        raise Http404("No such project.")
    require(user, project, action)
    return project
