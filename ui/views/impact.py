"""Impact analysis: before a requirement's change is saved, what it will make suspect or stale
down the chain; after it, what is left open in the project to clear."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from compliance import impact as impact_analysis
from compliance.models import Requirement
from ui.views.common import project_view, render_project

PROPOSED = ("title", "text", "asil", "kind")


@project_view()
def open_impact(request, project):
    return render_project(
        request,
        project,
        "ui/impact.html",
        impact_analysis.open_impact(project),
        section="impact",
    )


@project_view()
def requirement_impact(request, project, code):
    """The preview of a change of ``code`` to the values in the query string (the edit form's
    fields): a fragment that the form loads as the user types."""
    requirement = get_object_or_404(Requirement.objects.filter(project=project), code=code)
    proposed = {name: request.GET[name] for name in PROPOSED if name in request.GET}
    return render_project(
        request,
        project,
        "ui/fragments/impact_preview.html",
        {
            "requirement": requirement,
            "impact": impact_analysis.preview(project, requirement, proposed),
        },
    )
