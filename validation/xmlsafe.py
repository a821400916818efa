"""Parsing untrusted XML (OpenSCENARIO, CommonRoad): the one place the parser is configured.

A DOCTYPE or ENTITY declaration is refused before parsing (billion laughs, external entities),
and the parser itself resolves no entities, loads no DTD and touches no network.
"""

from __future__ import annotations

import re

from lxml import etree

_DTD_MARKERS = re.compile(rb"<!DOCTYPE|<!ENTITY")


def parse_untrusted(data: bytes, what: str, error: type[Exception]) -> etree._Element:
    """The root element of ``data``; ``error(message)`` naming ``what`` when it is refused."""
    if not isinstance(data, bytes | bytearray):
        raise error(f"{what}: pass XML as bytes, not {type(data).__name__}")
    if _DTD_MARKERS.search(data):
        raise error(f"{what}: DOCTYPE / ENTITY declarations are refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(bytes(data), parser)
    except etree.XMLSyntaxError as exc:
        raise error(f"{what}: not well-formed XML ({exc})") from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise error(f"{what}: DOCTYPE declarations are refused")
    return root
