"""Reading a ReqIF document: :func:`parse_reqif`.

* Untrusted input: the prolog is checked first (:mod:`compliance.reqif.prolog`: no DOCTYPE, no
  ENTITY, a ``REQ-IF`` root), and the parser is the hardened one of :mod:`compliance.xmlsafe`
  (no entities, no DTD, no network, libxml2's huge-tree limits).
* Streaming (:mod:`compliance.reqif.stream`): each finished record is converted to a compact
  record and cleared from the tree, so memory stays proportional to the result.
* Attribute values are keyed by the ``LONG-NAME`` of their attribute definition, resolved
  through the ``SPEC-TYPES``. Enumeration values resolve to the ``LONG-NAME`` of their
  ``ENUM-VALUE`` literals (several values are joined with ", "). XHTML values are kept as
  sanitised rich text plus a plain-text rendering (see
  :func:`compliance.reqif.xhtml.sanitize_xhtml`).
* Tolerance: real exports break the schema (ProR omits ``LAST-CHANGE``; some tools reference
  types they never define; relations may point outside the file). Such input is accepted; what
  could not be resolved is described in ``ReqIFDocument.unmapped`` and structural problems in
  ``ReqIFDocument.warnings``. No ``SPEC-OBJECT`` or ``SPEC-RELATION`` element is ever dropped:
  ``len(doc.objects)`` and ``len(doc.relations)`` equal the number of those elements in the
  file (a repeated identifier is kept under a suffixed key and reported).
"""

from __future__ import annotations

from collections.abc import Mapping

from compliance.reqif.document import (
    Hierarchy,
    ReqIFDocument,
    ReqIFError,
    Specification,
    SpecObject,
    SpecRelation,
)
from compliance.reqif.names import ROLES, normalised
from compliance.reqif.profiles import Profile, detect
from compliance.reqif.prolog import check_prolog
from compliance.reqif.stream import Collector, RawItem, iterate

__all__ = ["parse_reqif"]


class _Resolver:
    """Turns the collected raw records into the neutral dataclasses."""

    def __init__(self, collector: Collector, profile: Profile) -> None:
        self.c = collector
        self.issues = collector.issues
        self.profile = profile
        self._roles: dict[str | None, tuple[str, int] | None] = {}
        self._type_attribute: dict[str | None, bool] = {}
        extra = {name: ("foreign_id", 100 + n) for n, name in enumerate(profile.foreign_id_names)}
        self._names = {**extra, **ROLES}

    def role(self, definition: str | None) -> tuple[str, int] | None:
        if definition in self._roles:
            return self._roles[definition]
        attr = self.c.attr_defs.get(definition) if definition else None
        role = self._names.get(normalised(attr.long_name)) if attr else None
        if attr and attr.datatype in self.c.headline_datatypes:
            # ProR: a column whose datatype the tool extension shows as a headline (an ID
            # column may share that datatype: it stays the ID).
            if role is None:
                role = ("chapter", 5)
            elif role[0] in ("text", "title"):
                role = ("chapter", 0)
        if role and role[0] == "chapter" and not self.profile.chapter_marks_heading:
            role = ("title", -1)  # Simulink: the Summary exported as ReqIF.ChapterName
        self._roles[definition] = role
        return role

    def is_type_attribute(self, definition: str | None) -> bool:
        known = self._type_attribute.get(definition)
        if known is None:
            attr = self.c.attr_defs.get(definition) if definition else None
            known = bool(attr) and normalised(attr.long_name) in self.profile.type_attributes
            self._type_attribute[definition] = known
        return known

    def type_name(self, item: RawItem, expected: str) -> str | None:
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

    def values(self, item: RawItem) -> tuple[dict[str, str], dict[str, tuple[int, str, str]]]:
        """Resolve names; return ``(values, role -> (rank, plain, html, definition))``.

        A ``Type``-like attribute whose value is one of the profile's heading values is
        reported under the role ``heading``."""
        values: dict[str, str] = {}
        roles: dict[str, tuple] = {}
        attr_defs = self.c.attr_defs
        for kind, definition, text, html, _raw in item.values:
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
                    roles[name] = (rank, text, html or "", definition)
            if text and self.is_type_attribute(definition):
                folded = " ".join(text.split()).casefold()
                roles.setdefault("type", (0, folded, "", definition))
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

    def spec_object(self, item: RawItem, key: str) -> SpecObject:
        values, roles = self.values(item)
        chapter = roles.get("chapter")
        title_value = roles.get("title")
        text_value = roles.get("text")
        foreign = roles.get("foreign_id")
        title = chapter[1] if chapter else (title_value[1] if title_value else None)
        type_name = self.type_name(item, "SPEC-OBJECT-TYPE")
        headings = self.profile.heading_values
        type_value = roles.get("type")
        if type_value is not None and type_value[1] in headings:
            is_heading = True  # Type = Heading (an enumeration or a string)
        elif type_name and " ".join(type_name.split()).casefold() in headings:
            is_heading = True  # a spec object type called Heading
        else:
            is_heading = chapter is not None and text_value is None
        if is_heading and title is None and text_value is not None:
            title = text_value[1].splitlines()[0] if text_value[1] else None
        return SpecObject(
            identifier=key,
            long_name=item.long_name,
            type_name=type_name,
            last_change=item.last_change,
            values=values,
            title=title,
            text=text_value[1] if text_value else None,
            text_xhtml=(text_value[2] or None) if text_value else None,
            foreign_id=foreign[1] if foreign else None,
            is_heading=is_heading,
            type_ref=item.type_ref,
            attrib=item.attrib,
            raw=_raw(item),
            roles={name: role[3] for name, role in roles.items() if role[3]},
        )

    def relation(self, item: RawItem, objects: Mapping[str, SpecObject]) -> SpecRelation:
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
            type_ref=item.type_ref,
            attrib=item.attrib,
            raw=_raw(item),
        )

    def specification(self, item: RawItem, objects: Mapping[str, SpecObject]) -> Specification:
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
            type_ref=item.type_ref,
            attrib=item.attrib,
            raw=_raw(item),
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


