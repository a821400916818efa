"""Tests for compliance.reqif: real DOORS/Polarion/ProR exports, hostile input, archives, and
write -> parse round trips (also through the independent ``reqif`` library and the OMG XSD)."""

from __future__ import annotations

import io
import re
import shutil
import socket
import stat
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from compliance.reqif.archive import parse_reqif_archive, read_reqif_archive
from compliance.reqif.document import (
    Hierarchy,
    ReqIFError,
    Specification,
    SpecObject,
    SpecRelation,
)
from compliance.reqif.reader import parse_reqif
from compliance.reqif.writer import write_reqif, write_reqif_document
from compliance.reqif.xhtml import sanitize_xhtml
from tests.compliance.reqif_samples import build_example_content, generate_reqif
from tests.shared_data import shared_path

DOORS = "doors_classic_example_from_a_user.reqif"
POLARION = "polarion_anonymized_srs.reqif"
PROR = "pror_rmf_customer_requirements_spec.reqif"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_SPEC_OBJECT_TAG = re.compile(rb"<(?:[\w.-]+:)?SPEC-OBJECT[\s/>]")
_SPEC_RELATION_TAG = re.compile(rb"<(?:[\w.-]+:)?SPEC-RELATION[\s/>]")


def _real(name: str) -> bytes:
    return shared_path("data", "real", "reqif", name).read_bytes()


def _counts(data: bytes) -> tuple[int, int]:
    """Count SPEC-OBJECT / SPEC-RELATION elements independently of the module under test."""
    by_regex = (len(_SPEC_OBJECT_TAG.findall(data)), len(_SPEC_RELATION_TAG.findall(data)))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    by_tree = (
        sum(1 for _ in root.iter("{*}SPEC-OBJECT")),
        sum(1 for _ in root.iter("{*}SPEC-RELATION")),
    )
    assert by_regex == by_tree
    return by_tree


def _depth(nodes: list[Hierarchy]) -> int:
    return max((1 + _depth(node.children) for node in nodes), default=0)


def _size(nodes: list[Hierarchy]) -> int:
    return sum(1 + _size(node.children) for node in nodes)


def _shape(nodes: list[Hierarchy]) -> list:
    return [(node.object_ref, _shape(node.children)) for node in nodes]


def _norm(text: str | None) -> str | None:
    return None if text is None else " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Real exports
# --------------------------------------------------------------------------------------------


def test_doors_export_headings_and_module_attributes():
    data = _real(DOORS)
    doc = parse_reqif(data)

    assert _counts(data) == (3, 0)
    assert (len(doc.objects), len(doc.relations)) == (3, 0)
    assert doc.tool == "IBM Rational DOORS"
    assert doc.title == "IBM Rational DOORS, 12 October 2018"
    assert doc.identifier == "_9dfa817c-bae7-4b33-b3df-7815500b0ff7"

    first = doc.objects["_1_01ea51ea-ed54-471e-8c08-19e093f930f7"]
    assert first.title == "Carbon Trust Standard"
    assert first.text is None
    assert first.is_heading is True
    assert first.foreign_id == "1"
    assert first.last_change == "2018-10-12T16:43:58"
    assert first.values["ReqIF.ForeignCreatedBy"] == "susan"
    assert first.values["ReqIF.ForeignCreatedOn"] == "2011-07-01T00:00:00"
    # DOORS leaves the SPEC-OBJECT-TYPE without LONG-NAME: the type identifier stands in.
    assert first.type_name == "_7f123ed4-98dd-4eed-b96a-edc8828963a8"
    titles = [obj.title for obj in doc.objects.values()]
    assert titles == ["Carbon Trust Standard", "CRC and CCA", "Picture or Whitepaper"]

    (module,) = doc.specifications
    assert module.long_name == "AMR Standards Documents"
    assert module.values["ReqIF.Prefix"] == "AMR-REF-"
    assert module.values["ReqIF.Description"] == "References to external governance standards"
    assert [node.object_ref for node in module.children] == list(doc.objects)
    assert all(node.is_heading for node in module.children)
    assert _depth(module.children) == 1
    assert doc.warnings == []
    assert doc.unmapped == []


