"""Parsing untrusted XML: the one place the lxml parser is configured.

Every reader of XML from outside uses it: ReqIF (:mod:`compliance.reqif`, streaming, and the
XHTML rich text inside it), the DTD check of workbook parts (:mod:`compliance.interchange.tables`),
OpenSCENARIO (:mod:`validation.openscenario`) and CommonRoad (:mod:`validation.lake`). It lives
in ``compliance``, the lowest app that reads XML, so that ``validation`` imports it from here.

The parser resolves no entities, loads no DTD, touches no network and keeps libxml2's limits
for huge trees (depth 256, text nodes of 10 MB). Readers also refuse a DOCTYPE or ENTITY
declaration before parsing (billion laughs, external entities); :func:`parse_untrusted` does both.
"""

from __future__ import annotations

import re
from typing import IO, Any

from lxml import etree

#: The hardening options; callers cannot override them.
HARDENING: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
}

_DTD_MARKERS = re.compile(rb"<!DOCTYPE|<!ENTITY")


def has_dtd(data: bytes | bytearray) -> bool:
    """Whether ``data`` (ASCII-compatible) contains a DOCTYPE or ENTITY declaration."""
    return _DTD_MARKERS.search(data) is not None


def _options(options: dict[str, Any]) -> dict[str, Any]:
    clash = sorted(set(options) & set(HARDENING))
    if clash:
        raise TypeError(f"the XML hardening options cannot be changed: {', '.join(clash)}")
    return {**options, **HARDENING}


def parser(**options: Any) -> etree.XMLParser:
    """A hardened ``XMLParser``; ``options`` add to the hardening (e.g. ``remove_comments``)."""
    return etree.XMLParser(**_options(options))


def iterparse(source: IO[bytes], **options: Any) -> etree.iterparse:
    """A hardened ``etree.iterparse`` over the binary file ``source``."""
    return etree.iterparse(source, **_options(options))


def parse_untrusted(data: bytes, what: str, error: type[Exception]) -> etree._Element:
    """The root element of ``data``; ``error(message)`` naming ``what`` when it is refused."""
    if not isinstance(data, bytes | bytearray):
        raise error(f"{what}: pass XML as bytes, not {type(data).__name__}")
    if has_dtd(data):
        raise error(f"{what}: DOCTYPE / ENTITY declarations are refused")
    try:
        root = etree.fromstring(bytes(data), parser(remove_comments=True, remove_pis=True))
    except etree.XMLSyntaxError as exc:
        raise error(f"{what}: not well-formed XML ({exc})") from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise error(f"{what}: DOCTYPE declarations are refused")
    return root
