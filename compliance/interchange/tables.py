"""Requirements from tables: :func:`table_import` for ``.csv`` and ``.xlsx``.

``.csv`` (UTF-8 with or without BOM, ``,`` or ``;``) and ``.xlsx`` (first sheet, values not
formulas; macro-enabled and legacy workbooks are refused). The first row names the columns; see
:data:`TABLE_FIELDS`. Rows are matched by code. A row with an invalid code, kind, ASIL or status
is not imported and is listed in ``unmapped`` with its row number; a ``parent`` column (codes of
requirements or safety goals, separated by spaces, commas or semicolons) creates derives-from
links under the same rules and the same ``on_violation`` as ReqIF relations
(:mod:`compliance.interchange.reqif`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from compliance import archives, xmlsafe
from compliance.interchange.common import (
    SECTION_MAX,
    TITLE_MAX,
    ImportReport,
    Incoming,
    Notes,
    check_default_kind,
    check_upload_size,
    file_label,
    record_import,
    refuse,
    upsert,
    withhold_review_statuses,
)
from compliance.interchange.values import asil_for, kind_for, status_for, valid_code
from compliance.links import REFUSE, LinkBatch, check_on_violation, link_batch_write
from compliance.models import (
    LinkKind,
    Requirement,
    RequirementKind,
    RequirementStatus,
    SafetyGoal,
    code_validator,
)
from projects.models import Project
from projects.permissions import Action, require

__all__ = ["MAX_TABLE_ROWS", "MAX_WORKBOOK_ENTRIES", "TABLE_FIELDS", "table_import"]

TABLE_FIELDS = ("code", "kind", "title", "text", "asil", "status", "section", "parent")
MAX_TABLE_ROWS = 100_000
MAX_WORKBOOK_ENTRIES = 10_000


def _table_format(data: bytes, filename: str) -> str:
    name = (filename or "").lower()
    if name.endswith((".xlsm", ".xltm", ".xlsb", ".xls", ".xlam")):
        raise refuse(
            "Macro-enabled and legacy Excel workbooks are refused; save the sheet as .xlsx or .csv."
        )
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        if data[:4] == b"PK\x03\x04":
            raise refuse("The .csv file is a zip archive; upload a workbook as .xlsx.")
        return "csv"
    raise refuse("Upload a .csv (UTF-8) or .xlsx file.")


def _csv_rows(data: bytes) -> tuple[list, Iterator[list]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(f"The CSV file is not UTF-8 (byte {exc.start}); export it as UTF-8.") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise refuse(f"The CSV header row cannot be read: {exc}") from None

    def rows() -> Iterator[list]:
        try:
            yield from reader
        except csv.Error as exc:
            raise refuse(f"The CSV file is malformed at line {reader.line_num}: {exc}") from None

    return header, rows()


def _check_workbook(data: bytes, label: str) -> None:
    """Refuse macros, DTDs and zip bombs before openpyxl reads the workbook.

    Every part is decompressed once with a running count (openpyxl follows the workbook's
    relationships to parts of any name, so none is skipped) and the workbook is refused as
    soon as the count passes ``SAFECASE_MAX_EXPANDED_BYTES`` or the expansion ratio, as for a
    ``.reqifz`` archive (see :mod:`compliance.archives`); parts other than media are scanned for
    DTDs on the way.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise refuse(f"{label} is not a readable workbook (not a zip archive).") from None
    cap = archives.expansion_limit(
        len(data), settings.SAFECASE_MAX_EXPANDED_BYTES, settings.SAFECASE_MAX_EXPANSION_RATIO
    )

    def no_dtd(info: zipfile.ZipInfo, window: bytes) -> None:
        if info.filename.lower().startswith("xl/media/"):
            return
        if xmlsafe.has_dtd(window):
            raise archives.ArchiveRefused("it contains a DTD (<!DOCTYPE or <!ENTITY)")

    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_WORKBOOK_ENTRIES:
            raise refuse(
                f"{label}: the workbook has {len(infos)} parts, more than {MAX_WORKBOOK_ENTRIES}."
            )
        if any(i.filename.lower().endswith("vbaproject.bin") for i in infos):
            raise refuse(f"{label} contains macros (VBA); save it as a plain .xlsx.")
        if any(i.flag_bits & 0x1 for i in infos):
            raise refuse(f"{label}: the workbook is encrypted.")
        try:
            archives.measure(archive, infos, cap, "its parts", inspect=no_dtd)
        except archives.ArchiveRefused as exc:
            raise refuse(f"{label} is refused: {exc}.") from None
        try:
            content_types = archive.read("[Content_Types].xml")
        except KeyError:
            raise refuse(f"{label} is not a workbook ([Content_Types].xml missing).") from None
        if b"macroEnabled" in content_types:
            raise refuse(f"{label}: the workbook is macro-enabled; save it as a plain .xlsx.")


def _xlsx_rows(data: bytes, label: str) -> tuple[list, Iterator[list]]:
    _check_workbook(data, label)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False, keep_vba=False
        )
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise refuse(f"The workbook cannot be read: {exc}") from None
    if not workbook.worksheets:
        workbook.close()
        raise refuse("The workbook has no worksheet.")
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    header = list(next(rows, None) or [])

    def rest() -> Iterator[list]:
        try:
            for row in rows:
                yield list(row)
        finally:
            workbook.close()

    return header, rest()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.datetime, dt.date)):
        value = value.isoformat()
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]  # Safecase's own CSV export escapes formulas this way
    return text


