"""Celery entry points of the projects app: ids in, a selector or service does the work."""

from celery import shared_task
from django.db.models import Count

from projects.models import Project


@shared_task(name="projects.role_census")
def role_census_task(project_id: int) -> dict[str, int]:
    """Count a project's members by role; used by the dashboard and as the broker smoke test."""
    project = Project.objects.get(pk=project_id)
    rows = project.memberships.values("role").annotate(n=Count("id")).order_by("role")
    return {row["role"]: row["n"] for row in rows}