def _raw(item: RawItem) -> list:
    """The values as written: (kind, definition, THE-VALUE, enum refs or the XHTML value)."""
    out = []
    for kind, definition, text, _html, raw in item.values:
        if kind == "XHTML":
            out.append((kind, definition, raw))
        elif kind == "ENUMERATION":
            out.append((kind, definition, text.split("\x00") if text else []))
        else:
            out.append((kind, definition, text))
    return out


def _resolve(collector: Collector, profile: Profile | None = None) -> ReqIFDocument:
    header = collector.header
    if profile is None:
        profile = detect(header.get("SOURCE-TOOL-ID"), header.get("REQ-IF-TOOL-ID"))
    resolver = _Resolver(collector, profile)
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
    warnings.extend(issues.render("rich"))
    if collector.embedded:
        shown = ", ".join(
            f"{owner}: {data or '(no data)'}" for owner, data, _t in collector.embedded[:5]
        )
        more = len(collector.embedded) - 5
        warnings.append(
            f"{len(collector.embedded)} embedded objects in rich text (<object>, <img>) are not "
            "shown in Safecase's text; they are kept and written back on export "
            f"({shown}{f' and {more} more' if more > 0 else ''})"
        )
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
        header=dict(header),
        sections=collector.sections,
        embedded=collector.embedded,
        profile=profile.name,
        not_preserved=issues.render("lost"),
    )


def parse_reqif(data: bytes | bytearray, profile: Profile | None = None) -> ReqIFDocument:
    """Parse one ReqIF document (the bytes of a ``.reqif`` file) into a :class:`ReqIFDocument`.

    Pass bytes, not a decoded string: the XML declaration and byte order mark decide the
    encoding. Raises :class:`ReqIFError` for a DOCTYPE/ENTITY declaration, malformed XML, or a
    root element other than ``REQ-IF``. Schema deviations are accepted and reported in
    ``warnings`` / ``unmapped``. ``profile`` (see :mod:`compliance.reqif.profiles`) is
    detected from the header when not given.
    """
    if isinstance(data, str):
        raise ReqIFError("parse_reqif needs the document's bytes, not a decoded str")
    if isinstance(data, memoryview):
        data = bytes(data)
    if not isinstance(data, (bytes, bytearray)):  # an archive member arrives as a bytearray
        raise ReqIFError(f"parse_reqif needs bytes, got {type(data).__name__}")
    check_prolog(data)
    collector = Collector()
    iterate(data, collector)
    return _resolve(collector, profile)
