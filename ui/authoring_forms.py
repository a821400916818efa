"""Forms of the authoring pages (the item and its ODD, hazards, situations, safety goals, trace
links, triggering conditions, scenario files). They parse what a person typed; the services
decide."""

from __future__ import annotations

from django import forms

from compliance import odd as odd_taxonomy
from compliance import selectors
from compliance.models import LinkKind, ScenarioArea

CODE_HELP = "letters, digits, - _ . (it names the object in the ledger and cannot change)"


class ItemForm(forms.Form):
    function = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    boundaries = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    odd = forms.CharField(
        label="Operational design domain",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="the ODD in words; tag its conditions below",
    )
    odd_tags = forms.MultipleChoiceField(
        label="ODD tags",
        required=False,
        choices=odd_taxonomy.choices(),
        widget=forms.CheckboxSelectMultiple,
        help_text="conditions of the ODD taxonomy (ISO 34503): a criterion's ODD scope and the "
        "scenarios' tags use the same values",
    )
    assumptions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class HazardForm(forms.Form):
    code = forms.CharField(max_length=40, help_text=f"e.g. H-01; {CODE_HELP}")
    title = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SituationForm(forms.Form):
    code = forms.CharField(max_length=40, help_text=f"e.g. OS-01; {CODE_HELP}")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class GoalForm(forms.Form):
    code = forms.CharField(max_length=40, help_text=f"e.g. SG-01; {CODE_HELP}")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    safe_state = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    ftti_ms = forms.IntegerField(label="FTTI (ms)", required=False, min_value=1)
    events = forms.ModelMultipleChoiceField(
        label="Hazardous events",
        queryset=None,
        required=False,
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        help_text="the goal's ASIL is the highest ASIL of its events (QM without any)",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].queryset = selectors.hazardous_event_list(project=project)


LINK_RULES = (
    "Both ends are in this project; a requirement does not link to itself; derives-from links "
    "never form a cycle; a derives-from child carries its parent's ASIL, lower only as a "
    "recorded decomposition child of a requirement (ISO 26262-9 clause 5), never below a "
    "safety goal's ASIL."
)


class LinkForm(forms.Form):
    kind = forms.ChoiceField(choices=LinkKind.choices, initial=LinkKind.DERIVES_FROM)
    target = forms.CharField(
        max_length=40, help_text="code of the safety goal or requirement this one links to"
    )


class LinkRemoveForm(forms.Form):
    reason = forms.CharField(
        max_length=1000, help_text="why the link goes (kept in the ledger with the link)"
    )


class TriggeringConditionForm(forms.Form):
    code = forms.CharField(max_length=40, help_text=f"e.g. TC-04; {CODE_HELP}")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    area = forms.TypedChoiceField(
        label="Scenario area",
        coerce=int,
        choices=ScenarioArea.choices,
        initial=ScenarioArea.KNOWN_HAZARDOUS,
    )


class ScenarioUploadForm(forms.Form):
    file = forms.FileField(
        help_text="an OpenSCENARIO file (.xosc), a parameter distribution, or a zip of them "
        "with their catalogs"
    )
    seed = forms.IntegerField(
        required=False, help_text="seed of the stochastic distributions, if any"
    )
