"""The filter forms of the list pages that navigate a large safety case: the requirement tree
and the traceability chains. A bad value is ignored (the list shows unfiltered), never a 500."""

from __future__ import annotations

from django import forms

from compliance.navigation import GAPS
from ui.forms import ASIL_FILTER, MatrixFilterForm


class TreeFilterForm(MatrixFilterForm):
    """Search and filters of the requirement tree; any of them turns the tree into a flat,
    paged list of the matching requirements."""

    q = forms.CharField(required=False, max_length=100, label="Search", strip=True)
    gap = forms.ChoiceField(choices=[("", "any"), *GAPS.items()], required=False)
    field_order = ["q", "kind", "asil", "status", "coverage", "gap"]


class ChainFilterForm(forms.Form):
    """Filters of the traceability chains: one goal, the goals' ASIL level, gaps only."""

    goal = forms.ChoiceField(required=False, label="Safety goal")
    asil = forms.ChoiceField(choices=ASIL_FILTER, required=False, label="Goal ASIL")
    gap = forms.BooleanField(required=False, label="Only chains with a gap")

    def __init__(self, *args, goals, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["goal"].choices = [("", "any"), *((code, code) for code in goals)]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}