def _columns(header: list, mapping: dict[str, str] | None) -> dict[str, int]:
    names = [_cell(h) for h in header]
    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        if name:
            lookup.setdefault(name.casefold(), index)
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(TABLE_FIELDS))
    if unknown:
        raise ValidationError(
            {"mapping": f"Unknown field(s) {', '.join(unknown)}; map {', '.join(TABLE_FIELDS)}."}
        )
    columns = {}
    for name in TABLE_FIELDS:
        header_name = mapping.get(name)
        if header_name is not None:
            index = lookup.get(str(header_name).strip().casefold())
            if index is None:
                raise ValidationError(
                    {
                        "mapping": f"No column {header_name!r} (for {name}) in the header row: "
                        f"{', '.join(n for n in names if n) or 'empty'}."
                    }
                )
            columns[name] = index
        elif name in lookup:
            columns[name] = lookup[name]
    if "code" not in columns:
        raise ValidationError(
            {"mapping": "No code column: name one 'code' or map it, e.g. code=ID."}
        )
    return columns


def _table_item(
    number: int, cells: dict[str, str], seen: dict[str, int]
) -> tuple[Incoming | None, str | None]:
    code = cells["code"]
    if not valid_code(code):
        return None, f"invalid code {code!r}: {code_validator.message}"
    if code in seen:
        return None, f"code {code} repeats row {seen[code]}"
    fields: dict = {}
    if cells.get("kind"):
        kind = kind_for(cells["kind"])
        if kind is None:
            return None, (
                f"invalid kind {cells['kind']!r}; use {', '.join(RequirementKind.values)}"
            )
        fields["kind"] = kind
    if cells.get("asil"):
        asil = asil_for(cells["asil"])
        if asil is None:
            return None, f"invalid ASIL {cells['asil']!r}; use QM, A-D, or X(Y) such as B(D)"
        fields["asil"] = asil
    if cells.get("status"):
        status = status_for(cells["status"])
        if status is None:
            return None, (
                f"invalid status {cells['status']!r}; use {', '.join(RequirementStatus.values)}"
            )
        fields["status"] = status
    for name, limit in (("title", TITLE_MAX), ("section", SECTION_MAX)):
        if name in cells:
            if len(cells[name]) > limit:
                return None, f"{name} longer than {limit} characters"
            fields[name] = cells[name]
    if "text" in cells:
        fields["text"] = cells["text"]
    seen[code] = number
    return Incoming("", [code], code, fields), None


def table_import(
    *,
    user,
    project: Project,
    data: bytes,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_kind: str = "FSR",
    on_violation: str = REFUSE,
) -> ImportReport:
    """Import requirements from a CSV or XLSX table; ``mapping`` maps the fields of
    :data:`TABLE_FIELDS` to column headers (unmapped fields match headers of their own name,
    ignoring case). One transaction and one ledger entry. ``on_violation`` as for
    :func:`reqif_import`."""
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    default_kind = check_default_kind(default_kind)
    on_violation = check_on_violation(on_violation)
    data = bytes(data)
    kind_of_file = _table_format(data, filename)
    header, rows = (
        _csv_rows(data) if kind_of_file == "csv" else _xlsx_rows(data, file_label(filename))
    )
    columns = _columns(header, mapping)

    report = ImportReport(tool=kind_of_file)
    base = Requirement.objects.filter(project=project).aggregate(top=Max("position"))["top"] or 0
    items: list[Incoming] = []
    parents: list[tuple[int, int, list[str]]] = []  # (row, item index, parent codes)
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if number - 1 > MAX_TABLE_ROWS:
            raise refuse(f"The table has more than {MAX_TABLE_ROWS:,} rows.")
        cells = {name: _cell(row[i]) if i < len(row) else "" for name, i in columns.items()}
        if not any(cells.values()):
            continue
        item, reason = _table_item(number, cells, seen)
        if item is not None:
            item.defaults["position"] = base + number - 1
        if item is None:
            report.unmapped.append({"row": number, "code": cells["code"], "reason": reason})
            continue
        if cells.get("parent"):
            parents.append((number, len(items), re.split(r"[\s,;]+", cells["parent"].strip())))
        items.append(item)

    notes = Notes()
    withhold_review_statuses(user, project, items, notes)
    label = file_label(filename)
    with transaction.atomic():
        outcome = upsert(user, project, items, by_code=True, default_kind=default_kind, notes=notes)
        if parents:
            requirements = {r.code: r for r in Requirement.objects.filter(project=project)}
            requirements.update({r.code: r for r in outcome.requirements})
            goals = {g.code: g for g in SafetyGoal.objects.filter(project=project)}
            links = LinkBatch(user, project, on_violation=on_violation, note=notes.add)
            for number, index, codes in parents:
                source = outcome.requirements[index]
                for code in dict.fromkeys(codes):
                    target = requirements.get(code) or goals.get(code)
                    if target is None:
                        reason = "no requirement or safety goal with this code in the project"
                    else:
                        reason = links.add(
                            source, LinkKind.DERIVES_FROM, target, where=f"row {number}"
                        )
                    if reason is None:
                        report.links += 1
                    else:
                        report.unmapped.append(
                            {"row": number, "code": source.code, "parent": code, "reason": reason}
                        )
            link_batch_write(links)
        report.requirements = len(items)
        report.created, report.updated = outcome.created, outcome.updated
        report.unchanged = outcome.unchanged
        report.warnings = notes.render()
        record_import(
            user,
            project,
            f"table-import:{label}",
            data,
            {
                "action": "import",
                "format": kind_of_file,
                "file": label,
                "bytes": len(data),
                "columns": {name: _cell(header[i]) for name, i in columns.items()},
                "requirements": report.requirements,
                "links": report.links,
                "created": report.created,
                "updated": report.updated,
                "unchangedRequirements": report.unchanged,
                "unmapped": len(report.unmapped),
            },
        )
    return report
