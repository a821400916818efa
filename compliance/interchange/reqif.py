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

ReqIF export (:func:`reqif_export`)
    ReqIF 1.2 with every requirement and heading, the attributes ASIL, Kind, Status, Version,
    Code and Section plus the stored extra attributes, every requirement-to-requirement link
    with its kind as relation type, and one specification whose tree is rebuilt from section
    and position. Links to safety goals are not written: goals are not ReqIF objects here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

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
    record_import,
    refuse,
    upsert,
    withhold_review_statuses,
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
from compliance.reqif.reader import parse_reqif
from compliance.reqif.writer import NCNAME, STANDARD_NAMES, write_reqif
from projects.models import Project
from projects.permissions import Action, require

__all__ = ["SECTION_SEPARATOR", "reqif_export", "reqif_import"]

SECTION_SEPARATOR = " / "

_IDENTIFIER_MAX = Requirement._meta.get_field("reqif_identifier").max_length
_KIND_ATTRIBUTES = frozenset(("kind", "type", "requirement kind", "requirement type"))
_EXPORT_ATTRIBUTES = ("ASIL", "Kind", "Status", "Version", "Code", "Section")


def _identifier_key(identifier: str) -> str:
    """The ``reqif_identifier`` stored for a ReqIF IDENTIFIER (hashed when too long)."""
    if len(identifier) <= _IDENTIFIER_MAX:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _read_reqif(data: bytes, label: str) -> ReqIFDocument:
    """Parse a .reqif document or the .reqif members of a .reqifz archive (merged).

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
            )
            documents = [parse_reqif(members[name]) for name in sorted(members)]
            return _merge(documents)
        return parse_reqif(data)
    except ReqIFError as exc:
        raise refuse(f"{label}: {exc}") from None


def _merge(documents: list[ReqIFDocument]) -> ReqIFDocument:
    if len(documents) == 1:
        return documents[0]
    first = documents[0]
    merged = ReqIFDocument(title=first.title, tool=first.tool, identifier=first.identifier)
    merged.reqif_tool_id = first.reqif_tool_id
    for doc in documents:
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
        merged.warnings.extend(doc.warnings)
        merged.unmapped.extend(doc.unmapped)
    return merged


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


def _incoming_object(obj: SpecObject, place: _Place, from_safecase: bool, notes: Notes) -> Incoming:
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
    for name, value in obj.values.items():
        key = normalised(name)
        role = ROLES.get(key)
        if role is not None:
            if role[0] == "foreign_id" and value.strip():
                kept[name] = value
            continue  # title, text and chapter name are the requirement's own fields
        if key == "code" and value.strip():
            code_attribute = value.strip()
            kept[name] = value
        elif key in _KIND_ATTRIBUTES and "kind" not in fields and kind_for(value):
            fields["kind"] = kind_for(value)
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
        elif key == "status" and "status" not in fields and status_for(value):
            fields["status"] = status_for(value)
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
) -> ImportReport:
    """Import a ReqIF document (``.reqif`` bytes) or archive (``.reqifz``) into ``project``.

    One transaction and one ledger entry. Raises :class:`UploadTooLarge` over the upload
    limit and ``ValidationError`` (key ``file``) for a file that cannot be read safely, in
    which case nothing is written. ``on_violation`` (``"refuse"`` or ``"note"``) says what a
    relation breaking a trace-link rule does: see :mod:`compliance.links`.
    """
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    default_kind = check_default_kind(default_kind)
    on_violation = check_on_violation(on_violation)
    doc = _read_reqif(bytes(data), file_label(filename))
    notes = Notes()
    notes.extend(f"ReqIF: {w}" for w in doc.warnings)
    notes.extend(f"ReqIF (not imported): {u}" for u in doc.unmapped)
    from_safecase = doc.reqif_tool_id == "Safecase"
    places = _placements(doc)
    _shift_positions(project, places)
    keys = list(doc.objects)
    keys.sort(key=lambda k: places[k].position)
    items = [_incoming_object(doc.objects[k], places[k], from_safecase, notes) for k in keys]
    report = ImportReport(tool=doc.tool)
    label = file_label(filename)

    withhold_review_statuses(user, project, items, notes)
    with transaction.atomic():
        outcome = upsert(user, project, items, by_code=False, default_kind=default_kind)
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


def reqif_export(*, user, project: Project) -> bytes:
    """The project's requirements, headings and requirement links as a ReqIF 1.2 document."""
    require(user, project, Action.VIEW)
    requirements = list(Requirement.objects.filter(project=project).order_by("position", "code"))
    seen: set[str] = set()
    identifiers = {r.pk: _export_identifier(project, r, seen) for r in requirements}
    extra_names: dict[str, None] = dict.fromkeys(_EXPORT_ATTRIBUTES)
    for requirement in requirements:
        for name in requirement.attributes or {}:
            if name not in STANDARD_NAMES:
                extra_names.setdefault(name, None)
    objects = []
    for requirement in requirements:
        values = {
            str(k): str(v)
            for k, v in (requirement.attributes or {}).items()
            if k not in STANDARD_NAMES and v is not None
        }
        values.update(
            {
                "ASIL": requirement.asil,
                "Kind": requirement.kind,
                "Status": requirement.status,
                "Version": str(requirement.version),
                "Code": requirement.code,
                "Section": requirement.section,
            }
        )
        objects.append(
            SpecObject(
                identifier=identifiers[requirement.pk],
                values=values,
                title=requirement.title or None,
                text=requirement.text or None,
                text_xhtml=requirement.text_xhtml or None,
                foreign_id=requirement.code,
                is_heading=requirement.is_heading,
                last_change=_timestamp(requirement.updated_at),
            )
        )
    relations = []
    links = TraceLink.objects.filter(project=project, target_requirement__isnull=False).order_by(
        "id"
    )
    for link in links.values_list(
        "pk", "source_id", "kind", "target_requirement_id", "reqif_identifier"
    ):
        pk, source_id, kind, target_id, identifier = link
        if not identifier or not NCNAME.match(identifier) or identifier in seen:
            identifier = f"safecase.{project.key}.link.{pk}"
        seen.add(identifier)
        relations.append(
            SpecRelation(
                identifier=identifier,
                source=identifiers[source_id],
                target=identifiers[target_id],
                type_name=kind,
            )
        )
    specification = Specification(
        identifier=f"safecase.{project.key}.specification",
        long_name=project.name,
        children=_hierarchy([(r, identifiers[r.pk]) for r in requirements]),
    )
    try:
        return write_reqif(
            f"{project.key}: {project.name}",
            objects,
            relations,
            [specification],
            list(extra_names),
            document_id=f"safecase.{project.key}.export",
        )
    except ReqIFError as exc:
        raise ValidationError({"reqif": str(exc)}) from exc


def _timestamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
