"""The requirement tree, a requirement's detail page, its edit form, the suspect-link review,
its decomposition and its trace links (added and removed)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from compliance import navigation, selectors, services
from compliance import status as lifecycle
from compliance.models import Requirement, RequirementStatus, SafetyGoal
from projects.permissions import Action
from ui import selectors as page_selectors
from ui.authoring_forms import LINK_RULES, LinkForm, LinkRemoveForm
from ui.filters import TreeFilterForm
from ui.forms import (
    ClearSuspectForm,
    DecompositionForm,
    NewRequirementForm,
    RequirementForm,
)
from ui.views.common import handle_form, may, paginate, project_view, render_project, succeeded


@project_view()
def tree(request, project):
    return _tree(request, project)


def _tree(request, project, form=None, status=200):
    context = _tree_page(request, project)
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


@project_view()
def tree_children(request, project):
    """One page of the tree's rows as a fragment (``<li>`` items): the children of
    ``?parent=``, or the requirements matching the filters, fetched by ``tree.js`` when a
    node is expanded or more rows are asked for."""
    context = {**_tree_page(request, project), "fragment": True}
    return render_project(request, project, "ui/fragments/tree_rows.html", context)


def _tree_page(request, project) -> dict:
    """What the tree shows at this address: the children of ``?parent=`` (a goal or a
    requirement), else the requirements the search and filters match, else the safety goals
    and a node for the requirements without a parent; one page of each, never the whole tree."""
    urls = _TreeUrls(project)
    form = TreeFilterForm(request.GET)
    filters = form.filters()
    context = {"filter_form": form, "searching": bool(filters), "urls": urls}
    parent_code = request.GET.get("parent", "").strip()
    if parent_code:
        parent = selectors.goal_or_requirement(project=project, code=parent_code)
        if parent is None:
            raise Http404(f"No safety goal or requirement {parent_code!r} in {project.key}.")
        page = paginate(request, navigation.tree_children(project=project, parent=parent))
        rows = [urls.row(link.source, link=link) for link in page]
        context.update(parent=parent, more={"parent": parent.code})
    elif filters:
        page = paginate(request, navigation.requirement_search(project=project, filters=filters))
        rows = [urls.row(req) for req in page]
        context["more"] = filters
    else:
        page = paginate(request, navigation.tree_goals(project=project))
        rows = [urls.row(goal, goal=True) for goal in page]
        context["more"] = {}
        if not page.has_next():
            rows.append(urls.orphans())
    context.update(page=page, rows=rows, more_url=urls.more(page, context["more"]))
    return context


class _TreeUrls:
    """The addresses a tree row links to: its page, the tree under it (without JavaScript)
    and the fragment of its children (with)."""

    def __init__(self, project):
        self.key = project.key
        self.tree = reverse("ui:requirements", args=[project.key])
        self.children = reverse("ui:requirement-tree-children", args=[project.key])

    def _under(self, query: dict) -> tuple[str, str]:
        encoded = urlencode(query)
        return f"{self.tree}?{encoded}", f"{self.children}?{encoded}"

    def row(self, item, *, goal: bool = False, link=None) -> dict:
        row = {
            "code": item.code,
            "title": item.text if goal else item.title,
            "asil": item.asil,
            "is_goal": goal,
            "status": "" if goal else item.status,
            "kind": "" if goal else item.kind,
            "decomposed": bool(getattr(link or item, "decomposed", False)),
            "suspect": bool(link and link.suspect),
            "href": (
                reverse("ui:hara", args=[self.key]) + f"#goal-{item.code}"
                if goal
                else reverse("ui:requirement", args=[self.key, item.code])
            ),
        }
        if getattr(link or item, "has_children", False):
            row["open_url"], row["children_url"] = self._under({"parent": item.code})
        return row

    def orphans(self) -> dict:
        open_url, children_url = self._under({"gap": "orphan"})
        return {
            "code": "Without a parent",
            "title": "requirements that derive from nothing and satisfy nothing",
            "asil": "",
            "pseudo": True,
            "href": open_url,
            "open_url": open_url,
            "children_url": children_url,
        }

    def more(self, page, query: dict) -> str:
        if not page.has_next():
            return ""
        return f"{self.children}?{urlencode({**query, 'page': page.next_page_number()})}"


@require_POST
@project_view(Action.EDIT)
def create(request, project):
    """A new requirement, linked derives-from to its parent goal or requirement when given;
    both writes in one transaction, so a refused link leaves no orphan behind."""

    def save(data):
        data = dict(data)
        parent_code = data.pop("parent").strip()
        with transaction.atomic():
            requirement = services.requirement_create(user=request.user, project=project, **data)
            if parent_code:
                services.link_create(
                    user=request.user,
                    project=project,
                    source=requirement,
                    kind="derives-from",
                    **_parent(project, parent_code),
                )
        return requirement

    return handle_form(
        NewRequirementForm(request.POST),
        save,
        done=lambda requirement: succeeded(
            request,
            f"{requirement.code} created.",
            "ui:requirement",
            key=project.key,
            code=requirement.code,
        ),
        failed=lambda form: _tree(request, project, form=form, status=400),
        aliases={"target": "parent", "source": "asil"},
    )


def _parent(project, code: str) -> dict:
    target = selectors.goal_or_requirement(project=project, code=code)
    if target is None:
        raise ValidationError({"parent": f"No safety goal or requirement {code!r} here."})
    if isinstance(target, SafetyGoal):
        return {"target_goal": target}
    return {"target_requirement": target}


def _requirement(project, code: str) -> Requirement:
    return get_object_or_404(selectors.requirement_list(project=project), code=code)


def _detail(
    request,
    project,
    requirement,
    *,
    form=None,
    clear_forms=None,
    status=200,
    decomposition_form=None,
    link_form=None,
    remove_forms=None,
):
    context = selectors.requirement_detail(
        requirement=requirement,
        verifications_shown=None
        if request.GET.get("verifications") == "all"
        else selectors.VERIFICATIONS_SHOWN,
    )
    context.update(link_context(request, project, context["links_up"], link_form, remove_forms))
    context["validation"] = page_selectors.requirement_validation(project, requirement)
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
    return _detail(request, project, _requirement(project, code))


@require_POST
@project_view(Action.EDIT)
def edit(request, project, code):
    requirement = _requirement(project, code)

    def save(data):
        data = dict(data)
        if data["status"] == requirement.status:
            del data["status"]  # unchanged: not a status decision of this person
        return services.requirement_update(user=request.user, requirement=requirement, **data)

    return handle_form(
        RequirementForm(request.POST, statuses=_statuses(request, project, requirement)),
        save,
        done=lambda updated: succeeded(
            request,
            f"{updated.code} saved (version {updated.version}).",
            "ui:requirement",
            key=project.key,
            code=updated.code,
        ),
        failed=lambda form: _detail(request, project, requirement, form=form, status=400),
    )


def _statuses(request, project, requirement) -> list[str]:
    """The statuses offered on the edit form: the current one and the steps the role may take
    from it, or, for an approved requirement, from review, where a content change sends it."""
    steps = set(lifecycle.allowed_from(requirement.status, request.user, project))
    if requirement.status == RequirementStatus.APPROVED:
        steps.update(lifecycle.allowed_from(RequirementStatus.IN_REVIEW, request.user, project))
    return [v for v in RequirementStatus.values if v == requirement.status or v in steps]


@require_POST
@project_view(Action.REVIEW)
def clear_link(request, project, pk):
    """Clear a suspect link with the reviewer's comment, then go back to the requirement."""
    link = get_object_or_404(selectors.trace_link_list(project=project), pk=pk)
    # Back to the requirement the reviewer came from: either end of the link.
    back = request.POST.get("back") or link.source.code
    requirement = selectors.link_end(project=project, link=link, code=back) or link.source
    back_to = {"key": project.key, "code": requirement.code}

    def save(data):
        try:
            services.link_clear_suspect(user=request.user, link=link, comment=data["comment"])
        except ValidationError as exc:
            if link.suspect:
                raise
            return exc  # cleared meanwhile (another tab, another reviewer)
        return None

    def done(cleared_meanwhile):
        if cleared_meanwhile is not None:
            messages.info(request, " ".join(cleared_meanwhile.messages))
            return redirect("ui:requirement", **back_to)
        message = f"The link {link.source.code} → {link.target.code} holds."
        return succeeded(request, message, "ui:requirement", **back_to)

    return handle_form(
        ClearSuspectForm(request.POST, prefix=f"l{link.pk}"),
        save,
        done=done,
        failed=lambda form: _detail(
            request, project, requirement, clear_forms={link.pk: form}, status=400
        ),
    )


