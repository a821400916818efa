"""What a ReqIF import keeps, and how an export gives it back: lossless round trips.

Import (:func:`keep`)
    The document's header, its definition sections (DATATYPES, SPEC-TYPES), relation groups
    and tool extensions as written, and every SPEC-OBJECT's, SPEC-RELATION's and
    SPECIFICATION's type, XML attributes (IDENTIFIER, LONG-NAME, DESC, LAST-CHANGE) and values
    as read (XHTML as written, with its ``<object>`` elements and link targets; enumerations
    as their ENUM-VALUE references) go into one :class:`~compliance.models.ReqIFSource` per
    project and document. Files an ``<object>`` refers to inside a ``.reqifz`` are stored in the
    object store under their SHA-256 (``reqif-objects/<sha256>``), content-addressed.

Export (:func:`build`)
    A requirement imported from a kept document goes out with its own type and values, so
    its tool identifier (``ReqIF.ForeignID``, "#1"), its ``Status`` "NEW" and every other
    attribute come back as they came in. Where Safecase changed the title, the text or an
    attribute since the import, the new content is written into the attribute that carried
    it (the text's embedded objects are then gone: the report says so). Safecase's own fields
    go out as ``Safecase.ASIL``, ``Safecase.Kind``, ``Safecase.Status``, ``Safecase.Version``,
    ``Safecase.Code`` and ``Safecase.Section``, added to each object type, so they never take
    an imported attribute's name. Relations keep their type and values; the specifications
    their SPEC-HIERARCHY order. Requirements and links made in Safecase go out with Safecase's
    own types, in a specification of their own. What cannot be written is listed in the
    export report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from lxml import etree

from compliance.models import ReqIFSource, Requirement
from compliance.reqif.document import (
    REQIF_NS,
    Hierarchy,
    ReqIFDocument,
    Specification,
    SpecObject,
)
from compliance.reqif.writer import xhtml_value
from compliance.reqif.xhtml import FRAGMENT_PARSER, sanitize_xhtml
from evidence.storage import default_store

__all__ = ["OWN_FIELDS", "OWN_PREFIX", "Builder", "artifact_key", "keep", "store_files"]

OWN_PREFIX = "Safecase."
OWN_FIELDS = ("ASIL", "Kind", "Status", "Version", "Code", "Section")
_DATA_REF = re.compile(r"""\bdata\s*=\s*["']([^"']+)["']""")


def artifact_key(digest: str) -> str:
    return f"reqif-objects/{digest}"


def store_files(files: dict[str, bytes | bytearray]) -> dict[str, str]:
    """Store an archive's attachments content-addressed; return ``{member name: sha256}``."""
    store = default_store()
    stored = {}
    for name, content in files.items():
        digest = hashlib.sha256(content).hexdigest()
        store.put_bytes(artifact_key(digest), bytes(content), overwrite=False)
        stored[name] = digest
    return stored


def _nodes(children: list[Hierarchy]) -> list:
    return [
        {"object": n.object_ref, "attrib": n.attrib or {}, "children": _nodes(n.children)}
        for n in children
    ]


def _seen(requirement: Requirement) -> dict:
    return {
        "title": requirement.title,
        "text": requirement.text,
        "attributes": dict(requirement.attributes or {}),
    }


def keep(
    project,
    doc: ReqIFDocument,
    label: str,
    by_key: dict[str, Requirement],
    key_of,
    artifacts: dict[str, str],
) -> None:
    """Store what the import read of ``doc`` (``by_key``: object key -> its requirement)."""
    objects = []
    for key, obj in doc.objects.items():
        requirement = by_key.get(key)
        objects.append(
            {
                "key": key_of(key),
                "id": obj.identifier,
                "attrib": obj.attrib or {"IDENTIFIER": obj.identifier},
                "type": obj.type_ref,
                "raw": obj.raw or [],
                "roles": obj.roles or {},
                "seen": _seen(requirement) if requirement is not None else None,
            }
        )
    content = {
        "header_id": doc.identifier,
        "title": doc.title,
        "header": doc.header,
        "sections": doc.sections,
        "objects": objects,
        "relations": [
            {
                "key": key_of(r.identifier),
                "attrib": r.attrib or {"IDENTIFIER": r.identifier},
                "type": r.type_ref,
                "raw": r.raw or [],
                "source": r.source,
                "target": r.target,
            }
            for r in doc.relations
        ],
        "specifications": [
            {
                "attrib": s.attrib or {"IDENTIFIER": s.identifier},
                "type": s.type_ref,
                "raw": s.raw or [],
                "children": _nodes(s.children),
            }
            for s in doc.specifications
        ],
        "artifacts": artifacts,
    }
    document = (doc.identifier or label)[:200]
    ReqIFSource.objects.update_or_create(
        project=project,
        document=document,
        defaults={
            "filename": label,
            "tool": (doc.tool or "")[:200],
            "profile": doc.profile or "",
            "content": content,
        },
    )


