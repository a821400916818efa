"""ReqIF import and export: safety requirements exchanged with DOORS, Polarion, Codebeamer, ProR.

ReqIF (OMG Requirements Interchange Format 1.0/1.2, XML namespace
``http://www.omg.org/spec/ReqIF/20110401/reqif.xsd``) describes a requirements document as:

* ``THE-HEADER`` / ``REQ-IF-HEADER``: title, creation time, the exporting tool
  (``REQ-IF-TOOL-ID``) and the tool the data came from (``SOURCE-TOOL-ID``).
* ``DATATYPES``: datatype definitions (STRING, XHTML, INTEGER, REAL, BOOLEAN, DATE, and
  ENUMERATION with its ``ENUM-VALUE`` literals).
* ``SPEC-TYPES``: ``SPEC-OBJECT-TYPE``, ``SPEC-RELATION-TYPE``, ``SPECIFICATION-TYPE`` and
  ``RELATION-GROUP-TYPE``. Each type owns *attribute definitions* (``ATTRIBUTE-DEFINITION-*``)
  whose ``LONG-NAME`` is the human name of a column ("ReqIF.Text", "Object Heading", "ASIL").
* ``SPEC-OBJECTS``: the requirements. A ``SPEC-OBJECT`` points at its type and carries
  *attribute values* (``ATTRIBUTE-VALUE-*``), each pointing at its attribute definition.
* ``SPEC-RELATIONS``: typed links (``SOURCE`` -> ``TARGET``) between spec objects.
* ``SPECIFICATIONS``: documents; a tree of ``SPEC-HIERARCHY`` nodes, each referencing one spec
  object, gives the chapter structure.
* ``SPEC-RELATION-GROUPS`` and ``TOOL-EXTENSIONS``: grouping and tool-private data.

This module turns that into small neutral dataclasses (:class:`ReqIFDocument`,
:class:`SpecObject`, :class:`SpecRelation`, :class:`Specification`, :class:`Hierarchy`) and
back. It does not import Django; other code maps these structures onto models.

Reading (:func:`parse_reqif`)
    * Untrusted input. A document whose prolog contains a ``<!DOCTYPE`` (or any other ``<!``
      markup declaration) is refused *before* parsing: ReqIF never needs a DTD, and DTDs are
      how entity expansion ("billion laughs") and external entities (XXE, ``file://`` or
      ``http://`` fetches) get in. The parser is additionally the hardened one of
      :mod:`compliance.xmlsafe` (no entities, no DTD, no network, libxml2's huge-tree limits).
    * Streaming: ``etree.iterparse`` reports each finished ``SPEC-OBJECT``, ``SPEC-RELATION``,
      ``SPECIFICATION`` (and the small header/type sections); each is converted to a compact
      record and then cleared from the tree, so memory stays proportional to the result, not
      to the XML tree.
    * Attribute values are keyed by the ``LONG-NAME`` of their attribute definition, resolved
      through the ``SPEC-TYPES``. Enumeration values resolve to the ``LONG-NAME`` of their
      ``ENUM-VALUE`` literals (several values are joined with ", "). XHTML values are kept as
      sanitised rich text plus a plain-text rendering (see :func:`sanitize_xhtml`).
    * Tolerance: real exports break the schema (ProR omits ``LAST-CHANGE``; some tools
      reference types they never define; relations may point outside the file). Such input is
      accepted; what could not be resolved is described in ``ReqIFDocument.unmapped`` and
      structural problems in ``ReqIFDocument.warnings``. No ``SPEC-OBJECT`` or
      ``SPEC-RELATION`` element is ever dropped: ``len(doc.objects)`` and ``len(doc.relations)``
      equal the number of those elements in the file (a repeated identifier is kept under a
      suffixed key and reported).

Title, text and identifier mapping
    The standard attribute names of the prostep ivip ReqIF Implementation Guide and the tools'
    own names are recognised case-insensitively (first match in each list wins):

    * chapter title: ``ReqIF.ChapterName``, ``Object Heading`` (DOORS), ``Heading``,
      ``Chapter Name``;
    * title: ``ReqIF.Name``, ``Title``, ``Name``, ``Object Short Text`` (DOORS),
      ``Short Text``, ``Summary``;
    * text: ``ReqIF.Text``, ``Object Text`` (DOORS), ``Text``, ``Description`` (ProR, and
      tools' own field names), ``ReqIF.Description``;
    * foreign id: ``ReqIF.ForeignID``, ``Absolute Number`` (DOORS), ``ID`` (ProR),
      ``Identifier``, ``Object Identifier``.

    The DOORS 9 and Polarion sample exports use the standard names (DOORS maps Object Heading
    to ``ReqIF.ChapterName``, Object Text to ``ReqIF.Text``, Absolute Number to
    ``ReqIF.ForeignID``; Polarion puts the work item title in ``ReqIF.ChapterName``).

    ProR has no standard names: its "Description" column is a heading for section and use-case
    types and body text for requirements. ProR marks heading datatypes in its tool extension
    (``headline:HeadlineConfiguration configuration:datatype=...``); an attribute whose
    datatype is declared a headline there counts as a chapter title, not as text.

    ``title`` is the chapter title when there is one, otherwise the title attribute.

Heading rule
    ``is_heading`` is true when the object has a non-empty chapter title (as above) and no
    non-empty text: it only names a section (a DOORS object with an Object Heading and no
    Object Text, a ``ReqIF.ChapterName`` without ``ReqIF.Text``, a ProR section headline).
    An object with only a ``ReqIF.Name`` and no text is *not* a heading.

Writing (:func:`write_reqif`)
    ReqIF 1.2 with one ``SPEC-OBJECT-TYPE`` ("Safecase Requirement") holding ``ReqIF.ForeignID``,
    ``ReqIF.Name``, ``ReqIF.ChapterName`` (used for headings), ``ReqIF.Text`` (XHTML) and one
    STRING attribute per caller-supplied extra attribute name; a ``SPEC-RELATION-TYPE`` per
    relation type name; one ``SPECIFICATION-TYPE``. Written with lxml's incremental
    ``etree.xmlfile`` so large documents stream out. The writer names its own definitions
    ``_sc-...``; caller identifiers must not clash with those.

Archives (:func:`read_reqif_archive`)
    ``.reqifz`` is a zip of ``.reqif`` files (plus attachments). Members with unsafe names
    (``..``, absolute paths, drive letters), symlinks, encrypted members, too many entries, or
    more than ``max_total_bytes`` of ``.reqif`` content (checked on the declared sizes and
    again while decompressing) are refused.

Every failure to read or write raises :class:`ReqIFError` with a message meant for a user.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import os
import random
import re
import stat
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from lxml import etree
from lxml import html as lxml_html

from compliance import archives, xmlsafe

__all__ = [
    "REQIF_NS",
    "XHTML_NS",
    "ExampleContent",
    "Hierarchy",
    "ReqIFDocument",
    "ReqIFError",
    "SpecObject",
    "SpecRelation",
    "Specification",
    "build_example_content",
    "generate_reqif",
    "parse_reqif",
    "parse_reqif_archive",
    "read_reqif_archive",
    "sanitize_xhtml",
    "write_reqif",
    "write_reqif_document",
]

REQIF_NS = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
XHTML_NS = "http://www.w3.org/1999/xhtml"

DEFAULT_MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ARCHIVE_FILES = 1000
DEFAULT_MAX_EXPANSION_RATIO = 200

# How many example identifiers a grouped warning lists before "and N more".
_MAX_EXAMPLES = 5


class ReqIFError(ValueError):
    """A ReqIF document or archive could not be read or written safely."""


# --------------------------------------------------------------------------------------------
# Neutral data structures
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SpecObject:
    """One ReqIF ``SPEC-OBJECT`` (a requirement, heading or other item).

    ``values`` maps each attribute definition's ``LONG-NAME`` to the value as text (XHTML as
    plain text, enumerations as literal names). ``title``, ``text``, ``text_xhtml`` (sanitised
    rich text), ``foreign_id`` and ``is_heading`` are derived as described in the module
    docstring.
    """

    identifier: str
    long_name: str | None = None
    type_name: str | None = None
    last_change: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    text: str | None = None
    text_xhtml: str | None = None
    foreign_id: str | None = None
    is_heading: bool = False


@dataclass(slots=True)
class SpecRelation:
    """One ReqIF ``SPEC-RELATION``: a typed link from ``source`` to ``target`` (object ids)."""

    identifier: str
    source: str
    target: str
    type_name: str | None = None
    long_name: str | None = None
    last_change: str | None = None
    values: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Hierarchy:
    """One ``SPEC-HIERARCHY`` node: a place for a spec object in a specification's tree."""

    object_ref: str
    children: list[Hierarchy] = field(default_factory=list)
    is_heading: bool = False
    identifier: str | None = None