def test_polarion_export_types_texts_and_hierarchy():
    data = _real(POLARION)
    doc = parse_reqif(data)

    assert _counts(data) == (101, 0)
    assert (len(doc.objects), len(doc.relations)) == (101, 0)
    assert (doc.title, doc.tool, doc.reqif_tool_id) == ("SRS", "Ppp", "Ppp ReqIF Roundtrip")

    by_type: dict[str, list[SpecObject]] = {}
    for obj in doc.objects.values():
        by_type.setdefault(obj.type_name, []).append(obj)
    assert {name: len(items) for name, items in by_type.items()} == {
        "Heading": 42,
        "Document": 1,
        "Software Requirement": 58,
    }
    assert all(obj.is_heading and obj.text is None for obj in by_type["Heading"])
    assert not any(obj.is_heading for obj in by_type["Software Requirement"])
    heading = doc.objects["rmf-5ce70afc-c8b0-4db3-8428-032702653c74"]
    assert (heading.title, heading.foreign_id, heading.is_heading) == ("aaa", "aaa", True)

    requirement = doc.objects["rmf-1b18ef37-ca1f-4e79-954d-747df083f861"]
    assert requirement.text == "Anonymized"
    assert requirement.text_xhtml == "<div>Anonymized</div>"
    assert requirement.title == "aaa"  # ReqIF.ChapterName holds the work item title
    assert sum(obj.text == "Anonymized" for obj in doc.objects.values()) == 9

    (spec,) = doc.specifications
    assert spec.long_name == "Software Requirements Specifications"
    assert spec.type_name == "Ppp Live Document"
    assert len(spec.children) == 11
    assert _depth(spec.children) == 5
    assert _size(spec.children) == 101
    assert doc.warnings == []
    assert doc.unmapped == []


def test_pror_export_missing_last_change_headlines_and_relations():
    data = _real(PROR)
    doc = parse_reqif(data)

    assert _counts(data) == (36, 3)
    assert (len(doc.objects), len(doc.relations)) == (36, 3)
    assert doc.title is None  # ProR writes no TITLE
    assert doc.tool == "ProR (http://pror.org)"
    assert doc.reqif_version == "1.0.1"
    assert doc.comment == "Created by: broerkens"

    assert all(obj.last_change is None for obj in doc.objects.values())
    (last_change_warning,) = [w for w in doc.warnings if "LAST-CHANGE" in w]
    assert "36 SPEC-OBJECT" in last_change_warning
    assert "3 SPEC-RELATION" in last_change_warning
    assert "36 SPEC-HIERARCHY" in last_change_warning

    requirement = doc.objects["rmf-374b6cb7-20d6-40e1-bdfd-7ec83bc0d680"]
    assert requirement.type_name == "Requirement Type"
    assert requirement.text == "ReqIF model exists and is open."
    assert requirement.is_heading is False
    quoted = doc.objects["rmf-88674113-ad7b-4a29-9545-358712f7d2c1"]
    assert quoted.text == (
        'The same workflow works for elements that are shown underneath "Specifications" '
        "in the outilne."
    )
    # "Description" with a datatype that ProR's tool extension declares a headline is a title.
    use_case = doc.objects["rmf-daa34638-061a-45e0-9f2e-35afd6c271e0"]
    assert (use_case.foreign_id, use_case.title, use_case.text) == (
        "UC-1",
        "Create a new SpecObject",
        None,
    )
    assert use_case.is_heading is True
    section = doc.objects["rmf-d9c5c6f1-29f4-45db-8880-005b645c0898"]
    assert (section.title, section.is_heading) == ("Main Success Scenario", True)
    assert section.values == {"Description": "Main Success Scenario", "Status": "Done"}
    glossary = doc.objects["rmf-46b238ac-b8b3-4230-b32c-be9707f8b691"]
    assert glossary.foreign_id == "Requirements Engineer"
    assert glossary.text == "The person who works with the requirements"

    relation = doc.relations[0]
    assert relation.identifier == "rmf-75da69d3-79c8-4000-a3d8-b10350a57a7e"
    assert relation.source == "rmf-daa34638-061a-45e0-9f2e-35afd6c271e0"
    assert relation.target == "rmf-46b238ac-b8b3-4230-b32c-be9707f8b691"
    assert relation.type_name == "UC Link Type"
    assert relation.values == {"Description": "Primary Actor"}  # enumeration literal name

    document, glossary_spec = doc.specifications
    assert document.long_name == "Specification Document"
    assert len(document.children) == 3
    assert _depth(document.children) == 3
    assert _size(document.children) == 33
    # The glossary has no LONG-NAME; its Description value names it.
    assert glossary_spec.long_name == "Glossary"
    assert len(glossary_spec.children) == 1
    assert _size(glossary_spec.children) == 3
    assert any("ProrToolExtension" in item for item in doc.unmapped)


