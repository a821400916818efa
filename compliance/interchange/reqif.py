"""ReqIF import and export: :func:`reqif_import` and :func:`reqif_export`.

ReqIF import (:func:`reqif_import`)
    * Each SPEC-OBJECT becomes a :class:`~compliance.models.Requirement`, keyed by its
      ``reqif_identifier``: importing the same file again updates instead of duplicating. A
      requirement created in Safecase and exported is recognised by its code when it has no
      identifier yet.
    * The code of a new requirement is the object's ``Code`` attribute, its foreign id
      (``ReqIF.ForeignID``, DOORS absolute number, ProR ``ID``) or the specification's
      ``ReqIF.Prefix`` followed by the foreign id, the first that is a valid, unused code;
      otherwise ``REQ-<n>`` (next free number, in document order). Once given, a code never
      changes on re-import.
    * Kind comes from a ``Kind`` / ``Type`` attribute when its value names one (FSR, TSR, SW,
      HW, SOTIF, or their long names), else ``default_kind``. The ASIL comes from an attribute
      named like ``ASIL`` when it parses (``ASIL B`` and ``B (D)`` are read as ``B`` and
      ``B(D)``), else QM for a new requirement (an unreadable value is reported and the
      requirement's current ASIL kept on re-import). ``Status`` maps onto the Safecase
      statuses by value or label. Other values are kept in ``attributes``.
    * Headings (objects that only name a section) are requirements with ``is_heading``; the
      SPECIFICATION tree gives ``section`` (heading titles from the root, joined by
      :data:`SECTION_SEPARATOR`) and ``position`` (document order). A document Safecase
      wrote carries each section as an attribute too, so a section without a heading above it
      survives the round trip. Text is kept as the ReqIF reader renders it (runs of spaces
      collapsed, no empty lines), so a re-import compares like with like.
    * A content change (title, text, ASIL, kind) bumps the version and turns the links of
      the requirement suspect, as :func:`compliance.services.requirement_update` does.
    * SPEC-RELATIONs become trace links. The relation type name picks the kind (see
      :func:`link_kind_for`). Every link is checked by the trace-link policy of
      :mod:`compliance.links`, the one :func:`compliance.services.link_create` uses (an end
      outside the project, a self link, a derives-from cycle, a derives-from link that lowers
      the ASIL without a recorded decomposition). ``on_violation`` chooses what a broken rule
      does: ``"refuse"`` (the default) refuses the whole import, naming the relations, and
      writes nothing; ``"note"`` imports the rest, creates an ASIL-lowering link and reports
      it in ``warnings`` (the gap analysis shows it), and lists a link that cannot exist (a
      self link, a cycle) in ``unmapped``. A relation whose end is not a requirement of the
      project, or that repeats another relation, is listed in ``unmapped`` in both modes.

ReqIF export (:func:`reqif_export`, :func:`reqif_export_with_report`)
    ReqIF 1.2 with every requirement and heading and every requirement-to-requirement link.
    What came from a ReqIF import goes out as it came in, with its own types, values,
    identifiers and hierarchy order, and Safecase's own fields as ``Safecase.ASIL``,
    ``Safecase.Kind``, ``Safecase.Status``, ``Safecase.Version``, ``Safecase.Code`` and
    ``Safecase.Section`` (see :mod:`compliance.interchange.source`). Requirements and links
    made in Safecase go out with Safecase's own types and one specification whose tree is
    rebuilt from section and position. Links to safety goals are not written: goals are not
    ReqIF objects here.

Profiles
    ``profile`` picks a tool's dialect (:mod:`compliance.reqif.profiles`), detected from the
    header when not given; its status and kind values are read as Safecase's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.interchange.common import (
    SECTION_MAX,
    TITLE_MAX,
    ImportReport,
    Incoming,
    Notes,
    check_default_kind,
    check_upload_size,
    file_label,
    paused_gc,
    record_import,
    refuse,
    upsert,
    withhold_review_statuses,
)
from compliance.interchange.source import (
    OWN_PREFIX,
    Builder,
    artifact_key,
    keep,
    referenced_files,
    store_files,
)
from compliance.interchange.values import (
    asil_for,
    is_asil_attribute,
    kind_for,
    link_kind_for,
    status_for,
)
from compliance.links import REFUSE, LinkBatch, check_on_violation, link_batch_write
from compliance.models import Requirement, TraceLink
from compliance.reqif.archive import DEFAULT_MAX_ARCHIVE_FILES, read_reqif_archive
from compliance.reqif.document import (
    Hierarchy,
    ReqIFDocument,
    ReqIFError,
    Specification,
    SpecObject,
    SpecRelation,
)
from compliance.reqif.names import ROLES, normalised
from compliance.reqif.profiles import PROFILES, Profile, get_profile
from compliance.reqif.reader import parse_reqif
from compliance.reqif.writer import NCNAME, write_reqif_raw
from evidence.storage import default_store
from projects.models import Project
from projects.permissions import Action, require

__all__ = [
    "SECTION_SEPARATOR",
    "ExportResult",
    "reqif_export",
    "reqif_export_with_report",
    "reqif_import",
]

SECTION_SEPARATOR = " / "

_IDENTIFIER_MAX = Requirement._meta.get_field("reqif_identifier").max_length
_KIND_ATTRIBUTES = frozenset(("kind", "type", "requirement kind", "requirement type"))
_EXPORT_ATTRIBUTES = ("ASIL", "Kind", "Status", "Version", "Code", "Section")


def _identifier_key(identifier: str) -> str:
    """The ``reqif_identifier`` stored for a ReqIF IDENTIFIER (hashed when too long)."""
    if len(identifier) <= _IDENTIFIER_MAX:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _read_reqif(
    data: bytes, label: str, profile: Profile | None = None
) -> tuple[ReqIFDocument, dict[str, bytearray]]:
    """Parse a .reqif document or the .reqif members of a .reqifz archive (merged); return it
    with the archive's other members (the files embedded objects refer to).

    An archive may expand to ``SAFECASE_MAX_EXPANDED_BYTES`` at most, and to no more than
    ``SAFECASE_MAX_EXPANSION_RATIO`` times its size, counted while decompressing (see
    :mod:`compliance.archives`). A refusal names the file as the user
    gave it.
    """
    try:
        if data[:4] == b"PK\x03\x04":
            members = read_reqif_archive(
                data,
                max_total_bytes=settings.SAFECASE_MAX_EXPANDED_BYTES,
                max_files=DEFAULT_MAX_ARCHIVE_FILES,
                max_ratio=settings.SAFECASE_MAX_EXPANSION_RATIO,
                include_files=True,
            )
            names = sorted(n for n in members if n.lower().endswith(".reqif"))
            documents = [parse_reqif(members[name], profile) for name in names]
            files = {n: members[n] for n in members if not n.lower().endswith(".reqif")}
            return _merge(documents), files
        return parse_reqif(data, profile), {}
    except ReqIFError as exc:
        raise refuse(f"{label}: {exc}") from None


_OUTSIDE = "refers to a spec object that is not in this file"


def _merge(documents: list[ReqIFDocument]) -> ReqIFDocument:
    """One document of an archive's members. A reference from one member to an object of
    another is resolved, so the members' own "not in this file" warnings are dropped and
    only the references that no member resolves are reported."""
    if len(documents) == 1:
        return documents[0]
    first = documents[0]
    merged = ReqIFDocument(title=first.title, tool=first.tool, identifier=first.identifier)
    merged.reqif_tool_id = first.reqif_tool_id
    merged.header, merged.profile = first.header, first.profile
    sections: dict[str, list[str]] = {}
    for doc in documents:
        for name, xml in doc.sections.items():
            sections.setdefault(name, []).append(xml)
        merged.embedded.extend(doc.embedded)
        renamed: dict[str, str] = {}
        for key, obj in doc.objects.items():
            new_key = key
            n = 2
            while new_key in merged.objects:
                new_key = f"{key}#{n}"
                n += 1
            if new_key != key:
                renamed[key] = new_key
                merged.warnings.append(
                    f"SPEC-OBJECT {key!r} appears in two archive members; the repeat is kept "
                    f"as {new_key!r}"
                )
                obj.identifier = new_key
            merged.objects[new_key] = obj
        for relation in doc.relations:
            relation.source = renamed.get(relation.source, relation.source)
            relation.target = renamed.get(relation.target, relation.target)
            merged.relations.append(relation)
        if renamed:
            stack = [node for spec in doc.specifications for node in spec.children]
            while stack:
                node = stack.pop()
                node.object_ref = renamed.get(node.object_ref, node.object_ref)
                stack.extend(node.children)
        merged.specifications.extend(doc.specifications)
        merged.warnings.extend(w for w in doc.warnings if _OUTSIDE not in w)
        merged.not_preserved.extend(doc.not_preserved)
        merged.unmapped.extend(doc.unmapped)
    merged.sections = {name: _join_sections(name, xml) for name, xml in sections.items()}
    missing = [
        f"{relation.identifier} -> {ref}"
        for relation in merged.relations
        for ref in (relation.source, relation.target)
        if ref and ref not in merged.objects
    ]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        merged.warnings.append(
            f"SPEC-RELATION {_OUTSIDE} nor in any other member of the archive; relation kept "
            f"({len(missing)}: {shown})"
        )
    stack = [node for spec in merged.specifications for node in spec.children]
    lost = []
    while stack:
        node = stack.pop()
        if node.object_ref and node.object_ref not in merged.objects:
            lost.append(node.object_ref)
        stack.extend(node.children)
    if lost:
        merged.warnings.append(
            f"SPEC-HIERARCHY {_OUTSIDE} nor in any other member of the archive; node kept "
            f"({len(lost)}: {', '.join(lost[:5])})"
        )
    return merged


def _join_sections(name: str, xml: list[str]) -> str:
    """One section of several members' (DATATYPES, SPEC-TYPES, ...), first definition wins."""
    from lxml import etree

    from compliance.reqif.xhtml import FRAGMENT_PARSER

    root = etree.fromstring(xml[0].encode("utf-8"), FRAGMENT_PARSER)
    known = {e.get("IDENTIFIER") for e in root if isinstance(e.tag, str)}
    for more in xml[1:]:
        for element in etree.fromstring(more.encode("utf-8"), FRAGMENT_PARSER):
            if not isinstance(element.tag, str):
                continue
            identifier = element.get("IDENTIFIER")
            if identifier is None or identifier not in known:
                known.add(identifier)
                root.append(element)
    return etree.tostring(root, encoding="unicode")