@dataclass(slots=True)
class Specification:
    """One ReqIF ``SPECIFICATION`` (a document, a DOORS module, a Polarion LiveDoc).

    ``long_name`` is the ``LONG-NAME``, or failing that the specification's name/title/
    description attribute value (ProR leaves ``LONG-NAME`` out). ``values`` holds the
    specification's own attribute values, e.g. DOORS' ``ReqIF.Prefix`` and
    ``ReqIF.Description``.
    """

    identifier: str
    long_name: str | None = None
    children: list[Hierarchy] = field(default_factory=list)
    type_name: str | None = None
    last_change: str | None = None
    values: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ReqIFDocument:
    """A parsed ReqIF document.

    ``tool`` is the header's ``SOURCE-TOOL-ID`` (the tool the data came from), falling back to
    ``REQ-IF-TOOL-ID`` (the exporter). ``objects`` is keyed by spec object identifier in
    document order. ``warnings`` lists structural problems that were accepted; ``unmapped``
    lists references and content that could not be resolved or imported.
    """

    title: str | None
    tool: str | None
    identifier: str | None
    objects: dict[str, SpecObject] = field(default_factory=dict)
    relations: list[SpecRelation] = field(default_factory=list)
    specifications: list[Specification] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    reqif_tool_id: str | None = None
    reqif_version: str | None = None
    creation_time: str | None = None
    comment: str | None = None


# --------------------------------------------------------------------------------------------
# XHTML sanitising
# --------------------------------------------------------------------------------------------

# Kept (without any attribute). All are part of the XHTML subset the ReqIF schema allows.
_ALLOWED_TAGS = frozenset(
    (
        "p br b i em strong ul ol li dl dt dd table caption thead tbody tfoot tr td th "
        "span div sub sup pre code blockquote h1 h2 h3 h4 h5 h6"
    ).split()
)
# Removed together with everything inside them.
_DROPPED_TAGS = frozenset(
    (
        "script style object embed applet iframe frame frameset noscript template svg "
        "math head title meta link base form input button select textarea img param"
    ).split()
)
# Everything else (a, font, u, ins, ...) is unwrapped: the tag goes, its text stays.

_BLOCK_TAGS = frozenset(
    (
        "p div ul ol li dl dt dd table caption thead tbody tfoot tr pre blockquote h1 h2 "
        "h3 h4 h5 h6"
    ).split()
)
_VOID_TAGS = frozenset({"br"})

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _local(tag: str) -> str:
    return tag[tag.find("}") + 1 :]


