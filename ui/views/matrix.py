"""The traceability matrix: filtered, paginated, with the CSV export of the same filters."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from compliance.selectors import matrix_requirements
from ui import selectors
from ui.forms import MatrixFilterForm
from ui.views.common import paginate, project_view, render_project


@project_view()
def matrix(request, project):
    form = MatrixFilterForm(request.GET)
    filters = form.filters()
    page = paginate(request, matrix_requirements(project=project, filters=filters))
    export = reverse("v1:traceability", kwargs={"key": project.key})
    return render_project(
        request,
        project,
        "ui/matrix.html",
        {
            "form": form,
            "page": page,
            "rows": selectors.matrix_rows(list(page)),
            "csv_url": f"{export}?{urlencode({**filters, 'export': 'csv'})}",
        },
        section="matrix",
    )