@require_POST
@project_view(Action.EDIT)
def decompose(request, project, code):
    """Record an ASIL decomposition of this requirement (ISO 26262-9 clause 5 pairs only)."""
    requirement = _requirement(project, code)

    def save(data):
        children = selectors.requirements_by_code(
            project=project, codes=[data["first"], data["second"]]
        )
        missing = {
            name: f"No requirement {data[name]!r} in {project.key}."
            for name in ("first", "second")
            if data[name] not in children
        }
        if missing:
            raise ValidationError(missing)
        return services.decomposition_record(
            user=request.user,
            project=project,
            parent=requirement,
            first=children[data["first"]],
            second=children[data["second"]],
            elements=data["elements"],
            dependent_failure_analysis=data["dependent_failure_analysis"],
            link_children=True,
        )

    return handle_form(
        DecompositionForm(request.POST),
        save,
        done=lambda d: succeeded(
            request,
            f"Decomposition of {requirement.code} recorded; "
            f"{d.first.code} and {d.second.code} derive from it.",
            "ui:requirement",
            key=project.key,
            code=requirement.code,
        ),
        failed=lambda form: _detail(
            request, project, requirement, decomposition_form=form, status=400
        ),
        aliases={"asil": "second", "parent": "first"},
    )


# --- Trace links -------------------------------------------------------------------------------