def _append_text(dst: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(dst):
        last = dst[-1]
        last.tail = (last.tail or "") + text
    else:
        dst.text = (dst.text or "") + text


def _copy_clean(src: etree._Element, dst: etree._Element) -> None:
    """Copy ``src``'s content into ``dst`` keeping only whitelisted, attribute-free tags."""
    _append_text(dst, src.text)
    for child in src:
        tag = child.tag
        if isinstance(tag, str):
            name = _local(tag).lower()
            if ":" in name:  # a prefixed tag read by the HTML parser, e.g. "xhtml:p"
                name = name.rpartition(":")[2]
            if name in _ALLOWED_TAGS:
                _copy_clean(child, etree.SubElement(dst, name))
            elif name not in _DROPPED_TAGS:
                _copy_clean(child, dst)
        # Comments, processing instructions and unexpanded entity references are dropped.
        _append_text(dst, child.tail)


def _plain_text(root: etree._Element) -> str:
    """Plain text of cleaned rich text, following HTML whitespace rules.

    Whitespace runs (newlines included) collapse to one space; block elements and ``<br/>``
    start a new line; empty lines are dropped.
    """
    parts: list[str] = []
    line_break = "\x00"  # cannot occur in XML text

    def walk(element: etree._Element) -> None:
        if element.text:
            parts.append(element.text)
        for child in element:
            tag = child.tag
            if tag == "br":
                parts.append(line_break)
            elif tag in _BLOCK_TAGS:
                parts.append(line_break)
                walk(child)
                parts.append(line_break)
            else:
                if tag in ("td", "th"):
                    parts.append(" ")
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(root)
    lines = (" ".join(line.split()) for line in "".join(parts).split(line_break))
    return "\n".join(line for line in lines if line)


def _finish_clean(root: etree._Element) -> tuple[str, str]:
    """Serialise a cleaned container's content; return ``(html, plain)``."""
    if root.text:
        root.text = root.text.lstrip()
    if len(root) and root[-1].tail:
        root[-1].tail = root[-1].tail.rstrip()
    elif not len(root) and root.text:
        root.text = root.text.rstrip()
    for element in root.iterdescendants():
        # An empty <div/> would open an unclosed element in an HTML page: write <div></div>.
        if element.tag not in _VOID_TAGS and element.text is None and not len(element):
            element.text = ""
    serialised = etree.tostring(root, encoding="unicode")
    if serialised.endswith("/>"):
        html = ""
    else:
        html = serialised[len("<r>") : -len("</r>")]
    return html, _plain_text(root)


def _sanitize_element(container: etree._Element) -> tuple[str, str]:
    root = etree.Element("r")
    _copy_clean(container, root)
    return _finish_clean(root)


_FRAGMENT_PARSER = xmlsafe.parser()


def sanitize_xhtml(fragment: str) -> tuple[str, str]:
    """Sanitise an (X)HTML fragment; return ``(safe_html, plain_text)``.

    Only the tags p, br, b, i, em, strong, ul, ol, li, dl, dt, dd, table, caption, thead,
    tbody, tfoot, tr, td, th, span, div, sub, sup, pre, code, blockquote and h1-h6 are kept,
    all without attributes (so no ``onclick=``, ``style=``, ``href="javascript:..."``).
    script, style, object, iframe, embed, img, form controls and similar are removed with
    their content; any other tag (a, font, u, ...) is unwrapped, keeping its text. Comments,
    processing instructions and entity references are dropped. The result is well-formed
    XHTML without namespaces (``<br/>``, ``<div></div>``). Tag names are matched without
    namespace, so ``xhtml:div`` and ``div`` are treated alike.

    The plain text puts block elements (p, div, li, tr, h1, ...) and ``<br/>`` on their own
    lines and collapses other whitespace.
    """
    if "<!" in fragment and re.search(r"<!\s*(DOCTYPE|ENTITY)", fragment, re.IGNORECASE):
        raise ReqIFError("refusing an XHTML fragment with a DOCTYPE or ENTITY declaration")
    wrapped = f'<r xmlns:xhtml="{XHTML_NS}" xmlns:reqif-xhtml="{XHTML_NS}">{fragment}</r>'
    try:
        source = etree.fromstring(wrapped.encode("utf-8"), _FRAGMENT_PARSER)
    except etree.XMLSyntaxError:
        # Not well-formed XML (HTML-style <br>, &nbsp;, unknown prefixes): use the HTML parser.
        try:
            source = lxml_html.fragment_fromstring(fragment, create_parent="div")
        except (etree.ParserError, etree.XMLSyntaxError) as exc:
            raise ReqIFError(f"cannot read the rich text as XHTML or HTML: {exc}") from None
    return _sanitize_element(source)


# --------------------------------------------------------------------------------------------
# Safety checks before parsing
# --------------------------------------------------------------------------------------------

_ASCII_COMPATIBLE_ENCODINGS = frozenset(
    (
        "utf-8 utf8 us-ascii ascii iso-8859-1 iso8859-1 latin-1 latin1 iso-8859-15 "
        "windows-1252 cp1252"
    ).split()
)
_ROOT_NAME = re.compile(rb"[^\s/>]+")
_BLANKS = re.compile(rb"[ \t\r\n]*")
# A real prolog has an XML declaration and perhaps a comment or two; a file of millions of
# empty comments is refused before its scan costs seconds.
_MAX_PROLOG_ITEMS = 1000
# A UTF-16 or UTF-32 document's prolog is decoded from this many bytes at most.
_PROLOG_WINDOW = 1 << 20
_ENCODING_DECL = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _detect_wide_encoding(data: bytes) -> str | None:
    """Return the codec for UTF-16/32 input (by BOM or NUL pattern), else None."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.startswith(b"\x00\x00\x00<"):
        return "utf-32-be"
    if data.startswith(b"<\x00\x00\x00"):
        return "utf-32-le"
    if data.startswith(b"\x00<"):
        return "utf-16-be"
    if data.startswith(b"<\x00"):
        return "utf-16-le"
    return None


def _check_prolog(data: bytes | bytearray) -> None:
    """Refuse DTDs, unsupported encodings and non-ReqIF roots by scanning the prolog.

    A DOCTYPE (and with it every ENTITY declaration) may only appear in the prolog, so the
    scan is exact: XML declaration, processing instructions, comments and whitespace are
    skipped; any ``<!`` declaration is refused; scanning stops at the root element, whose
    name must be ``REQ-IF`` (so a large non-ReqIF file is refused before it is parsed).
    """
    wide = _detect_wide_encoding(data)
    cut = False
    if wide is not None:
        # Only the prolog is scanned, so only its window is decoded (never the whole file).
        cut = len(data) > _PROLOG_WINDOW
        decoder = codecs.getincrementaldecoder(wide)()
        try:
            text = decoder.decode(bytes(data[:_PROLOG_WINDOW]), final=not cut)
        except UnicodeDecodeError:
            raise ReqIFError(f"the document is not valid {wide.upper()}") from None
        data = text.lstrip("\ufeff").encode("utf-8")
        allowed = None
        start = 0
    else:
        allowed = _ASCII_COMPATIBLE_ENCODINGS
        start = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # no slice: no copy
    pos = start
    size = len(data)
    for _item in range(_MAX_PROLOG_ITEMS):
        pos = _BLANKS.match(data, pos).end()  # at C speed: a file of blanks is no slow loop
        if pos >= size:
            if cut:
                raise ReqIFError("refused: no root element in the first 1 MiB of the document")
            raise ReqIFError("the document is empty: no root element")
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos + 2)
            if end < 0:
                raise ReqIFError("malformed XML: unterminated processing instruction")
            if pos == start and data.startswith(b"<?xml", pos):
                match = _ENCODING_DECL.search(data, pos, end)
                if match and allowed is not None:
                    declared = match.group(1).decode("ascii").lower()
                    if declared not in allowed:
                        raise ReqIFError(
                            f"unsupported document encoding {declared!r}: ReqIF documents are UTF-8"
                        )
            pos = end + 2
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                raise ReqIFError("malformed XML: unterminated comment")
            pos = end + 3
        elif data.startswith(b"<!", pos):
            what = "a DOCTYPE" if data.startswith(b"<!DOCTYPE", pos) else "a markup declaration"
            raise ReqIFError(
                f"refused: the document contains {what} (<!DOCTYPE ...>). ReqIF never needs "
                "one, and DTDs carry entity-expansion (billion laughs) and external-entity "
                "(XXE) attacks; DOCTYPE and ENTITY declarations are not accepted"
            )
        elif data.startswith(b"<", pos):
            match = _ROOT_NAME.match(data, pos + 1)
            name = match.group(0).decode("utf-8", "replace") if match else ""
            if name.rpartition(":")[2] != "REQ-IF":
                raise ReqIFError(
                    f"not a ReqIF document: the root element is <{name}>, not <REQ-IF>"
                )
            return
        else:
            raise ReqIFError("malformed XML: text before the root element")
    raise ReqIFError(
        f"refused: more than {_MAX_PROLOG_ITEMS} comments and processing instructions before "
        "the root element"
    )


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_CHAPTER_NAMES = ("reqif.chaptername", "object heading", "heading", "chapter name")
_TITLE_NAMES = ("reqif.name", "title", "name", "object short text", "short text", "summary")
_TEXT_NAMES = ("reqif.text", "object text", "text", "description", "reqif.description")
_FOREIGN_ID_NAMES = (
    "reqif.foreignid",
    "absolute number",
    "id",
    "identifier",
    "object identifier",
)
_ROLES: dict[str, tuple[str, int]] = {}
for _role, _names in (
    ("chapter", _CHAPTER_NAMES),
    ("title", _TITLE_NAMES),
    ("text", _TEXT_NAMES),
    ("foreign_id", _FOREIGN_ID_NAMES),
):
    for _rank, _name in enumerate(_names):
        _ROLES[_name] = (_role, _rank)

_RECORD_TAGS = (
    "REQ-IF-HEADER",
    "DATATYPES",
    "SPEC-TYPES",
    "SPEC-OBJECT",
    "SPEC-RELATION",
    "SPECIFICATION",
    "SPEC-RELATION-GROUPS",
    "TOOL-EXTENSIONS",
)


@dataclass(slots=True)
class _AttrDef:
    long_name: str
    kind: str
    datatype: str | None


# A raw attribute value: (kind, definition ref, plain text, sanitised html or None).
_RawValue = tuple[str, str | None, str, str | None]


@dataclass(slots=True)
class _RawItem:
    tag: str
    identifier: str
    long_name: str | None
    last_change: str | None
    type_ref: str | None
    values: list[_RawValue]
    source: str | None = None
    target: str | None = None
    children: list[Hierarchy] | None = None


class _Issues:
    """Collects warnings and unmapped items, grouped so that a large file gives short lists."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], list[str]] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, bucket: str, message: str, example: str | None = None) -> None:
        key = (bucket, message)
        examples = self._groups.setdefault(key, [])
        self._counts[key] = self._counts.get(key, 0) + 1
        if example is not None and len(examples) < _MAX_EXAMPLES:
            examples.append(example)

    def counts(self, bucket: str) -> dict[str, int]:
        return {message: n for (kind, message), n in self._counts.items() if kind == bucket}

    def render(self, bucket: str) -> list[str]:
        out = []
        for (kind, message), examples in self._groups.items():
            if kind != bucket:
                continue
            count = self._counts[(kind, message)]
            if not examples:
                out.append(message if count == 1 else f"{message} ({count} times)")
                continue
            shown = ", ".join(examples)
            more = f" and {count - len(examples)} more" if count > len(examples) else ""
            out.append(f"{message} ({count}: {shown}{more})")
        return out


def _child(element: etree._Element, name: str) -> etree._Element | None:
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and _local(tag) == name:
            return child
    return None


def _ref_text(container: etree._Element | None) -> tuple[str | None, str | None]:
    """Return ``(ref element local name, referenced id)`` of the first child of ``container``."""
    if container is None:
        return None, None
    for child in container:
        if isinstance(child.tag, str):
            return _local(child.tag), (child.text or "").strip()
    return None, None


def _read_values(values_el: etree._Element | None, issues: _Issues, owner: str) -> list:
    values: list[_RawValue] = []
    if values_el is None:
        return values
    for value_el in values_el:
        tag = value_el.tag
        if not isinstance(tag, str):
            continue
        name = _local(tag)
        if not name.startswith("ATTRIBUTE-VALUE-"):
            issues.add("unmapped", f"unknown element <{name}> inside VALUES ignored", owner)
            continue
        kind = name[len("ATTRIBUTE-VALUE-") :]
        definition: str | None = None
        the_value: etree._Element | None = None
        enum_refs: list[str] | None = None
        for part in value_el:
            if not isinstance(part.tag, str):
                continue
            part_name = _local(part.tag)
            if part_name == "DEFINITION":
                definition = _ref_text(part)[1]
            elif part_name == "THE-VALUE":
                the_value = part
            elif part_name == "VALUES":
                enum_refs = [(ref.text or "").strip() for ref in part if isinstance(ref.tag, str)]
        if kind == "XHTML":
            if the_value is None:
                values.append((kind, definition, "", ""))
            else:
                html, plain = _sanitize_element(the_value)
                values.append((kind, definition, plain, html))
        elif kind == "ENUMERATION":
            # Enumeration literals are resolved later, once every datatype is known.
            values.append((kind, definition, "\x00".join(enum_refs or ()), None))
        else:
            values.append((kind, definition, value_el.get("THE-VALUE", ""), None))
    return values


def _read_hierarchy(element: etree._Element, issues: _Issues) -> list[Hierarchy]:
    nodes = []
    for node_el in element:
        if not isinstance(node_el.tag, str) or _local(node_el.tag) != "SPEC-HIERARCHY":
            continue
        identifier = node_el.get("IDENTIFIER")
        if node_el.get("LAST-CHANGE") is None:
            issues.add("last_change", "SPEC-HIERARCHY")
        obj = _child(node_el, "OBJECT")
        object_ref = _ref_text(obj)[1] if obj is not None else None
        if not object_ref:
            issues.add(
                "warnings",
                "SPEC-HIERARCHY without an OBJECT reference kept with an empty object_ref",
                identifier,
            )
            object_ref = ""
        children_el = _child(node_el, "CHILDREN")
        children = _read_hierarchy(children_el, issues) if children_el is not None else []
        nodes.append(Hierarchy(object_ref, children, False, identifier))
    return nodes


class _Collector:
    """Receives the finished record elements from iterparse and keeps compact records."""

    def __init__(self) -> None:
        self.issues = _Issues()
        self.header: dict[str, str] = {}
        self.header_id: str | None = None
        self.datatypes: dict[str, tuple[str, str | None]] = {}
        self.enum_values: dict[str, str] = {}
        self.types: dict[str, tuple[str, str | None]] = {}
        self.attr_defs: dict[str, _AttrDef] = {}
        self.headline_datatypes: set[str] = set()
        self.objects: list[_RawItem] = []
        self.relations: list[_RawItem] = []
        self.specifications: list[_RawItem] = []
        self.anonymous = 0

    def identifier_of(self, element: etree._Element, tag: str) -> str:
        identifier = element.get("IDENTIFIER")
        if identifier:
            return identifier
        self.anonymous += 1
        made = f"(no IDENTIFIER #{self.anonymous})"
        self.issues.add("warnings", f"{tag} without IDENTIFIER kept under a made-up key", made)
        return made

    def handle(self, name: str, element: etree._Element) -> None:
        getattr(self, "_on_" + name.replace("-", "_").lower())(element)

    def _on_req_if_header(self, element: etree._Element) -> None:
        self.header_id = element.get("IDENTIFIER")
        for child in element:
            if isinstance(child.tag, str):
                self.header[_local(child.tag)] = (child.text or "").strip()

    def _on_datatypes(self, element: etree._Element) -> None:
        for datatype in element:
            if not isinstance(datatype.tag, str):
                continue
            name = _local(datatype.tag)
            identifier = datatype.get("IDENTIFIER")
            if not identifier:
                self.issues.add("warnings", f"{name} without IDENTIFIER ignored")
                continue
            if datatype.get("LAST-CHANGE") is None:
                self.issues.add("last_change", "DATATYPE-DEFINITION")
            kind = name.removeprefix("DATATYPE-DEFINITION-")
            self.datatypes[identifier] = (kind, datatype.get("LONG-NAME"))
            if kind == "ENUMERATION":
                for literal in datatype.iter("{*}ENUM-VALUE"):
                    literal_id = literal.get("IDENTIFIER")
                    if literal_id:
                        self.enum_values[literal_id] = literal.get("LONG-NAME") or literal_id

    def _on_spec_types(self, element: etree._Element) -> None:
        for spec_type in element:
            if not isinstance(spec_type.tag, str):
                continue
            category = _local(spec_type.tag)
            identifier = spec_type.get("IDENTIFIER")
            if not identifier:
                self.issues.add("warnings", f"{category} without IDENTIFIER ignored")
                continue
            if spec_type.get("LAST-CHANGE") is None:
                self.issues.add("last_change", category)
            self.types[identifier] = (category, spec_type.get("LONG-NAME"))
            attributes = _child(spec_type, "SPEC-ATTRIBUTES")
            if attributes is None:
                continue
            for definition in attributes:
                if not isinstance(definition.tag, str):
                    continue
                def_id = definition.get("IDENTIFIER")
                if not def_id:
                    self.issues.add("warnings", "attribute definition without IDENTIFIER ignored")
                    continue
                if definition.get("LAST-CHANGE") is None:
                    self.issues.add("last_change", "ATTRIBUTE-DEFINITION")
                kind = _local(definition.tag).removeprefix("ATTRIBUTE-DEFINITION-")
                datatype = _ref_text(_child(definition, "TYPE"))[1]
                self.attr_defs[def_id] = _AttrDef(
                    definition.get("LONG-NAME") or def_id, kind, datatype
                )

    def _item(self, element: etree._Element, tag: str) -> _RawItem:
        identifier = self.identifier_of(element, tag)
        last_change = element.get("LAST-CHANGE")
        if last_change is None:
            self.issues.add("last_change", tag)
        type_ref = _ref_text(_child(element, "TYPE"))[1]
        values = _read_values(_child(element, "VALUES"), self.issues, identifier)
        return _RawItem(tag, identifier, element.get("LONG-NAME"), last_change, type_ref, values)

    def _on_spec_object(self, element: etree._Element) -> None:
        self.objects.append(self._item(element, "SPEC-OBJECT"))

    def _on_spec_relation(self, element: etree._Element) -> None:
        item = self._item(element, "SPEC-RELATION")
        item.source = _ref_text(_child(element, "SOURCE"))[1]
        item.target = _ref_text(_child(element, "TARGET"))[1]
        self.relations.append(item)

    def _on_specification(self, element: etree._Element) -> None:
        item = self._item(element, "SPECIFICATION")
        children_el = _child(element, "CHILDREN")
        item.children = _read_hierarchy(children_el, self.issues) if children_el is not None else []
        self.specifications.append(item)

    def _on_spec_relation_groups(self, element: etree._Element) -> None:
        for group in element:
            if isinstance(group.tag, str):
                self.issues.add(
                    "unmapped",
                    "RELATION-GROUP not imported (its relations are in relations)",
                    group.get("LONG-NAME") or group.get("IDENTIFIER"),
                )

    def _on_tool_extensions(self, element: etree._Element) -> None:
        for extension in element:
            if not isinstance(extension.tag, str):
                continue
            for content in extension:
                if not isinstance(content.tag, str):
                    continue
                label = _local(content.tag)
                if content.prefix:
                    label = f"{content.prefix}:{label}"
                self.issues.add("unmapped", "TOOL-EXTENSIONS content not imported", label)
        # ProR: datatypes shown as headlines (the only tool extension that changes the mapping).
        for config in element.iter("{*}HeadlineConfiguration"):
            for key, value in config.attrib.items():
                if _local(key) == "datatype" and value:
                    self.headline_datatypes.add(value)


class _BufferReader:
    """A file over a bytearray without copying it (``io.BytesIO`` would copy it whole)."""

    def __init__(self, data: bytearray) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        chunk = self._view[self._pos : end].tobytes()
        self._pos += len(chunk)
        return chunk


def _iterate(data: bytes | bytearray, collector: _Collector) -> str:
    """Stream-parse ``data`` into ``collector``; return the root element's namespace."""
    tags = [f"{{*}}{name}" for name in _RECORD_TAGS]
    context = xmlsafe.iterparse(
        io.BytesIO(data) if isinstance(data, bytes) else _BufferReader(data),
        events=("end",),
        tag=tags,
        remove_comments=True,
        remove_pis=True,
    )
    root_ns: str | None = None
    try:
        for _event, element in context:
            if root_ns is None:
                root_ns = _check_root(element.getroottree().getroot(), collector)
            tag = element.tag
            if tag[: tag.find("}") + 1] != root_ns:
                continue  # a tool extension's own element that happens to share a name
            collector.handle(_local(tag), element)
            element.clear()
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
        if root_ns is None:
            root = context.root
            if root is None:
                raise ReqIFError("the document has no root element")
            root_ns = _check_root(root, collector)
    except etree.XMLSyntaxError as exc:
        line = f" at line {exc.lineno}" if exc.lineno else ""
        raise ReqIFError(f"malformed XML{line}: {exc.msg}") from None
    except etree.LxmlError as exc:
        raise ReqIFError(f"the XML parser failed: {exc}") from None
    return root_ns


def _check_root(root: etree._Element, collector: _Collector) -> str:
    tag = root.tag
    name = _local(tag)
    if name != "REQ-IF":
        raise ReqIFError(f"not a ReqIF document: the root element is <{name}>, not <REQ-IF>")
    namespace = tag[: tag.find("}") + 1]
    if namespace != f"{{{REQIF_NS}}}":
        shown = namespace[1:-1] or "no namespace"
        collector.issues.add(
            "warnings", f"unexpected ReqIF namespace {shown!r}; read as ReqIF 1.0/1.2"
        )
    return namespace


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


class _Resolver:
    """Turns the collected raw records into the neutral dataclasses."""

    def __init__(self, collector: _Collector) -> None:
        self.c = collector
        self.issues = collector.issues
        self._roles: dict[str | None, tuple[str, int] | None] = {}

    def role(self, definition: str | None) -> tuple[str, int] | None:
        if definition in self._roles:
            return self._roles[definition]
        attr = self.c.attr_defs.get(definition) if definition else None
        role = _ROLES.get(_normalised(attr.long_name)) if attr else None
        if role and role[0] == "text" and attr and attr.datatype in self.c.headline_datatypes:
            role = ("chapter", 0)
        self._roles[definition] = role
        return role

    def type_name(self, item: _RawItem, expected: str) -> str | None:
        if item.type_ref is None:
            self.issues.add("warnings", f"{item.tag} without a TYPE reference", item.identifier)
            return None
        known = self.c.types.get(item.type_ref)
        if known is None:
            self.issues.add(
                "unmapped",
                f"{expected} {item.type_ref!r} is referenced but not defined; the reference is "
                "kept as type_name",
                item.identifier,
            )
            return item.type_ref
        category, long_name = known
        if category != expected:
            self.issues.add(
                "warnings",
                f"{item.tag} refers to {item.type_ref!r}, which is a {category}, not a {expected}",
                item.identifier,
            )
        return long_name or item.type_ref

    def values(self, item: _RawItem) -> tuple[dict[str, str], dict[str, tuple[int, str, str]]]:
        """Resolve names; return ``(values, role -> (rank, plain, html))``."""
        values: dict[str, str] = {}
        roles: dict[str, tuple[int, str, str]] = {}
        attr_defs = self.c.attr_defs
        for kind, definition, text, html in item.values:
            attr = attr_defs.get(definition) if definition else None
            if attr is None:
                key = definition or f"(no DEFINITION, {kind})"
                self.issues.add(
                    "unmapped",
                    f"ATTRIBUTE-DEFINITION-{kind} {key!r} is referenced but not defined; "
                    "the value is kept under that key",
                    item.identifier,
                )
            else:
                key = attr.long_name
                if attr.datatype and attr.datatype not in self.c.datatypes:
                    self.issues.add(
                        "unmapped",
                        f"DATATYPE-DEFINITION {attr.datatype!r} (of attribute "
                        f"{attr.long_name!r}) is referenced but not defined",
                    )
            if kind == "ENUMERATION":
                text = self.enum_text(text, item.identifier)
            if key in values:
                key = f"{key} ({definition})"
                self.issues.add(
                    "warnings",
                    "two values for one attribute name on an element; the second is kept under "
                    "'<name> (<definition id>)'",
                    item.identifier,
                )
            values[key] = text
            role = self.role(definition)
            if role is not None and text.strip():
                name, rank = role
                if name not in roles or rank < roles[name][0]:
                    roles[name] = (rank, text, html or "")
        return values, roles

    def enum_text(self, packed: str, owner: str) -> str:
        names = []
        for ref in packed.split("\x00") if packed else ():
            name = self.c.enum_values.get(ref)
            if name is None:
                self.issues.add(
                    "unmapped",
                    f"ENUM-VALUE {ref!r} is referenced but not defined; the reference is kept",
                    owner,
                )
                name = ref
            names.append(name)
        return ", ".join(names)

    def spec_object(self, item: _RawItem, key: str) -> SpecObject:
        values, roles = self.values(item)
        chapter = roles.get("chapter")
        title_value = roles.get("title")
        text_value = roles.get("text")
        foreign = roles.get("foreign_id")
        title = chapter[1] if chapter else (title_value[1] if title_value else None)
        return SpecObject(
            identifier=key,
            long_name=item.long_name,
            type_name=self.type_name(item, "SPEC-OBJECT-TYPE"),
            last_change=item.last_change,
            values=values,
            title=title,
            text=text_value[1] if text_value else None,
            text_xhtml=(text_value[2] or None) if text_value else None,
            foreign_id=foreign[1] if foreign else None,
            is_heading=chapter is not None and text_value is None,
        )

    def relation(self, item: _RawItem, objects: Mapping[str, SpecObject]) -> SpecRelation:
        values, _roles = self.values(item)
        for end, ref in (("SOURCE", item.source), ("TARGET", item.target)):
            if not ref:
                self.issues.add(
                    "warnings", f"SPEC-RELATION without a {end} kept with an empty {end.lower()}"
                )
            elif ref not in objects:
                self.issues.add(
                    "warnings",
                    f"SPEC-RELATION {end} refers to a spec object that is not in this file; "
                    "relation kept",
                    f"{item.identifier} -> {ref}",
                )
        return SpecRelation(
            identifier=item.identifier,
            source=item.source or "",
            target=item.target or "",
            type_name=self.type_name(item, "SPEC-RELATION-TYPE"),
            long_name=item.long_name,
            last_change=item.last_change,
            values=values,
        )

    def specification(self, item: _RawItem, objects: Mapping[str, SpecObject]) -> Specification:
        values, roles = self.values(item)
        long_name = item.long_name
        if not long_name:
            for role in ("title", "chapter", "text"):
                if role in roles:
                    long_name = roles[role][1]
                    break
        children = item.children or []
        self.mark_headings(children, objects)
        return Specification(
            identifier=item.identifier,
            long_name=long_name,
            children=children,
            type_name=self.type_name(item, "SPECIFICATION-TYPE"),
            last_change=item.last_change,
            values=values,
        )

    def mark_headings(self, nodes: list[Hierarchy], objects: Mapping[str, SpecObject]) -> None:
        stack = list(nodes)
        while stack:
            node = stack.pop()
            obj = objects.get(node.object_ref)
            if obj is None:
                if node.object_ref:
                    self.issues.add(
                        "warnings",
                        "SPEC-HIERARCHY refers to a spec object that is not in this file; "
                        "node kept",
                        node.object_ref,
                    )
            else:
                node.is_heading = obj.is_heading
            stack.extend(node.children)


def _resolve(collector: _Collector) -> ReqIFDocument:
    resolver = _Resolver(collector)
    issues = collector.issues
    objects: dict[str, SpecObject] = {}
    for item in collector.objects:
        key = item.identifier
        if key in objects:
            n = 2
            while f"{item.identifier}#{n}" in objects:
                n += 1
            key = f"{item.identifier}#{n}"
            issues.add(
                "warnings",
                "SPEC-OBJECT IDENTIFIER used more than once; the repeat is kept under "
                "'<identifier>#<n>'",
                key,
            )
        objects[key] = resolver.spec_object(item, key)
    relations = [resolver.relation(item, objects) for item in collector.relations]
    specifications = [resolver.specification(item, objects) for item in collector.specifications]

    placed: set[str] = set()
    stack = [node for spec in specifications for node in spec.children]
    while stack:
        node = stack.pop()
        placed.add(node.object_ref)
        stack.extend(node.children)
    for identifier in objects:
        if identifier not in placed:
            issues.add(
                "warnings", "SPEC-OBJECT not placed in any SPECIFICATION hierarchy", identifier
            )

    header = collector.header
    warnings = []
    last_change_counts = issues.counts("last_change")
    if last_change_counts:
        summary = ", ".join(f"{count} {tag}" for tag, count in last_change_counts.items())
        warnings.append(
            "LAST-CHANGE missing (accepted; the ReqIF schema requires it; last_change is None) "
            f"on: {summary}"
        )
    if collector.header_id is None and not header:
        warnings.append("THE-HEADER / REQ-IF-HEADER missing")
    warnings.extend(issues.render("warnings"))
    return ReqIFDocument(
        title=header.get("TITLE") or None,
        tool=header.get("SOURCE-TOOL-ID") or header.get("REQ-IF-TOOL-ID") or None,
        identifier=collector.header_id,
        objects=objects,
        relations=relations,
        specifications=specifications,
        warnings=warnings,
        unmapped=issues.render("unmapped"),
        reqif_tool_id=header.get("REQ-IF-TOOL-ID") or None,
        reqif_version=header.get("REQ-IF-VERSION") or None,
        creation_time=header.get("CREATION-TIME") or None,
        comment=header.get("COMMENT") or None,
    )


def parse_reqif(data: bytes | bytearray) -> ReqIFDocument:
    """Parse one ReqIF document (the bytes of a ``.reqif`` file) into a :class:`ReqIFDocument`.

    Pass bytes, not a decoded string: the XML declaration and byte order mark decide the
    encoding. Raises :class:`ReqIFError` for a DOCTYPE/ENTITY declaration, malformed XML, or a
    root element other than ``REQ-IF``. Schema deviations are accepted and reported in
    ``warnings`` / ``unmapped``.
    """
    if isinstance(data, str):
        raise ReqIFError("parse_reqif needs the document's bytes, not a decoded str")
    if isinstance(data, memoryview):
        data = bytes(data)
    if not isinstance(data, (bytes, bytearray)):  # an archive member arrives as a bytearray
        raise ReqIFError(f"parse_reqif needs bytes, got {type(data).__name__}")
    _check_prolog(data)
    collector = _Collector()
    _iterate(data, collector)
    return _resolve(collector)


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    raw = info.orig_filename
    name = raw.replace("\\", "/")
    if "\x00" in raw:
        return "contains a NUL character"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if any(part == ".." for part in name.split("/")):
        return "climbs out of the archive with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def read_reqif_archive(
    source: str | os.PathLike[str] | bytes,
    max_total_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_files: int = DEFAULT_MAX_ARCHIVE_FILES,
    max_ratio: int | None = DEFAULT_MAX_EXPANSION_RATIO,
) -> dict[str, bytearray]:
    """Read the ``.reqif`` members of a ``.reqifz`` archive; return ``{member name: content}``.

    ``source`` is a path or the archive's bytes. The whole archive is refused (ReqIFError) if
    it has more than ``max_files`` entries, or any entry with an unsafe name (``..``, absolute
    path, drive letter, NUL), a symlink or an encrypted entry, a repeated name, or if the
    ``.reqif`` members declare or expand to more than ``max_total_bytes`` in total. The
    expansion is counted while decompressing, keeping nothing, and stops at the cap (see
    :mod:`compliance.archives`), so a decompression bomb costs one chunk of memory; with
    ``max_ratio``, no more than that many times the archive's own size either. Other members
    (attachments such as images) are not read.
    """
    opened: io.BytesIO | str | os.PathLike[str]
    opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        archive = zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ReqIFError(f"not a readable .reqifz (zip) archive: {exc}") from None
    except OSError as exc:
        raise ReqIFError(f"cannot open the archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise ReqIFError(
                f"archive refused: {len(infos)} entries, more than the limit of {max_files}"
            )
        members: list[zipfile.ZipInfo] = []
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_member_reason(info)
            if reason is not None:
                raise ReqIFError(f"archive refused: member {info.orig_filename!r} {reason}")
            if info.filename in seen:
                raise ReqIFError(f"archive refused: member name {info.filename!r} repeats")
            seen.add(info.filename)
            if not info.is_dir() and info.filename.lower().endswith(".reqif"):
                members.append(info)
        if not members:
            raise ReqIFError("the archive contains no .reqif file")
        try:
            limit = max_total_bytes
            if max_ratio is not None:
                size = (
                    len(source)
                    if isinstance(source, (bytes, bytearray))
                    else os.path.getsize(source)
                )
                limit = archives.expansion_limit(size, max_total_bytes, max_ratio)
            sizes = archives.measure(archive, members, limit, "its .reqif members")
            return archives.read_measured(archive, members, sizes)
        except archives.ArchiveRefused as exc:
            raise ReqIFError(f"archive refused: {exc}") from None


