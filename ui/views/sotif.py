"""SOTIF: triggering conditions by scenario area, and acceptance criteria with the validation
targets computed from them (an engineer adds a condition or a criterion here)."""

from __future__ import annotations

from django.views.decorators.http import require_POST

from compliance import services, units
from compliance.selectors import acceptance_criterion_list, triggering_condition_list
from projects.permissions import Action
from ui.authoring_forms import TriggeringConditionForm
from ui.forms import CriterionForm
from ui.views.common import handle_form, may, project_view, render_project, succeeded


def _page(request, project, form=None, status=200, condition_form=None):
    editor = may(request, project, Action.EDIT)
    if form is None and editor:
        form = CriterionForm(project=project)
    if condition_form is None and editor:
        condition_form = TriggeringConditionForm(prefix="tc")
    context = {
        "condition_form": condition_form,
        "conditions": triggering_condition_list(project=project),
        "criteria": acceptance_criterion_list(project=project),
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
    return handle_form(
        CriterionForm(request.POST, project=project),
        lambda data: services.acceptance_criterion_save(user=request.user, project=project, **data),
        done=lambda criterion: succeeded(
            request,
            f"{criterion.code}: validation target "
            f"{units.exposure(criterion.validation_target, criterion.unit)} "
            f"at {units.confidence(criterion.confidence)}.",
            "ui:sotif",
            key=project.key,
        ),
        failed=lambda form: _page(request, project, form=form, status=400),
    )


# --- Triggering conditions -----------------------------------------------------------------


@require_POST
@project_view(Action.EDIT)
def condition_new(request, project):
    return handle_form(
        TriggeringConditionForm(request.POST, prefix="tc"),
        lambda data: services.triggering_condition_create(
            user=request.user, project=project, **data
        ),
        done=lambda tc: succeeded(
            request, f"Triggering condition {tc.code} added.", "ui:sotif", key=project.key
        ),
        failed=lambda form: _page(request, project, condition_form=form, status=400),
    )
