"""The Excel round trip: export with stable ids and row digests, edit, re-import with a conflict
report that applies only the safe changes, through the services, in one transaction."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from openpyxl import load_workbook

from compliance import services
from compliance.interchange.workbook import COLUMNS, row_digest, xlsx_export, xlsx_reimport
from compliance.models import Requirement
from evidence.models import LogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def requirements(project, engineer):
    made = []
    for n, (title, asil) in enumerate((("Brake", "B"), ("Warn", "A"), ("=SUM(A1)", "QM")), 1):
        made.append(
            services.requirement_create(
                user=engineer,
                project=project,
                code=f"FSR-{n}",
                kind="FSR",
                title=title,
                text=f"Text {n}",
                asil=asil,
                position=n,
            )
        )
    return made


def sheet_of(data: bytes):
    workbook = load_workbook(io.BytesIO(data))
    return workbook, workbook["Requirements"]


def save(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def cell(sheet, code: str, column: str):
    names = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[names.index("Code")].value == code:
            return row[names.index(column)]
    raise KeyError(code)


def test_export_has_stable_ids_digests_and_no_formulas(project, engineer, requirements):
    data = xlsx_export(user=engineer, project=project)
    workbook, sheet = sheet_of(data)
    assert tuple(c.value for c in sheet[1]) == COLUMNS
    assert workbook["Base"].sheet_state == "hidden"
    first = requirements[0]
    assert cell(sheet, "FSR-1", "Safecase ID").value == f"{project.key}/{first.pk}"
    values = {
        n: str(getattr(first, n))
        for n in ("code", "kind", "title", "text", "asil", "status", "section")
    }
    assert cell(sheet, "FSR-1", "Digest").value == row_digest(values)
    formula = cell(sheet, "FSR-3", "Title")
    assert formula.value == "=SUM(A1)" and formula.data_type == "s"
    # The same content gives the same sheet ids and digests again.
    again = sheet_of(xlsx_export(user=engineer, project=project))[1]
    assert [c.value for c in again["J"]] == [c.value for c in sheet["J"]]
    assert [c.value for c in again["A"]] == [c.value for c in sheet["A"]]


def test_safe_changes_apply_conflicts_do_not(project, engineer, requirements):
    data = xlsx_export(user=engineer, project=project)
    workbook, sheet = sheet_of(data)
    cell(sheet, "FSR-1", "Title").value = "Brake harder"  # only in the sheet: safe
    cell(sheet, "FSR-2", "Text").value = "Warn in the sheet"  # also changed in Safecase
    cell(sheet, "FSR-3", "ASIL").value = "ASIL Z"  # invalid
    sheet.append(["", "FSR-9", "TSR", "New one", "Fresh", "A", "", "", "", ""])
    edited = save(workbook)

    warn = Requirement.objects.get(project=project, code="FSR-2")
    services.requirement_update(user=engineer, requirement=warn, asil="B")
    before = LogEntry.objects.filter(project=project).count()

    report = xlsx_reimport(user=engineer, project=project, data=edited, filename="edited.xlsx")
    assert [a["code"] for a in report.applied] == ["FSR-1"]
    assert report.applied[0]["fields"] == ["title"]
    assert [c["code"] for c in report.created] == ["FSR-9"]
    (conflict,) = report.conflicts
    assert (conflict["code"], conflict["sheet"], conflict["safecase"]) == (
        "FSR-2",
        ["text"],
        ["asil"],
    )
    (refused,) = report.refused
    assert refused["code"] == "FSR-3" and "asil" in refused["reason"]

    brake = Requirement.objects.get(project=project, code="FSR-1")
    assert (brake.title, brake.version) == ("Brake harder", 2)  # through the service
    warn.refresh_from_db()
    assert (warn.text, warn.asil) == ("Text 2", "B")  # the conflict was not applied
    assert Requirement.objects.get(project=project, code="FSR-9").kind == "TSR"
    # One entry per service call plus the sheet's own.
    assert LogEntry.objects.filter(project=project).count() == before + 3


def test_a_dry_run_writes_nothing_and_a_refusal_undoes_nothing(project, engineer, requirements):
    workbook, sheet = sheet_of(xlsx_export(user=engineer, project=project))
    cell(sheet, "FSR-1", "Title").value = "Changed"
    edited = save(workbook)
    report = xlsx_reimport(
        user=engineer, project=project, data=edited, filename="edited.xlsx", apply=False
    )
    assert len(report.applied) == 1 and not report.applied_to_database
    assert Requirement.objects.get(project=project, code="FSR-1").title == "Brake"


def test_a_status_the_role_may_not_set_is_refused(project, engineer, requirements):
    workbook, sheet = sheet_of(xlsx_export(user=engineer, project=project))
    cell(sheet, "FSR-1", "Status").value = "approved"
    report = xlsx_reimport(user=engineer, project=project, data=save(workbook), filename="x.xlsx")
    assert report.applied == [] and "review" in report.refused[0]["reason"]
    assert Requirement.objects.get(project=project, code="FSR-1").status != "approved"


def test_a_sheet_that_is_not_an_export_is_refused_by_its_name(project, engineer):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Code", "Title"])
    with pytest.raises(ValidationError, match="other table.xlsx is not a Safecase"):
        xlsx_reimport(
            user=engineer, project=project, data=save(workbook), filename="/tmp/x/other table.xlsx"
        )


def test_viewer_cannot_reimport(project, members, requirements):
    from django.core.exceptions import PermissionDenied

    data = xlsx_export(user=members["viewer"], project=project)
    with pytest.raises(PermissionDenied):
        xlsx_reimport(user=members["viewer"], project=project, data=data, filename="x.xlsx")


def test_commands_round_trip(project, engineer, requirements, tmp_path, capsys):
    path = tmp_path / "reqs.xlsx"
    call_command("export_xlsx", project=project.key, output=str(path), user=engineer.username)
    workbook, sheet = sheet_of(path.read_bytes())
    cell(sheet, "FSR-2", "Title").value = "Warn early"
    path.write_bytes(save(workbook))
    call_command("import_xlsx", str(path), project=project.key, user=engineer.username)
    assert "applied 1 changes" in capsys.readouterr().out
    assert Requirement.objects.get(project=project, code="FSR-2").title == "Warn early"
