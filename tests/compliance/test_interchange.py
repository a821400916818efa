"""Requirements exchange: ReqIF import of real DOORS / Polarion / ProR exports, re-import,
export round trips, hostile files, upload limits, permissions, and CSV / XLSX tables."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from lxml import etree

from compliance import selectors, services
from compliance.interchange import common, tables
from compliance.interchange import reqif as reqif_interchange
from compliance.interchange.common import UploadTooLarge
from compliance.interchange.reqif import reqif_export, reqif_import
from compliance.interchange.tables import table_import
from compliance.models import Decomposition, Requirement, SafetyGoal, TraceLink
from compliance.reqif.document import Hierarchy, Specification, SpecObject, SpecRelation
from compliance.reqif.reader import parse_reqif
from compliance.reqif.writer import write_reqif
from evidence.models import LogEntry
from projects.models import Membership, Role
from tests.compliance.reqif_samples import build_example_content, generate_reqif
from tests.shared_data import shared_path

pytestmark = pytest.mark.django_db

DOORS = "doors_classic_example_from_a_user.reqif"
POLARION = "polarion_anonymized_srs.reqif"
PROR = "pror_rmf_customer_requirements_spec.reqif"
BASE = "/api/v1/projects/AEB"

_OBJECT_TAG = re.compile(rb"<(?:[\w.-]+:)?SPEC-OBJECT[\s/>]")
_RELATION_TAG = re.compile(rb"<(?:[\w.-]+:)?SPEC-RELATION[\s/>]")


def real(name: str) -> bytes:
    return shared_path("data", "real", "reqif", name).read_bytes()


def count_elements(data: bytes) -> tuple[int, int]:
    """SPEC-OBJECT and SPEC-RELATION elements, counted without the code under test."""
    by_regex = (len(_OBJECT_TAG.findall(data)), len(_RELATION_TAG.findall(data)))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    by_tree = (
        sum(1 for _ in root.iter("{*}SPEC-OBJECT")),
        sum(1 for _ in root.iter("{*}SPEC-RELATION")),
    )
    assert by_regex == by_tree
    return by_tree


def entries(project) -> int:
    return LogEntry.objects.filter(project=project).count()


def state(project) -> tuple[int, int, int]:
    return (
        Requirement.objects.filter(project=project).count(),
        TraceLink.objects.filter(project=project).count(),
        entries(project),
    )


def requirement_rows(project) -> set[tuple]:
    return set(
        Requirement.objects.filter(project=project).values_list(
            "code", "kind", "title", "text", "asil", "status", "section", "is_heading"
        )
    )


def link_rows(project) -> set[tuple]:
    return set(
        TraceLink.objects.filter(project=project, target_requirement__isnull=False).values_list(
            "source__code", "kind", "target_requirement__code"
        )
    )


@pytest.fixture
def engineer(members):
    return members["engineer"]


def import_file(project, user, data: bytes, name: str = "spec.reqif", **kwargs):
    return reqif_import(user=user, project=project, data=data, filename=name, **kwargs)


def small_document(objects, relations=(), tree=None, extras=("ASIL", "Kind")) -> bytes:
    """A ReqIF document of ``objects`` placed flat (or as ``tree``) in one specification."""
    children = tree if tree is not None else [Hierarchy(o.identifier) for o in objects]
    return write_reqif(
        "test",
        objects,
        relations,
        [Specification("spec", "Spec", children)],
        list(extras),
        document_id="doc",
    )


def obj(identifier, code, title, text="", asil="QM", kind="FSR", heading=False) -> SpecObject:
    return SpecObject(
        identifier=identifier,
        values={"ASIL": asil, "Kind": kind} if not heading else {},
        title=title,
        text=text or None,
        foreign_id=code,
        is_heading=heading,
    )


# --- Real exports ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [DOORS, POLARION, PROR])
def test_real_export_imports_every_object_and_relation(project, engineer, name):
    data = real(name)
    objects, relations = count_elements(data)
    before = entries(project)

    report = import_file(project, engineer, data, name)

    assert report.requirements + report.headings == objects
    assert report.links + len(report.unmapped) == relations
    assert report.created == objects and report.updated == report.unchanged == 0
    assert Requirement.objects.filter(project=project).count() == objects
    assert Requirement.objects.filter(project=project, is_heading=True).count() == report.headings
    assert TraceLink.objects.filter(project=project).count() == report.links
    assert entries(project) == before + 1
    entry = LogEntry.objects.filter(project=project).latest("index")
    assert (entry.kind, entry.subject) == ("change", f"reqif-import:{name}")
    assert entry.digest == hashlib.sha256(data).hexdigest()
    assert json.dumps(report.as_json())  # serialisable as it is


def test_doors_headings_take_the_module_prefix_as_code(project, engineer):
    report = import_file(project, engineer, real(DOORS), DOORS)
    assert (report.requirements, report.headings, report.tool) == (0, 3, "IBM Rational DOORS")
    rows = list(
        Requirement.objects.filter(project=project)
        .order_by("position")
        .values_list("code", "title", "is_heading", "section")
    )
    assert rows == [
        ("AMR-REF-1", "Carbon Trust Standard", True, ""),
        ("AMR-REF-2", "CRC and CCA", True, ""),
        ("AMR-REF-3", "Picture or Whitepaper", True, ""),
    ]
    first = Requirement.objects.get(project=project, code="AMR-REF-1")
    assert first.attributes["ReqIF.ForeignCreatedBy"] == "susan"
    assert first.reqif_identifier == "_1_01ea51ea-ed54-471e-8c08-19e093f930f7"


def test_polarion_sections_follow_the_document_tree(project, engineer):
    report = import_file(project, engineer, real(POLARION), POLARION)
    assert report.requirements + report.headings == 101
    assert report.tool == "Ppp"
    # Every foreign id is "aaa", not a code: codes are derived in document order.
    codes = list(
        Requirement.objects.filter(project=project)
        .order_by("position")
        .values_list("code", flat=True)
    )
    assert codes == [f"REQ-{n}" for n in range(1, 102)]
    requirement = Requirement.objects.get(
        project=project, reqif_identifier="rmf-1b18ef37-ca1f-4e79-954d-747df083f861"
    )
    assert (requirement.title, requirement.text, requirement.is_heading) == (
        "aaa",
        "Anonymized",
        False,
    )
    assert requirement.text_xhtml == "<div>Anonymized</div>"
    assert requirement.section.startswith("aaa")
    depths = {
        r.section.count(" / ") + 1 for r in Requirement.objects.filter(project=project) if r.section
    }
    assert max(depths) == 4  # the tree is five deep: four heading levels above the leaves


def test_pror_without_last_change_imports_use_cases_and_links(project, engineer):
    report = import_file(project, engineer, real(PROR), PROR)
    assert report.tool == "ProR (http://pror.org)"
    assert (report.links, report.unmapped) == (3, [])
    assert any("LAST-CHANGE" in w for w in report.warnings)
    assert any("'UC Link Type'" in w and "derives-from" in w for w in report.warnings)

    use_case = Requirement.objects.get(project=project, code="UC-1")
    assert (use_case.title, use_case.is_heading) == ("Create a new SpecObject", True)
    requirement = Requirement.objects.get(
        project=project, reqif_identifier="rmf-374b6cb7-20d6-40e1-bdfd-7ec83bc0d680"
    )
    assert requirement.text == "ReqIF model exists and is open."
    assert requirement.is_heading is False
    assert requirement.section.startswith("Create a new SpecObject / ")
    glossary = Requirement.objects.get(
        project=project, reqif_identifier="rmf-46b238ac-b8b3-4230-b32c-be9707f8b691"
    )
    assert glossary.text == "The person who works with the requirements"
    assert glossary.attributes["ID"] == "Requirements Engineer"  # not a code: kept
    assert glossary.code.startswith("REQ-")
    assert (
        TraceLink.objects.filter(
            project=project, target_requirement=glossary, kind="derives-from"
        ).count()
        == 3
    )


# --- Re-import -------------------------------------------------------------------------------


def test_reimport_is_idempotent(project, engineer):
    data = real(PROR)
    first = import_file(project, engineer, data, PROR)
    versions = dict(Requirement.objects.filter(project=project).values_list("code", "version"))
    links = set(TraceLink.objects.filter(project=project).values_list("id", "suspect"))
    ledger_before = entries(project)

    second = import_file(project, engineer, data, PROR)

    assert (second.created, second.updated, second.unchanged) == (0, 0, 36)
    assert (second.links, second.unmapped) == (first.links, [])
    assert dict(Requirement.objects.filter(project=project).values_list("code", "version")) == (
        versions
    )
    assert set(TraceLink.objects.filter(project=project).values_list("id", "suspect")) == links
    assert entries(project) == ledger_before + 1
    import_file(project, engineer, data, PROR)
    assert entries(project) == ledger_before + 2


def test_changed_reimport_bumps_the_version_and_makes_links_suspect(project, engineer):
    data = real(PROR)
    import_file(project, engineer, data, PROR)
    glossary = Requirement.objects.get(
        project=project, reqif_identifier="rmf-46b238ac-b8b3-4230-b32c-be9707f8b691"
    )
    assert glossary.version == 1
    assert not TraceLink.objects.filter(project=project, suspect=True).exists()
    old = b"The person who works with the requirements"
    assert data.count(old) == 1
    changed = data.replace(old, b"The person who writes and reviews the requirements")

    report = import_file(project, engineer, changed, PROR)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 35)
    glossary.refresh_from_db()
    assert glossary.version == 2
    assert glossary.text == "The person who writes and reviews the requirements"
    suspect = TraceLink.objects.filter(project=project, suspect=True)
    assert suspect.count() == 3
    assert all(glossary.code in link.suspect_reason for link in suspect)
    others = Requirement.objects.filter(project=project).exclude(pk=glossary.pk)
    assert set(others.values_list("version", flat=True)) == {1}


def test_two_documents_keep_their_own_positions(project, engineer):
    import_file(project, engineer, real(DOORS), DOORS)
    import_file(project, engineer, real(PROR), PROR)
    doors = Requirement.objects.filter(project=project, code__startswith="AMR-REF-")
    assert max(doors.values_list("position", flat=True)) == 3
    pror = Requirement.objects.filter(project=project).exclude(pk__in=doors)
    assert sorted(pror.values_list("position", flat=True)) == list(range(4, 40))
    for name in (DOORS, PROR):
        report = import_file(project, engineer, real(name), name)
        assert report.updated == report.created == 0


def test_a_requirement_made_in_safecase_is_recognised_by_its_code(project, engineer):
    services.requirement_create(
        user=engineer, project=project, code="FSR-1", kind="FSR", title="Brake", asil="D"
    )
    data = small_document([obj("a", "FSR-1", "Brake", "Brake within 200 ms.", asil="D")])
    report = import_file(project, engineer, data)
    assert (report.created, report.updated) == (0, 1)
    requirement = Requirement.objects.get(project=project, code="FSR-1")
    assert (requirement.reqif_identifier, requirement.version) == ("a", 2)
    assert requirement.text == "Brake within 200 ms."


# --- Relations and the link rules ------------------------------------------------------------


def test_relations_breaking_link_rules_are_reported_not_created(project, engineer):
    objects = [
        obj("a", "FSR-1", "Parent", "p", asil="D"),
        obj("b", "TSR-1", "Child", "c", asil="B", kind="TSR"),
        obj("c", "SW-1", "Grandchild", "g", asil="D", kind="SW"),
    ]
    relations = [
        SpecRelation("r1", "b", "a", "derived from"),  # lowers D to B: imported with a warning
        SpecRelation("r2", "c", "b", "refines"),
        SpecRelation("r3", "a", "c", "parent"),  # would close a cycle
        SpecRelation("r4", "a", "a", "satisfies"),  # self link
        SpecRelation("r5", "c", "elsewhere", "verifies"),  # target not in the project
        SpecRelation("r6", "c", "a", "Tested by"),
        SpecRelation("r7", "c", "a", "test case"),  # repeats r6 (c verifies a)
        SpecRelation("r8", "c", "a", "traces to"),  # unknown type: derives-from, warned
    ]
    report = import_file(project, engineer, small_document(objects, relations), on_violation="note")

    reasons = {item["relation"]: item["reason"] for item in report.unmapped}
    assert set(reasons) == {"r3", "r4", "r5", "r7"}
    assert "cycle" in reasons["r3"]
    assert "itself" in reasons["r4"]
    assert "'elsewhere'" in reasons["r5"] and "not a requirement" in reasons["r5"]
    assert "repeats" in reasons["r7"] and "r6" in reasons["r7"]
    assert report.links == 4 and report.links + len(report.unmapped) == len(relations)
    assert link_rows(project) == {
        ("TSR-1", "derives-from", "FSR-1"),
        ("SW-1", "derives-from", "TSR-1"),
        ("SW-1", "verifies", "FSR-1"),
        ("SW-1", "derives-from", "FSR-1"),
    }
    assert any("TSR-1 (B) under FSR-1 (D)" in w for w in report.warnings)
    assert any("'traces to'" in w for w in report.warnings)
    gaps = selectors.gap_analysis(project=project)
    assert gaps["undecomposed_asil_drops"] == ["TSR-1 (B) under FSR-1 (D)"]


def test_asil_kind_and_status_values_are_read_or_reported(project, members):
    objects = [
        SpecObject("a", values={"ASIL": "ASIL C", "Type": "HWSR", "Status": "Approved"}, title="a"),
        SpecObject("b", values={"ASIL": "b (d)", "Kind": "Software requirement"}, title="b"),
        SpecObject("c", values={"ASIL": "high", "Kind": "Widget", "Owner": "Ann"}, title="c"),
    ]
    data = small_document(objects, extras=("ASIL", "Type", "Kind", "Status", "Owner"))
    report = import_file(project, members["safety_manager"], data, default_kind="TSR")
    rows = {
        r.title: (r.asil, r.kind, r.status, r.attributes)
        for r in Requirement.objects.filter(project=project)
    }
    assert rows["a"] == ("C", "HW", "approved", {})
    assert rows["b"] == ("B(D)", "SW", "draft", {})
    assert rows["c"] == ("QM", "TSR", "draft", {"ASIL": "high", "Kind": "Widget", "Owner": "Ann"})
    assert any("ASIL value not readable" in w and "'high'" in w for w in report.warnings)
    assert any("kind value not recognised" in w for w in report.warnings)


def test_decomposed_children_are_not_reported_as_drops(project, engineer):
    parent = services.requirement_create(
        user=engineer, project=project, code="FSR-1", kind="FSR", asil="D"
    )
    first = services.requirement_create(
        user=engineer, project=project, code="TSR-1", kind="TSR", asil="B(D)"
    )
    second = services.requirement_create(
        user=engineer, project=project, code="TSR-2", kind="TSR", asil="B(D)"
    )
    services.decomposition_record(
        user=engineer,
        project=project,
        parent=parent,
        first=first,
        second=second,
        elements="two channels",
        dependent_failure_analysis="DFA-7",
    )
    assert Decomposition.objects.count() == 1
    objects = [
        obj("p", "FSR-1", "", asil="D"),
        obj("x", "TSR-1", "", asil="B(D)", kind="TSR"),
    ]
    report = import_file(
        project, engineer, small_document(objects, [SpecRelation("r", "x", "p", "derives")])
    )
    assert (report.links, report.unmapped) == (1, [])
    assert not any("lowers the ASIL" in w for w in report.warnings)


# --- Export and round trips ------------------------------------------------------------------


def build_safecase_content(project, engineer):
    """ProR's document plus requirements and links made in Safecase."""
    import_file(project, engineer, real(PROR), PROR)
    goal = SafetyGoal.objects.create(project=project, code="SG-1", text="Avoid it", asil="D")
    fsr = services.requirement_create(
        user=engineer,
        project=project,
        code="FSR-10",
        kind="FSR",
        title="Limit deceleration",
        text="The AEB shall limit the deceleration to 6 m/s^2.\nIt shall warn first.",
        asil="D",
        section="Safety",
    )
    reviewer = Membership.objects.get(project=project, role=Role.SAFETY_MANAGER).user
    fsr = services.requirement_review(user=reviewer, requirement=fsr, status="approved")
    tsr = services.requirement_create(
        user=engineer,
        project=project,
        code="TSR-10",
        kind="TSR",
        title="Monitor the radar",
        text="Detect a radar loss within 50 ms.",
        asil="D",
        status="in_review",
    )
    services.link_create(
        user=engineer, project=project, source=tsr, kind="derives-from", target_requirement=fsr
    )
    services.link_create(
        user=engineer, project=project, source=fsr, kind="derives-from", target_goal=goal
    )
    uc1 = Requirement.objects.get(project=project, code="UC-1")
    services.link_create(
        user=engineer, project=project, source=tsr, kind="implements", target_requirement=uc1
    )


