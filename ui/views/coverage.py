"""Coverage of a run: hits per bin of each parameter, the holes, the bins below a goal, and a
heatmap of two parameters at a time (drawn on the server, like the KPI plots)."""

from __future__ import annotations

from django import forms
from django.shortcuts import get_object_or_404

from ui import charts
from ui.views.common import project_view, render_project
from validation import selectors
from validation.coverage import CoverageError


class CoverageForm(forms.Form):
    criterion = forms.ChoiceField(required=False, label="Cases judged by")
    x = forms.ChoiceField(required=False, label="Heatmap x")
    y = forms.ChoiceField(required=False, label="Heatmap y")
    bins = forms.IntegerField(min_value=1, max_value=100, initial=5, required=False)
    goal = forms.IntegerField(min_value=1, initial=1, required=False, label="Goal per bin")

    def __init__(self, *args, criteria, parameters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["criterion"].choices = [("", "every case")] + [(c, c) for c in criteria]
        for name in ("x", "y"):
            self.fields[name].choices = [("", "—")] + [(p, p) for p in parameters]


@project_view()
def run_coverage(request, project, pk):
    run = get_object_or_404(
        selectors.runs_of_project(project=project).select_related("campaign"), pk=pk
    )
    criteria = {c.code: c for c in selectors.campaign_criteria(campaign_id=run.campaign_id)}
    parameters = selectors.run_parameter_names(run=run)
    form = CoverageForm(request.GET or None, criteria=list(criteria), parameters=parameters)
    asked = form.cleaned_data if form.is_bound and form.is_valid() else {}
    code = asked.get("criterion") or ""
    # The bins and goal default to the campaign's plan, as the verdicts' coverage was recorded.
    plan = run.campaign.coverage_plan or {}
    bins = asked.get("bins") or plan.get("bins") or 5
    goal = asked.get("goal") or plan.get("goal") or 1
    x = asked.get("x") or ("ego_speed" if "ego_speed" in parameters else None)
    y = asked.get("y") or next((p for p in parameters if p != x and p != "scenario"), None)
    context = {
        "run": run,
        "form": form,
        "coverage": None,
        "heatmap": "",
        "error": "",
        "recorded": selectors.run_verdict_of(run=run, code=code) if code in criteria else None,
    }
    try:
        data = selectors.run_coverage(
            project=project,
            run=run,
            criterion=criteria.get(code),
            bins=bins,
            goal=goal,
            x=x if x and y else None,
            y=y if x and y else None,
        )
    except CoverageError as exc:
        context["error"] = str(exc)
    else:
        context["coverage"] = data
        if data["grid"]:
            context["heatmap"] = charts.heatmap(
                data["grid"], title=f"Cases per cell of {x} and {y}"
            )
    return render_project(request, project, "ui/coverage.html", context, section="campaigns")