def parse_reqif_archive(
    source: str | os.PathLike[str] | bytes,
    max_total_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_files: int = DEFAULT_MAX_ARCHIVE_FILES,
) -> dict[str, ReqIFDocument]:
    """:func:`read_reqif_archive` then :func:`parse_reqif` on each member."""
    members = read_reqif_archive(source, max_total_bytes=max_total_bytes, max_files=max_files)
    return {name: parse_reqif(data) for name, data in members.items()}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

_NCNAME = re.compile(r"^[^\W\d][\w.\-]*$")
_DT_STRING = "_sc-datatype-string"
_DT_XHTML = "_sc-datatype-xhtml"
_OBJECT_TYPE = "_sc-spec-object-type"
_SPECIFICATION_TYPE = "_sc-specification-type"
_AD_FOREIGN_ID = "_sc-attr-foreign-id"
_AD_NAME = "_sc-attr-name"
_AD_CHAPTER = "_sc-attr-chapter-name"
_AD_TEXT = "_sc-attr-text"
_AD_SPEC_NAME = "_sc-attr-specification-name"
_STANDARD_NAMES = ("ReqIF.ForeignID", "ReqIF.Name", "ReqIF.ChapterName", "ReqIF.Text")
_BLOCK_ROOTS = frozenset({"div", "p"})


