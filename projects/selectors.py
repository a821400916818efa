"""Every read of projects and memberships, scoped to the user."""

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from projects.models import Membership, Project
from projects.permissions import visible_projects


def project_list(*, user) -> QuerySet[Project]:
    return visible_projects(user).order_by("key")


def user_list():
    """Every user: a new member is named by username, whoever they are."""
    return get_user_model().objects.all()


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def member_users(*, project: Project) -> QuerySet:
    """The project's members as users, by username."""
    return get_user_model().objects.filter(memberships__project=project).order_by("username")


def role_counts(*, project: Project) -> dict[str, int]:
    """How many members the project has in each role that has any."""
    rows = project.memberships.values("role").annotate(n=Count("id")).order_by("role")
    return {row["role"]: row["n"] for row in rows}


def project_by_key(*, key: str) -> Project | None:
    """The project with ``key``, whoever asks: only for callers that authenticate otherwise
    (the Git hosting webhooks prove themselves with the project's shared secret)."""
    return Project.objects.filter(key=key).first()