def test_export_reimports_into_an_empty_project_identically(
    project, other_project, engineer, make_member
):
    build_safecase_content(project, engineer)
    data = reqif_export(user=engineer, project=project)
    # A reviewer imports: the export carries approved statuses, which only a review sets.
    elsewhere = make_member(other_project, Role.SAFETY_MANAGER)

    report = import_file(other_project, elsewhere, data, "AEB.reqif")

    assert report.unmapped == []
    assert (
        report.requirements + report.headings == Requirement.objects.filter(project=project).count()
    )
    assert requirement_rows(other_project) == requirement_rows(project)
    assert link_rows(other_project) == link_rows(project)
    assert ("TSR-10", "implements", "UC-1") in link_rows(other_project)
    # The goal link is not exported: goals are not ReqIF objects.
    assert not TraceLink.objects.filter(project=other_project, target_goal__isnull=False).exists()

    # Exporting the copy and importing it back into the copy changes nothing.
    again = reqif_export(user=elsewhere, project=other_project)
    report = import_file(other_project, elsewhere, again, "LKA.reqif")
    assert (report.created, report.updated) == (0, 0)


def test_generated_document_round_trips_with_kinds_and_asils(
    project, other_project, engineer, make_member
):
    report = import_file(
        project, engineer, generate_reqif(120, 60, seed=5), "gen.reqif", on_violation="note"
    )
    assert report.requirements + report.headings == 125
    assert report.links + len(report.unmapped) == 60
    kinds = set(
        Requirement.objects.filter(project=project, is_heading=False).values_list("kind", flat=True)
    )
    assert kinds == {"FSR", "TSR", "HW", "SW"}  # HWSR and SWSR map to HW and SW
    content = build_example_content(120, 60, seed=5)
    expected = {o.foreign_id for o in content.objects if o.foreign_id}  # FSR-00001, HWSR-00002
    codes = set(
        Requirement.objects.filter(project=project, is_heading=False).values_list("code", flat=True)
    )
    assert codes == expected
    data = reqif_export(user=engineer, project=project)
    # A reviewer imports: the export carries approved statuses, which only a review sets.
    elsewhere = make_member(other_project, Role.SAFETY_MANAGER)
    import_file(other_project, elsewhere, data, "gen-export.reqif", on_violation="note")
    assert requirement_rows(other_project) == requirement_rows(project)
    assert link_rows(other_project) == link_rows(project)