# --- Export ---------------------------------------------------------------------------------


def _parse(xml: str | None) -> etree._Element | None:
    return etree.fromstring(xml.encode("utf-8"), FRAGMENT_PARSER) if xml else None


def _q(name: str) -> str:
    return f"{{{REQIF_NS}}}{name}"


def _local(tag: str) -> str:
    return tag[tag.find("}") + 1 :]


class _Definitions:
    """The kept DATATYPES and SPEC-TYPES of every source, merged by IDENTIFIER, with
    Safecase's own attribute definitions added to each spec object type."""

    def __init__(self, now: str) -> None:
        self.now = now
        self.datatypes: dict[str, etree._Element] = {}
        self.spec_types: dict[str, etree._Element] = {}
        self.attributes: dict[tuple[str, str], tuple[str, str]] = {}  # (type, name) -> (id, kind)
        self.enum_ids: dict[tuple[str, str], str] = {}  # (datatype, literal name) -> id
        self.attr_datatype: dict[str, str] = {}
        self.relations = set()
        self.groups: list[etree._Element] = []
        self.extensions: list[etree._Element] = []

    def add(self, sections: dict[str, str]) -> None:
        for section, target in (("DATATYPES", self.datatypes), ("SPEC-TYPES", self.spec_types)):
            root = _parse(sections.get(section))
            for element in root if root is not None else ():
                if isinstance(element.tag, str) and element.get("IDENTIFIER"):
                    target.setdefault(element.get("IDENTIFIER"), element)
        for section, target in (
            ("SPEC-RELATION-GROUPS", self.groups),
            ("TOOL-EXTENSIONS", self.extensions),
        ):
            root = _parse(sections.get(section))
            target.extend(e for e in (root if root is not None else ()) if isinstance(e.tag, str))

    def index(self) -> None:
        for identifier, datatype in self.datatypes.items():
            for literal in datatype.iter(_q("ENUM-VALUE")):
                name = literal.get("LONG-NAME")
                if name and literal.get("IDENTIFIER"):
                    self.enum_ids.setdefault((identifier, name), literal.get("IDENTIFIER"))
        for type_id, spec_type in self.spec_types.items():
            if _local(spec_type.tag) == "SPEC-RELATION-TYPE":
                self.relations.add(type_id)
            for definition in spec_type.iter():
                tag = definition.tag
                if not isinstance(tag, str) or not _local(tag).startswith("ATTRIBUTE-DEFINITION-"):
                    continue
                kind = _local(tag).removeprefix("ATTRIBUTE-DEFINITION-")
                name = definition.get("LONG-NAME") or definition.get("IDENTIFIER")
                self.attributes.setdefault((type_id, name), (definition.get("IDENTIFIER"), kind))
                for ref in definition.iter():
                    if isinstance(ref.tag, str) and _local(ref.tag).startswith("DATATYPE-"):
                        self.attr_datatype[definition.get("IDENTIFIER")] = (ref.text or "").strip()

    def own(self, type_id: str, name: str) -> str:
        """The definition id of ``Safecase.<name>`` on ``type_id``, added when missing."""
        found = self.attributes.get((type_id, OWN_PREFIX + name))
        if found:
            return found[0]
        spec_type = self.spec_types[type_id]
        holder = spec_type.find(_q("SPEC-ATTRIBUTES"))
        if holder is None:
            holder = etree.SubElement(spec_type, _q("SPEC-ATTRIBUTES"))
        identifier = f"_sc-{hashlib.sha256(type_id.encode()).hexdigest()[:12]}-{name.lower()}"
        definition = etree.SubElement(
            holder,
            _q("ATTRIBUTE-DEFINITION-STRING"),
            {"IDENTIFIER": identifier, "LAST-CHANGE": self.now, "LONG-NAME": OWN_PREFIX + name},
        )
        ref = etree.SubElement(
            etree.SubElement(definition, _q("TYPE")), _q("DATATYPE-DEFINITION-STRING-REF")
        )
        ref.text = OWN_STRING
        self.attributes[(type_id, OWN_PREFIX + name)] = (identifier, "STRING")
        return identifier


