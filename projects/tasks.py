"""Celery entry points of the projects app: ids in, a selector or service does the work."""

from celery import shared_task

from projects.models import Project
from projects.selectors import role_counts


@shared_task(name="projects.role_census")
def role_census_task(project_id: int) -> dict[str, int]:
    """Count a project's members by role: the smoke test of the broker and the workers.

    Nothing in the application schedules it; the Celery tests do.
    """
    return role_counts(project=Project.objects.get(pk=project_id))