@pytest.mark.parametrize("name", [DOORS, POLARION, PROR])
def test_real_exports_survive_a_rewrite(name):
    original = parse_reqif(_real(name))
    written = write_reqif_document(original)

    from reqif.parser import ReqIFParser

    bundle = ReqIFParser.parse_from_string(written.decode("utf-8"))
    content = bundle.core_content.req_if_content
    assert len(content.spec_objects) == len(original.objects)
    assert len(content.spec_relations or []) == len(original.relations)

    again = parse_reqif(written)
    assert list(again.objects) == list(original.objects)
    for key, obj in original.objects.items():
        copy = again.objects[key]
        assert (copy.title, _norm(copy.text), copy.foreign_id, copy.is_heading) == (
            obj.title,
            _norm(obj.text),
            obj.foreign_id,
            obj.is_heading,
        )
    assert [(r.identifier, r.source, r.target, r.type_name) for r in again.relations] == [
        (r.identifier, r.source, r.target, r.type_name) for r in original.relations
    ]
    assert [_shape(s.children) for s in again.specifications] == [
        _shape(s.children) for s in original.specifications
    ]
    assert again.warnings == []
    assert parse_reqif(write_reqif_document(again)) == again  # a fixed point after one pass


# --------------------------------------------------------------------------------------------
# Hostile and broken input
# --------------------------------------------------------------------------------------------

_BODY = (
    '<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd">'
    "<THE-HEADER><REQ-IF-HEADER IDENTIFIER='h'><TITLE>&t;</TITLE></REQ-IF-HEADER></THE-HEADER>"
    "</REQ-IF>"
)
_LAUGHS = "".join(
    f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
).replace("&l0;", "lol")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the parser tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(f'<!DOCTYPE r [<!ENTITY t "internal">]>{_BODY}', id="internal-entity"),
        pytest.param(
            f'<!DOCTYPE r [<!ENTITY l0 "lol">{_LAUGHS}<!ENTITY t "&l9;">]>{_BODY}',
            id="billion-laughs",
        ),
        pytest.param(
            f'<!DOCTYPE r [<!ENTITY t SYSTEM "file:///etc/passwd">]>{_BODY}',
            id="external-file",
        ),
        pytest.param(
            f'<!DOCTYPE r [<!ENTITY t SYSTEM "http://127.0.0.1:9/evil.xml">]>{_BODY}',
            id="external-http",
        ),
        pytest.param(
            '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + _BODY.replace("&t;", "x"),
            id="external-dtd",
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<!-- an exporter comment -->\n<!DOCTYPE r [<!ENTITY % p '
            'SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>' + _BODY.replace("&t;", "x"),
            id="parameter-entity-after-comment",
        ),
    ],
)
def test_doctype_and_entities_are_refused_fast(document, no_network):
    for data in (document.encode(), b"\xef\xbb\xbf" + document.encode()):
        started = time.perf_counter()
        with pytest.raises(ReqIFError, match="DOCTYPE"):
            parse_reqif(data)
        assert time.perf_counter() - started < 0.5


def test_doctype_in_utf16_is_refused():
    document = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY t "x">]>{_BODY}'
    with pytest.raises(ReqIFError, match="DOCTYPE"):
        parse_reqif(document.encode("utf-16"))


def test_malformed_xml_is_reported_with_its_line():
    data = b'<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd">\n<THE-HEADER>\n'
    data += b"<REQ-IF-HEADER IDENTIFIER='h'></THE-HEADER>\n</REQ-IF>"
    with pytest.raises(ReqIFError, match=r"malformed XML at line 3"):
        parse_reqif(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>hi</body></html>", r"not a ReqIF document: the root element is <html>"),
        (b"<?xml version='1.0'?><SPEC-OBJECT IDENTIFIER='x'/>", r"root element is <SPEC-OBJECT>"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"hello", "text before the root element"),
        (b'<?xml version="1.0" encoding="UTF-7"?><REQ-IF/>', "unsupported document encoding"),
    ],
)
def test_not_reqif_is_refused(data, message):
    with pytest.raises(ReqIFError, match=message):
        parse_reqif(data)


def test_a_decoded_string_is_refused():
    with pytest.raises(ReqIFError, match="bytes"):
        parse_reqif(_BODY.replace("&t;", "x"))  # type: ignore[arg-type]


