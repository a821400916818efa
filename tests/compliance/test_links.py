"""One trace-link policy: the same link gets the same verdict through the API, the ReqIF import
and the table import, and an import's ``on_violation`` either refuses the whole file (nothing
written) or imports the rest and records the violation.

The ReqIF cases start from the real ProR export (three use cases derived from a glossary entry)
and add one relation to it, as a tool would in the next export.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from lxml import etree

from compliance import links, services
from compliance.interchange.reqif import reqif_import
from compliance.interchange.tables import table_import
from compliance.models import Decomposition, Requirement, SafetyGoal, TraceLink
from evidence.models import LogEntry
from tests.shared_data import shared_path

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"
PROR = "pror_rmf_customer_requirements_spec.reqif"
GLOSSARY = "rmf-46b238ac-b8b3-4230-b32c-be9707f8b691"  # the target of the file's relations
USE_CASE = "rmf-daa34638-061a-45e0-9f2e-35afd6c271e0"  # the source of its first relation


def real_pror() -> bytes:
    return shared_path("data", "real", "reqif", PROR).read_bytes()


def with_relation(data: bytes, identifier: str, source: str, target: str) -> bytes:
    """``data`` with one more SPEC-RELATION, a copy of its first with new ends."""
    root = etree.fromstring(data)
    ns = f"{{{root.nsmap[None]}}}"
    relations = root.find(f".//{ns}SPEC-RELATIONS")
    relation = copy.deepcopy(relations[0])
    relation.set("IDENTIFIER", identifier)
    relation.find(f"{ns}SOURCE/{ns}SPEC-OBJECT-REF").text = source
    relation.find(f"{ns}TARGET/{ns}SPEC-OBJECT-REF").text = target
    relations.append(relation)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def snapshot(project) -> tuple:
    """Everything an import could write: requirements, links, their history, the ledger."""
    return (
        sorted(
            Requirement.objects.filter(project=project).values_list(
                "code", "version", "asil", "title", "position", "reqif_identifier", "updated_at"
            )
        ),
        sorted(
            TraceLink.objects.filter(project=project).values_list(
                "source__code", "kind", "target_requirement__code", "suspect", "reqif_identifier"
            )
        ),
        Requirement.history.count(),
        TraceLink.history.count(),
        LogEntry.objects.filter(project=project).count(),
    )


def linked(project, source, target) -> bool:
    return TraceLink.objects.filter(
        project=project, source=source, kind="derives-from", target_requirement=target
    ).exists()


@pytest.fixture
def case(project, engineer):
    """The real ProR export imported with the default (refusing) policy: it breaks no rule."""
    report = reqif_import(user=engineer, project=project, data=real_pror(), filename=PROR)
    assert (report.links, report.unmapped) == (3, [])
    by_identifier = {r.reqif_identifier: r for r in Requirement.objects.filter(project=project)}
    glossary, use_case = by_identifier[GLOSSARY], by_identifier[USE_CASE]
    assert linked(project, use_case, glossary)
    unlinked = [
        r
        for r in Requirement.objects.filter(project=project, is_heading=False).order_by("position")
        if r.pk != glossary.pk and not TraceLink.objects.filter(source=r).exists()
    ]
    return {"glossary": glossary, "use_case": use_case, "free": unlinked[:2]}


def raise_asil(engineer, requirement, asil):
    return services.requirement_update(user=engineer, requirement=requirement, asil=asil)


def violating(case, engineer, rule):
    """(source, target) of a link that breaks ``rule``, or keeps it with a decomposition."""
    glossary, use_case = case["glossary"], case["use_case"]
    first, second = case["free"]
    if rule == "asil":  # QM under D without a decomposition
        return first, raise_asil(engineer, glossary, "D")
    if rule == "cycle":  # the use case already derives from the glossary
        return glossary, use_case
    if rule == "self":
        return first, first
    parent = raise_asil(engineer, glossary, "D")
    first = raise_asil(engineer, first, "B(D)")
    second = raise_asil(engineer, second, "B(D)")
    services.decomposition_record(
        user=engineer,
        project=parent.project,
        parent=parent,
        first=first,
        second=second,
        elements="two channels",
        dependent_failure_analysis="DFA-3",
    )
    if rule == "decomposed":  # a recorded decomposition names the child under this parent
        return first, parent
    assert rule == "decomposed-elsewhere"  # the decomposition is under another parent
    return first, raise_asil(engineer, use_case, "D")


@dataclass
class Verdict:
    created: bool
    said: str  # the messages, warnings and reasons given, joined


def via_api(api, engineer, project, source, target) -> Verdict:
    response = api(engineer).post(
        f"{BASE}/links/",
        {"source": source.code, "kind": "derives-from", "target_requirement": target.code},
        format="json",
    )
    assert response.status_code in (201, 400), response.content
    return Verdict(response.status_code == 201, str(response.json()))


def via_reqif(engineer, project, source, target, mode) -> Verdict:
    data = with_relation(
        real_pror(), "extra-relation", source.reqif_identifier, target.reqif_identifier
    )
    return _imported(project, source, target, reqif_import, engineer, data, "next.reqif", mode)


def via_csv(engineer, project, source, target, mode) -> Verdict:
    data = f"code,parent\n{source.code},{target.code}\n".encode()
    return _imported(project, source, target, table_import, engineer, data, "links.csv", mode)


def _imported(project, source, target, service, engineer, data, filename, mode) -> Verdict:
    before = snapshot(project)
    try:
        report = service(
            user=engineer, project=project, data=data, filename=filename, on_violation=mode
        )
    except ValidationError as exc:
        assert snapshot(project) == before  # a refusal writes nothing at all
        return Verdict(False, " ".join(exc.messages))
    said = [*report.warnings, *(item["reason"] for item in report.unmapped)]
    return Verdict(linked(project, source, target), " ".join(said))


RULE_WORDS = {
    "asil": "lowering an ASIL needs a recorded decomposition",
    "cycle": "would close a cycle",
    "self": "cannot link to itself",
    "decomposed-elsewhere": "lowering an ASIL needs a recorded decomposition",
}


@pytest.mark.parametrize("rule", ["asil", "cycle", "self", "decomposed-elsewhere"])
@pytest.mark.parametrize("path", ["reqif", "csv"])
def test_refuse_gives_the_api_verdict_and_writes_nothing(api, project, engineer, case, rule, path):
    source, target = violating(case, engineer, rule)
    importer = via_reqif if path == "reqif" else via_csv

    refused = importer(engineer, project, source, target, links.REFUSE)
    from_api = via_api(api, engineer, project, source, target)

    assert not from_api.created and not refused.created
    assert RULE_WORDS[rule] in from_api.said
    broken = links.violation(links.LinkGraph(project), project, source, "derives-from", target)
    assert broken is not None and broken.message in from_api.said
    assert broken.message in refused.said  # the same words, naming the relation or row
    assert ("relation extra-relation" if path == "reqif" else "row 2") in refused.said
    assert not linked(project, source, target)


@pytest.mark.parametrize("path", ["reqif", "csv"])
def test_the_default_is_to_refuse(project, engineer, case, path):
    source, target = violating(case, engineer, "asil")
    before = snapshot(project)
    if path == "reqif":
        data = with_relation(
            real_pror(), "extra-relation", source.reqif_identifier, target.reqif_identifier
        )
        call = lambda: reqif_import(  # noqa: E731
            user=engineer, project=project, data=data, filename="next.reqif"
        )
    else:
        data = f"code,parent\n{source.code},{target.code}\n".encode()
        call = lambda: table_import(  # noqa: E731
            user=engineer, project=project, data=data, filename="links.csv"
        )
    with pytest.raises(ValidationError) as exc:
        call()
    assert "links" in exc.value.message_dict
    assert snapshot(project) == before


@pytest.mark.parametrize("rule", ["asil", "decomposed-elsewhere"])
@pytest.mark.parametrize("path", ["reqif", "csv"])
def test_note_imports_an_asil_drop_and_warns(api, project, engineer, case, rule, path):
    source, target = violating(case, engineer, rule)
    importer = via_reqif if path == "reqif" else via_csv
    entries = LogEntry.objects.filter(project=project).count()

    noted = importer(engineer, project, source, target, links.NOTE)

    assert noted.created
    assert links.ASIL_NOTE in noted.said
    assert f"{source.code} ({source.asil}) under {target.code} ({target.asil})" in noted.said
    assert LogEntry.objects.filter(project=project).count() == entries + 1
    # The API still refuses that link: a note is the importer's choice, not a different rule.
    assert not via_api(api, engineer, project, case["free"][1], target).created


@pytest.mark.parametrize("rule", ["cycle", "self"])
@pytest.mark.parametrize("path", ["reqif", "csv"])
def test_note_lists_a_link_that_cannot_exist_and_imports_the_rest(
    api, project, engineer, case, rule, path
):
    source, target = violating(case, engineer, rule)
    importer = via_reqif if path == "reqif" else via_csv
    links_before = TraceLink.objects.filter(project=project).count()

    noted = importer(engineer, project, source, target, links.NOTE)

    assert not noted.created
    assert RULE_WORDS[rule] in noted.said
    assert TraceLink.objects.filter(project=project).count() == links_before
    assert not via_api(api, engineer, project, source, target).created


@pytest.mark.parametrize("mode", links.ON_VIOLATION)
@pytest.mark.parametrize("path", ["api", "reqif", "csv"])
def test_a_recorded_decomposition_is_accepted_on_every_path(
    api, project, engineer, case, mode, path
):
    source, target = violating(case, engineer, "decomposed")
    assert Decomposition.objects.filter(project=project).count() == 1
    if path == "api":
        verdict = via_api(api, engineer, project, source, target)
    else:
        importer = via_reqif if path == "reqif" else via_csv
        verdict = importer(engineer, project, source, target, mode)
    assert verdict.created
    assert "ASIL" not in verdict.said


def test_an_unknown_choice_is_refused(project, engineer, case):
    with pytest.raises(ValidationError) as exc:
        table_import(
            user=engineer,
            project=project,
            data=b"code\nFSR-1\n",
            filename="a.csv",
            on_violation="ignore",
        )
    assert "on_violation" in exc.value.message_dict


def test_the_api_import_takes_the_choice(api, project, engineer, case):
    source, target = violating(case, engineer, "asil")
    data = with_relation(
        real_pror(), "extra-relation", source.reqif_identifier, target.reqif_identifier
    )
    client = api(engineer)
    before = snapshot(project)

    def post(**fields):
        upload = SimpleUploadedFile("next.reqif", data, content_type="application/xml")
        return client.post(f"{BASE}/reqif/import/", {"file": upload, **fields}, format="multipart")

    refused = post()
    assert refused.status_code == 400
    assert "lowering an ASIL" in str(refused.json()["links"])
    assert snapshot(project) == before
    assert post(on_violation="sometimes").status_code == 400
    noted = post(on_violation="note")
    assert noted.status_code == 200, noted.content
    assert any(links.ASIL_NOTE in w for w in noted.json()["warnings"])
    assert linked(project, source, target)


def test_the_commands_take_the_choice(project, engineer, case, tmp_path, capsys):
    source, target = violating(case, engineer, "cycle")
    path = tmp_path / "links.csv"
    path.write_text(f"code,parent\n{source.code},{target.code}\n")
    before = snapshot(project)
    with pytest.raises(CommandError, match="would close a cycle"):
        call_command("import_requirements", str(path), project="AEB", user=engineer.username)
    assert snapshot(project) == before

    call_command(
        "import_requirements",
        str(path),
        project="AEB",
        user=engineer.username,
        on_violation="note",
    )
    out = capsys.readouterr().out
    assert "not imported: row 2" in out and "would close a cycle" in out

    reqif = tmp_path / "next.reqif"
    reqif.write_bytes(
        with_relation(
            real_pror(), "extra-relation", source.reqif_identifier, target.reqif_identifier
        )
    )
    with pytest.raises(CommandError, match="would close a cycle"):
        call_command("import_reqif", str(reqif), project="AEB", user=engineer.username)
    call_command(
        "import_reqif", str(reqif), project="AEB", user=engineer.username, on_violation="note"
    )
    assert "extra-relation" in capsys.readouterr().out
    assert not linked(project, source, target)


def test_a_child_below_a_safety_goal_is_a_violation_on_every_path(api, project, engineer, case):
    goal = SafetyGoal.objects.create(project=project, code="SG-1", text="Avoid it", asil="D")
    child = case["free"][0]  # QM
    response = api(engineer).post(
        f"{BASE}/links/",
        {"source": child.code, "kind": "derives-from", "target_goal": goal.code},
        format="json",
    )
    assert response.status_code == 400
    assert "lowering an ASIL" in str(response.json())
    data = f"code,parent\n{child.code},{goal.code}\n".encode()
    before = snapshot(project)
    with pytest.raises(ValidationError, match="lowering an ASIL"):
        table_import(user=engineer, project=project, data=data, filename="g.csv")
    assert snapshot(project) == before
    report = table_import(
        user=engineer, project=project, data=data, filename="g.csv", on_violation=links.NOTE
    )
    assert report.links == 1
    assert any(f"{child.code} (QM) under SG-1 (D)" in w for w in report.warnings)
    assert TraceLink.objects.filter(source=child, target_goal=goal).exists()
