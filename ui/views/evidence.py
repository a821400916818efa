"""The evidence browser: ledger entries with their statements, and an inclusion check each."""

from __future__ import annotations

import json

from django.shortcuts import get_object_or_404

from evidence import selectors
from evidence.models import EntryKind
from ui.views.common import is_htmx, paginate, project_view, render_project

ENTRIES_PAGE = 25


@project_view()
def entries(request, project):
    kind = request.GET.get("kind") or ""
    if kind not in EntryKind.values:
        kind = ""
    page = paginate(
        request, selectors.entry_list(project=project, kind=kind, newest_first=True), ENTRIES_PAGE
    )
    rows = []
    for entry in page:
        statement = selectors.statement_of(entry)
        rows.append(
            {
                "entry": entry,
                "statement": statement,
                "predicate": json.dumps(statement.get("predicate", {}), indent=2, sort_keys=True),
            }
        )
    return render_project(
        request,
        project,
        "ui/evidence.html",
        {
            "page": page,
            "rows": rows,
            "kind": kind,
            "kinds": EntryKind.choices,
            "checkpoint": selectors.latest_checkpoint(project=project),
        },
        section="evidence",
    )


@project_view()
def proof(request, project, index):
    """Check one entry's inclusion in the latest checkpoint: a badge for htmx, else a page."""
    entry = get_object_or_404(selectors.entry_list(project=project), index=index)
    check = selectors.inclusion_check(project=project, entry=entry)
    template = "ui/fragments/proof.html" if is_htmx(request) else "ui/proof.html"
    return render_project(
        request, project, template, {"entry": entry, "check": check}, section="evidence"
    )
