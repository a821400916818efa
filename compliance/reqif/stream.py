"""Streaming a ReqIF document into compact raw records.

``etree.iterparse`` (the hardened parser of :mod:`compliance.xmlsafe`) reports each finished
``SPEC-OBJECT``, ``SPEC-RELATION``, ``SPECIFICATION`` and the small header and type sections;
:class:`Collector` turns each into a record and the element is then cleared from the tree, so
memory stays proportional to the result, not to the XML tree. :mod:`compliance.reqif.reader`
resolves the records into the neutral structures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree

from compliance import xmlsafe
from compliance.reqif.document import REQIF_NS, Hierarchy, ReqIFError
from compliance.reqif.xhtml import local, sanitize_element

__all__ = ["Collector", "Issues", "RawItem", "iterate"]

# How many example identifiers a grouped warning lists before "and N more".
_MAX_EXAMPLES = 5

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


# A raw attribute value: (kind, definition ref, plain text, sanitised html or None, the
# ``ATTRIBUTE-VALUE-XHTML`` element as written for XHTML, else None).
_RawValue = tuple[str, str | None, str, str | None, str | None]


@dataclass(slots=True)
class RawItem:
    tag: str
    identifier: str
    long_name: str | None
    last_change: str | None
    type_ref: str | None
    values: list[_RawValue]
    attrib: dict[str, str] | None = None
    source: str | None = None
    target: str | None = None
    children: list[Hierarchy] | None = None


_KEPT_SECTIONS = frozenset(("DATATYPES", "SPEC-TYPES", "SPEC-RELATION-GROUPS", "TOOL-EXTENSIONS"))


class Issues:
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
        if isinstance(tag, str) and local(tag) == name:
            return child
    return None


def _ref_text(container: etree._Element | None) -> tuple[str | None, str | None]:
    """Return ``(ref element local name, referenced id)`` of the first child of ``container``."""
    if container is None:
        return None, None
    for child in container:
        if isinstance(child.tag, str):
            return local(child.tag), (child.text or "").strip()
    return None, None


def _embedded(the_value: etree._Element, issues: Issues, owner: str, found: list) -> None:
    """Note the ``<object>`` elements and link targets of a rich-text value: the sanitised
    text drops them, the stored source keeps them."""
    for element in the_value.iter("{*}object", "{*}a", "{*}img"):
        name = local(element.tag)
        if name == "a":
            if element.get("href"):
                issues.add(
                    "rich",
                    "link targets (<a href>) are kept for export but not shown in Safecase",
                    owner,
                )
            continue
        data = element.get("data") or element.get("src") or ""
        found.append((owner, data, element.get("type") or ""))


def _read_values(
    values_el: etree._Element | None, issues: Issues, owner: str, embedded: list | None = None
) -> list:
    values: list[_RawValue] = []
    if values_el is None:
        return values
    for value_el in values_el:
        tag = value_el.tag
        if not isinstance(tag, str):
            continue
        name = local(tag)
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
            part_name = local(part.tag)
            if part_name == "DEFINITION":
                definition = _ref_text(part)[1]
            elif part_name == "THE-VALUE":
                the_value = part
            elif part_name == "VALUES":
                enum_refs = [(ref.text or "").strip() for ref in part if isinstance(ref.tag, str)]
        if kind == "XHTML":
            if the_value is None:
                values.append((kind, definition, "", "", None))
            else:
                html, plain = sanitize_element(the_value)
                raw = etree.tostring(value_el, encoding="unicode", with_tail=False)
                if embedded is not None:
                    _embedded(the_value, issues, owner, embedded)
                values.append((kind, definition, plain, html, raw))
        elif kind == "ENUMERATION":
            # Enumeration literals are resolved later, once every datatype is known.
            values.append((kind, definition, "\x00".join(enum_refs or ()), None, None))
        else:
            values.append((kind, definition, value_el.get("THE-VALUE", ""), None, None))
    return values


def _read_hierarchy(element: etree._Element, issues: Issues) -> list[Hierarchy]:
    nodes = []
    for node_el in element:
        if not isinstance(node_el.tag, str) or local(node_el.tag) != "SPEC-HIERARCHY":
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
        if _child(node_el, "EDITABLE-ATTS") is not None:
            issues.add(
                "lost",
                "SPEC-HIERARCHY EDITABLE-ATTS are not kept (not written on export)",
                identifier,
            )
        children_el = _child(node_el, "CHILDREN")
        children = _read_hierarchy(children_el, issues) if children_el is not None else []
        node = Hierarchy(object_ref, children, False, identifier)
        node.attrib = dict(node_el.attrib)
        nodes.append(node)
    return nodes


class Collector:
    """Receives the finished record elements from iterparse and keeps compact records."""

    def __init__(self) -> None:
        self.issues = Issues()
        self.header: dict[str, str] = {}
        self.header_id: str | None = None
        self.datatypes: dict[str, tuple[str, str | None]] = {}
        self.enum_values: dict[str, str] = {}
        self.types: dict[str, tuple[str, str | None]] = {}
        self.attr_defs: dict[str, _AttrDef] = {}
        self.headline_datatypes: set[str] = set()
        # The definition sections as written (DATATYPES, SPEC-TYPES, ...), kept for export.
        self.sections: dict[str, str] = {}
        # (owner, data, type) of each <object> / <img> in rich text.
        self.embedded: list[tuple[str, str, str]] = []
        self.objects: list[RawItem] = []
        self.relations: list[RawItem] = []
        self.specifications: list[RawItem] = []
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
        if name in _KEPT_SECTIONS:
            self.sections[name] = etree.tostring(element, encoding="unicode", with_tail=False)
        getattr(self, "_on_" + name.replace("-", "_").lower())(element)

    def _on_req_if_header(self, element: etree._Element) -> None:
        self.header_id = element.get("IDENTIFIER")
        for child in element:
            if isinstance(child.tag, str):
                self.header[local(child.tag)] = (child.text or "").strip()

    def _on_datatypes(self, element: etree._Element) -> None:
        for datatype in element:
            if not isinstance(datatype.tag, str):
                continue
            name = local(datatype.tag)
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
            category = local(spec_type.tag)
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
                kind = local(definition.tag).removeprefix("ATTRIBUTE-DEFINITION-")
                datatype = _ref_text(_child(definition, "TYPE"))[1]
                self.attr_defs[def_id] = _AttrDef(
                    definition.get("LONG-NAME") or def_id, kind, datatype
                )

    def _item(self, element: etree._Element, tag: str) -> RawItem:
        identifier = self.identifier_of(element, tag)
        last_change = element.get("LAST-CHANGE")
        if last_change is None:
            self.issues.add("last_change", tag)
        type_ref = _ref_text(_child(element, "TYPE"))[1]
        if _child(element, "ALTERNATIVE-ID") is not None:
            self.issues.add(
                "lost", "ALTERNATIVE-ID is not kept (not written on export)", identifier
            )
        values = _read_values(_child(element, "VALUES"), self.issues, identifier, self.embedded)
        return RawItem(
            tag,
            identifier,
            element.get("LONG-NAME"),
            last_change,
            type_ref,
            values,
            dict(element.attrib),
        )

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
                    "RELATION-GROUP not mapped (its relations are in relations; the group is kept "
                    "and written back on export)",
                    group.get("LONG-NAME") or group.get("IDENTIFIER"),
                )

    def _on_tool_extensions(self, element: etree._Element) -> None:
        for extension in element:
            if not isinstance(extension.tag, str):
                continue
            for content in extension:
                if not isinstance(content.tag, str):
                    continue
                label = local(content.tag)
                if content.prefix:
                    label = f"{content.prefix}:{label}"
                self.issues.add(
                    "unmapped",
                    "TOOL-EXTENSIONS content not mapped (kept and written back on export)",
                    label,
                )
        # ProR: datatypes shown as headlines (the only tool extension that changes the mapping),
        # named by an attribute or, in ReqIF Studio, by a <datatype> child holding a reference.
        for config in element.iter("{*}HeadlineConfiguration"):
            for key, value in config.attrib.items():
                if local(key) == "datatype" and value:
                    self.headline_datatypes.add(value)
            for child in config.iter("{*}datatype"):
                for ref in child.iter():
                    if ref is not child and isinstance(ref.tag, str) and (ref.text or "").strip():
                        self.headline_datatypes.add(ref.text.strip())


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


def iterate(data: bytes | bytearray, collector: Collector) -> str:
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
            collector.handle(local(tag), element)
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


def _check_root(root: etree._Element, collector: Collector) -> str:
    tag = root.tag
    name = local(tag)
    if name != "REQ-IF":
        raise ReqIFError(f"not a ReqIF document: the root element is <{name}>, not <REQ-IF>")
    namespace = tag[: tag.find("}") + 1]
    if namespace != f"{{{REQIF_NS}}}":
        shown = namespace[1:-1] or "no namespace"
        collector.issues.add(
            "warnings", f"unexpected ReqIF namespace {shown!r}; read as ReqIF 1.0/1.2"
        )
    return namespace
