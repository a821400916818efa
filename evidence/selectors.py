"""Every read of the evidence app, for a project the caller may already see."""

from django.db.models import QuerySet

from evidence.models import Artifact, Decision, LogEntry
from projects.models import Project


def entry_list(*, project: Project, kind: str | None = None) -> QuerySet[LogEntry]:
    entries = LogEntry.objects.filter(project=project).select_related("recorded_by")
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("index")


def artifact_list(*, project: Project) -> QuerySet[Artifact]:
    return (
        Artifact.objects.filter(project=project)
        .select_related("entry", "trained_on")
        .order_by("kind", "name", "version")
    )


def decision_list(*, project: Project) -> QuerySet[Decision]:
    return (
        Decision.objects.filter(project=project)
        .select_related("decided_by", "entry")
        .order_by("-created_at")
    )