def _document(objects: str, relations: str = "", specifications: str = "") -> bytes:
    """A small ReqIF 1.2 document with three attribute definitions and the given content."""
    stamp = 'LAST-CHANGE="2024-03-01T10:00:00Z"'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
        xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <THE-HEADER><REQ-IF-HEADER IDENTIFIER="hdr">
    <CREATION-TIME>2024-03-01T10:00:00Z</CREATION-TIME><REQ-IF-TOOL-ID>Codebeamer</REQ-IF-TOOL-ID>
    <REQ-IF-VERSION>1.0</REQ-IF-VERSION><SOURCE-TOOL-ID>codebeamer</SOURCE-TOOL-ID>
    <TITLE>Hand-made</TITLE></REQ-IF-HEADER></THE-HEADER>
  <CORE-CONTENT><REQ-IF-CONTENT>
    <DATATYPES>
      <DATATYPE-DEFINITION-STRING IDENTIFIER="dt-s" {stamp} MAX-LENGTH="100"/>
      <DATATYPE-DEFINITION-XHTML IDENTIFIER="dt-x" {stamp}/>
      <DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="dt-e" {stamp}><SPECIFIED-VALUES>
        <ENUM-VALUE IDENTIFIER="ev-b" {stamp} LONG-NAME="ASIL B"/>
        <ENUM-VALUE IDENTIFIER="ev-d" {stamp} LONG-NAME="ASIL D"/>
      </SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>
    </DATATYPES>
    <SPEC-TYPES>
      <SPEC-OBJECT-TYPE IDENTIFIER="sot" {stamp} LONG-NAME="Requirement"><SPEC-ATTRIBUTES>
        <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="ad-id" {stamp} LONG-NAME="Absolute Number">
          <TYPE><DATATYPE-DEFINITION-STRING-REF>dt-s</DATATYPE-DEFINITION-STRING-REF></TYPE>
        </ATTRIBUTE-DEFINITION-STRING>
        <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="ad-title" {stamp} LONG-NAME="Title">
          <TYPE><DATATYPE-DEFINITION-STRING-REF>dt-s</DATATYPE-DEFINITION-STRING-REF></TYPE>
        </ATTRIBUTE-DEFINITION-STRING>
        <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="ad-head" {stamp} LONG-NAME="Object Heading">
          <TYPE><DATATYPE-DEFINITION-XHTML-REF>dt-x</DATATYPE-DEFINITION-XHTML-REF></TYPE>
        </ATTRIBUTE-DEFINITION-XHTML>
        <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="ad-text" {stamp} LONG-NAME="Object Text">
          <TYPE><DATATYPE-DEFINITION-XHTML-REF>dt-x</DATATYPE-DEFINITION-XHTML-REF></TYPE>
        </ATTRIBUTE-DEFINITION-XHTML>
        <ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="ad-asil" {stamp} LONG-NAME="ASIL">
          <TYPE><DATATYPE-DEFINITION-ENUMERATION-REF>dt-e</DATATYPE-DEFINITION-ENUMERATION-REF>
          </TYPE></ATTRIBUTE-DEFINITION-ENUMERATION>
        <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="ad-owner" {stamp} LONG-NAME="Owner">
          <TYPE><DATATYPE-DEFINITION-STRING-REF>dt-gone</DATATYPE-DEFINITION-STRING-REF></TYPE>
        </ATTRIBUTE-DEFINITION-STRING>
      </SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>
    </SPEC-TYPES>
    <SPEC-OBJECTS>{objects}</SPEC-OBJECTS>
    <SPEC-RELATIONS>{relations}</SPEC-RELATIONS>
    <SPECIFICATIONS>{specifications}</SPECIFICATIONS>
  </REQ-IF-CONTENT></CORE-CONTENT>