@require_POST
@project_view(Action.EDIT)
def link_new(request, project, code):
    """A trace link from this requirement to the goal or requirement named by its code."""
    source = _requirement(project, code)

    def save(data):
        return services.link_create(
            user=request.user,
            project=project,
            source=source,
            kind=data["kind"],
            **_parent(project, data["target"].strip()),
        )

    return handle_form(
        LinkForm(request.POST, prefix="link"),
        save,
        done=lambda link: succeeded(
            request,
            f"{source.code} {link.kind} {link.target.code}.",
            "ui:requirement",
            key=project.key,
            code=source.code,
        ),
        failed=lambda form: _detail(request, project, source, link_form=form, status=400),
        aliases={"parent": "target", "source": "target", "asil": "target", "cycle": "target"},
    )


@require_POST
@project_view(Action.EDIT)
def link_remove(request, project, pk):
    link = get_object_or_404(selectors.trace_link_list(project=project), pk=pk)
    source, label = link.source, f"{link.source.code} {link.kind} {link.target.code}"
    return handle_form(
        LinkRemoveForm(request.POST, prefix=f"rm{link.pk}"),
        lambda data: services.link_remove(user=request.user, link=link, reason=data["reason"]),
        done=lambda _none: succeeded(
            request,
            f"The link {label} is removed.",
            "ui:requirement",
            key=project.key,
            code=source.code,
        ),
        failed=lambda form: _detail(
            request, project, source, remove_forms={link.pk: form}, status=400
        ),
    )


def link_context(request, project, links_up, link_form=None, remove_forms=None) -> dict:
    """The link form and a remove form beside each link up, for the roles that edit."""
    if not may(request, project, Action.EDIT):
        return {}
    remove_forms = remove_forms or {}
    for link in links_up:
        link.remove_form = remove_forms.get(link.pk) or LinkRemoveForm(prefix=f"rm{link.pk}")
    return {"link_form": link_form or LinkForm(prefix="link"), "link_rules": LINK_RULES}