def test_the_reqif_library_parses_the_export(project, engineer):
    build_safecase_content(project, engineer)
    data = reqif_export(user=engineer, project=project)
    from reqif.parser import ReqIFParser

    bundle = ReqIFParser.parse_from_string(data.decode("utf-8"))
    content = bundle.core_content.req_if_content
    assert len(content.spec_objects) == Requirement.objects.filter(project=project).count()
    assert (
        len(content.spec_relations)
        == TraceLink.objects.filter(project=project, target_requirement__isnull=False).count()
    )
    objects, relations = count_elements(data)
    assert (objects, relations) == (len(content.spec_objects), len(content.spec_relations))
    doc = parse_reqif(data)
    assert doc.warnings == []
    # Safecase's code goes out as Safecase.Code; an imported object keeps its own ForeignID.
    assert {o.values["Safecase.Code"] for o in doc.objects.values()} == set(
        Requirement.objects.filter(project=project).values_list("code", flat=True)
    )


def test_export_needs_membership_only(project, members, outsider):
    data = reqif_export(user=members["viewer"], project=project)
    assert data.startswith(b"<?xml")
    from django.http import Http404

    with pytest.raises(Http404):
        reqif_export(user=outsider, project=project)


# --- Hostile and oversized input -------------------------------------------------------------

