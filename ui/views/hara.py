"""The HARA editor: hazardous events rated S, E and C, with the ASIL shown as they are chosen."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from compliance import services
from compliance.selectors import hazardous_event_list, safety_goal_list
from projects.permissions import Action
from ui.forms import HazardousEventForm, asil_preview
from ui.views.common import handle_form, may, project_view, render_project, succeeded


def _save(request, project, failed, event=None):
    """Bind, validate and save through ``hazardous_event_save``, then back to the HARA;
    ``failed(form)`` shows the bound form. The views' ``project_view(post=Action.EDIT)`` has
    checked the role."""
    form = HazardousEventForm(request.POST, project=project, event=event)

    def save(data):
        fields = {k: v for k, v in data.items() if not form.fields[k].disabled}
        return services.hazardous_event_save(
            user=request.user, project=project, event=event, **fields
        )

    verb = "added" if event is None else "updated"
    return handle_form(
        form,
        save,
        done=lambda saved: succeeded(
            request, f"{saved.code} {verb}: ASIL {saved.asil}.", "ui:hara", key=project.key
        ),
        failed=failed,
    )


def _hara(request, project, form, status=200):
    context = {
        "events": list(hazardous_event_list(project=project)),
        "goals": list(safety_goal_list(project=project)),
        "form": form,
    }
    return render_project(request, project, "ui/hara.html", context, section="hara", status=status)


@project_view(post=Action.EDIT)
def hara(request, project):
    if request.method == "POST":
        return _save(request, project, lambda form: _hara(request, project, form, status=400))
    form = HazardousEventForm(project=project) if may(request, project, Action.EDIT) else None
    return _hara(request, project, form)


def _event(request, project, event, form, status=200):
    return render_project(
        request,
        project,
        "ui/hazardous_event.html",
        {"event": event, "form": form},
        section="hara",
        status=status,
    )


@project_view(post=Action.EDIT)
def hazardous_event(request, project, code):
    """The event's rating with its reasons for every role; its form for the roles that edit."""
    event = get_object_or_404(hazardous_event_list(project=project), code=code)
    if request.method == "POST":
        return _save(
            request, project, lambda form: _event(request, project, event, form, 400), event
        )
    form = None
    if may(request, project, Action.EDIT):
        form = HazardousEventForm(
            project=project, event=event, initial=HazardousEventForm.initial_from(event)
        )
    return _event(request, project, event, form)


@login_required
def asil(request):
    """The ASIL of the S, E and C in the query string, as a fragment for htmx.

    Pure computation with ``compliance.iso26262.determine_asil``: it reveals nothing about any
    project, so it needs a login but no project role.
    """
    value = asil_preview(
        request.GET.get("severity"), request.GET.get("exposure"), request.GET.get("controllability")
    )
    return render(request, "ui/fragments/asil.html", {"asil": value})