@dataclass(slots=True)
class _Place:
    section: str
    position: int
    prefix: str


def _placements(doc: ReqIFDocument) -> dict[str, _Place]:
    """Section (heading titles above), position (document order) and the specification's
    ``ReqIF.Prefix`` of every object placed in a SPECIFICATION tree (first place wins)."""
    places: dict[str, _Place] = {}
    position = 0
    for spec in doc.specifications:
        prefix = (spec.values.get("ReqIF.Prefix") or "").strip()
        stack: list[tuple[Hierarchy, tuple[str, ...]]] = [
            (node, ()) for node in reversed(spec.children)
        ]
        while stack:
            node, path = stack.pop()
            obj = doc.objects.get(node.object_ref)
            if obj is not None and node.object_ref not in places:
                position += 1
                section = SECTION_SEPARATOR.join(path)[:SECTION_MAX]
                places[node.object_ref] = _Place(section, position, prefix)
            child_path = path
            if obj is not None and obj.is_heading and obj.title:
                child_path = (*path, obj.title)
            stack.extend((child, child_path) for child in reversed(node.children))
    for key in doc.objects:
        if key not in places:
            position += 1
            places[key] = _Place("", position, "")
    return places


def _shift_positions(project: Project, places: dict[str, _Place]) -> None:
    """Keep a document's positions where its earlier import put them, or after everything in
    the project for a new document, so that two documents do not interleave."""
    keys = {_identifier_key(k) for k in places}
    rows = Requirement.objects.filter(project=project).values_list("reqif_identifier", "position")
    highest, known = 0, []
    for identifier, position in rows:
        highest = max(highest, position)
        if identifier in keys:
            known.append(position)
    base = min(known) - 1 if known else highest
    for place in places.values():
        place.position += base


