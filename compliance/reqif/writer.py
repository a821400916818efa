"""Writing ReqIF: :func:`write_reqif` and :func:`write_reqif_document`.

ReqIF 1.2 with one ``SPEC-OBJECT-TYPE`` ("Safecase Requirement") holding ``ReqIF.ForeignID``,
``ReqIF.Name``, ``ReqIF.ChapterName`` (used for headings), ``ReqIF.Text`` (XHTML) and one STRING
attribute per caller-supplied extra attribute name; a ``SPEC-RELATION-TYPE`` per relation type
name; one ``SPECIFICATION-TYPE``. Written with lxml's incremental ``etree.xmlfile`` so large
documents stream out. The writer names its own definitions ``_sc-...``; caller identifiers must
not clash with those.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence

from lxml import etree

from compliance.reqif.document import (
    REQIF_NS,
    XHTML_NS,
    Hierarchy,
    ReqIFDocument,
    ReqIFError,
    Specification,
    SpecObject,
    SpecRelation,
)
from compliance.reqif.names import ROLES, normalised
from compliance.reqif.xhtml import FRAGMENT_PARSER, INVALID_XML_CHARS, sanitize_xhtml

__all__ = ["NCNAME", "STANDARD_NAMES", "write_reqif", "write_reqif_document"]

# A valid IDENTIFIER: an XML NCName.
NCNAME = re.compile(r"^[^\W\d][\w.\-]*$")
_DT_STRING = "_sc-datatype-string"
_DT_XHTML = "_sc-datatype-xhtml"
_OBJECT_TYPE = "_sc-spec-object-type"
_SPECIFICATION_TYPE = "_sc-specification-type"
_AD_FOREIGN_ID = "_sc-attr-foreign-id"
_AD_NAME = "_sc-attr-name"
_AD_CHAPTER = "_sc-attr-chapter-name"
_AD_TEXT = "_sc-attr-text"
_AD_SPEC_NAME = "_sc-attr-specification-name"
# The attributes every written spec object has; an extra attribute may not take their names.
STANDARD_NAMES = ("ReqIF.ForeignID", "ReqIF.Name", "ReqIF.ChapterName", "ReqIF.Text")
_BLOCK_ROOTS = frozenset({"div", "p"})


def _q(name: str) -> str:
    return f"{{{REQIF_NS}}}{name}"


def _x(name: str) -> str:
    return f"{{{XHTML_NS}}}{name}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _clean(text: object) -> str:
    return INVALID_XML_CHARS.sub("\ufffd", str(text))


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
        container = etree.fromstring(f"<r>{html}</r>".encode(), FRAGMENT_PARSER)
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
    if not isinstance(identifier, str) or not NCNAME.match(identifier):
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
      id (``ReqIF.*``, "Description", "ID", "Object Heading", ... see :mod:`compliance.reqif`):
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
                if normalised(name) not in ROLES:
                    names[name] = None
        extras = list(names)
    else:
        extras = list(dict.fromkeys(extra_attributes))
    for name in extras:
        if name in STANDARD_NAMES:
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
    if doc.identifier and NCNAME.match(doc.identifier):
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


# --- Writing a document as it was read -------------------------------------------------------
#
# Written as text, not through etree.xmlfile: a large document has hundreds of thousands of
# small elements, and the kept XHTML values and definitions are already XML.

_HEADER_ORDER = (
    "COMMENT",
    "CREATION-TIME",
    "REPOSITORY-ID",
    "REQ-IF-TOOL-ID",
    "REQ-IF-VERSION",
    "SOURCE-TOOL-ID",
    "TITLE",
)
# What needs escaping or replacing; most values have none of it and are written as they are.
_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]')


def _attr(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if _SPECIAL.search(text) is None:
        return text
    text = _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
    return text.replace("\t", "&#9;")


def _text(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if _SPECIAL.search(text) is None:
        return text
    text = _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;")


def _attrs(attrib: Mapping[str, str]) -> str:
    return "".join(f' {name}="{_attr(value)}"' for name, value in attrib.items())


def _section(xml: str | None) -> etree._Element | None:
    if not xml:
        return None
    try:
        return etree.fromstring(xml.encode("utf-8"), FRAGMENT_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ReqIFError(f"a kept ReqIF section cannot be read back: {exc}") from None


def _element_xml(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode", with_tail=False)


@functools.lru_cache(maxsize=4096)
def _value_open(kind: str, definition: str) -> tuple[str, str]:
    """The text around a simple value's THE-VALUE, per (kind, definition): they repeat."""
    return (
        f'<ATTRIBUTE-VALUE-{kind} THE-VALUE="',
        f'"><DEFINITION><ATTRIBUTE-DEFINITION-{kind}-REF>{_text(definition)}'
        f"</ATTRIBUTE-DEFINITION-{kind}-REF></DEFINITION></ATTRIBUTE-VALUE-{kind}>",
    )