_BODY = (
    '<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd">'
    "<THE-HEADER><REQ-IF-HEADER IDENTIFIER='h'><TITLE>&l9;</TITLE></REQ-IF-HEADER></THE-HEADER>"
    "</REQ-IF>"
)
_LAUGHS = "".join(
    f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
).replace("&l0;", "lol")
BILLION_LAUGHS = (
    f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY l0 "lol">{_LAUGHS}]>{_BODY}'.encode()
)
XXE = ('<!DOCTYPE r [<!ENTITY l9 SYSTEM "file:///etc/passwd">]>' + _BODY).encode()


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_hostile_xml_through_the_command_writes_nothing(project, engineer, tmp_path, document):
    import_file(project, engineer, real(PROR), PROR)
    before = state(project)
    path = tmp_path / "hostile.reqif"
    path.write_bytes(document)
    with pytest.raises(CommandError, match="DOCTYPE"):
        call_command("import_reqif", str(path), project="AEB", user=engineer.username)
    assert state(project) == before


def test_hostile_xml_through_the_api_is_400_and_writes_nothing(api, project, engineer):
    import_file(project, engineer, real(PROR), PROR)
    before = state(project)
    upload = SimpleUploadedFile("evil.reqif", BILLION_LAUGHS, content_type="application/xml")
    response = api(engineer).post(f"{BASE}/reqif/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "DOCTYPE" in response.json()["file"][0]
    assert state(project) == before


def test_a_broken_document_after_valid_objects_writes_nothing(project, engineer):
    data = generate_reqif(30, 10, seed=2)
    truncated = data[: len(data) * 2 // 3]
    before = state(project)
    with pytest.raises(ValidationError, match="malformed XML"):
        import_file(project, engineer, truncated)
    assert state(project) == before


def test_a_failure_during_the_import_rolls_everything_back(project, engineer, monkeypatch):
    import_file(project, engineer, real(DOORS), DOORS)
    before = state(project)

    def fail(*args, **kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(reqif_interchange, "record_import", fail)
    with pytest.raises(RuntimeError):
        import_file(project, engineer, real(PROR), PROR)
    assert state(project) == before


@pytest.mark.parametrize("who", ["viewer", "assessor"])
def test_the_bulk_write_of_an_import_checks_the_role_itself(project, members, who):
    item = common.Incoming("", ["FSR-1"], "FSR-1", {"title": "Brake"})
    with pytest.raises(PermissionDenied):
        common.upsert(members[who], project, [item], by_code=True, default_kind="FSR")
    assert state(project) == (0, 0, 0)
    outcome = common.upsert(members["engineer"], project, [item], by_code=True, default_kind="FSR")
    assert outcome.created == 1 and state(project) == (1, 0, 0)


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members:
            archive.writestr(name, payload)
    return buffer.getvalue()


def test_reqifz_archive_imports_and_traversal_is_refused(project, engineer):
    good = _zip([("spec/pror.reqif", real(PROR)), ("spec/logo.png", b"\x89PNG")])
    report = import_file(project, engineer, good, "export.reqifz")
    assert report.requirements + report.headings == 36

    before = state(project)
    evil = _zip([("ok.reqif", real(DOORS)), (zipfile.ZipInfo("../../evil.reqif"), b"<REQ-IF/>")])
    with pytest.raises(ValidationError, match=r"climbs out"):
        import_file(project, engineer, evil, "evil.reqifz")
    assert state(project) == before


def test_archive_expansion_is_capped(project, engineer, settings):
    bomb = _zip([("bomb.reqif", b"<REQ-IF>" + b" " * 2_000_000 + b"</REQ-IF>")])
    settings.SAFECASE_MAX_EXPANDED_BYTES = 1_000_000
    with pytest.raises(ValidationError, match="bomb.reqifz: archive refused"):
        import_file(project, engineer, bomb, "bomb.reqifz")
    assert state(project) == (0, 0, 0)


def test_oversized_files_are_refused(api, project, engineer, settings, tmp_path):
    data = real(PROR)
    settings.SAFECASE_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(UploadTooLarge, match="limit is 1,000 bytes"):
        import_file(project, engineer, data, PROR)

    client = api(engineer)
    small = SimpleUploadedFile("pror.reqif", data[:5000])  # passes the length check, not the size
    response = client.post(f"{BASE}/reqif/import/", {"file": small}, format="multipart")
    assert response.status_code == 413
    assert "limit is 1,000 bytes" in response.json()["detail"]
    big = SimpleUploadedFile("pror.reqif", data * 3)  # over the announced length
    response = client.post(f"{BASE}/reqif/import/", {"file": big}, format="multipart")
    assert response.status_code == 413

    path = tmp_path / PROR
    path.write_bytes(data)
    with pytest.raises(CommandError, match="limit is 1,000 bytes"):
        call_command("import_reqif", str(path), project="AEB", user=engineer.username)
    assert state(project) == (0, 0, 0)


# --- API -------------------------------------------------------------------------------------


def test_api_import_and_export(api, project, engineer):
    client = api(engineer)
    upload = SimpleUploadedFile(PROR, real(PROR), content_type="application/xml")
    response = client.post(
        f"{BASE}/reqif/import/", {"file": upload, "default_kind": "TSR"}, format="multipart"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["requirements"] + body["headings"], body["links"], body["created"]) == (36, 3, 36)
    assert set(Requirement.objects.filter(project=project).values_list("kind", flat=True)) == {
        "TSR"
    }

    response = client.get(f"{BASE}/reqif/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert 'filename="AEB.reqif"' in response["Content-Disposition"]
    assert count_elements(response.content) == (36, 3)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "reqif/import/"),
        ("get", "reqif/export/"),
        ("post", "requirements/import/"),
    ],
)
def test_api_401_403_404(api, project, members, outsider, method, path):
    def call(user):
        client = api(user)
        if method == "get":
            return client.get(f"{BASE}/{path}")
        upload = SimpleUploadedFile("x.reqif", real(DOORS))
        return client.post(f"{BASE}/{path}", {"file": upload}, format="multipart")

    assert call(None).status_code == 401
    assert call(outsider).status_code == 404
    viewer = call(members["viewer"])
    assert viewer.status_code == (200 if method == "get" else 403)
    assert state(project)[0] == 0


def test_api_table_import_url(api, project, engineer):
    upload = SimpleUploadedFile("reqs.csv", b"code,title\nFSR-1,Brake\n")
    response = api(engineer).post(
        f"{BASE}/requirements/import/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 200


def test_api_table_import_view(project, members, outsider):
    """The view itself, with a mapping and a bad row."""
    from rest_framework.test import APIRequestFactory, force_authenticate

    from compliance.api.interchange import RequirementTableImportApi

    view = RequirementTableImportApi.as_view()

    def post(user, payload):
        request = APIRequestFactory().post("/import/", payload, format="multipart")
        if user is not None:
            force_authenticate(request, user)
        return view(request, key="AEB")

    csv_file = b"ID,Name,Level\nFSR-1,Brake,D\nFSR-2,Steer,Z\n"
    mapping = json.dumps({"code": "ID", "title": "Name", "asil": "Level"})
    response = post(
        members["engineer"], {"file": SimpleUploadedFile("r.csv", csv_file), "mapping": mapping}
    )
    assert response.status_code == 200, response.data
    assert response.data["requirements"] == 1
    assert response.data["unmapped"][0]["row"] == 3
    assert Requirement.objects.get(project=project, code="FSR-1").asil == "D"

    assert post(None, {"file": SimpleUploadedFile("r.csv", csv_file)}).status_code == 401
    assert post(outsider, {"file": SimpleUploadedFile("r.csv", csv_file)}).status_code == 404
    viewer = post(members["viewer"], {"file": SimpleUploadedFile("r.csv", csv_file)})
    assert viewer.status_code == 403
    bad = post(members["engineer"], {"file": SimpleUploadedFile("r.xlsm", b"PK\x03\x04")})
    assert bad.status_code == 400 and "Macro" in bad.data["file"][0]


def test_a_viewer_cannot_import_through_the_service(project, members):
    with pytest.raises(PermissionDenied):
        import_file(project, members["viewer"], real(DOORS), DOORS)


# --- Tables ----------------------------------------------------------------------------------

CSV_ROWS = (
    "\ufeffID;Type;Name;Description;Integrity;State;Chapter;Derived from\n"
    "FSR-1;FSR;Brake;The AEB shall brake.;D;approved;Braking;\n"
    "TSR-1;TSR;Radar;Detect the radar loss;D;draft;Sensing;FSR-1\n"
    "TSR-2;TSR;Camera;Detect camera loss;ASIL B;;Sensing;FSR-1 SG-1\n"
    "SW-1;SW;Bad ASIL;text;E;;;\n"
    "fsr 9;FSR;Bad code;text;A;;;\n"
    "HW-1;Widget;Bad kind;text;A;;;\n"
    "SW-2;SW;Filter;Filter the signal;D;;;TSR-1, NOPE-1\n"
    "FSR-1;FSR;Repeat;again;D;;;\n"
    ";;;;;;;\n"
    "FSR-2;FSR;Cycle;x;D;;;SW-2\n"
)
CSV_MAP = {
    "code": "ID",
    "kind": "Type",
    "title": "Name",
    "text": "Description",
    "asil": "Integrity",
    "status": "State",
    "section": "Chapter",
    "parent": "Derived from",
}


def test_csv_import_with_a_mapping_reports_bad_rows(project, members):
    SafetyGoal.objects.create(project=project, code="SG-1", text="goal", asil="D")
    before = entries(project)
    report = table_import(
        user=members["safety_manager"],
        project=project,
        data=CSV_ROWS.encode("utf-8"),
        filename="reqs.csv",
        mapping=CSV_MAP,
        on_violation="note",
    )
    assert entries(project) == before + 1
    assert report.tool == "csv"
    assert (report.requirements, report.created) == (5, 5)
    rejected = {item["row"]: item["reason"] for item in report.unmapped if "parent" not in item}
    assert set(rejected) == {5, 6, 7, 9}
    assert "invalid ASIL 'E'" in rejected[5]
    assert "invalid code 'fsr 9'" in rejected[6]
    assert "invalid kind 'Widget'" in rejected[7]
    assert "repeats row 2" in rejected[9]
    refused_parents = [item for item in report.unmapped if "parent" in item]
    assert refused_parents == [
        {
            "row": 8,
            "code": "SW-2",
            "parent": "NOPE-1",
            "reason": "no requirement or safety goal with this code in the project",
        }
    ]
    assert report.links == 5  # TSR-1, TSR-2 (twice), SW-2 and FSR-2 under their parents
    assert link_rows(project) == {
        ("TSR-1", "derives-from", "FSR-1"),
        ("TSR-2", "derives-from", "FSR-1"),
        ("SW-2", "derives-from", "TSR-1"),
        ("FSR-2", "derives-from", "SW-2"),
    }
    assert TraceLink.objects.filter(project=project, target_goal__code="SG-1").count() == 1
    assert any("TSR-2 (B) under FSR-1 (D)" in w for w in report.warnings)
    assert any("TSR-2 (B) under SG-1 (D)" in w for w in report.warnings)
    brake = Requirement.objects.get(project=project, code="FSR-1")
    assert (brake.title, brake.asil, brake.status, brake.section) == (
        "Brake",
        "D",
        "approved",
        "Braking",
    )


def test_csv_parent_cycle_is_refused_and_reimport_updates(project, engineer):
    data = b"code,title,asil,parent\nFSR-1,A,D,FSR-2\nFSR-2,B,D,FSR-1\n"
    report = table_import(
        user=engineer, project=project, data=data, filename="a.csv", on_violation="note"
    )
    assert report.links == 1
    (refused,) = report.unmapped
    assert refused["row"] == 3 and "cycle" in refused["reason"]

    again = table_import(
        user=engineer, project=project, data=data, filename="a.csv", on_violation="note"
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    changed = data.replace(b"FSR-2,B,D", b"FSR-2,B,C")
    report = table_import(
        user=engineer, project=project, data=changed, filename="a.csv", on_violation="note"
    )
    assert (report.updated, report.unchanged) == (1, 1)
    second = Requirement.objects.get(project=project, code="FSR-2")
    assert (second.asil, second.version) == ("C", 2)
    assert TraceLink.objects.get(project=project).suspect


def build_xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_import_with_default_and_explicit_mapping(project, engineer):
    data = build_xlsx(
        [
            ["Code", "KIND", "Title", "Requirement text", "ASIL", "Parent"],
            ["FSR-1", "FSR", "Brake", "Brake on obstacles", "D", None],
            ["TSR-1", "TSR", "Radar", "Radar monitoring", "D", "FSR-1"],
            ["TSR-2", "TSR", "Numbers", 42, "B(D)", None],
            ["SW-1", "SW", "Bad", "x", "D(C)", None],
            [None, None, None, None, None, None],
        ]
    )
    report = table_import(
        user=engineer,
        project=project,
        data=data,
        filename="requirements.xlsx",
        mapping={"text": "Requirement text"},
    )
    assert report.tool == "xlsx"
    assert (report.requirements, report.links) == (3, 1)
    (bad,) = report.unmapped
    assert bad["row"] == 5 and "invalid ASIL 'D(C)'" in bad["reason"]
    numbers = Requirement.objects.get(project=project, code="TSR-2")
    assert (numbers.text, numbers.asil, numbers.kind) == ("42", "B(D)", "TSR")
    assert link_rows(project) == {("TSR-1", "derives-from", "FSR-1")}


def test_workbooks_with_macros_or_dtds_and_bad_mappings_are_refused(project, engineer):
    def run(data, filename, mapping=None):
        return table_import(
            user=engineer, project=project, data=data, filename=filename, mapping=mapping
        )

    plain = build_xlsx([["code"], ["FSR-1"]])
    with pytest.raises(ValidationError, match="Macro-enabled"):
        run(plain, "book.xlsm")
    with_vba = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as source, zipfile.ZipFile(with_vba, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("xl/vbaProject.bin", b"macro")
    with pytest.raises(ValidationError, match="macros"):
        run(with_vba.getvalue(), "book.xlsx")
    with_dtd = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as source, zipfile.ZipFile(with_dtd, "w") as target:
        for item in source.infolist():
            payload = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                payload = b'<!DOCTYPE r [<!ENTITY x "y">]>' + payload
            target.writestr(item, payload)
    with pytest.raises(ValidationError, match="DTD"):
        run(with_dtd.getvalue(), "book.xlsx")
    with pytest.raises(ValidationError, match="No column 'Identifier'"):
        run(b"code,title\nFSR-1,x\n", "a.csv", {"code": "Identifier"})
    with pytest.raises(ValidationError, match="Unknown field"):
        run(b"code,title\nFSR-1,x\n", "a.csv", {"colour": "title"})
    with pytest.raises(ValidationError, match="No code column"):
        run(b"id,title\nFSR-1,x\n", "a.csv")
    with pytest.raises(ValidationError, match="not UTF-8"):
        run("code,title\nFSR-1,Bremsö\n".encode("latin-1"), "a.csv")
    with pytest.raises(ValidationError, match=r"\.csv"):
        run(b"code\n", "a.pdf")
    assert state(project) == (0, 0, 0)


def test_table_row_cap(project, engineer, monkeypatch):
    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 3)
    data = b"code\n" + b"".join(f"FSR-{i}\n".encode() for i in range(1, 6))
    with pytest.raises(ValidationError, match="more than 3 rows"):
        table_import(user=engineer, project=project, data=data, filename="a.csv")
    assert state(project) == (0, 0, 0)


def test_csv_formula_escape_from_the_safecase_export_is_undone(project, engineer):
    data = b"code,title\nFSR-1,'=1+1\n"
    table_import(user=engineer, project=project, data=data, filename="a.csv")
    assert Requirement.objects.get(project=project).title == "=1+1"


# --- Commands --------------------------------------------------------------------------------


def test_commands_import_export_and_tables(project, engineer, tmp_path, capsys):
    source = tmp_path / PROR
    source.write_bytes(real(PROR))
    call_command("import_reqif", str(source), project="AEB", user=engineer.username, json=True)
    report = json.loads(capsys.readouterr().out)
    assert (report["requirements"] + report["headings"], report["links"]) == (36, 3)

    output = tmp_path / "out.reqif"
    call_command("export_reqif", project="AEB", output=str(output), user=engineer.username)
    assert "wrote" in capsys.readouterr().out
    assert count_elements(output.read_bytes()) == (36, 3)

    table = tmp_path / "reqs.csv"
    table.write_bytes(b"Ident,Name\nFSR-7,Brake\nbad,Nope\n")
    call_command(
        "import_requirements",
        str(table),
        project="AEB",
        user=engineer.username,
        map=["code=Ident", "title=Name"],
    )
    out = capsys.readouterr().out
    assert "1 requirements" in out and "row 3" in out
    with pytest.raises(CommandError, match="field=Header"):
        call_command("import_requirements", str(table), project="AEB", map=["code"])
    with pytest.raises(CommandError, match="no project"):
        call_command("import_reqif", str(source), project="NOPE", user=engineer.username)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_reqif", str(tmp_path / "x.reqif"), project="AEB", user="engineer-aeb")