</REQ-IF>
""".encode()


def _string(definition: str, value: str) -> str:
    return (
        f'<ATTRIBUTE-VALUE-STRING THE-VALUE="{value}"><DEFINITION>'
        f"<ATTRIBUTE-DEFINITION-STRING-REF>{definition}</ATTRIBUTE-DEFINITION-STRING-REF>"
        "</DEFINITION></ATTRIBUTE-VALUE-STRING>"
    )


def _xhtml(definition: str, content: str) -> str:
    return (
        "<ATTRIBUTE-VALUE-XHTML><DEFINITION>"
        f"<ATTRIBUTE-DEFINITION-XHTML-REF>{definition}</ATTRIBUTE-DEFINITION-XHTML-REF>"
        f"</DEFINITION><THE-VALUE>{content}</THE-VALUE></ATTRIBUTE-VALUE-XHTML>"
    )


def _enum(definition: str, *refs: str) -> str:
    literals = "".join(f"<ENUM-VALUE-REF>{ref}</ENUM-VALUE-REF>" for ref in refs)
    return (
        "<ATTRIBUTE-VALUE-ENUMERATION><DEFINITION>"
        f"<ATTRIBUTE-DEFINITION-ENUMERATION-REF>{definition}</ATTRIBUTE-DEFINITION-ENUMERATION-REF>"
        f"</DEFINITION><VALUES>{literals}</VALUES></ATTRIBUTE-VALUE-ENUMERATION>"
    )


def _object(identifier: str, type_ref: str, *values: str, stamp: bool = True) -> str:
    last_change = ' LAST-CHANGE="2024-03-01T10:00:00Z"' if stamp else ""
    return (
        f'<SPEC-OBJECT IDENTIFIER="{identifier}"{last_change}><TYPE>'
        f"<SPEC-OBJECT-TYPE-REF>{type_ref}</SPEC-OBJECT-TYPE-REF></TYPE>"
        f"<VALUES>{''.join(values)}</VALUES></SPEC-OBJECT>"
    )


def _relation(identifier: str, source: str, target: str, type_ref: str) -> str:
    return (
        f'<SPEC-RELATION IDENTIFIER="{identifier}" LAST-CHANGE="2024-03-01T10:00:00Z">'
        f"<SOURCE><SPEC-OBJECT-REF>{source}</SPEC-OBJECT-REF></SOURCE>"
        f"<TARGET><SPEC-OBJECT-REF>{target}</SPEC-OBJECT-REF></TARGET>"
        f"<TYPE><SPEC-RELATION-TYPE-REF>{type_ref}</SPEC-RELATION-TYPE-REF></TYPE>"
        "</SPEC-RELATION>"
    )


_HOSTILE_XHTML = (
    '<xhtml:div><xhtml:p onclick="steal()" style="color:red">Brake <xhtml:b>now</xhtml:b>'
    "<xhtml:script>alert(1)</xhtml:script></xhtml:p>"
    '<xhtml:a href="javascript:alert(2)">see below</xhtml:a>'
    '<xhtml:object data="evil.ole" type="text/html">OLE fallback</xhtml:object>'
    '<xhtml:iframe src="http://evil.example/"/><xhtml:style>p {color: red}</xhtml:style>'
    '<xhtml:img src="x" onerror="alert(3)"/><xhtml:ul><xhtml:li>one</xhtml:li>'
    "<xhtml:li>two</xhtml:li></xhtml:ul></xhtml:div>"
)


def test_xhtml_values_are_sanitised():
    data = _document(_object("req-1", "sot", _xhtml("ad-text", _HOSTILE_XHTML)))
    obj = parse_reqif(data).objects["req-1"]
    assert obj.text_xhtml == (
        "<div><p>Brake <b>now</b></p>see below<ul><li>one</li><li>two</li></ul></div>"
    )
    assert obj.text == "Brake now\nsee below\none\ntwo"
    for forbidden in ("script", "onclick", "javascript", "alert", "iframe", "style", "OLE", "img"):
        assert forbidden not in obj.text_xhtml
    assert obj.values["Object Text"] == obj.text


def test_sanitize_xhtml_fragments():
    assert sanitize_xhtml('<p onclick="x()">a &amp; b<br/>c</p>') == (
        "<p>a &amp; b<br/>c</p>",
        "a & b\nc",
    )
    # Not well-formed XML: read with the HTML parser instead.
    assert sanitize_xhtml("<p>one<br>two &nbsp;<SCRIPT>bad()</SCRIPT></p>") == (
        "<p>one<br/>two \xa0</p>",
        "one\ntwo",
    )
    assert sanitize_xhtml("<table><tr><td>A</td><td>B</td></tr></table><div/>") == (
        "<table><tr><td>A</td><td>B</td></tr></table><div></div>",
        "A B",
    )
    with pytest.raises(ReqIFError, match="DOCTYPE"):
        sanitize_xhtml('<!DOCTYPE x [<!ENTITY e "boom">]><p>&e;</p>')


def test_broken_references_are_accepted_and_reported():
    objects = "".join(
        [
            _object(
                "sg-1",
                "sot",
                _string("ad-id", "17"),
                _xhtml("ad-head", "<xhtml:div>Goals</xhtml:div>"),
            ),
            _object(
                "fsr-1",
                "sot",
                _string("ad-id", "18"),
                _string("ad-title", "Brake request"),
                _xhtml("ad-text", "<xhtml:div>The ECU shall brake.</xhtml:div>"),
                _enum("ad-asil", "ev-b", "ev-d"),
                _string("ad-owner", "alice"),
                stamp=False,
            ),
            _object("odd-1", "sot-gone", _string("ad-gone", "kept"), _enum("ad-asil", "ev-gone")),
            _object("fsr-1", "sot", _string("ad-title", "Second with the same id")),
        ]
    )
    relations = _relation("rel-1", "fsr-1", "sg-1", "srt-gone") + _relation(
        "rel-2", "fsr-1", "other-file-object", "srt-gone"
    )
    specification = (
        '<SPECIFICATION IDENTIFIER="spec" LAST-CHANGE="2024-03-01T10:00:00Z" LONG-NAME="FSC">'
        "<TYPE><SPECIFICATION-TYPE-REF>spt-gone</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>"
        '<SPEC-HIERARCHY IDENTIFIER="h1" LAST-CHANGE="2024-03-01T10:00:00Z">'
        "<OBJECT><SPEC-OBJECT-REF>sg-1</SPEC-OBJECT-REF></OBJECT><CHILDREN>"
        '<SPEC-HIERARCHY IDENTIFIER="h2" LAST-CHANGE="2024-03-01T10:00:00Z">'
        "<OBJECT><SPEC-OBJECT-REF>fsr-1</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"
        '<SPEC-HIERARCHY IDENTIFIER="h3" LAST-CHANGE="2024-03-01T10:00:00Z">'
        "<OBJECT><SPEC-OBJECT-REF>ghost</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"
        "</CHILDREN></SPEC-HIERARCHY></CHILDREN></SPECIFICATION>"
    )
    data = _document(objects, relations, specification)
    doc = parse_reqif(data)

    assert _counts(data) == (4, 2)
    assert list(doc.objects) == ["sg-1", "fsr-1", "odd-1", "fsr-1#2"]
    assert len(doc.relations) == 2
    goal = doc.objects["sg-1"]
    assert (goal.title, goal.foreign_id, goal.is_heading) == ("Goals", "17", True)
    fsr = doc.objects["fsr-1"]
    assert (fsr.title, fsr.text, fsr.is_heading) == ("Brake request", "The ECU shall brake.", False)
    assert fsr.values["ASIL"] == "ASIL B, ASIL D"
    assert fsr.values["Owner"] == "alice"
    assert fsr.last_change is None
    odd = doc.objects["odd-1"]
    assert odd.type_name == "sot-gone"
    assert odd.values == {"ad-gone": "kept", "ASIL": "ev-gone"}
    assert doc.objects["fsr-1#2"].title == "Second with the same id"
    assert [r.type_name for r in doc.relations] == ["srt-gone", "srt-gone"]
    assert doc.relations[1].target == "other-file-object"
    assert doc.specifications[0].children[0].is_heading is True

    unmapped = "\n".join(doc.unmapped)
    for missing in ("sot-gone", "ad-gone", "ev-gone", "srt-gone", "spt-gone", "dt-gone"):
        assert missing in unmapped
    warnings = "\n".join(doc.warnings)
    assert "LAST-CHANGE missing" in warnings and "1 SPEC-OBJECT" in warnings
    assert "rel-2 -> other-file-object" in warnings
    assert "ghost" in warnings
    assert "fsr-1#2" in warnings
    assert "odd-1" in warnings  # not placed in any specification


def test_bom_and_utf16_documents_parse():
    data = _document(_object("req-1", "sot", _string("ad-title", "Überwachung")))
    assert parse_reqif(b"\xef\xbb\xbf" + data).objects["req-1"].title == "Überwachung"
    utf16 = data.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert parse_reqif(utf16).objects["req-1"].title == "Überwachung"


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_headers(data: bytes, local: dict[int, bytes], central: dict[int, bytes]) -> bytes:
    """Overwrite fields of the (single) member's local and central directory headers."""
    patched = bytearray(data)
    start = patched.index(b"PK\x03\x04")
    for offset, value in local.items():
        patched[start + offset : start + offset + len(value)] = value
    start = patched.index(b"PK\x01\x02")
    for offset, value in central.items():
        patched[start + offset : start + offset + len(value)] = value
    return bytes(patched)


