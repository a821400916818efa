"""The campaign planner: sample parameter spaces, plan a campaign, start, watch and cancel runs,
and read the per-case results with their KPI plots."""

from __future__ import annotations

import math

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from compliance.models import AcceptanceCriterion
from projects.permissions import Action
from ui import charts
from ui.forms import CampaignForm, PlotForm, RunStartForm, SpaceForm
from ui.selectors import run_progress as progress_of
from ui.views.common import (
    handle_form,
    is_htmx,
    may,
    paginate,
    project_view,
    render_project,
    succeeded,
)
from validation import selectors, services
from validation.models import Run, RunStatus
from validation.verdicts import CriterionSpec, case_fails

RESULTS_PAGE = 25


@project_view()
def campaigns(request, project):
    return render_project(
        request,
        project,
        "ui/campaigns.html",
        {"campaigns": selectors.campaign_rows(project=project)},
        section="campaigns",
    )


def _planner(request, project, *, campaign_form=None, space_form=None, status=200):
    if space_form is None:  # ?scenario= shows the fields of that scenario's parameters
        chosen = request.GET.get("scenario", "")
        scenario = (
            selectors.scenario_choices(project=project).filter(pk=chosen).first()
            if chosen.isdigit()
            else None
        )
        space_form = SpaceForm(project=project, scenario=scenario)
    return render_project(
        request,
        project,
        "ui/campaign_new.html",
        {
            "form": campaign_form or CampaignForm(project=project),
            "space_form": space_form,
        },
        section="campaigns",
        status=status,
    )


@project_view(Action.EDIT)
def campaign_new(request, project):
    if request.method != "POST":
        return _planner(request, project)

    def save(data):
        return services.campaign_create(
            user=request.user,
            project=project,
            name=data["name"],
            description=data["description"],
            spaces=list(data["spaces"]),
            criteria=list(data["criteria"]),
            executor=data["executor"],
            cap=data["cap"],
            seed=data["seed"],
            shard_size=data["shard_size"],
            sut_commit=data["sut_commit"],
            dataset=data["dataset"],
            model=data["model"],
        )

    return handle_form(
        CampaignForm(request.POST, project=project),
        save,
        done=lambda campaign: succeeded(
            request,
            f"Campaign {campaign.name} planned.",
            "ui:campaign",
            key=project.key,
            pk=campaign.pk,
        ),
        failed=lambda form: _planner(request, project, campaign_form=form, status=400),
    )


@require_POST
@project_view(Action.EDIT)
def space_new(request, project):
    def save(data):
        return services.space_create(
            user=request.user,
            project=project,
            scenario=data["scenario"],
            name=data["name"],
            ranges=data["ranges"],
            method=data["method"],
            n=data["n"],
            seed=data["seed"],
            fixed=data["fixed"],
        )

    return handle_form(
        SpaceForm(request.POST, project=project),
        save,
        done=lambda space: succeeded(
            request,
            f"Parameter space {space.name}: {len(space.cases)} cases sampled.",
            "ui:campaign-new",
            key=project.key,
        ),
        failed=lambda form: _planner(request, project, space_form=form, status=400),
    )


@project_view()
def campaign(request, project, pk):
    campaign = get_object_or_404(selectors.campaign_details(project=project), pk=pk)
    return render_project(
        request,
        project,
        "ui/campaign_detail.html",
        {
            "campaign": campaign,
            "spaces": selectors.campaign_spaces(campaign=campaign),
            "criteria": selectors.campaign_criteria(campaign_id=campaign.pk),
            "runs": selectors.campaign_runs(project=project, campaign=campaign),
            "start_form": RunStartForm(initial={"executor": campaign.executor}),
        },
        section="campaigns",
    )