def _q(name: str) -> str:
    return f"{{{REQIF_NS}}}{name}"


def _x(name: str) -> str:
    return f"{{{XHTML_NS}}}{name}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _clean(text: object) -> str:
    return _INVALID_XML_CHARS.sub("\ufffd", str(text))


def _timestamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


_INDENTS = ["\n" + "  " * depth for depth in range(32)]


class _Out:
    """A thin layer over ``etree.xmlfile`` that indents the ReqIF structure (not the XHTML)."""

    def __init__(self, xf: etree.xmlfile, pretty: bool) -> None:
        self.xf = xf
        self.pretty = pretty
        self.depth = 0

    def newline(self) -> None:
        if self.pretty:
            depth = self.depth
            self.xf.write(_INDENTS[depth] if depth < len(_INDENTS) else "\n" + "  " * depth)

    def open(self, name: str, attrib: Mapping[str, str] | None = None) -> _Block:
        return _Block(self, name, attrib)

    def leaf(self, name: str, text: str | None = None, attrib: Mapping[str, str] | None = None):
        self.newline()
        with self.xf.element(_q(name), attrib or {}):
            if text:
                self.xf.write(_clean(text))

    def ref(self, holder: str, ref_name: str, identifier: str) -> None:
        """``<holder><ref_name>identifier</ref_name></holder>`` (identifiers are checked)."""
        xf = self.xf
        self.newline()
        with xf.element(_q(holder)):
            self.depth += 1
            self.newline()
            with xf.element(_q(ref_name)):
                xf.write(identifier)
            self.depth -= 1
            self.newline()

    def xhtml(self, element: etree._Element) -> None:
        with self.xf.element(_x(element.tag)):
            if element.text:
                self.xf.write(element.text)
            for child in element:
                self.xhtml(child)
                if child.tail:
                    self.xf.write(child.tail)