def test_valid_archive_parses(tmp_path):
    payload = generate_reqif(20, 5, seed=4)
    archive = _zip(
        [("export/spec.reqif", payload), ("export/images/logo.png", b"\x89PNG not read")]
    )
    assert read_reqif_archive(archive) == {"export/spec.reqif": payload}
    path = tmp_path / "export.reqifz"
    path.write_bytes(archive)
    (doc,) = parse_reqif_archive(path).values()
    assert len(doc.objects) == 21  # 20 requirements and one section heading


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.reqif", r"'\.\.'"),
        ("docs/../../evil.reqif", r"'\.\.'"),
        ("..\\evil.reqif", r"'\.\.'"),
        ("/abs.reqif", "absolute path"),
        ("C:/temp/evil.reqif", "drive letter"),
    ],
)
def test_archive_path_traversal_is_refused(name, reason):
    archive = _zip([("good.reqif", b"<REQ-IF/>"), (zipfile.ZipInfo(name), b"<REQ-IF/>")])
    with pytest.raises(ReqIFError, match=reason):
        read_reqif_archive(archive)


def test_archive_symlink_is_refused():
    link = zipfile.ZipInfo("linked.reqif")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(ReqIFError, match="symbolic link"):
        read_reqif_archive(_zip([(link, b"/etc/passwd")]))


