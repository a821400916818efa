"""The neutral structures a ReqIF document is read into and written from, and the one error.

Nothing here imports Django; :mod:`compliance.interchange` maps these structures onto models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "REQIF_NS",
    "XHTML_NS",
    "Hierarchy",
    "ReqIFDocument",
    "ReqIFError",
    "SpecObject",
    "SpecRelation",
    "Specification",
]

REQIF_NS = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
XHTML_NS = "http://www.w3.org/1999/xhtml"


class ReqIFError(ValueError):
    """A ReqIF document or archive could not be read or written safely."""


@dataclass(slots=True)
class SpecObject:
    """One ReqIF ``SPEC-OBJECT`` (a requirement, heading or other item).

    ``values`` maps each attribute definition's ``LONG-NAME`` to the value as text (XHTML as
    plain text, enumerations as literal names). ``title``, ``text``, ``text_xhtml`` (sanitised
    rich text), ``foreign_id`` and ``is_heading`` are derived as described in
    :mod:`compliance.reqif`.
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
    # What a lossless export needs; not part of equality. ``raw`` holds the values as written:
    # (kind, definition, value) with the THE-VALUE attribute, the ENUM-VALUE references (a
    # list) or the ATTRIBUTE-VALUE-XHTML element's XML. ``roles`` maps chapter/title/text/
    # foreign_id to the definition that carried it.
    type_ref: str | None = field(default=None, compare=False)
    attrib: dict[str, str] | None = field(default=None, compare=False)
    raw: list | None = field(default=None, compare=False)
    roles: dict[str, str] | None = field(default=None, compare=False)


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
    type_ref: str | None = field(default=None, compare=False)
    attrib: dict[str, str] | None = field(default=None, compare=False)
    raw: list | None = field(default=None, compare=False)


@dataclass(slots=True)
class Hierarchy:
    """One ``SPEC-HIERARCHY`` node: a place for a spec object in a specification's tree."""

    object_ref: str
    children: list[Hierarchy] = field(default_factory=list)
    is_heading: bool = False
    identifier: str | None = None
    attrib: dict[str, str] | None = field(default=None, compare=False)


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
    type_ref: str | None = field(default=None, compare=False)
    attrib: dict[str, str] | None = field(default=None, compare=False)
    raw: list | None = field(default=None, compare=False)


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
    # Kept for a lossless export: every header field, the definition sections as written
    # (DATATYPES, SPEC-TYPES, SPEC-RELATION-GROUPS, TOOL-EXTENSIONS), the (owner, data, type)
    # of each embedded object in rich text, the mapping profile used.
    header: dict[str, str] = field(default_factory=dict, compare=False)
    sections: dict[str, str] = field(default_factory=dict, compare=False)
    embedded: list[tuple[str, str, str]] = field(default_factory=list, compare=False)
    profile: str | None = field(default=None, compare=False)
    # What was read but is not kept, so a round trip cannot give it back.
    not_preserved: list[str] = field(default_factory=list, compare=False)