class _Block:
    def __init__(self, out: _Out, name: str, attrib: Mapping[str, str] | None) -> None:
        self.out = out
        self.name = name
        self.attrib = attrib or {}

    def __enter__(self) -> _Block:
        self.out.newline()
        self.context = self.out.xf.element(_q(self.name), self.attrib)
        self.context.__enter__()
        self.out.depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.out.depth -= 1
        if exc_info[0] is None:
            self.out.newline()
        self.context.__exit__(*exc_info)


def _xhtml_block(obj: SpecObject) -> etree._Element | None:
    """The ``THE-VALUE`` content for ``ReqIF.Text``: exactly one sanitised div or p."""
    if obj.text_xhtml:
        html, _plain = sanitize_xhtml(obj.text_xhtml)
        container = etree.fromstring(f"<r>{html}</r>".encode(), _FRAGMENT_PARSER)
        top = [child for child in container]
        if (
            len(top) == 1
            and top[0].tag in _BLOCK_ROOTS
            and not (container.text or "").strip()
            and not (top[0].tail or "").strip()
        ):
            top[0].tail = None
            return top[0]
        container.tag = "div"
        return container
    if obj.text is None:
        return None
    div = etree.Element("div")
    lines = _clean(obj.text).splitlines()
    div.text = lines[0] if lines else ""
    for line in lines[1:]:
        etree.SubElement(div, "br").tail = line
    return div


def _check_identifier(identifier: object, what: str, seen: set[str]) -> str:
    if not isinstance(identifier, str) or not _NCNAME.match(identifier):
        raise ReqIFError(
            f"{what} identifier {identifier!r} is not a valid ReqIF IDENTIFIER (an XML NCName: "
            "a letter or '_' first, then letters, digits, '.', '-', '_')"
        )
    if identifier in seen:
        raise ReqIFError(
            f"{what} identifier {identifier!r} is used more than once, or clashes with a "
            "definition identifier the writer generates"
        )
    seen.add(identifier)
    return identifier


def _plan_hierarchy(
    specifications: list[Specification], object_ids: set[str], seen: set[str]
) -> dict[int, str]:
    """Check every hierarchy node; return ``{id(node): IDENTIFIER}`` (made up where missing)."""
    nodes: list[Hierarchy] = []
    stack = [node for spec in reversed(specifications) for node in reversed(spec.children)]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(reversed(node.children))
    plan: dict[int, str] = {}
    for node in nodes:
        if node.object_ref not in object_ids:
            raise ReqIFError(
                f"hierarchy node refers to spec object {node.object_ref!r}, which is not written"
            )
        if node.identifier:
            plan[id(node)] = _check_identifier(node.identifier, "SPEC-HIERARCHY", seen)
    counter = 0
    for node in nodes:
        if id(node) not in plan:
            counter += 1
            while f"_sc-sh-{counter}" in seen:
                counter += 1
            plan[id(node)] = f"_sc-sh-{counter}"
            seen.add(plan[id(node)])
    return plan


