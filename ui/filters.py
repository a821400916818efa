"""The filter forms of the list pages that navigate a large safety case: the requirement tree
and the traceability chains. A bad value is ignored (the list shows unfiltered), never a 500."""

from __future__ import annotations

from django import forms

from compliance.navigation import GAPS
from ui.forms import MatrixFilterForm


class TreeFilterForm(MatrixFilterForm):
    """Search and filters of the requirement tree; any of them turns the tree into a flat,
    paged list of the matching requirements."""

    q = forms.CharField(required=False, max_length=100, label="Search", strip=True)
    gap = forms.ChoiceField(choices=[("", "any"), *GAPS.items()], required=False)
    field_order = ["q", "kind", "asil", "status", "coverage", "gap"]
