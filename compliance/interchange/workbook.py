"""The Excel round trip: :func:`xlsx_export` and :func:`xlsx_reimport`.

Export
    One row per requirement (and heading) in document order, on the sheet "Requirements":
    ``Safecase ID`` (``<project key>/<row id>``: stable, never reused, whatever happens to
    the code), ``Code``, ``Kind``, ``Title``, ``Text``, ``ASIL``, ``Status``, ``Section``,
    ``Version`` and ``Digest``. The digest is the SHA-256 of the row's editable values as
    exported (:func:`row_digest`): the version of the row the sheet started from. A hidden
    sheet "Base" keeps those values, so the report can say what changed on either side. Text
    that starts like a formula (``=``, ``+``, ``-``, ``@``) is written as text, never as a
    formula.

Re-import of an edited sheet
    Each row is compared three ways: the values in the sheet, the values it was exported
    with (its digest) and the requirement as it is now in Safecase.

    * unchanged in the sheet: nothing to do (whatever changed in Safecase stays);
    * changed in the sheet only: a *safe* change, applied through
      :func:`compliance.services.requirement_update` (the role, the status life cycle, the
      version, suspect links and the ledger entry are the service's);
    * changed in the sheet and in Safecase since the export: a *conflict*, listed with the
      fields changed on each side and not applied (unless both sides made the same change);
    * a row without a Safecase ID and with a new, valid code: created through
      :func:`compliance.services.requirement_create`;
    * a row whose values are invalid (an unknown kind, ASIL or status, a code changed, a
      status the role may not set, a row of another project or one deleted since): refused
      with the reason, not applied.

    Everything applied is applied in one transaction: a failure undoes all of it. With
    ``apply=False`` the report is computed and nothing is written.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance import services
from compliance.interchange.common import check_upload_size, file_label, record_import, refuse
from compliance.interchange.tables import _cell, _xlsx_rows
from compliance.interchange.values import asil_for, kind_for, status_for, valid_code
from compliance.models import Requirement
from compliance.status import may_set
from projects.models import Project
from projects.permissions import Action, require

__all__ = ["COLUMNS", "RoundTripReport", "row_digest", "xlsx_export", "xlsx_reimport"]

EDITABLE = ("code", "kind", "title", "text", "asil", "status", "section")
COLUMNS = (
    "Safecase ID",
    "Code",
    "Kind",
    "Title",
    "Text",
    "ASIL",
    "Status",
    "Section",
    "Version",
    "Digest",
)
_FIELD_OF = {c: c.lower() for c in ("Code", "Kind", "Title", "Text", "ASIL", "Status", "Section")}
_FORMULA_START = ("=", "+", "-", "@")


def row_digest(values: dict[str, str]) -> str:
    """SHA-256 of a row's editable values (code, kind, title, text, ASIL, status, section),
    as canonical JSON; text compared with its line ends normalised."""
    canonical = [_normal(values.get(name, "")) for name in EDITABLE]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def _normal(value) -> str:
    return "\n".join(str(value or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


def _values(requirement: Requirement) -> dict[str, str]:
    return {name: str(getattr(requirement, name) or "") for name in EDITABLE}


def _stable_id(project: Project, requirement: Requirement) -> str:
    return f"{project.key}/{requirement.pk}"


def xlsx_export(*, user, project: Project) -> bytes:
    """The project's requirements as a workbook for the round trip (see the module)."""
    require(user, project, Action.VIEW)
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Requirements"
    base = workbook.create_sheet("Base")
    base.sheet_state = "hidden"
    for target in (sheet, base):
        target.append(COLUMNS)
    requirements = Requirement.objects.filter(project=project).order_by("position", "code")
    for requirement in requirements:
        values = _values(requirement)
        row = [
            _stable_id(project, requirement),
            *(values[name] for name in EDITABLE),
            requirement.version,
            row_digest(values),
        ]
        for target in (sheet, base):
            target.append(row)
            for cell in target[target.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
                    cell.data_type = "s"  # text, never a formula
    sheet.freeze_panes = "C2"
    for column, width in zip("ABCDEFGHIJ", (14, 12, 6, 40, 80, 8, 10, 30, 8, 20), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass
class RoundTripReport:
    """What a re-import did (or, with ``apply=False``, would do)."""

    applied: list[dict] = field(default_factory=list)  # {row, code, fields}
    created: list[dict] = field(default_factory=list)  # {row, code}
    conflicts: list[dict] = field(default_factory=list)  # {row, code, sheet, safecase}
    refused: list[dict] = field(default_factory=list)  # {row, code, reason}
    unchanged: int = 0
    applied_to_database: bool = True

    def as_json(self) -> dict:
        return asdict(self)


def _base_rows(data: bytes) -> dict[str, dict[str, str]]:
    """The hidden "Base" sheet: the values each row was exported with, by Safecase ID."""
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        if "Base" not in workbook.sheetnames:
            return {}
        rows = workbook["Base"].iter_rows(values_only=True)
        names = [_cell(h) for h in next(rows, None) or []]
        out = {}
        for row in rows:
            cells = {n: _cell(row[i]) if i < len(row) else "" for i, n in enumerate(names)}
            if cells.get("Safecase ID"):
                out[cells["Safecase ID"]] = cells
        return out
    finally:
        workbook.close()


def _read_sheet(data: bytes, label: str) -> tuple[list[tuple[int, dict]], dict[str, dict]]:
    header, rows = _xlsx_rows(data, label)
    names = [_cell(h) for h in header]
    missing = [c for c in ("Safecase ID", "Digest", "Code") if c not in names]
    if missing:
        raise refuse(
            f"{label} is not a Safecase requirements export (no {', '.join(missing)} column); "
            "import other tables with the table import."
        )
    index = {name: names.index(name) for name in COLUMNS if name in names}
    out = []
    for number, row in enumerate(rows, start=2):
        cells = {name: _cell(row[i]) if i < len(row) else "" for name, i in index.items()}
        if not any(cells.values()):
            continue
        out.append((number, cells))
    return out, _base_rows(data)


def _sheet_values(cells: dict) -> dict[str, str]:
    return {field_name: cells.get(column, "") for column, field_name in _FIELD_OF.items()}


def _parse(values: dict[str, str]) -> tuple[dict, str | None]:
    """Safecase's values for a row's cells, or the reason they are not valid."""
    parsed = dict(values)
    for name, reader in (("kind", kind_for), ("asil", asil_for), ("status", status_for)):
        if values[name]:
            value = reader(values[name])
            if value is None:
                return {}, f"{name} {values[name]!r} is not a Safecase {name}"
            parsed[name] = str(value)
    return parsed, None


def _changed(old: dict, new: dict) -> list[str]:
    return [name for name in EDITABLE if _normal(old.get(name)) != _normal(new.get(name))]


def xlsx_reimport(
    *, user, project: Project, data: bytes, filename: str, apply: bool = True
) -> RoundTripReport:
    """Re-import an edited :func:`xlsx_export` sheet (see the module for the rules)."""
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    label = file_label(filename)
    rows, base_rows = _read_sheet(bytes(data), label)
    report = RoundTripReport(applied_to_database=apply)
    current = {r.pk: r for r in Requirement.objects.filter(project=project)}
    codes = {r.code for r in current.values()}
    plans: list[tuple[int, Requirement | None, dict]] = []
    for number, cells in rows:
        sheet = _sheet_values(cells)
        stable = cells.get("Safecase ID", "")
        if not stable:
            parsed, reason = _parse(sheet)
            code = sheet["code"]
            if reason is None and not valid_code(code):
                reason = f"code {code!r} is not a valid code"
            if reason is None and code in codes:
                reason = f"code {code!r} is taken (a new row needs a new code)"
            if (
                reason is None
                and parsed.get("status")
                and not may_set(user, project, parsed["status"])
            ):
                reason = "the status needs a review by a safety manager or an administrator"
            if reason:
                report.refused.append({"row": number, "code": code, "reason": reason})
                continue
            codes.add(code)
            plans.append((number, None, parsed))
            continue
        key, _, pk = stable.partition("/")
        requirement = current.get(int(pk)) if key == project.key and pk.isdigit() else None
        if requirement is None:
            reason = (
                "the row belongs to another project"
                if key != project.key
                else "the requirement was deleted since the export"
            )
            report.refused.append({"row": number, "code": sheet["code"], "reason": reason})
            continue
        exported_digest = cells.get("Digest", "")
        now = _values(requirement)
        if row_digest(sheet) == exported_digest:
            report.unchanged += 1
            continue
        if row_digest(now) != exported_digest:
            if not _changed(now, sheet):
                report.unchanged += 1  # the same change on both sides
                continue
            base = _sheet_values(base_rows.get(stable, {}))
            known = bool(base_rows.get(stable)) and row_digest(base) == exported_digest
            report.conflicts.append(
                {
                    "row": number,
                    "code": requirement.code,
                    "sheet": _changed(base, sheet) if known else _changed(now, sheet),
                    "safecase": _changed(base, now) if known else [],
                    "safecase_version": requirement.version,
                    "reason": "changed in Safecase and in the sheet since the export; not applied",
                }
            )
            continue
        parsed, reason = _parse(sheet)
        fields = {n: parsed[n] for n in _changed(now, parsed)} if reason is None else {}
        if reason is None and "code" in fields:
            reason = "the code cannot be changed in a sheet"
        if reason is None and "status" in fields and not may_set(user, project, fields["status"]):
            reason = "the status needs a review by a safety manager or an administrator"
        if reason is None and not fields:
            report.unchanged += 1  # e.g. "ASIL B" written for "B"
            continue
        if reason:
            report.refused.append({"row": number, "code": requirement.code, "reason": reason})
            continue
        plans.append((number, requirement, fields))

    try:
        with transaction.atomic():
            for number, requirement, fields in plans:
                try:
                    with transaction.atomic():  # a refused row is undone alone
                        if requirement is None:
                            values = {k: v for k, v in fields.items() if v != ""}
                            values.setdefault("kind", "FSR")
                            created = services.requirement_create(
                                user=user, project=project, **values
                            )
                            report.created.append({"row": number, "code": created.code})
                        else:
                            services.requirement_update(
                                user=user, requirement=requirement, **fields
                            )
                            report.applied.append(
                                {"row": number, "code": requirement.code, "fields": sorted(fields)}
                            )
                except ValidationError as exc:
                    report.refused.append(
                        {
                            "row": number,
                            "code": fields.get("code") or requirement.code,
                            "reason": "; ".join(exc.messages),
                        }
                    )
            if plans:
                record_import(
                    user,
                    project,
                    f"table-roundtrip:{label}",
                    data,
                    {
                        "action": "import",
                        "format": "xlsx-roundtrip",
                        "file": label,
                        "applied": len(report.applied),
                        "created": len(report.created),
                        "conflicts": len(report.conflicts),
                        "refused": len(report.refused),
                    },
                )
            if not apply:
                raise _DryRun
    except _DryRun:
        pass
    return report


class _DryRun(Exception):
    """Rolls the transaction of a dry run back."""