@require_POST
@project_view(Action.RUN)
def run_start(request, project, pk):
    campaign = get_object_or_404(selectors.campaign_details(project=project), pk=pk)
    form = RunStartForm(request.POST)
    if not form.is_valid():  # never run on another executor than the one asked for
        messages.error(request, " ".join(form.errors.get("executor", ["Choose an executor."])))
        return redirect("ui:campaign", key=project.key, pk=campaign.pk)
    executor = form.cleaned_data["executor"] or None
    try:
        run = services.run_start(
            user=request.user, campaign=campaign, executor=executor, in_background=True
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("ui:campaign", key=project.key, pk=campaign.pk)
    return redirect("ui:run", key=project.key, pk=run.pk)


@require_POST
@project_view(Action.RUN)
def run_cancel(request, project, pk):
    run = get_object_or_404(selectors.runs_of_project(project=project), pk=pk)
    run = services.run_cancel(user=request.user, run=run)
    messages.info(request, f"Run {run.pk} is {run.get_status_display().lower()}.")
    return redirect("ui:run", key=project.key, pk=run.pk)


def _run(project, pk) -> Run:
    return get_object_or_404(selectors.run_rows(project=project, entry=True), pk=pk)


def _progress_context(run: Run) -> dict:
    return {
        "run": run,
        "progress": progress_of(run),
        "verdicts": selectors.run_verdicts(run=run),
    }


@project_view()
def run_progress(request, project, pk):
    """The run's status, progress and verdicts; htmx polls it every 2 s while it is active.

    A poll that finds the run finished asks htmx to reload the page once, so the per-case
    results and plots below appear without the user doing anything.
    """
    run = _run(project, pk)
    response = render_project(
        request, project, "ui/fragments/run_progress.html", _progress_context(run)
    )
    if is_htmx(request) and request.GET.get("poll") and run.status not in selectors.ACTIVE:
        response["HX-Refresh"] = "true"
    return response


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _spec(ac: AcceptanceCriterion) -> CriterionSpec:
    """What ``validation.verdicts.case_fails`` needs to colour a case as the verdict judged it."""
    return CriterionSpec(
        code=ac.code,
        unit=ac.unit,
        confidence=ac.confidence,
        allowed_probability=ac.allowed_failure_probability,
        kpi=ac.kpi,
        comparator=ac.comparator,
        threshold=ac.threshold,
    )


def _plots(request, project, run: Run, criteria) -> dict:
    cases = selectors.run_cases_for_plot(run=run)
    params = sorted({k for _, _, p, _ in cases for k, v in p.items() if _finite(v) is not None})
    kpis = sorted({k for _, _, _, m in cases for k, v in m.items() if _finite(v) is not None})
    if not (params and kpis):
        return {"plot_form": None}
    by_code = {c.code: c for c in criteria if c.unit == "cases"}
    asked = PlotForm(request.GET, params=params, kpis=kpis, criteria=list(by_code))
    # Without a choice: the first per-case criterion with a KPI, its KPI against ego speed.
    judged = [c for c in by_code.values() if c.kpi in kpis]
    default = judged[0].code if judged and "criterion" not in request.GET else ""
    chosen = by_code.get(asked.choice("criterion", default))
    y = asked.choice("y", chosen.kpi if chosen and chosen.kpi in kpis else kpis[0])
    x = asked.choice("x", "ego_speed" if "ego_speed" in params else params[0])
    form = PlotForm(
        {"x": x, "y": y, "criterion": chosen.code if chosen else ""},
        params=params,
        kpis=kpis,
        criteria=list(by_code),
    )
    spec = _spec(chosen) if chosen else None
    judges = selectors.criterion_judges(project=project, criterion=chosen) if chosen else None
    points, values, outside = [], [], 0
    for case_id, scenario, p, k in cases:
        xv, yv = _finite(p.get(x)), _finite(k.get(y))
        if yv is not None:
            values.append(yv)
        if xv is None or yv is None:
            continue
        if spec is None:
            tone = "neutral"
        elif not judges(scenario, p):  # outside the criterion's scope: not judged by it
            tone, outside = "outside", outside + 1
        else:
            tone = "fail" if case_fails(spec, k) else "pass"
        points.append(charts.Point(xv, yv, tone, f"{case_id}: {x}={xv:g}, {y}={yv:g}"))
    threshold = chosen.threshold if chosen and chosen.kpi == y else None
    return {
        "plot_form": form,
        "scatter": charts.scatter(
            points, title=f"{y} against {x}", x_label=x, y_label=y, threshold=threshold
        )
        if points
        else "",
        "histogram": charts.histogram(
            values, title=f"Distribution of {y}", x_label=y, threshold=threshold
        )
        if values
        else "",
        "plotted": len(points),
        "outside": outside,
        "criterion": chosen,
    }


@project_view()
def run(request, project, pk):
    run = _run(project, pk)
    criteria = list(selectors.campaign_criteria(campaign_id=run.campaign_id))
    context = _progress_context(run)
    context["results"] = paginate(request, selectors.run_results(run=run), RESULTS_PAGE)
    context["kpi_columns"] = list(dict.fromkeys([c.kpi for c in criteria if c.kpi] + ["collision"]))
    if run.status == RunStatus.SUCCEEDED or context["progress"]["done"]:
        context.update(_plots(request, project, run, criteria))
        context["judged_on"] = [
            (v, selectors.criterion_scenario_breakdown(verdict=v)) for v in context["verdicts"]
        ]
    context["can_cancel"] = may(request, project, Action.RUN) and context["progress"]["active"]
    return render_project(request, project, "ui/run.html", context, section="campaigns")