def _plain(text: str) -> str:
    """Text as the ReqIF reader gives it back: whitespace runs collapsed, no empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


_OWN_NAMES = frozenset(("asil", "kind", "status", "version", "code", "section"))


def _kind(profile: Profile, value: str) -> str | None:
    return profile.kind_for(value) or kind_for(value)


def _status(profile: Profile, value: str) -> str | None:
    return profile.status_for(value) or status_for(value)


def _incoming_object(
    obj: SpecObject, place: _Place, from_safecase: bool, notes: Notes, profile: Profile
) -> Incoming:
    title = obj.title or ""
    if len(title) > TITLE_MAX:
        notes.add(f"title longer than {TITLE_MAX} characters cut", obj.identifier)
        title = title[:TITLE_MAX]
    fields: dict = {
        "title": title,
        "text": _plain(obj.text or ""),
        "text_xhtml": obj.text_xhtml or "",
        "section": place.section,
        "position": place.position,
        "is_heading": obj.is_heading,
    }
    attributes: dict[str, str] = {}
    kept: dict[str, str] = {}
    code_attribute = None
    # Safecase's own fields, as its export names them: they win, and an imported attribute
    # called Status, ASIL, Kind, ... is then only an attribute.
    own = {
        normalised(n)[len(OWN_PREFIX) :]: v
        for n, v in obj.values.items()
        if normalised(n).startswith(OWN_PREFIX.casefold())
    }
    if own:
        from_safecase = True
        if own.get("kind") and kind_for(own["kind"]):
            fields["kind"] = kind_for(own["kind"])
        if own.get("asil") and asil_for(own["asil"]):
            fields["asil"] = asil_for(own["asil"])
        if own.get("status") and status_for(own["status"]):
            fields["status"] = status_for(own["status"])
        if "section" in own:
            fields["section"] = own["section"][:SECTION_MAX]
        if (own.get("code") or "").strip():
            code_attribute = own["code"].strip()
    for name, value in obj.values.items():
        key = normalised(name)
        if key.startswith(OWN_PREFIX.casefold()):
            continue
        if own and key in _OWN_NAMES:
            attributes[name] = value  # the tool's own column of that name
            continue
        role = ROLES.get(key)
        if role is not None:
            if role[0] == "foreign_id" and value.strip():
                kept[name] = value
            continue  # title, text and chapter name are the requirement's own fields
        if key == "code" and value.strip():
            code_attribute = value.strip()
            kept[name] = value
        elif key in _KIND_ATTRIBUTES and "kind" not in fields and _kind(profile, value):
            fields["kind"] = _kind(profile, value)
            if not from_safecase:
                attributes[name] = value  # kept as the tool wrote it
        elif is_asil_attribute(key) and "asil" not in fields and value.strip():
            asil = asil_for(value)
            if asil is None:
                notes.add(
                    f"ASIL value not readable (kept as attribute {name!r}; QM for a new "
                    "requirement, unchanged on re-import)",
                    f"{obj.identifier}: {value!r}",
                )
                attributes[name] = value
            else:
                fields["asil"] = asil
        elif key == "status" and "status" not in fields and _status(profile, value):
            fields["status"] = _status(profile, value)
            if not from_safecase:
                attributes[name] = value  # kept as the tool wrote it
        elif key == "version" and from_safecase:
            continue  # Safecase's own version counter: it grows here, not in the file
        elif key == "section" and from_safecase:
            fields["section"] = value[:SECTION_MAX]  # kept even without a heading above it
        else:
            if key in _KIND_ATTRIBUTES and value.strip() and "kind" not in fields:
                notes.add(
                    "kind value not recognised (kept as attribute; default kind used)",
                    f"{obj.identifier}: {value!r}",
                )
            elif key == "status" and value.strip() and "status" not in fields:
                notes.add(
                    "status value not a Safecase status (kept as attribute)",
                    f"{value!r}",
                )
            attributes[name] = value
    fields["attributes"] = attributes
    foreign = (obj.foreign_id or "").strip()
    codes = [c for c in (code_attribute, foreign) if c]
    if foreign and place.prefix:
        codes.append(f"{place.prefix}{foreign}")
    label = obj.foreign_id or obj.identifier
    return Incoming(_identifier_key(obj.identifier), codes, label, fields, kept)


def reqif_import(
    *,
    user,
    project: Project,
    data: bytes,
    filename: str,
    default_kind: str = "FSR",
    on_violation: str = REFUSE,
    profile: str | None = None,
) -> ImportReport:
    """Import a ReqIF document (``.reqif`` bytes) or archive (``.reqifz``) into ``project``.

    One transaction and one ledger entry. Raises :class:`UploadTooLarge` over the upload
    limit and ``ValidationError`` (key ``file``) for a file that cannot be read safely, in
    which case nothing is written. ``on_violation`` (``"refuse"`` or ``"note"``) says what a
    relation breaking a trace-link rule does: see :mod:`compliance.links`. ``profile`` names
    a tool profile (:mod:`compliance.reqif.profiles`); by default it is detected from the
    header. What the file holds is kept for a lossless export (see
    :mod:`compliance.interchange.source`).
    """
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    default_kind = check_default_kind(default_kind)
    on_violation = check_on_violation(on_violation)
    try:
        chosen = get_profile(profile)
    except ValueError as exc:
        raise ValidationError({"profile": str(exc)}) from None
    doc, files = _read_reqif(bytes(data), file_label(filename), chosen)
    used = PROFILES.get(doc.profile or "generic", PROFILES["generic"])
    notes = Notes()
    notes.extend(f"ReqIF: {w}" for w in doc.warnings)
    notes.extend(f"ReqIF (not imported): {u}" for u in doc.unmapped)
    from_safecase = doc.reqif_tool_id == "Safecase"
    places = _placements(doc)
    _shift_positions(project, places)
    keys = list(doc.objects)
    keys.sort(key=lambda k: places[k].position)
    items = [_incoming_object(doc.objects[k], places[k], from_safecase, notes, used) for k in keys]
    report = ImportReport(tool=doc.tool, profile=used.name)
    report.not_preserved.extend(doc.not_preserved)
    wanted = {data_ref for _owner, data_ref, _type in doc.embedded if data_ref}
    for name in sorted(wanted):
        if name not in files and not name.startswith("data:"):
            report.not_preserved.append(
                f"embedded object file {name!r} is not in the file (the reference is kept)"
            )
    label = file_label(filename)

    withhold_review_statuses(user, project, items, notes)
    with transaction.atomic():
        outcome = upsert(
            user, project, items, by_code=False, default_kind=default_kind, notes=notes
        )
        by_key = {k: r for k, r in zip(keys, outcome.requirements, strict=True)}
        # Relations may point at requirements imported earlier from another document.
        outside = {
            _identifier_key(ref)
            for relation in doc.relations
            for ref in (relation.source, relation.target)
            if ref and ref not in by_key
        }
        earlier = {
            r.reqif_identifier: r
            for r in Requirement.objects.filter(project=project, reqif_identifier__in=outside)
        }

        def end(ref: str) -> Requirement | None:
            return by_key.get(ref) or earlier.get(_identifier_key(ref))

        links = LinkBatch(user, project, on_violation=on_violation, note=notes.add)
        for relation in doc.relations:
            kind, known = link_kind_for(relation.type_name)
            source, target = end(relation.source), end(relation.target)
            reason = None
            if source is None or target is None:
                missing_end = "source" if source is None else "target"
                ref = relation.source if source is None else relation.target
                reason = f"the {missing_end} {ref!r} is not a requirement of this project"
            else:
                reason = links.add(
                    source,
                    kind,
                    target,
                    _identifier_key(relation.identifier),
                    where=f"relation {relation.identifier}",
                )
            if reason is not None:
                report.unmapped.append(
                    {
                        "relation": relation.identifier,
                        "type": relation.type_name,
                        "source": relation.source,
                        "target": relation.target,
                        "reason": reason,
                    }
                )
                continue
            report.links += 1
            if not known:
                notes.add(
                    f"relation type {relation.type_name!r} has no matching link kind; "
                    "imported as derives-from",
                    relation.identifier,
                )
        link_batch_write(links)
        keep(project, doc, label, by_key, _identifier_key, store_files(files))

        report.headings = sum(1 for item in items if item.fields["is_heading"])
        report.requirements = len(items) - report.headings
        report.created, report.updated = outcome.created, outcome.updated
        report.unchanged = outcome.unchanged
        report.warnings = notes.render()
        record_import(
            user,
            project,
            f"reqif-import:{label}",
            data,
            {
                "action": "import",
                "format": "reqif",
                "file": label,
                "bytes": len(data),
                "tool": doc.tool,
                "specObjects": len(doc.objects),
                "specRelations": len(doc.relations),
                **{
                    k: getattr(report, k)
                    for k in ("requirements", "headings", "links", "created", "updated")
                },
                "unchangedRequirements": report.unchanged,
                "unmapped": len(report.unmapped),
                "warnings": len(report.warnings),
            },
        )
    return report


# --- ReqIF export ----------------------------------------------------------------------------


def _export_identifier(project: Project, requirement: Requirement, seen: set[str]) -> str:
    identifier = requirement.reqif_identifier
    if (
        not identifier
        or not NCNAME.match(identifier)
        or identifier.startswith("_sc-")
        or identifier in seen
    ):
        identifier = f"safecase.{project.key}.{requirement.code}"
        n = 2
        while identifier in seen:
            identifier = f"safecase.{project.key}.{requirement.code}.{n}"
            n += 1
    seen.add(identifier)
    return identifier


def _hierarchy(ordered: list[tuple[Requirement, str]]) -> list[Hierarchy]:
    """Rebuild the tree: each item goes under the latest open heading whose path is its
    section; headings open a level for what follows."""
    roots: list[Hierarchy] = []
    stack: list[tuple[Hierarchy, str]] = []  # (heading node, section path inside it)
    for requirement, identifier in ordered:
        section = requirement.section
        while stack and not (
            section == stack[-1][1] or section.startswith(stack[-1][1] + SECTION_SEPARATOR)
        ):
            stack.pop()
        node = Hierarchy(identifier, [], requirement.is_heading)
        (stack[-1][0].children if stack else roots).append(node)
        if requirement.is_heading and requirement.title:
            path = (
                f"{section}{SECTION_SEPARATOR}{requirement.title}" if section else requirement.title
            )
            stack.append((node, path[:SECTION_MAX]))
    return roots


@dataclass
class ExportResult:
    """What :func:`reqif_export_with_report` wrote: the document, the files its embedded
    objects refer to (``{archive member name: bytes}``, for a ``.reqifz``), and the report
    (``not_preserved``: what could not be written as it was imported)."""

    data: bytes
    files: dict[str, bytes]
    objects: int = 0
    relations: int = 0
    not_preserved: list[str] = field(default_factory=list)

    def archive(self, member: str) -> bytes:
        """A ``.reqifz``: the document as ``member`` and the embedded objects' files."""
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, self.data)
            for name, content in sorted(self.files.items()):
                archive.writestr(name, content)
        return buffer.getvalue()

    def as_json(self) -> dict:
        return {
            "bytes": len(self.data),
            "objects": self.objects,
            "relations": self.relations,
            "files": sorted(self.files),
            "not_preserved": self.not_preserved,
        }


