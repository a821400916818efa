"""The HARA editor: hazardous events rated S, E and C, with the ASIL shown as they are chosen."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from compliance import services
from compliance.models import HazardousEvent
from projects.permissions import Action, require
from ui import selectors
from ui.forms import HazardousEventForm, apply_service_errors, asil_preview
from ui.views.common import may, project_view, render_project


def _save(request, project, event=None):
    """Bind, validate and save through ``hazardous_event_save``; the bound form on failure."""
    require(request.user, project, Action.EDIT)
    form = HazardousEventForm(request.POST, project=project, event=event)
    if form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if not form.fields[k].disabled}
        try:
            saved = services.hazardous_event_save(
                user=request.user, project=project, event=event, **fields
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            verb = "added" if event is None else "updated"
            messages.success(request, f"{saved.code} {verb}: ASIL {saved.asil}.")
            return None, saved
    return form, None


@project_view()
def hara(request, project):
    form = None
    if request.method == "POST":
        form, saved = _save(request, project)
        if saved is not None:
            return redirect("ui:hara", key=project.key)
    elif may(request, project, Action.EDIT):
        form = HazardousEventForm(project=project)
    context = {**selectors.hara(project), "form": form}
    status = 200 if form is None or not form.is_bound else 400
    return render_project(request, project, "ui/hara.html", context, section="hara", status=status)


@project_view(Action.EDIT)
def hazardous_event(request, project, code):
    event = get_object_or_404(
        HazardousEvent.objects.select_related("hazard", "situation"), project=project, code=code
    )
    if request.method == "POST":
        form, saved = _save(request, project, event)
        if saved is not None:
            return redirect("ui:hara", key=project.key)
        status = 400
    else:
        form = HazardousEventForm(
            project=project, event=event, initial=HazardousEventForm.initial_from(event)
        )
        status = 200
    return render_project(
        request,
        project,
        "ui/hazardous_event.html",
        {"event": event, "form": form},
        section="hara",
        status=status,
    )


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
