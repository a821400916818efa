"""The one hardened XML parser, and each reader of outside XML going through it."""

from __future__ import annotations

import pytest
from lxml import etree

from compliance import xmlsafe
from compliance.reqif.document import ReqIFError
from compliance.reqif.reader import parse_reqif
from validation.lake import LakeError, commonroad_to_table
from validation.openscenario import ScenarioError, parse_scenario

# libxml2 refuses a tree deeper than 256 elements unless huge_tree is set: only the parser's
# own limits stop this document, so a reader configured without them would accept it.
DEPTH = 300


def _deep(root: str) -> bytes:
    name = root.split()[0]
    return (f"<{root}>" + "<x>" * DEPTH + "</x>" * DEPTH + f"</{name}>").encode()


READERS = [
    pytest.param(
        parse_reqif,
        ReqIFError,
        'REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"',
        id="reqif",
    ),
    pytest.param(parse_scenario, ScenarioError, "OpenSCENARIO", id="openscenario"),
    pytest.param(
        lambda data: commonroad_to_table(data, "d"),
        LakeError,
        'commonRoad timeStepSize="0.1"',
        id="commonroad",
    ),
]


@pytest.mark.parametrize(("read", "error", "root"), READERS)
def test_each_reader_refuses_a_hostile_document_through_the_hardened_parser(
    read, error, root, monkeypatch
):
    calls = []
    options = xmlsafe._options

    def spy(extra):
        calls.append(extra)
        return options(extra)

    monkeypatch.setattr(xmlsafe, "_options", spy)
    with pytest.raises(error, match="[Ee]xcessive depth"):
        read(_deep(root))
    assert calls, "the reader did not build its parser with compliance.xmlsafe"


def test_the_hardening_cannot_be_switched_off():
    for option in ("huge_tree", "resolve_entities", "load_dtd", "no_network"):
        with pytest.raises(TypeError, match=option):
            xmlsafe.parser(**{option: not xmlsafe.HARDENING[option]})
    with pytest.raises(TypeError, match="huge_tree"):
        xmlsafe.iterparse(None, huge_tree=True)


def test_parse_untrusted_refuses_entities_and_accepts_plain_documents():
    class Refused(Exception):
        pass

    laughs = b'<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r>&b;</r>'
    with pytest.raises(Refused, match="DOCTYPE"):
        xmlsafe.parse_untrusted(laughs, "doc", Refused)
    with pytest.raises(Refused, match="bytes"):
        xmlsafe.parse_untrusted("<r/>", "doc", Refused)
    root = xmlsafe.parse_untrusted(b"<r><!-- c --><?pi x?><s>t</s></r>", "doc", Refused)
    assert etree.tostring(root) == b"<r><s>t</s></r>"
    assert xmlsafe.has_dtd(laughs) and not xmlsafe.has_dtd(b"<r/>")