def _raw_values(parts: list[str], raw: list, indent: str) -> None:
    if not raw:
        return
    inner = indent + "  "
    parts.append(f"{indent}<VALUES>")
    for kind, definition, value in raw:
        if kind == "XHTML":
            parts.append(inner + (value if isinstance(value, str) else _element_xml(value)))
        elif kind == "ENUMERATION":
            refs = "".join(f"<ENUM-VALUE-REF>{_text(ref)}</ENUM-VALUE-REF>" for ref in value)
            parts.append(
                f"{inner}<ATTRIBUTE-VALUE-ENUMERATION><DEFINITION>"
                f"<ATTRIBUTE-DEFINITION-ENUMERATION-REF>{_text(definition)}"
                "</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION>"
                f"<VALUES>{refs}</VALUES></ATTRIBUTE-VALUE-ENUMERATION>"
            )
        else:
            head, tail = _value_open(kind, definition)
            parts.append(f"{inner}{head}{_attr(value)}{tail}")
    parts.append(f"{indent}</VALUES>")


def _ref(holder: str, name: str, identifier: str) -> str:
    return f"<{holder}><{name}>{_text(identifier)}</{name}></{holder}>"


def xhtml_value(definition: str, html: str | None, text: str | None) -> etree._Element:
    """An ``ATTRIBUTE-VALUE-XHTML`` element for ``definition`` holding sanitised ``html`` (or
    ``text`` as lines), for :func:`write_reqif_raw`."""
    block = _xhtml_block(SpecObject("_", text=text, text_xhtml=html))
    value = etree.Element(_q("ATTRIBUTE-VALUE-XHTML"), nsmap={None: REQIF_NS, "xhtml": XHTML_NS})
    ref = etree.SubElement(
        etree.SubElement(value, _q("DEFINITION")), _q("ATTRIBUTE-DEFINITION-XHTML-REF")
    )
    ref.text = definition
    the_value = etree.SubElement(value, _q("THE-VALUE"))
    if block is not None:

        def copy(src: etree._Element, dst_parent: etree._Element) -> None:
            dst = etree.SubElement(dst_parent, _x(src.tag))
            dst.text = src.text
            for child in src:
                copy(child, dst)
                dst[-1].tail = child.tail

        copy(block, the_value)
    return value


def _raw_hierarchy(parts: list[str], node: Hierarchy, now: str, counter: list, depth: int) -> None:
    indent = "\n" + "  " * depth
    attrib = dict(node.attrib or {})
    if not attrib.get("IDENTIFIER"):
        identifier = node.identifier
        while not identifier or identifier in counter[1]:
            counter[0] += 1
            identifier = f"_sc-sh-{counter[0]}"
        counter[1].add(identifier)
        attrib["IDENTIFIER"] = identifier
    attrib.setdefault("LAST-CHANGE", now)
    parts.append(f"{indent}<SPEC-HIERARCHY{_attrs(attrib)}>")
    parts.append(f"{indent}  {_ref('OBJECT', 'SPEC-OBJECT-REF', node.object_ref)}")
    if node.children:
        parts.append(f"{indent}  <CHILDREN>")
        for child in node.children:
            _raw_hierarchy(parts, child, now, counter, depth + 2)
        parts.append(f"{indent}  </CHILDREN>")
    parts.append(f"{indent}</SPEC-HIERARCHY>")


def _kept(element: etree._Element, now: str) -> str:
    # The schema requires LAST-CHANGE (ProR leaves it out): now, where it is missing.
    for part in element.iter():
        if part.get("IDENTIFIER") and part.get("LAST-CHANGE") is None:
            part.set("LAST-CHANGE", now)
    return _element_xml(element)


