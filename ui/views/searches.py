"""Failure searches: start one, read its evaluations, the failure boundary and the worst cases,
and promote found failures to regression cases, through :mod:`validation.services`.

A search chooses its cases to come close to failing a criterion: they are no random sample, so
the pages label it as a search and no verdict is ever computed from it; its failures are in the
ledger like any other result.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from compliance import selectors as compliance
from projects.permissions import Action
from ui.views.common import handle_form, may, project_view, render_project, succeeded
from validation import selectors, services

#: The most evaluations a search started from a page may take (it runs while the page waits).
PAGE_BUDGET = 1000
EVALUATIONS_PAGE = 50


class SearchForm(forms.Form):
    criterion = forms.ModelChoiceField(queryset=None, to_field_name="code")
    scenario = forms.ModelChoiceField(queryset=None, to_field_name="name")
    campaign = forms.ModelChoiceField(
        queryset=None,
        to_field_name="name",
        required=False,
        help_text="whose sampled space is searched, and where found failures are promoted",
    )
    budget = forms.IntegerField(
        min_value=1, max_value=PAGE_BUDGET, initial=100, help_text="cases to evaluate"
    )
    seed = forms.IntegerField(min_value=0, initial=0)
    sampler = forms.ChoiceField(
        choices=[("tpe", "Optuna TPE (adaptive)"), ("random", "Seeded random")], initial="tpe"
    )
    ranges = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON, e.g. {"ego_speed": [20, 60], "initial_gap": [10, 40]}; empty: the '
        "scenario's sampled space, narrowed to the criterion's scope",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["criterion"].queryset = compliance.criterion_choices(project=project)
        self.fields["criterion"].label_from_instance = lambda c: f"{c.code}: {c.description}"
        self.fields["scenario"].queryset = selectors.scenario_choices(project=project)
        self.fields["campaign"].queryset = selectors.campaign_list(project=project)

    def clean_ranges(self):
        text = self.cleaned_data["ranges"].strip()
        if not text:
            return None
        try:
            ranges = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"The ranges are not JSON: {exc}.") from exc
        if not isinstance(ranges, dict):
            raise ValidationError("Give the ranges as an object: name -> [low, high].")
        return ranges


class PromoteForm(forms.Form):
    cases = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Failing cases",
        error_messages={"required": "Pick at least one failing case."},
    )
    campaign = forms.ModelChoiceField(queryset=None, to_field_name="name", required=False)

    def __init__(self, *args, project, search, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cases"].choices = [
            (e["case_id"], f"{e['case_id']} (margin {e['margin']:.3g})")
            for e in search.evaluations
            if e["failing"]
        ]
        self.fields["campaign"].queryset = selectors.campaign_list(project=project)
        if search.campaign_id:
            self.fields["campaign"].initial = search.campaign.name


def _list(request, project, form=None, status=200):
    context = {
        "searches": selectors.searches_of_project(project=project)[:100],
        "form": (form or SearchForm(project=project))
        if may(request, project, Action.RUN)
        else None,
    }
    return render_project(
        request, project, "ui/searches.html", context, section="campaigns", status=status
    )


@project_view()
def searches(request, project):
    return _list(request, project)


@require_POST
@project_view(Action.RUN)
def search_new(request, project):
    return handle_form(
        SearchForm(request.POST, project=project),  # its fields are the service's arguments
        lambda data: services.failure_search(user=request.user, project=project, **data),
        done=lambda found: succeeded(
            request,
            f"Failure search {found.pk} evaluated {len(found.evaluations)} cases and found "
            f"{found.failures} failing; recorded in the ledger as entry #{found.entry.index}.",
            "ui:search",
            key=project.key,
            pk=found.pk,
        ),
        failed=lambda form: _list(request, project, form, status=400),
        aliases={"search": "ranges"},
    )


def _search(project, pk):
    return get_object_or_404(selectors.search_of_project(project=project), pk=pk)


def _detail(request, project, search, promote=None, status=200):
    summary = search.summary or {}
    context = {
        "search": search,
        "summary": summary,
        "evaluations": Paginator(search.evaluations, EVALUATIONS_PAGE).get_page(
            request.GET.get("page")
        ),
        "boundary": summary.get("boundary") or {},
        "promote": None,
    }
    if search.failures and may(request, project, Action.RUN):
        context["promote"] = promote or PromoteForm(project=project, search=search)
    return render_project(
        request, project, "ui/search.html", context, section="campaigns", status=status
    )


@project_view()
def search(request, project, pk):
    return _detail(request, project, _search(project, pk))


@require_POST
@project_view(Action.RUN)
def search_promote(request, project, pk):
    found = _search(project, pk)

    def save(data):
        return services.promote_failures(
            user=request.user, search=found, case_ids=data["cases"], campaign=data["campaign"]
        )

    return handle_form(
        PromoteForm(request.POST, project=project, search=found),
        save,
        done=lambda space: succeeded(
            request,
            f"Promoted to the regression space {space.name}: its cases now run with the "
            "campaign, and the promotion is in the ledger.",
            "ui:search",
            key=project.key,
            pk=found.pk,
        ),
        failed=lambda form: _detail(request, project, found, form, status=400),
    )
