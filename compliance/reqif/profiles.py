"""Tool profiles: how each requirements tool's ReqIF dialect marks headings, kinds, statuses
and identifiers.

A profile is picked from the header's ``SOURCE-TOOL-ID`` (then ``REQ-IF-TOOL-ID``) by
:func:`detect`, or named by the user (``--profile``). Every profile starts from the generic
rules of :mod:`compliance.reqif` (the standard attribute names and the heading rule) and adds
its tool's habits:

========== ============================================================================
profile    what it adds
========== ============================================================================
generic    the standard names only
doors      DOORS 9 (Object Heading, Object Text, Absolute Number; a heading is an object
           with a heading and no text)
doors-next DOORS Next / ELM (Artifact Type "Heading", Identifier, status "Approved")
polarion   Polarion (work item type "heading"; statuses draft, reviewed, approved)
codebeamer Codebeamer (tracker item type "Folder"/"Information" are headings; ID)
jama       Jama Connect (item type "Folder"/"Set"/"Text" are headings; Global ID)
pror       ProR / ReqIF Studio (headline datatypes of the tool extension; ID)
simulink   Simulink Requirements (Summary exported as ReqIF.ChapterName is a title, not a
           heading; Type "Container" and "Informational" are headings; "#1" ids)
ea         Enterprise Architect (element type "Package"/"Heading" are headings; Alias,
           GUID; statuses Proposed, Approved, Implemented, Mandatory, Validated)
========== ============================================================================

Besides, in every profile an attribute ``Type`` (or ``Object Type``, ``Artifact Type``,
``Item Type``, ``Work Item Type``, ``Element Type``) whose value is ``Heading`` (or the
profile's own heading values) marks a heading, and one whose value is anything else marks a
requirement even when it has only a chapter name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PROFILES", "Profile", "detect", "get_profile"]

_TYPE_ATTRIBUTES = (
    "type",
    "object type",
    "artifact type",
    "item type",
    "work item type",
    "element type",
    "requirement type",
)


@dataclass(frozen=True)
class Profile:
    """One tool's mapping habits (see the module documentation)."""

    name: str
    label: str
    tool_markers: tuple[str, ...] = ()  # case-folded substrings of the header's tool ids
    chapter_marks_heading: bool = True  # a chapter name without text is a heading
    heading_values: frozenset[str] = frozenset({"heading", "headline", "chapter", "section"})
    type_attributes: tuple[str, ...] = _TYPE_ATTRIBUTES
    foreign_id_names: tuple[str, ...] = ()  # extra attribute names carrying the tool's id
    kinds: dict[str, str] = field(default_factory=dict)  # a tool's type value -> Safecase kind
    statuses: dict[str, str] = field(default_factory=dict)  # tool status -> Safecase status

    def kind_for(self, value: str) -> str | None:
        return self.kinds.get(" ".join(value.split()).casefold())

    def status_for(self, value: str) -> str | None:
        return self.statuses.get(" ".join(value.split()).casefold())


_HEADINGS = frozenset({"heading", "headline", "chapter", "section"})

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("generic", "Any ReqIF 1.x tool (standard attribute names)"),
        Profile(
            "doors",
            "IBM DOORS 9 (classic)",
            ("doors",),
            foreign_id_names=("absolute number",),
        ),
        Profile(
            "doors-next",
            "IBM DOORS Next / Engineering Lifecycle Management",
            ("doors next", "doors-next", "doorsnext", "jazz", "engineering requirements", "rm"),
            heading_values=_HEADINGS,
            foreign_id_names=("identifier",),
            statuses={"approved": "approved", "draft": "draft", "in review": "in_review"},
        ),
        Profile(
            "polarion",
            "Siemens Polarion ALM",
            ("polarion",),
            heading_values=_HEADINGS,
            statuses={
                "draft": "draft",
                "reviewed": "in_review",
                "in review": "in_review",
                "approved": "approved",
                "obsolete": "obsolete",
            },
        ),
        Profile(
            "codebeamer",
            "PTC Codebeamer",
            ("codebeamer", "intland"),
            heading_values=_HEADINGS | {"folder", "information"},
            foreign_id_names=("id",),
        ),
        Profile(
            "jama",
            "Jama Connect",
            ("jama",),
            heading_values=_HEADINGS | {"folder", "set", "text"},
            foreign_id_names=("global id", "document key"),
        ),
        Profile(
            "pror",
            "Eclipse ProR / formalmind ReqIF Studio",
            ("pror", "rmf", "reqif studio", "formalmind", "essentials"),
            foreign_id_names=("id",),
        ),
        Profile(
            "simulink",
            "MathWorks Simulink Requirements",
            ("simulink", "mathworks", "slreq"),
            chapter_marks_heading=False,
            heading_values=_HEADINGS | {"container", "informational"},
            foreign_id_names=("id", "index"),
            kinds={"functional": "FSR"},
        ),
        Profile(
            "ea",
            "Sparx Systems Enterprise Architect",
            ("enterprise architect", "sparx"),
            heading_values=_HEADINGS | {"package"},
            foreign_id_names=("alias", "guid"),
            statuses={
                "proposed": "draft",
                "approved": "approved",
                "implemented": "approved",
                "mandatory": "approved",
                "validated": "approved",
            },
        ),
    )
}


# DOORS Next before DOORS: its tool id contains "DOORS" too.
_DETECTION_ORDER = sorted(PROFILES.values(), key=lambda p: p.name != "doors-next")


def get_profile(name: str | None) -> Profile | None:
    """The profile called ``name`` (``None`` or ``"auto"``: None, detect later)."""
    if name is None or name == "auto":
        return None
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; use auto or one of {', '.join(PROFILES)}"
        ) from None


def detect(*tool_ids: str | None) -> Profile:
    """The profile whose marker occurs in the first tool id that has one, else generic.

    ``SOURCE-TOOL-ID`` is checked before ``REQ-IF-TOOL-ID``: the tool the data came from
    decides, not the exporter (ReqIF Studio exports DOORS data too). A short marker such as
    ``rm`` matches whole words only.
    """
    for tool in tool_ids:
        if not tool:
            continue
        folded = tool.casefold()
        words = set(folded.replace("-", " ").replace("_", " ").split())
        for profile in _DETECTION_ORDER:
            for marker in profile.tool_markers:
                if (marker in words) if len(marker) <= 3 else (marker in folded):
                    return profile
    return PROFILES["generic"]