def write_reqif_raw(
    doc: ReqIFDocument,
    *,
    datatypes: Sequence[etree._Element] = (),
    spec_types: Sequence[etree._Element] = (),
    creation_time: dt.datetime | None = None,
) -> bytes:
    """Write ``doc`` as it was read, for a lossless round trip.

    Every object, relation and specification is written from its ``type_ref``, ``attrib``
    (IDENTIFIER, LAST-CHANGE, LONG-NAME, DESC as read) and ``raw`` values; the definitions,
    relation groups and tool extensions from ``doc.sections`` (the XML as read), to which
    ``datatypes`` and ``spec_types`` are appended. The header keeps its fields; its
    ``REQ-IF-TOOL-ID`` becomes Safecase, its ``CREATION-TIME`` now. A definition without the
    LAST-CHANGE the schema requires gets now. The caller keeps the references consistent:
    nothing is checked but what XML itself requires.
    """
    now = _timestamp(creation_time or dt.datetime.now(dt.UTC))
    header = dict(doc.header)
    header["REQ-IF-TOOL-ID"] = "Safecase"
    header["CREATION-TIME"] = now
    header.setdefault("REQ-IF-VERSION", "1.0")
    if doc.title:
        header["TITLE"] = doc.title
    # Hierarchy nodes without an identifier get _sc-sh-<n>, none taken by a kept node.
    taken: set[str] = set()
    stack = [node for spec in doc.specifications for node in spec.children]
    while stack:
        node = stack.pop()
        if node.attrib and node.attrib.get("IDENTIFIER"):
            taken.add(node.attrib["IDENTIFIER"])
        stack.extend(node.children)
    counter: list = [0, taken]
    header_id = doc.identifier or f"_{uuid.uuid4()}"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'\n<REQ-IF xmlns="{REQIF_NS}" xmlns:xhtml="{XHTML_NS}">',
        f'\n  <THE-HEADER>\n    <REQ-IF-HEADER IDENTIFIER="{_attr(header_id)}">',
    ]
    for name in (*_HEADER_ORDER, *(k for k in header if k not in _HEADER_ORDER)):
        if header.get(name):
            parts.append(f"\n      <{name}>{_text(header[name])}</{name}>")
    parts.append("\n    </REQ-IF-HEADER>\n  </THE-HEADER>\n  <CORE-CONTENT>\n    <REQ-IF-CONTENT>")
    for name, added in (("DATATYPES", datatypes), ("SPEC-TYPES", spec_types)):
        kept = _section(doc.sections.get(name))
        parts.append(f"\n      <{name}>")
        for element in [*(kept if kept is not None else ()), *added]:
            if isinstance(element.tag, str):
                parts.append("\n        " + _kept(element, now))
        parts.append(f"\n      </{name}>")
    parts.append("\n      <SPEC-OBJECTS>")
    for obj in doc.objects.values():
        attrib = dict(obj.attrib or {"IDENTIFIER": obj.identifier})
        attrib.setdefault("LAST-CHANGE", obj.last_change or now)
        parts.append(f"\n        <SPEC-OBJECT{_attrs(attrib)}>")
        parts.append(f"\n          {_ref('TYPE', 'SPEC-OBJECT-TYPE-REF', obj.type_ref or '')}")
        _raw_values(parts, obj.raw or [], "\n          ")
        parts.append("\n        </SPEC-OBJECT>")
    parts.append("\n      </SPEC-OBJECTS>\n      <SPEC-RELATIONS>")
    for relation in doc.relations:
        attrib = dict(relation.attrib or {"IDENTIFIER": relation.identifier})
        attrib.setdefault("LAST-CHANGE", relation.last_change or now)
        parts.append(f"\n        <SPEC-RELATION{_attrs(attrib)}>")
        parts.append(f"\n          {_ref('SOURCE', 'SPEC-OBJECT-REF', relation.source)}")
        parts.append(f"\n          {_ref('TARGET', 'SPEC-OBJECT-REF', relation.target)}")
        parts.append(
            f"\n          {_ref('TYPE', 'SPEC-RELATION-TYPE-REF', relation.type_ref or '')}"
        )
        _raw_values(parts, relation.raw or [], "\n          ")
        parts.append("\n        </SPEC-RELATION>")
    parts.append("\n      </SPEC-RELATIONS>\n      <SPECIFICATIONS>")
    for spec in doc.specifications:
        attrib = dict(spec.attrib or {"IDENTIFIER": spec.identifier})
        attrib.setdefault("LAST-CHANGE", spec.last_change or now)
        parts.append(f"\n        <SPECIFICATION{_attrs(attrib)}>")
        parts.append(f"\n          {_ref('TYPE', 'SPECIFICATION-TYPE-REF', spec.type_ref or '')}")
        _raw_values(parts, spec.raw or [], "\n          ")
        if spec.children:
            parts.append("\n          <CHILDREN>")
            for node in spec.children:
                _raw_hierarchy(parts, node, now, counter, 6)
            parts.append("\n          </CHILDREN>")
        parts.append("\n        </SPECIFICATION>")
    parts.append("\n      </SPECIFICATIONS>")
    groups = _section(doc.sections.get("SPEC-RELATION-GROUPS"))
    if groups is not None and len(groups):
        parts.append("\n      " + _element_xml(groups))
    parts.append("\n    </REQ-IF-CONTENT>\n  </CORE-CONTENT>")
    extensions = _section(doc.sections.get("TOOL-EXTENSIONS"))
    if extensions is not None and len(extensions):
        parts.append("\n  " + _element_xml(extensions))
    parts.append("\n</REQ-IF>\n")
    return "".join(parts).encode("utf-8")