OWN_STRING = "_sc-datatype-string"
OWN_XHTML = "_sc-datatype-xhtml"
OWN_OBJECT_TYPE = "_sc-spec-object-type"
OWN_SPECIFICATION_TYPE = "_sc-specification-type"


def _own_fields(requirement: Requirement) -> dict[str, str]:
    return {
        "ASIL": requirement.asil,
        "Kind": requirement.kind,
        "Status": requirement.status,
        "Version": str(requirement.version),
        "Code": requirement.code,
        "Section": requirement.section,
    }


def _rich(requirement: Requirement) -> str | None:
    """The requirement's rich text when it still says what its text says (an edit of the
    plain text leaves a stale one behind)."""
    html = requirement.text_xhtml
    if not html:
        return None
    plain = sanitize_xhtml(html)[1]
    same = " ".join(plain.split()) == " ".join((requirement.text or "").split())
    return html if same else None


def _has_objects(raw_value) -> bool:
    return isinstance(raw_value, str) and ("object" in raw_value or "<img" in raw_value)


class Builder:
    """Collects the objects, relations and specifications of one export."""

    def __init__(self, project, now: str, notes) -> None:
        self.project = project
        self.now = now
        self.notes = notes
        self.defs = _Definitions(now)
        self.sources = list(
            ReqIFSource.objects.filter(project=project).order_by("imported_at", "pk")
        )
        self.kept_objects: dict[str, dict] = {}
        self.kept_relations: dict[str, dict] = {}
        self.artifacts: dict[str, str] = {}
        for source in self.sources:
            content = source.content
            self.defs.add(content.get("sections") or {})
            for record in content.get("objects", []):
                self.kept_objects.setdefault(record["key"], record)
            for record in content.get("relations", []):
                self.kept_relations.setdefault(record["key"], record)
            self.artifacts.update(content.get("artifacts") or {})
        self.defs.index()
        self.need_own_types = False
        self.extra_names: set[str] = set()
        self.placed: set[str] = set()
        self._own_ids: dict[str, dict[str, str]] = {}

    def kept(self, requirement: Requirement) -> dict | None:
        record = self.kept_objects.get(requirement.reqif_identifier or "")
        if record is None or record.get("type") not in self.defs.spec_types:
            return None
        return record

    def kept_object(self, requirement: Requirement, record: dict, identifier: str) -> SpecObject:
        type_id = record["type"]
        raw = [list(v) for v in record["raw"]]
        roles = record.get("roles") or {}
        seen = record.get("seen") or {}
        label = requirement.code

        where = {entry[1]: entry for entry in raw}

        def put(definition: str | None, kind: str | None, value) -> bool:
            if not definition:
                return False
            entry = where.get(definition)
            if entry is not None:
                entry[2] = value
            else:
                where[definition] = entry = [kind, definition, value]
                raw.append(entry)
            return True

        def kind_of(definition: str) -> str | None:
            for (t, _n), (d, k) in self.defs.attributes.items():
                if d == definition and t == type_id:
                    return k
            return None

        def encode(definition: str, kind: str, text: str, html: str | None = None):
            if kind == "XHTML":
                return etree.tostring(xhtml_value(definition, html, text), encoding="unicode")
            if kind == "ENUMERATION":
                datatype = self.defs.attr_datatype.get(definition, "")
                refs = []
                for name in (p.strip() for p in text.split(",") if p.strip()):
                    ref = self.defs.enum_ids.get((datatype, name))
                    if ref is None:
                        return None
                    refs.append(ref)
                return refs
            return text

        if requirement.title != seen.get("title", requirement.title):
            definition = roles.get("chapter") or roles.get("title")
            kind = kind_of(definition) if definition else None
            if not (kind and put(definition, kind, encode(definition, kind, requirement.title))):
                self.notes.add(
                    "title changed in Safecase has no attribute to go in (not written)", label
                )
        if requirement.text != seen.get("text", requirement.text):
            definition = roles.get("text")
            kind = kind_of(definition) if definition else None
            old = next((e[2] for e in raw if e[1] == definition), None)
            value = encode(definition, kind, requirement.text, _rich(requirement)) if kind else None
            if value is None or not put(definition, kind, value):
                self.notes.add(
                    "text changed in Safecase has no attribute to go in (not written)", label
                )
            elif _has_objects(old):
                self.notes.add(
                    "embedded objects not written: the text holding them was changed in Safecase",
                    label,
                )
        before = seen.get("attributes") or {}
        now_attributes = requirement.attributes or {}
        for name in {*before, *now_attributes} if before != now_attributes else ():
            old, new = before.get(name), now_attributes.get(name)
            if old == new:
                continue
            found = self.defs.attributes.get((type_id, name))
            if found is None:
                self.notes.add(
                    "attribute changed in Safecase is not defined for its ReqIF type (not written)",
                    f"{label}: {name}",
                )
                continue
            definition, kind = found
            if new is None:
                raw = [e for e in raw if e[1] != definition]
                continue
            value = encode(definition, kind, str(new))
            if value is None:
                self.notes.add(
                    "attribute changed in Safecase is not one of its enumeration's values "
                    "(not written)",
                    f"{label}: {name}",
                )
                continue
            if kind == "XHTML":
                self.notes.add(
                    "rich-text attribute changed in Safecase is written as plain text (its "
                    "formatting, objects and links are gone)",
                    f"{label}: {name}",
                )
            put(definition, kind, value)
        own_ids = self._own_ids.get(type_id)
        if own_ids is None:
            own_ids = self._own_ids[type_id] = {n: self.defs.own(type_id, n) for n in OWN_FIELDS}
        for name, value in _own_fields(requirement).items():
            put(own_ids[name], "STRING", value)
        attrib = dict(record.get("attrib") or {})
        attrib["IDENTIFIER"] = identifier
        if requirement.title != seen.get(
            "title", requirement.title
        ) or requirement.text != seen.get("text", requirement.text):
            attrib["LAST-CHANGE"] = self.now
        return SpecObject(
            identifier,
            type_ref=type_id,
            attrib=attrib,
            raw=[tuple(e) for e in raw],
        )

    def own_object(self, requirement: Requirement, identifier: str, last_change: str) -> SpecObject:
        self.need_own_types = True
        raw: list = [("STRING", "_sc-attr-foreign-id", requirement.code)]
        if requirement.title:
            definition = "_sc-attr-chapter-name" if requirement.is_heading else "_sc-attr-name"
            raw.append(("STRING", definition, requirement.title))
        if requirement.text or requirement.text_xhtml:
            element = xhtml_value("_sc-attr-text", _rich(requirement), requirement.text)
            raw.append(("XHTML", "_sc-attr-text", etree.tostring(element, encoding="unicode")))
        for name, value in (requirement.attributes or {}).items():
            if value is not None and not str(name).startswith(OWN_PREFIX):
                raw.append(("STRING", _extra_id(str(name)), str(value)))
                self.extra_names.add(str(name))
        for name, value in _own_fields(requirement).items():
            raw.append(("STRING", _extra_id(OWN_PREFIX + name), value))
        return SpecObject(
            identifier,
            type_ref=OWN_OBJECT_TYPE,
            attrib={"IDENTIFIER": identifier, "LAST-CHANGE": last_change},
            raw=raw,
        )

    def kept_relation(self, key: str) -> dict | None:
        record = self.kept_relations.get(key or "")
        if record is None or record.get("type") not in self.defs.relations:
            return None
        return record

    def kept_specifications(self, identifiers: dict[str, str]) -> list[Specification]:
        """The kept specifications, their nodes pointing at the exported objects (a node
        whose requirement is gone is left out, its children moved up)."""
        out = []
        placed: set[str] = set()

        def nodes(records: list, source_ids: dict[str, str]) -> list[Hierarchy]:
            result = []
            for record in records:
                children = nodes(record["children"], source_ids)
                target = source_ids.get(record["object"])
                if target is None or target in placed:
                    result.extend(children)
                    continue
                placed.add(target)
                node = Hierarchy(
                    target, children, False, (record["attrib"] or {}).get("IDENTIFIER")
                )
                node.attrib = dict(record["attrib"] or {})
                result.append(node)
            return result

        for source in self.sources:
            content = source.content
            source_ids = {
                o["id"]: identifiers[o["key"]]
                for o in content.get("objects", [])
                if o["key"] in identifiers
            }
            for record in content.get("specifications", []):
                if record.get("type") not in self.defs.spec_types:
                    continue
                attrib = dict(record["attrib"])
                spec = Specification(
                    attrib["IDENTIFIER"], children=nodes(record["children"], source_ids)
                )
                spec.type_ref, spec.attrib, spec.raw = (
                    record["type"],
                    attrib,
                    [tuple(v) for v in record["raw"]],
                )
                out.append(spec)
        self.placed = placed
        return out

    def own_definitions(self, relation_types: Iterable[str]) -> tuple[list, list]:
        """Safecase's own datatypes and types (for what was made in Safecase)."""
        E = etree.Element
        datatypes, spec_types = [], []
        if OWN_STRING not in self.defs.datatypes:
            datatypes.append(
                E(
                    _q("DATATYPE-DEFINITION-STRING"),
                    {
                        "IDENTIFIER": OWN_STRING,
                        "LAST-CHANGE": self.now,
                        "LONG-NAME": "String",
                        "MAX-LENGTH": "32000",
                    },
                )
            )
        if self.need_own_types and OWN_XHTML not in self.defs.datatypes:
            datatypes.append(
                E(
                    _q("DATATYPE-DEFINITION-XHTML"),
                    {"IDENTIFIER": OWN_XHTML, "LAST-CHANGE": self.now, "LONG-NAME": "Rich text"},
                )
            )
        spec_types.extend(self.defs.spec_types.values())
        if self.need_own_types:
            # A document Safecase wrote and then imported has the type already: complete it.
            spec_type = self.defs.spec_types.get(OWN_OBJECT_TYPE)
            if spec_type is None:
                spec_type = E(
                    _q("SPEC-OBJECT-TYPE"),
                    {
                        "IDENTIFIER": OWN_OBJECT_TYPE,
                        "LAST-CHANGE": self.now,
                        "LONG-NAME": "Safecase Requirement",
                    },
                )
                spec_types.append(spec_type)
            holder = spec_type.find(_q("SPEC-ATTRIBUTES"))
            if holder is None:
                holder = etree.SubElement(spec_type, _q("SPEC-ATTRIBUTES"))
            present = {d.get("IDENTIFIER") for d in holder}
            definitions = [
                ("STRING", "_sc-attr-foreign-id", "ReqIF.ForeignID"),
                ("STRING", "_sc-attr-name", "ReqIF.Name"),
                ("STRING", "_sc-attr-chapter-name", "ReqIF.ChapterName"),
                ("XHTML", "_sc-attr-text", "ReqIF.Text"),
                *(("STRING", _extra_id(n), n) for n in sorted(self.extra_names)),
                *(("STRING", _extra_id(OWN_PREFIX + n), OWN_PREFIX + n) for n in OWN_FIELDS),
            ]
            for kind, identifier, name in definitions:
                if identifier in present:
                    continue
                definition = etree.SubElement(
                    holder,
                    _q(f"ATTRIBUTE-DEFINITION-{kind}"),
                    {"IDENTIFIER": identifier, "LAST-CHANGE": self.now, "LONG-NAME": name},
                )
                ref = etree.SubElement(
                    etree.SubElement(definition, _q("TYPE")), _q(f"DATATYPE-DEFINITION-{kind}-REF")
                )
                ref.text = OWN_XHTML if kind == "XHTML" else OWN_STRING
        for name, identifier in relation_types:
            if identifier in self.defs.spec_types:
                continue
            spec_types.append(
                E(
                    _q("SPEC-RELATION-TYPE"),
                    {"IDENTIFIER": identifier, "LAST-CHANGE": self.now, "LONG-NAME": name},
                )
            )
        if self.need_own_types and OWN_SPECIFICATION_TYPE not in self.defs.spec_types:
            spec_type = E(
                _q("SPECIFICATION-TYPE"),
                {
                    "IDENTIFIER": OWN_SPECIFICATION_TYPE,
                    "LAST-CHANGE": self.now,
                    "LONG-NAME": "Document",
                },
            )
            spec_types.append(spec_type)
        return datatypes, spec_types


def _extra_id(name: str) -> str:
    return f"_sc-attr-x-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:12]}"


def referenced_files(raw_values: Iterable) -> set[str]:
    """The ``data`` references of the ``<object>`` elements in kept XHTML values."""
    found = set()
    for kind, _definition, value in raw_values:
        if kind == "XHTML" and isinstance(value, str) and "data" in value:
            found.update(_DATA_REF.findall(value))
    return found
