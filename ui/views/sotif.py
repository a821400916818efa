"""SOTIF: triggering conditions by scenario area, and acceptance criteria with the validation
targets computed from them (an engineer adds a criterion here)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from compliance import services
from compliance.models import AcceptanceCriterion, TriggeringCondition
from projects.permissions import Action
from ui.forms import CriterionForm, apply_service_errors
from ui.views.common import may, project_view, render_project


def _page(request, project, form=None, status=200):
    if form is None and may(request, project, Action.EDIT):
        form = CriterionForm(project=project)
    context = {
        "conditions": TriggeringCondition.objects.filter(project=project).order_by("code"),
        "criteria": AcceptanceCriterion.objects.filter(project=project)
        .select_related("goal", "requirement")
        .order_by("code"),
        "form": form,
    }
    return render_project(
        request, project, "ui/sotif.html", context, section="sotif", status=status
    )


@project_view()
def sotif(request, project):
    return _page(request, project)


@require_POST
@project_view(Action.EDIT)
def criterion_new(request, project):
    form = CriterionForm(request.POST, project=project)
    if form.is_valid():
        try:
            criterion = services.acceptance_criterion_save(
                user=request.user, project=project, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"{criterion.code}: validation target {criterion.validation_target:,.4g} "
                f"{criterion.get_unit_display()}.",
            )
            return redirect("ui:sotif", key=project.key)
    return _page(request, project, form=form, status=400)