def reqif_export(*, user, project: Project) -> bytes:
    """The project's requirements, headings and requirement links as a ReqIF 1.2 document."""
    return reqif_export_with_report(user=user, project=project).data


def reqif_export_with_report(*, user, project: Project) -> ExportResult:
    """Export as :func:`reqif_export`, with the embedded files and the report.

    What came from a ReqIF import goes out as it came in (see
    :mod:`compliance.interchange.source`); Safecase's own fields as ``Safecase.<field>``.
    """
    require(user, project, Action.VIEW)
    with paused_gc():  # many small objects, none in a cycle: collecting them is wasted time
        return _export(project)


def _export(project: Project) -> ExportResult:
    now = _timestamp(dt.datetime.now(dt.UTC))
    notes = Notes()
    builder = Builder(project, now, notes)
    requirements = list(Requirement.objects.filter(project=project).order_by("position", "code"))
    seen: set[str] = set()
    kept = {r.pk: builder.kept(r) for r in requirements}
    identifiers: dict[int, str] = {}
    for r in requirements:  # kept identifiers first: they win a clash
        if (
            kept[r.pk] is not None
            and NCNAME.match(kept[r.pk]["id"])
            and kept[r.pk]["id"] not in seen
        ):
            identifiers[r.pk] = kept[r.pk]["id"]
            seen.add(identifiers[r.pk])
    for r in requirements:
        if r.pk not in identifiers:
            kept[r.pk] = None
            identifiers[r.pk] = _export_identifier(project, r, seen)
    objects: dict[str, SpecObject] = {}
    for r in requirements:
        record = kept[r.pk]
        if record is not None:
            obj = builder.kept_object(r, record, identifiers[r.pk])
        else:
            obj = builder.own_object(r, identifiers[r.pk], _timestamp(r.updated_at) or now)
        objects[obj.identifier] = obj
    relation_types: dict[str, str] = {}
    relations = []
    links = TraceLink.objects.filter(project=project, target_requirement__isnull=False).order_by(
        "id"
    )
    for pk, source_id, kind, target_id, identifier in links.values_list(
        "pk", "source_id", "kind", "target_requirement_id", "reqif_identifier"
    ):
        record = builder.kept_relation(identifier)
        ident = (record or {}).get("attrib", {}).get("IDENTIFIER") or identifier
        if not ident or not NCNAME.match(ident) or ident in seen:
            ident = f"safecase.{project.key}.link.{pk}"
        seen.add(ident)
        relation = SpecRelation(ident, identifiers[source_id], identifiers[target_id])
        if record is not None:
            relation.type_ref, relation.raw = record["type"], [tuple(v) for v in record["raw"]]
            relation.attrib = {**record["attrib"], "IDENTIFIER": ident}
        else:
            type_id = f"_sc-relation-type-{hashlib.sha256(kind.encode()).hexdigest()[:12]}"
            relation_types[kind] = type_id
            relation.type_ref, relation.attrib = type_id, {"IDENTIFIER": ident, "LAST-CHANGE": now}
        relations.append(relation)
    key_ids = {r.reqif_identifier: identifiers[r.pk] for r in requirements if kept[r.pk]}
    specifications = builder.kept_specifications(key_ids)
    rest = [r for r in requirements if identifiers[r.pk] not in builder.placed]
    if rest:
        builder.need_own_types = True
        spec = Specification(
            f"safecase.{project.key}.specification",
            children=_hierarchy([(r, identifiers[r.pk]) for r in rest]),
        )
        spec.type_ref = "_sc-specification-type"
        spec.attrib = {"IDENTIFIER": spec.identifier, "LAST-CHANGE": now, "LONG-NAME": project.name}
        while spec.identifier in seen:
            spec.identifier = spec.attrib["IDENTIFIER"] = spec.identifier + ".2"
        specifications.append(spec)
    datatypes, spec_types = builder.own_definitions(relation_types.items())
    first = builder.sources[0].content if len(builder.sources) == 1 else {}
    doc = ReqIFDocument(
        title=first.get("title") or f"{project.key}: {project.name}",
        tool=None,
        identifier=first.get("header_id") or f"safecase.{project.key}.export",
        objects=objects,
        relations=relations,
        specifications=specifications,
    )
    doc.header = dict(first.get("header") or {"SOURCE-TOOL-ID": "Safecase"})
    doc.sections = {}
    if builder.defs.groups:
        doc.sections["SPEC-RELATION-GROUPS"] = _wrap("SPEC-RELATION-GROUPS", builder.defs.groups)
    if builder.defs.extensions:
        doc.sections["TOOL-EXTENSIONS"] = _wrap("TOOL-EXTENSIONS", builder.defs.extensions)
    files: dict[str, bytes] = {}
    wanted = set()
    for obj in objects.values():
        wanted |= referenced_files(obj.raw or [])
    if wanted:
        store = default_store()
        for name in sorted(wanted):
            digest = builder.artifacts.get(name)
            if digest is None:
                if not name.startswith("data:"):
                    notes.add(
                        "embedded object file not kept (it was not in the imported archive)", name
                    )
                continue
            files[name] = store.get_bytes(artifact_key(digest))
    try:
        data = write_reqif_raw(
            doc, datatypes=[*builder.defs.datatypes.values(), *datatypes], spec_types=spec_types
        )
    except ReqIFError as exc:
        raise ValidationError({"reqif": str(exc)}) from exc
    return ExportResult(data, files, len(objects), len(relations), notes.render())


def _wrap(name: str, elements: list) -> str:
    from lxml import etree

    from compliance.reqif.document import REQIF_NS

    root = etree.Element(f"{{{REQIF_NS}}}{name}")
    root.extend(elements)
    return etree.tostring(root, encoding="unicode")


def _timestamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
