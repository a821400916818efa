"""The chain at a glance: hazard → hazardous event → safety goal → FSR → TSR → SW/HW
requirement → verification → campaign verdict, one row per chain, paged and filtered, with the
same chains as a streamed CSV or an XLSX workbook."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from compliance import navigation
from compliance.selectors import goal_choices
from ui.filters import ChainFilterForm
from ui.views.common import paginate, project_view, render_project
from validation.selectors import latest_verdicts

COLUMNS = [
    "hazards",
    "hazardous events",
    "safety goal",
    "goal ASIL",
    "FSR",
    "FSR ASIL",
    "TSR",
    "TSR ASIL",
    "SW/HW",
    "SW/HW ASIL",
    "verification",
    "campaign verdicts",
    "gaps",
]


@project_view()
def chains(request, project):
    goals = list(goal_choices(project=project).order_by("code").values_list("code", flat=True))
    form = ChainFilterForm(request.GET, goals=goals)
    filters = form.filters()
    query = navigation.ChainQuery(
        project,
        goal=filters.get("goal", ""),
        asil=filters.get("asil", ""),
        gap=filters.get("gap", False),
    )
    export = request.GET.get("export")
    if export in ("csv", "xlsx"):
        rows = _export_rows(project, query)
        name = f"{project.key}-chains.{export}"
        return _csv(rows, name) if export == "csv" else _xlsx(rows, name)
    page = paginate(request, query)
    events = navigation.chain_goals(project=project, goal_ids={c.goal_id for c in page})
    verdicts = _verdicts(project)
    encoded = urlencode({k: "on" if v is True else v for k, v in filters.items()})
    return render_project(
        request,
        project,
        "ui/traceability.html",
        {
            "form": form,
            "page": page,
            "rows": [_row(chain, events, verdicts) for chain in page],
            "csv_url": f"?{encoded}&export=csv" if encoded else "?export=csv",
            "xlsx_url": f"?{encoded}&export=xlsx" if encoded else "?export=xlsx",
        },
        section="matrix",
    )


def _verdicts(project) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """The latest verdict of every acceptance criterion, by what it judges: ("goal", id) or
    ("req", id) -> [(criterion code, verdict)]."""
    by_item: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for criterion, verdict in latest_verdicts(project=project):
        result = verdict.verdict if verdict is not None else "not judged"
        if criterion.requirement_id:
            by_item.setdefault(("req", criterion.requirement_id), []).append(
                (criterion.code, result)
            )
        if criterion.goal_id:
            by_item.setdefault(("goal", criterion.goal_id), []).append((criterion.code, result))
    return by_item


def _row(chain: navigation.Chain, events: dict, verdicts: dict) -> dict:
    covered = events.get(chain.goal_id, [])
    judged = list(verdicts.get(("goal", chain.goal_id), []))
    for part in (chain.fsr, chain.tsr, chain.leaf):
        if part is not None:
            judged += verdicts.get(("req", part[0]), [])
    return {
        "chain": chain,
        "hazards": sorted({hazard for _event, hazard in covered}),
        "events": [event for event, _hazard in covered],
        "verdicts": judged,
        "gaps": chain.gaps,
    }


def _export_rows(project, query):
    """The header, then one list of cells per chain, read in batches."""
    events = navigation.chain_goals(project=project)
    verdicts = _verdicts(project)
    yield COLUMNS
    for chain in query.iterate():
        row = _row(chain, events, verdicts)
        cells = [" ".join(row["hazards"]), " ".join(row["events"]), chain.goal, chain.goal_asil]
        for part in (chain.fsr, chain.tsr, chain.leaf):
            cells += [part[1], part[2]] if part else ["", ""]
        cells += [
            chain.verification,
            " ".join(f"{code}:{result}" for code, result in row["verdicts"]),
            "; ".join(row["gaps"]),
        ]
        yield cells


def _cell(value) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class _Echo:
    def write(self, value):
        return value


def _csv(rows, name: str) -> StreamingHttpResponse:
    """Streamed: a line at a time, never the whole file in memory."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([_cell(c) for c in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def _xlsx(rows, name: str) -> HttpResponse:
    """A write-only workbook (openpyxl streams the rows to its temporary file); every cell is
    text, never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Chains")
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, never a formula
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
