"""The project list, the dashboard and its live fragment, and the on-demand ledger check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from compliance import units
from evidence.verification import remember, verify_project
from projects.permissions import Action
from projects.selectors import project_list
from ui import selectors
from ui.views.common import is_htmx, project_view, render_project
from validation.selectors import active_runs


@login_required
def projects(request):
    return render(request, "ui/projects.html", {"projects": project_list(user=request.user)})


@project_view()
def dashboard(request, project):
    data = selectors.dashboard(project)
    data["runs"] = list(active_runs(project=project))
    data["log_decades"] = units.LOG_DECADES
    return render_project(request, project, "ui/dashboard.html", data, section="dashboard")


@project_view()
def dashboard_runs(request, project):
    """The running campaigns, polled every 2 s by htmx while one is queued or running.

    When a poll finds nothing running any more the page reloads once, so that the verdicts
    and the target progress above show the finished run.
    """
    runs = list(active_runs(project=project))
    response = render_project(request, project, "ui/fragments/active_runs.html", {"runs": runs})
    if not runs and is_htmx(request) and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


@require_POST
@project_view(Action.VIEW)
def verify_ledger(request, project):
    """Recompute the whole log and compare it with every checkpoint (``verify_project``).

    It reads every entry, so it runs only on request; the result is kept in the cache under
    the project and the log size, and the dashboard shows it until the log grows.
    """
    result = remember(project, verify_project(project))
    if is_htmx(request):
        return render_project(
            request,
            project,
            "ui/fragments/verification.html",
            {"verification": {**result, "current": True}},
        )
    return redirect("ui:dashboard", key=project.key)
