"""Confirmation measures: what ISO 26262-2 Table 1 asks at the goals' ASIL, what was signed and
by whom, and the form an assessor signs with (refused when the independence falls short)."""

from __future__ import annotations

from django.views.decorators.http import require_POST

from compliance import iso26262, services
from compliance.selectors import approval_currency, approval_list, highest_goal_asil
from projects.permissions import Action
from ui.forms import ApprovalForm
from ui.views.common import handle_form, may, project_view, render_project, succeeded


def _page(request, project, form=None, status=200):
    asil = highest_goal_asil(project)
    approvals = list(approval_list(project=project))
    currency = approval_currency(project=project)
    rows = []
    for measure in iso26262.ConfirmationMeasure:
        signed = [(a, currency[a.pk]) for a in approvals if a.measure == measure.value]
        rows.append(
            {
                "measure": measure,
                "required": iso26262.required_independence(measure.value, asil),
                "approvals": signed,
            }
        )
    if form is None and may(request, project, Action.CONFIRM):
        form = ApprovalForm(project=project, initial={"asil": asil})
    return render_project(
        request,
        project,
        "ui/confirmation.html",
        {"asil": asil, "rows": rows, "form": form, "edition": iso26262.TABLE1_EDITION},
        section="confirmation",
        status=status,
    )


@project_view()
def confirmation(request, project):
    return _page(request, project)


@require_POST
@project_view(Action.CONFIRM)
def approve(request, project):
    return handle_form(
        ApprovalForm(request.POST, project=project),
        lambda data: services.approval_record(user=request.user, project=project, **data),
        done=lambda approval: succeeded(
            request,
            f"{approval.get_measure_display()} signed at {approval.achieved_independence}.",
            "ui:confirmation",
            key=project.key,
        ),
        failed=lambda form: _page(request, project, form=form, status=400),
    )
