"""The requirement tree, a requirement's detail page, its edit form and the suspect-link review."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from compliance import services
from compliance.models import Requirement, RequirementStatus, SafetyGoal, TraceLink
from projects.permissions import Action
from ui import selectors
from ui.forms import (
    ClearSuspectForm,
    DecompositionForm,
    NewRequirementForm,
    RequirementForm,
    apply_service_errors,
)
from ui.views.common import may, project_view, render_project


@project_view()
def tree(request, project):
    return _tree(request, project)


def _tree(request, project, form=None, status=200):
    context = selectors.requirement_tree(project)
    if may(request, project, Action.EDIT):
        context["new_form"] = form or NewRequirementForm()
    return render_project(
        request,
        project,
        "ui/requirement_tree.html",
        context,
        section="requirements",
        status=status,
    )


@require_POST
@project_view(Action.EDIT)
def create(request, project):
    """A new requirement, linked derives-from to its parent goal or requirement when given;
    both writes in one transaction, so a refused link leaves no orphan behind."""
    form = NewRequirementForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        parent_code = data.pop("parent").strip()
        try:
            with transaction.atomic():
                requirement = services.requirement_create(
                    user=request.user, project=project, **data
                )
                if parent_code:
                    target = _parent(project, parent_code)
                    services.link_create(
                        user=request.user,
                        project=project,
                        source=requirement,
                        kind="derives-from",
                        **target,
                    )
        except ValidationError as exc:
            apply_service_errors(form, exc, aliases={"target": "parent", "source": "asil"})
        else:
            messages.success(request, f"{requirement.code} created.")
            return redirect("ui:requirement", key=project.key, code=requirement.code)
    return _tree(request, project, form=form, status=400)


def _parent(project, code: str) -> dict:
    goal = SafetyGoal.objects.filter(project=project, code=code).first()
    if goal is not None:
        return {"target_goal": goal}
    requirement = Requirement.objects.filter(project=project, code=code).first()
    if requirement is None:
        raise ValidationError({"parent": f"No safety goal or requirement {code!r} here."})
    return {"target_requirement": requirement}


def _detail(
    request,
    project,
    requirement,
    *,
    form=None,
    clear_forms=None,
    status=200,
    decomposition_form=None,
):
    context = selectors.requirement_detail(project, requirement)
    if may(request, project, Action.EDIT):
        context["decomposition_form"] = decomposition_form or DecompositionForm()
    if form is None and may(request, project, Action.EDIT):
        form = RequirementForm(
            initial={
                "title": requirement.title,
                "text": requirement.text,
                "asil": requirement.asil,
                "status": requirement.status,
            },
            statuses=_statuses(request, project, requirement),
        )
    # A clear form beside every suspect link, for the roles that review (bound when it failed).
    clear_forms = clear_forms or {}
    if may(request, project, Action.REVIEW):
        for link in context["links_up"] + context["links_down"]:
            if link.suspect:
                link.clear_form = clear_forms.get(link.pk) or ClearSuspectForm(prefix=f"l{link.pk}")
    context.update(requirement=requirement, form=form)
    return render_project(
        request,
        project,
        "ui/requirement_detail.html",
        context,
        section="requirements",
        status=status,
    )


@project_view()
def detail(request, project, code):
    requirement = get_object_or_404(Requirement, project=project, code=code)
    return _detail(request, project, requirement)


@require_POST
@project_view(Action.EDIT)
def edit(request, project, code):
    requirement = get_object_or_404(Requirement, project=project, code=code)
    form = RequirementForm(request.POST, statuses=_statuses(request, project, requirement))
    if form.is_valid():
        data = dict(form.cleaned_data)
        if data["status"] == requirement.status:
            del data["status"]  # unchanged: not a status decision of this person
        try:
            updated = services.requirement_update(
                user=request.user, requirement=requirement, **data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{updated.code} saved (version {updated.version}).")
            return redirect("ui:requirement", key=project.key, code=updated.code)
    return _detail(request, project, requirement, form=form, status=400)


def _statuses(request, project, requirement) -> list[str]:
    """The statuses offered on the edit form: those the role may set, and the current one."""
    return [
        value
        for value in RequirementStatus.values
        if value == requirement.status or services.may_set_status(request.user, project, value)
    ]


@require_POST
@project_view(Action.REVIEW)
def clear_link(request, project, pk):
    """Clear a suspect link with the reviewer's comment, then go back to the requirement."""
    link = get_object_or_404(
        TraceLink.objects.select_related("source", "target_requirement", "target_goal"),
        project=project,
        pk=pk,
    )
    # Back to the requirement the reviewer came from: either end of the link.
    back = request.POST.get("back") or link.source.code
    requirement = (
        Requirement.objects.filter(project=project, code=back)
        .filter(Q(links_up=link) | Q(links_down=link))
        .first()
        or link.source
    )
    form = ClearSuspectForm(request.POST, prefix=f"l{link.pk}")
    if form.is_valid():
        try:
            services.link_clear_suspect(
                user=request.user, link=link, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            if not link.suspect:  # cleared meanwhile (another tab, another reviewer)
                messages.info(request, " ".join(exc.messages))
                return redirect("ui:requirement", key=project.key, code=requirement.code)
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"The link {link.source.code} → {link.target.code} holds.")
            return redirect("ui:requirement", key=project.key, code=requirement.code)
    return _detail(request, project, requirement, clear_forms={link.pk: form}, status=400)


@require_POST
@project_view(Action.EDIT)
def decompose(request, project, code):
    """Record an ASIL decomposition of this requirement (ISO 26262-9 clause 5 pairs only)."""
    requirement = get_object_or_404(Requirement, project=project, code=code)
    form = DecompositionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        children = {
            c.code: c
            for c in Requirement.objects.filter(
                project=project, code__in=[data["first"], data["second"]]
            )
        }
        missing = [f for f in ("first", "second") if data[f] not in children]
        for name in missing:
            form.add_error(name, f"No requirement {data[name]!r} in {project.key}.")
        if not missing:
            try:
                services.decomposition_record(
                    user=request.user,
                    project=project,
                    parent=requirement,
                    first=children[data["first"]],
                    second=children[data["second"]],
                    elements=data["elements"],
                    dependent_failure_analysis=data["dependent_failure_analysis"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, aliases={"asil": "second", "parent": "first"})
            else:
                messages.success(request, f"Decomposition of {requirement.code} recorded.")
                return redirect("ui:requirement", key=project.key, code=requirement.code)
    return _detail(request, project, requirement, decomposition_form=form, status=400)