def write_reqif(
    title: str,
    objects: Iterable[SpecObject] | Mapping[str, SpecObject],
    relations: Iterable[SpecRelation] = (),
    specifications: Iterable[Specification] = (),
    extra_attributes: Sequence[str] | None = None,
    *,
    source_tool_id: str = "Safecase",
    document_id: str | None = None,
    creation_time: dt.datetime | None = None,
    object_type_name: str = "Safecase Requirement",
    pretty: bool = True,
) -> bytes:
    """Write a ReqIF 1.2 document; return its UTF-8 bytes.

    * ``objects``: :class:`SpecObject` items (or a mapping such as ``ReqIFDocument.objects``).
      Each keeps its ``identifier`` (must be an XML NCName, unique), ``long_name`` and
      ``last_change`` (now, if None). ``foreign_id`` goes to ``ReqIF.ForeignID``; ``title``
      to ``ReqIF.ChapterName`` when ``is_heading`` else to ``ReqIF.Name``; the text to
      ``ReqIF.Text`` as XHTML: ``text_xhtml`` re-sanitised (wrapped in one ``div`` unless it
      is a single div or p), else ``text`` escaped inside a ``div``.
    * ``extra_attributes``: names of further STRING attributes written from
      ``SpecObject.values`` (missing or None values are left out). None means every value
      name found on the objects except the names the reader maps to title, text or foreign
      id (``ReqIF.*``, "Description", "ID", "Object Heading", ... see the module docstring):
      their content already travels in the standard attributes, and writing them again
      would change how the text is read back. Naming such an attribute explicitly writes it.
    * Plain ``text`` (no ``text_xhtml``) is written as a ``div`` with ``<br/>`` between
      lines. Reading applies HTML whitespace rules, so runs of spaces come back as one.
    * ``relations``: each ``type_name`` (default "Relation") becomes a SPEC-RELATION-TYPE;
      relation attribute values are not written.
    * ``specifications``: written with their hierarchy; every ``Hierarchy.object_ref`` must
      be one of ``objects``. Hierarchy nodes without an identifier get ``_sc-sh-<n>``.

    Invalid XML characters in text are replaced by U+FFFD. Raises :class:`ReqIFError` for a
    bad or repeated identifier, a hierarchy node pointing at an unknown object, or rich text
    that is neither XHTML nor HTML.
    """
    object_list = list(objects.values() if isinstance(objects, Mapping) else objects)
    relation_list = list(relations)
    specification_list = list(specifications)
    if extra_attributes is None:
        names: dict[str, None] = {}
        for obj in object_list:
            for name in obj.values:
                if _normalised(name) not in _ROLES:
                    names[name] = None
        extras = list(names)
    else:
        extras = list(dict.fromkeys(extra_attributes))
    for name in extras:
        if name in _STANDARD_NAMES:
            raise ReqIFError(f"extra attribute {name!r} clashes with a standard attribute")
    extra_ids = {name: f"_sc-attr-x-{_short_hash(name)}" for name in extras}

    relation_types = {
        (r.type_name or "Relation"): f"_sc-relation-type-{_short_hash(r.type_name or 'Relation')}"
        for r in relation_list
    }
    seen: set[str] = {
        _DT_STRING,
        _DT_XHTML,
        _OBJECT_TYPE,
        _SPECIFICATION_TYPE,
        _AD_FOREIGN_ID,
        _AD_NAME,
        _AD_CHAPTER,
        _AD_TEXT,
        _AD_SPEC_NAME,
        *extra_ids.values(),
        *relation_types.values(),
    }
    object_ids = {_check_identifier(o.identifier, "SPEC-OBJECT", seen) for o in object_list}
    for relation in relation_list:
        _check_identifier(relation.identifier, "SPEC-RELATION", seen)
    for specification in specification_list:
        _check_identifier(specification.identifier, "SPECIFICATION", seen)
    plan = _plan_hierarchy(specification_list, object_ids, seen)
    header_id = _check_identifier(document_id or f"_{uuid.uuid4()}", "REQ-IF-HEADER", seen)

    now = _timestamp(creation_time or dt.datetime.now(dt.UTC))
    buffer = io.BytesIO()
    buffer.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    with etree.xmlfile(buffer, encoding="utf-8") as xf:
        out = _Out(xf, pretty)
        with xf.element(_q("REQ-IF"), nsmap={None: REQIF_NS, "xhtml": XHTML_NS}):
            out.depth = 1
            _write_header(out, title, source_tool_id, header_id, now)
            with out.open("CORE-CONTENT"), out.open("REQ-IF-CONTENT"):
                _write_definitions(out, now, extras, extra_ids, relation_types, object_type_name)
                with out.open("SPEC-OBJECTS"):
                    for obj in object_list:
                        _write_object(out, obj, now, extras, extra_ids)
                with out.open("SPEC-RELATIONS"):
                    for relation in relation_list:
                        _write_relation(out, relation, now, relation_types)
                with out.open("SPECIFICATIONS"):
                    for specification in specification_list:
                        _write_specification(out, specification, now, plan)
            out.depth = 0
            out.newline()
    data = buffer.getvalue()
    return data if data.endswith(b"\n") else data + b"\n"


def write_reqif_document(
    doc: ReqIFDocument, extra_attributes: Sequence[str] | None = None, **options: object
) -> bytes:
    """Write a parsed (or hand-built) :class:`ReqIFDocument` with :func:`write_reqif`.

    Unless given in ``options``, the header keeps the document's identifier (when it is a
    valid IDENTIFIER), creation time and source tool, so that a parse -> write -> parse round
    trip reproduces the document.
    """
    if doc.identifier and _NCNAME.match(doc.identifier):
        options.setdefault("document_id", doc.identifier)
    if doc.tool:
        options.setdefault("source_tool_id", doc.tool)
    if doc.creation_time and "creation_time" not in options:
        try:
            options["creation_time"] = dt.datetime.fromisoformat(doc.creation_time)
        except ValueError:
            pass
    return write_reqif(
        doc.title or "ReqIF export",
        doc.objects,
        doc.relations,
        doc.specifications,
        extra_attributes,
        **options,  # type: ignore[arg-type]
    )


def _write_header(out: _Out, title: str, source_tool_id: str, header_id: str, now: str) -> None:
    with out.open("THE-HEADER"), out.open("REQ-IF-HEADER", {"IDENTIFIER": header_id}):
        out.leaf("CREATION-TIME", now)
        out.leaf("REQ-IF-TOOL-ID", "Safecase")
        out.leaf("REQ-IF-VERSION", "1.0")
        out.leaf("SOURCE-TOOL-ID", source_tool_id)
        out.leaf("TITLE", title)


def _write_attr_def(out: _Out, kind: str, identifier: str, name: str, now: str) -> None:
    datatype = _DT_XHTML if kind == "XHTML" else _DT_STRING
    attrib = {"IDENTIFIER": identifier, "LAST-CHANGE": now, "LONG-NAME": _clean(name)}
    with out.open(f"ATTRIBUTE-DEFINITION-{kind}", attrib):
        out.ref("TYPE", f"DATATYPE-DEFINITION-{kind}-REF", datatype)


def _write_definitions(
    out: _Out,
    now: str,
    extras: list[str],
    extra_ids: dict[str, str],
    relation_types: dict[str, str],
    object_type_name: str,
) -> None:
    with out.open("DATATYPES"):
        out.leaf(
            "DATATYPE-DEFINITION-STRING",
            attrib={
                "IDENTIFIER": _DT_STRING,
                "LAST-CHANGE": now,
                "LONG-NAME": "String",
                "MAX-LENGTH": "32000",
            },
        )
        out.leaf(
            "DATATYPE-DEFINITION-XHTML",
            attrib={"IDENTIFIER": _DT_XHTML, "LAST-CHANGE": now, "LONG-NAME": "Rich text"},
        )
    with out.open("SPEC-TYPES"):
        attrib = {"IDENTIFIER": _OBJECT_TYPE, "LAST-CHANGE": now, "LONG-NAME": object_type_name}
        with out.open("SPEC-OBJECT-TYPE", attrib), out.open("SPEC-ATTRIBUTES"):
            _write_attr_def(out, "STRING", _AD_FOREIGN_ID, "ReqIF.ForeignID", now)
            _write_attr_def(out, "STRING", _AD_NAME, "ReqIF.Name", now)
            _write_attr_def(out, "STRING", _AD_CHAPTER, "ReqIF.ChapterName", now)
            _write_attr_def(out, "XHTML", _AD_TEXT, "ReqIF.Text", now)
            for name in extras:
                _write_attr_def(out, "STRING", extra_ids[name], name, now)
        for name, identifier in relation_types.items():
            attrib = {"IDENTIFIER": identifier, "LAST-CHANGE": now, "LONG-NAME": _clean(name)}
            out.leaf("SPEC-RELATION-TYPE", attrib=attrib)
        attrib = {"IDENTIFIER": _SPECIFICATION_TYPE, "LAST-CHANGE": now, "LONG-NAME": "Document"}
        with out.open("SPECIFICATION-TYPE", attrib), out.open("SPEC-ATTRIBUTES"):
            _write_attr_def(out, "STRING", _AD_SPEC_NAME, "ReqIF.Name", now)


def _write_string_value(out: _Out, definition: str, value: object) -> None:
    with out.open("ATTRIBUTE-VALUE-STRING", {"THE-VALUE": _clean(value)}):
        out.ref("DEFINITION", "ATTRIBUTE-DEFINITION-STRING-REF", definition)


def _element_attrib(identifier: str, long_name: str | None, last_change: str | None, now: str):
    attrib = {"IDENTIFIER": identifier, "LAST-CHANGE": last_change or now}
    if long_name:
        attrib["LONG-NAME"] = _clean(long_name)
    return attrib


def _write_object(
    out: _Out, obj: SpecObject, now: str, extras: list[str], extra_ids: dict[str, str]
) -> None:
    with out.open(
        "SPEC-OBJECT", _element_attrib(obj.identifier, obj.long_name, obj.last_change, now)
    ):
        out.ref("TYPE", "SPEC-OBJECT-TYPE-REF", _OBJECT_TYPE)
        with out.open("VALUES"):
            if obj.foreign_id is not None:
                _write_string_value(out, _AD_FOREIGN_ID, obj.foreign_id)
            if obj.title is not None:
                _write_string_value(out, _AD_CHAPTER if obj.is_heading else _AD_NAME, obj.title)
            block = _xhtml_block(obj)
            if block is not None:
                with out.open("ATTRIBUTE-VALUE-XHTML"):
                    out.ref("DEFINITION", "ATTRIBUTE-DEFINITION-XHTML-REF", _AD_TEXT)
                    out.newline()
                    with out.xf.element(_q("THE-VALUE")):
                        out.xhtml(block)
            for name in extras:
                value = obj.values.get(name)
                if value is not None:
                    _write_string_value(out, extra_ids[name], value)