def test_archive_encrypted_member_is_refused():
    archive = _patch_headers(_zip([("secret.reqif", b"<REQ-IF/>")]), {6: b"\x01"}, {8: b"\x01"})
    with pytest.raises(ReqIFError, match="encrypted"):
        read_reqif_archive(archive)


def test_archive_entry_count_and_content_are_checked():
    many = _zip([(f"part{i}.reqif", b"<REQ-IF/>") for i in range(5)])
    with pytest.raises(ReqIFError, match="5 entries, more than the limit of 3"):
        read_reqif_archive(many, max_files=3)
    with pytest.raises(ReqIFError, match="no .reqif file"):
        read_reqif_archive(_zip([("readme.txt", b"hello")]))
    with pytest.raises(ReqIFError, match="not a readable"):
        read_reqif_archive(b"this is not a zip file")


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """200 MB of zeros deflated to about 200 KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.reqif", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(200):
                member.write(chunk)
    return buffer.getvalue()


def test_zip_bomb_refused_on_declared_size(zip_bomb):
    assert len(zip_bomb) < 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(ReqIFError, match="declare 209,715,200 bytes"):
        read_reqif_archive(zip_bomb, max_total_bytes=1024 * 1024)
    assert time.perf_counter() - started < 0.5


def test_zip_bomb_with_lying_sizes_is_not_expanded(zip_bomb):
    small = (1000).to_bytes(4, "little")
    lying = _patch_headers(zip_bomb, {22: small}, {24: small})
    tracemalloc.start()
    try:
        with pytest.raises(ReqIFError, match="corrupt"):
            read_reqif_archive(lying, max_total_bytes=1024 * 1024)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_archive_content_cap_counts_across_members():
    members = [(f"part{i}.reqif", b"x" * 400_000) for i in range(3)]
    with pytest.raises(
        ReqIFError, match="declare 1,200,000 bytes uncompressed; the limit is 1,000,000"
    ):
        read_reqif_archive(_zip(members), max_total_bytes=1_000_000)


# --------------------------------------------------------------------------------------------
# Writing and round trips
# --------------------------------------------------------------------------------------------


def test_generated_500_requirements_round_trip_through_reqif_library_and_parser():
    content = build_example_content(500, 300, seed=11)
    data = write_reqif(
        content.title,
        content.objects,
        content.relations,
        content.specifications,
        content.extra_attributes,
    )

    from reqif.parser import ReqIFParser

    bundle = ReqIFParser.parse_from_string(data.decode("utf-8"))
    library = bundle.core_content.req_if_content
    assert len(library.spec_objects) == len(content.objects) == 520
    assert len(library.spec_relations) == 300
    assert [o.identifier for o in library.spec_objects] == [o.identifier for o in content.objects]
    assert bundle.core_content.req_if_content.specifications[0].long_name == (
        "Safety Requirements Specification"
    )

    doc = parse_reqif(data)
    assert doc.title == content.title
    assert (doc.tool, doc.reqif_tool_id) == ("Safecase", "Safecase")
    assert doc.warnings == [] and doc.unmapped == []
    assert list(doc.objects) == [o.identifier for o in content.objects]
    for expected in content.objects:
        got = doc.objects[expected.identifier]
        assert got.title == expected.title
        assert got.text == expected.text
        assert got.text_xhtml == expected.text_xhtml
        assert got.foreign_id == expected.foreign_id
        assert got.is_heading == expected.is_heading
        assert got.last_change == expected.last_change
        for name in content.extra_attributes:
            assert got.values.get(name) == expected.values.get(name)
    assert [(r.identifier, r.source, r.target, r.type_name) for r in doc.relations] == [
        (r.identifier, r.source, r.target, r.type_name) for r in content.relations
    ]
    (spec,) = doc.specifications
    (expected_spec,) = content.specifications
    assert (spec.identifier, spec.long_name) == (expected_spec.identifier, expected_spec.long_name)
    assert _shape(spec.children) == _shape(expected_spec.children)
    assert len(spec.children) == 20 and _depth(spec.children) == 3

    assert parse_reqif(write_reqif_document(doc)) == doc


def test_written_document_is_valid_against_the_reqif_schema(tmp_path):
    """Validate against the OMG XSD shipped with the reqif package (imports fixed locally)."""
    site = Path(etree.__file__).resolve().parent.parent
    schema_dir = site / "reqif" / "reqif_schema"
    xml_xsd = site / "xmlschema" / "schemas" / "XML" / "xml.xsd"
    if not schema_dir.is_dir() or not xml_xsd.is_file():
        pytest.skip("the ReqIF XSD or the xml.xsd of the xmlschema package is not installed")
    local = tmp_path / "schema"
    shutil.copytree(schema_dir, local)
    for xsd in local.rglob("*.xsd"):
        text = xsd.read_text(encoding="utf-8")
        if 'schemaLocation=""' in text:
            xsd.write_text(
                text.replace('schemaLocation=""', f'schemaLocation="{xml_xsd.as_uri()}"')
            )
    schema = etree.XMLSchema(etree.parse(str(local / "reqif.xsd")))

    heading = SpecObject("_h1", title="1 Scope", is_heading=True)
    plain = SpecObject("_r1", title="Brake", text="a < b & c\nsecond line", foreign_id="R-1")
    for data in (
        generate_reqif(60, 30, seed=2),
        write_reqif("Small", [heading, plain], specifications=[Specification("_s", "S")]),
    ):
        document = etree.fromstring(data)
        assert schema.validate(document), schema.error_log


def test_plain_text_headings_and_odd_characters_round_trip():
    objects = [
        SpecObject("_sg", title="Safety goals", is_heading=True, foreign_id="SG"),
        SpecObject(
            "_sg1",
            long_name="SG-1",
            title='Avoid "unintended" braking > 0.3 g',
            text="The vehicle shall not brake < 50 ms & without request.\nSecond line.",
            foreign_id="SG-1",
            values={"ASIL": "D", "Status": "Approved\u0001", "Unlisted": "dropped"},
        ),
    ]
    relations = [SpecRelation("_l1", "_sg1", "_sg", "refines")]
    specifications = [
        Specification("_spec", "Goals", [Hierarchy("_sg", [Hierarchy("_sg1", [], False)], True)])
    ]
    data = write_reqif(
        "Odd", objects, relations, specifications, ["ASIL", "Status"], document_id="_doc1"
    )
    doc = parse_reqif(data)
    heading, goal = doc.objects.values()
    assert (heading.title, heading.is_heading, heading.text) == ("Safety goals", True, None)
    assert goal.long_name == "SG-1"
    assert goal.title == 'Avoid "unintended" braking > 0.3 g'
    assert goal.text == "The vehicle shall not brake < 50 ms & without request.\nSecond line."
    assert goal.text_xhtml == (
        "<div>The vehicle shall not brake &lt; 50 ms &amp; without request.<br/>Second line.</div>"
    )
    assert goal.values["ASIL"] == "D"
    assert goal.values["Status"] == "Approved\ufffd"  # a control character cannot be XML
    assert "Unlisted" not in goal.values
    assert doc.identifier == "_doc1"
    assert doc.relations[0].type_name == "refines"
    assert doc.specifications[0].children[0].children[0].object_ref == "_sg1"
    assert doc.specifications[0].children[0].identifier == "_sc-sh-1"


@pytest.mark.parametrize(
    ("objects", "specifications", "message"),
    [
        ([SpecObject("1abc")], [], "not a valid ReqIF IDENTIFIER"),
        ([SpecObject("has space")], [], "not a valid ReqIF IDENTIFIER"),
        ([SpecObject("_a"), SpecObject("_a")], [], "used more than once"),
        ([SpecObject("_sc-datatype-string")], [], "clashes with a definition identifier"),
        ([SpecObject("_a")], [Specification("_s", "S", [Hierarchy("_b")])], "'_b'"),
    ],
)
def test_write_refuses_bad_identifiers_and_dangling_hierarchy(objects, specifications, message):
    with pytest.raises(ReqIFError, match=message):
        write_reqif("Bad", objects, specifications=specifications)


def test_generate_is_deterministic_per_seed():
    first = generate_reqif(30, 10, seed=5)
    assert first == generate_reqif(30, 10, seed=5)
    assert first != generate_reqif(30, 10, seed=6)
    doc = parse_reqif(first)
    assert len(doc.objects) == 32 and len(doc.relations) == 10
    assert sum(obj.is_heading for obj in doc.objects.values()) == 2
    kinds = {obj.values.get("Kind") for obj in doc.objects.values() if not obj.is_heading}
    assert kinds <= {"FSR", "TSR", "HWSR", "SWSR"}
