"""Building the safety case in the browser: the item and its ODD, hazards and operational
situations, safety goals and scenario files (trace links are on the requirement's page,
triggering conditions on the SOTIF page). Every write goes through the service the API uses
(role check and ledger entry in one transaction); a role that may not edit gets the same page
read-only."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.templatetags.static import static
from django.views.decorators.http import require_POST

from compliance import odd as odd_taxonomy
from compliance import selectors, services
from projects.permissions import Action
from ui.authoring_forms import (
    GoalForm,
    HazardForm,
    ItemForm,
    ScenarioUploadForm,
    SituationForm,
)
from ui.views.common import handle_form, may, project_view, render_project, succeeded
from validation import selectors as validation_selectors
from validation import services as validation_services


def favicon(request):
    """Browsers ask for /favicon.ico before they read the page's icon link."""
    return redirect(static("ui/favicon.svg"), permanent=True)


# --- The item --------------------------------------------------------------------------------


def _item(request, project, form=None, status=200):
    item = selectors.item_definition(project=project)
    if form is None and may(request, project, Action.EDIT):
        initial = {}
        if item is not None:
            initial = {f: getattr(item, f) for f in ItemForm.base_fields}
        form = ItemForm(initial=initial)
    tags = odd_taxonomy.as_scope(item.odd_tags) if item is not None else {}
    return render_project(
        request,
        project,
        "ui/item.html",
        {"item": item, "form": form, "odd_tags": tags},
        section="item",
        status=status,
    )


@project_view(post=Action.EDIT)
def item(request, project):
    if request.method != "POST":
        return _item(request, project)
    return handle_form(
        ItemForm(request.POST),
        lambda data: services.item_set(user=request.user, project=project, **data),
        done=lambda _item_: succeeded(
            request, "The item definition is saved.", "ui:item", key=project.key
        ),
        failed=lambda form: _item(request, project, form, status=400),
    )


# --- Hazards and operational situations ----------------------------------------------------


def _hazards(request, project, hazard_form=None, situation_form=None, status=200):
    editor = may(request, project, Action.EDIT)
    context = {
        "hazards": selectors.hazard_list(project=project),
        "situations": selectors.situation_list(project=project),
        "hazard_form": hazard_form or (HazardForm(prefix="hazard") if editor else None),
        "situation_form": situation_form or (SituationForm(prefix="os") if editor else None),
    }
    return render_project(
        request, project, "ui/hazards.html", context, section="hara", status=status
    )


@project_view()
def hazards(request, project):
    return _hazards(request, project)


@require_POST
@project_view(Action.EDIT)
def hazard_new(request, project):
    return handle_form(
        HazardForm(request.POST, prefix="hazard"),
        lambda data: services.hazard_create(user=request.user, project=project, **data),
        done=lambda hazard: succeeded(
            request, f"Hazard {hazard.code} added.", "ui:hazards", key=project.key
        ),
        failed=lambda form: _hazards(request, project, hazard_form=form, status=400),
    )


@require_POST
@project_view(Action.EDIT)
def situation_new(request, project):
    return handle_form(
        SituationForm(request.POST, prefix="os"),
        lambda data: services.situation_create(user=request.user, project=project, **data),
        done=lambda situation: succeeded(
            request, f"Situation {situation.code} added.", "ui:hazards", key=project.key
        ),
        failed=lambda form: _hazards(request, project, situation_form=form, status=400),
    )


def _edit_page(request, project, obj, form, status=200, *, kind):
    return render_project(
        request,
        project,
        "ui/hazard_edit.html",
        {"object": obj, "form": form, "kind": kind},
        section="hara",
        status=status,
    )


def _editor(kind, form_class, lookup, update, fields):
    """The page of one hazard or situation: read-only for a viewer, its form for an editor."""

    @project_view(post=Action.EDIT)
    def view(request, project, code):
        obj = get_object_or_404(lookup(project=project), code=code)
        editor = may(request, project, Action.EDIT)
        if request.method != "POST":
            form = form_class(initial={f: getattr(obj, f) for f in fields}) if editor else None
            if form is not None:
                form.fields["code"].disabled = True
            return _edit_page(request, project, obj, form, kind=kind)
        form = form_class(request.POST, initial={"code": obj.code})
        form.fields["code"].disabled = True
        return handle_form(
            form,
            lambda data: update(user=request.user, project=project, **{kind: obj}, **data),
            done=lambda saved: succeeded(
                request, f"{saved.code} saved.", "ui:hazards", key=project.key
            ),
            failed=lambda bound: _edit_page(request, project, obj, bound, 400, kind=kind),
        )

    return view


hazard = _editor(
    "hazard", HazardForm, selectors.hazard_list, services.hazard_update, HazardForm.base_fields
)
situation = _editor(
    "situation",
    SituationForm,
    selectors.situation_list,
    services.situation_update,
    SituationForm.base_fields,
)


# --- Safety goals ------------------------------------------------------------------------------


def _goals(request, project, form=None, status=200):
    if form is None and may(request, project, Action.EDIT):
        form = GoalForm(project=project)
    context = {"goals": selectors.safety_goal_list(project=project), "form": form}
    return render_project(request, project, "ui/goals.html", context, section="hara", status=status)


@project_view()
def goals(request, project):
    return _goals(request, project)


@require_POST
@project_view(Action.EDIT)
def goal_new(request, project):
    return handle_form(
        GoalForm(request.POST, project=project),
        lambda data: services.safety_goal_save(
            user=request.user, project=project, **{**data, "events": list(data["events"])}
        ),
        done=lambda goal: succeeded(
            request,
            f"Safety goal {goal.code} added: ASIL {goal.asil}.",
            "ui:goal",
            key=project.key,
            code=goal.code,
        ),
        failed=lambda form: _goals(request, project, form, status=400),
    )


@project_view()
def goal(request, project, code):
    goal = get_object_or_404(selectors.safety_goal_list(project=project), code=code)
    links = selectors.trace_link_list(project=project).filter(target_goal=goal)
    criteria = selectors.acceptance_criterion_list(project=project).filter(goal=goal)
    return render_project(
        request,
        project,
        "ui/goal_detail.html",
        {"goal": goal, "links": links, "criteria": criteria},
        section="hara",
    )


# --- Scenario files ----------------------------------------------------------------------------


def _scenarios(request, project, form=None, result=None, status=200):
    if form is None and may(request, project, Action.EDIT):
        form = ScenarioUploadForm()
    context = {
        "scenarios": validation_selectors.scenario_list(project=project),
        "form": form,
        "result": result,
    }
    return render_project(
        request, project, "ui/scenarios.html", context, section="campaigns", status=status
    )


@project_view()
def scenarios(request, project):
    return _scenarios(request, project)


@require_POST
@project_view(Action.EDIT)
def scenario_upload(request, project):
    """Import an uploaded OpenSCENARIO file (or zip) under the name it was given; a refusal
    names the file that way and imports nothing."""
    form = ScenarioUploadForm(request.POST, request.FILES)

    def save(data):
        upload = data["file"]
        name = Path(upload.name).name
        if not name or name.startswith("."):
            raise ValidationError({"file": f"{upload.name!r} is not a file name."})
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            path = Path(folder) / name
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            return validation_services.scenarios_import(
                user=request.user, project=project, paths=[path], root=folder, seed=data["seed"]
            )

    def done(result):
        return _scenarios(request, project, result=result)

    return handle_form(
        form, save, done=done, failed=lambda bound: _scenarios(request, project, bound, status=400)
    )