def _write_relation(
    out: _Out, relation: SpecRelation, now: str, relation_types: dict[str, str]
) -> None:
    attrib = _element_attrib(relation.identifier, relation.long_name, relation.last_change, now)
    with out.open("SPEC-RELATION", attrib):
        out.ref("SOURCE", "SPEC-OBJECT-REF", _clean(relation.source))
        out.ref("TARGET", "SPEC-OBJECT-REF", _clean(relation.target))
        type_id = relation_types[relation.type_name or "Relation"]
        out.ref("TYPE", "SPEC-RELATION-TYPE-REF", type_id)


def _write_specification(out: _Out, spec: Specification, now: str, plan: dict[int, str]) -> None:
    attrib = _element_attrib(spec.identifier, spec.long_name, spec.last_change, now)
    with out.open("SPECIFICATION", attrib):
        out.ref("TYPE", "SPECIFICATION-TYPE-REF", _SPECIFICATION_TYPE)
        if spec.long_name:
            with out.open("VALUES"):
                _write_string_value(out, _AD_SPEC_NAME, spec.long_name)
        if spec.children:
            with out.open("CHILDREN"):
                for node in spec.children:
                    _write_hierarchy(out, node, now, plan)


def _write_hierarchy(out: _Out, node: Hierarchy, now: str, plan: dict[int, str]) -> None:
    with out.open("SPEC-HIERARCHY", {"IDENTIFIER": plan[id(node)], "LAST-CHANGE": now}):
        out.ref("OBJECT", "SPEC-OBJECT-REF", node.object_ref)
        if node.children:
            with out.open("CHILDREN"):
                for child in node.children:
                    _write_hierarchy(out, child, now, plan)


# --------------------------------------------------------------------------------------------
# Example content for tests and benchmarks
# --------------------------------------------------------------------------------------------

EXAMPLE_EXTRA_ATTRIBUTES = (
    "ASIL",
    "Kind",
    "Status",
    "Version",
    "Verification Method",
    "Allocated To",
    "Rationale",
)
_ITEMS = (
    "the adaptive cruise control",
    "the lane keeping assist",
    "the automatic emergency braking function",
    "the electric power steering",
    "the brake-by-wire actuator",
    "the radar sensor",
    "the front camera",
    "the battery management system",
    "the park assist",
    "the traffic sign recognition",
)
_ACTIONS = (
    "limit the commanded deceleration to {v} m/s^2",
    "detect a loss of the sensor signal within {v} ms",
    "transition to the safe state within {v} ms",
    "hand control back to the driver with a warning of at least {v} s",
    "reject steering torque requests above {v} Nm",
    "report a plausibility fault after {v} consecutive invalid frames",
    "keep the lateral deviation below {v} cm",
    "degrade to a minimal risk manoeuvre within {v} s",
)
_CONDITIONS = (
    "when the vehicle speed exceeds 10 km/h",
    "while the driver does not hold the steering wheel",
    "if the supply voltage drops below 9 V",
    "when two redundant channels disagree",
    "during a rain or snow condition detected by the wiper status",
    "after an ignition cycle",
)
_RATIONALES = (
    "Derived from the safety goal to avoid unintended braking.",
    "Fault tolerant time interval from the hazard analysis.",
    "Controllability assessed in driving studies (C2).",
    "Required by the technical safety concept.",
    "Covers the single-point fault metric target.",
)
_SECTIONS = (
    "Functional safety requirements",
    "Technical safety requirements",
    "Safety mechanisms",
    "Degradation concept",
    "Diagnostics",
    "Interfaces",
    "Hardware safety requirements",
    "Software safety requirements",
)


@dataclass(slots=True)
class ExampleContent:
    """What :func:`generate_reqif` writes: the neutral structures before serialisation."""

    title: str
    objects: list[SpecObject]
    relations: list[SpecRelation]
    specifications: list[Specification]
    extra_attributes: list[str]
    creation_time: dt.datetime


def build_example_content(
    n_requirements: int, n_relations: int, seed: int = 0, section_size: int = 25
) -> ExampleContent:
    """Realistic ISO 26262 requirement content, deterministic for a given ``seed``.

    One specification, a heading object per ``section_size`` requirements (so the document
    holds ``n_requirements + ceil(n_requirements / section_size)`` spec objects), every fifth
    requirement nested under the previous one, rich text with paragraphs, emphasis and
    lists, seven extra attributes (ASIL, Kind, Status, ...), and ``n_relations`` links
    between distinct requirements of types "refines", "derived from" and "satisfies".
    """
    if n_requirements < 0 or n_relations < 0:
        raise ValueError("n_requirements and n_relations must not be negative")
    if n_relations and n_requirements < 2:
        raise ValueError("relations need at least two requirements")
    rng = random.Random(seed)
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def new_id() -> str:
        return f"_{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    objects: list[SpecObject] = []
    requirements: list[SpecObject] = []
    sections: list[Hierarchy] = []
    current: Hierarchy | None = None
    parent_node: Hierarchy | None = None
    for index in range(n_requirements):
        if index % section_size == 0:
            number = index // section_size + 1
            name = f"{number} {_SECTIONS[(number - 1) % len(_SECTIONS)]}"
            heading = SpecObject(
                identifier=new_id(),
                type_name="Safecase Requirement",
                last_change=_timestamp(moment),
                title=name,
                is_heading=True,
            )
            objects.append(heading)
            current = Hierarchy(heading.identifier, [], True)
            sections.append(current)
            parent_node = None
        item = rng.choice(_ITEMS)
        action = rng.choice(_ACTIONS).format(v=rng.choice((2, 5, 10, 50, 100, 150, 200, 500)))
        condition = rng.choice(_CONDITIONS)
        asil = rng.choice(("QM", "A", "B", "C", "D"))
        sentence = f"{item[0].upper()}{item[1:]} shall {action} {condition}."
        detail = (
            f"The requirement applies to all variants with ASIL {asil} integrity and shall be "
            f"verified on the target hardware under nominal and degraded conditions."
        )
        if index % 3 == 0:
            bullets = [f"Fault case {k}: {rng.choice(_CONDITIONS)}" for k in range(1, 4)]
            items = "".join(f"<li>{escape(bullet)}</li>" for bullet in bullets)
            html = (
                f"<div><p>{escape(sentence)}</p><p><b>Note:</b> {escape(detail)}</p>"
                f"<ul>{items}</ul></div>"
            )
            text = "\n".join([sentence, f"Note: {detail}", *bullets])
        else:
            html = f"<div><p>{escape(sentence)}</p><p>{escape(detail)}</p></div>"
            text = f"{sentence}\n{detail}"
        kind = rng.choice(("FSR", "TSR", "HWSR", "SWSR"))
        requirement = SpecObject(
            identifier=new_id(),
            type_name="Safecase Requirement",
            last_change=_timestamp(moment + dt.timedelta(minutes=index)),
            values={
                "ASIL": asil,
                "Kind": kind,
                "Status": rng.choice(("Draft", "In review", "Approved")),
                "Version": str(rng.randint(1, 9)),
                "Verification Method": rng.choice(("Test", "Analysis", "Review", "Inspection")),
                "Allocated To": rng.choice(("ECU-A", "ECU-B", "Sensor cluster", "Actuator")),
                "Rationale": rng.choice(_RATIONALES),
            },
            title=f"{item.removeprefix('the ').capitalize()}: {' '.join(action.split()[:4])}",
            text=text,
            text_xhtml=html,
            foreign_id=f"{kind}-{index + 1:05d}",
        )
        objects.append(requirement)
        requirements.append(requirement)
        node = Hierarchy(requirement.identifier, [], False)
        if parent_node is not None and index % 5 == 4:
            parent_node.children.append(node)
        else:
            assert current is not None
            current.children.append(node)
            parent_node = node
    relations = []
    for _ in range(n_relations):
        source, target = rng.sample(requirements, 2)
        relations.append(
            SpecRelation(
                identifier=new_id(),
                source=source.identifier,
                target=target.identifier,
                type_name=rng.choice(("refines", "derived from", "satisfies")),
                last_change=_timestamp(moment),
            )
        )
    specification = Specification(
        identifier=new_id(),
        long_name="Safety Requirements Specification",
        children=sections,
        last_change=_timestamp(moment),
    )
    return ExampleContent(
        title=f"Generated safety requirements ({n_requirements} requirements, seed {seed})",
        objects=objects,
        relations=relations,
        specifications=[specification],
        extra_attributes=list(EXAMPLE_EXTRA_ATTRIBUTES),
        creation_time=moment,
    )


def generate_reqif(n_requirements: int, n_relations: int, seed: int = 0) -> bytes:
    """A realistic large ReqIF document (see :func:`build_example_content`), via write_reqif.

    The output is byte-for-byte deterministic for given arguments.
    """
    content = build_example_content(n_requirements, n_relations, seed)
    return write_reqif(
        content.title,
        content.objects,
        content.relations,
        content.specifications,
        content.extra_attributes,
        document_id=f"_generated-{seed}",
        creation_time=content.creation_time,
    )
