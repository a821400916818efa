"""Regression between two runs: a head run compared against a base run, per criterion.

The page computes the comparison as it reads (nothing is recorded by looking); a person who may
run campaigns records it in the ledger with one button, as ``compare_runs`` does in CI.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from projects.permissions import Action
from ui.views.common import may, project_view, render_project
from validation import selectors, services

#: How many cases the page lists by name.
LISTED = 50


class CompareForm(forms.Form):
    base = forms.TypedChoiceField(coerce=int, label="Base run (the reference)")

    def __init__(self, *args, project, head, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base"].choices = [
            (r.pk, f"run {r.pk} of {r.campaign.name} ({r.created_at:%Y-%m-%d %H:%M})")
            for r in selectors.finished_runs(project=project).exclude(pk=head.pk)
        ]


def _head(project, pk):
    return get_object_or_404(
        selectors.runs_of_project(project=project).select_related("campaign", "entry"), pk=pk
    )


@project_view()
def run_compare(request, project, pk):
    head = _head(project, pk)
    form = CompareForm(request.GET or None, project=project, head=head)
    report = base = None
    if form.is_bound and form.is_valid():
        base = get_object_or_404(
            selectors.finished_runs(project=project), pk=form.cleaned_data["base"]
        )
        if head.status == "succeeded":
            report = selectors.comparison_report(
                project=project, base=base, head=head, limit=LISTED
            )
    context = {
        "run": head,
        "form": form,
        "base": base,
        "report": report,
        "kpi_rows": _kpi_rows(report) if report else [],
        "recorded": selectors.comparisons_of_run(project=project, run=head)[:20],
        "can_record": may(request, project, Action.RUN) and report is not None,
    }
    return render_project(request, project, "ui/comparison.html", context, section="campaigns")


def _kpi_rows(report: dict) -> list[dict]:
    """The per-scenario KPI deltas that changed, largest mean change first within a scenario."""
    rows = [row for row in report["kpis"]["scenarios"] if row["changed"]]
    return sorted(rows, key=lambda r: (r["scenario"], -abs(r["mean_delta"] or 0.0)))


@require_POST
@project_view(Action.RUN)
def run_compare_record(request, project, pk):
    head = _head(project, pk)
    form = CompareForm(request.POST, project=project, head=head)
    if not form.is_valid():
        messages.error(request, "Choose a finished base run to compare with.")
        return redirect("ui:run-compare", key=project.key, pk=head.pk)
    base = get_object_or_404(selectors.finished_runs(project=project), pk=form.cleaned_data["base"])
    try:
        comparison = services.run_compare(user=request.user, project=project, base=base, head=head)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("ui:run-compare", key=project.key, pk=head.pk)
    outcome = "regressed" if comparison.regressed else "no regression"
    messages.success(
        request, f"Recorded in the ledger as entry #{comparison.entry.index}: {outcome}."
    )
    url = reverse("ui:run-compare", kwargs={"key": project.key, "pk": head.pk})
    return redirect(f"{url}?base={base.pk}")
