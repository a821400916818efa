"""A tool's values read as Safecase's: requirement kinds, ASILs, statuses, relation types, codes."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from compliance import iso26262
from compliance.models import (
    LinkKind,
    Requirement,
    RequirementKind,
    RequirementStatus,
    code_validator,
)
from compliance.reqif.names import normalised

__all__ = ["asil_for", "is_asil_attribute", "kind_for", "link_kind_for", "status_for", "valid_code"]

_CODE_MAX = Requirement._meta.get_field("code").max_length


def valid_code(code: str) -> bool:
    """Whether ``code`` may be a requirement's code (pattern and length)."""
    if not code or len(code) > _CODE_MAX:
        return False
    try:
        code_validator(code)
    except ValidationError:
        return False
    return True


_KIND_WORDS = (
    ("sotif", RequirementKind.SOTIF),
    ("functional safety", RequirementKind.FSR),
    ("technical safety", RequirementKind.TSR),
    ("software", RequirementKind.SW),
    ("hardware", RequirementKind.HW),
)
_KIND_CODES = {
    "FSR": RequirementKind.FSR,
    "TSR": RequirementKind.TSR,
    "SW": RequirementKind.SW,
    "SWSR": RequirementKind.SW,
    "SSR": RequirementKind.SW,
    "HW": RequirementKind.HW,
    "HWSR": RequirementKind.HW,
    "HSR": RequirementKind.HW,
    "SOTIF": RequirementKind.SOTIF,
}


def kind_for(value: str) -> str | None:
    """The requirement kind a tool's value names ("FSR", "HWSR", "Software requirement"), or
    None."""
    text = value.strip()
    if not text:
        return None
    code = re.sub(r"[\s_-]", "", text).upper()
    if code in _KIND_CODES:
        return _KIND_CODES[code].value
    lowered = normalised(text)
    for word, kind in _KIND_WORDS:
        if word in lowered:
            return kind.value
    return None


def asil_for(value: str) -> str | None:
    """The ASIL notation a tool's value gives ("ASIL B" -> "B", "b (d)" -> "B(D)"), or None."""
    text = re.sub(r"^\s*ASIL[\s_-]*", "", value, flags=re.IGNORECASE)
    text = re.sub(r"\s+", "", text).upper()
    try:
        return str(iso26262.parse_asil(text))
    except ValueError:
        return None


_STATUS_NAMES = {
    **{s.value: s.value for s in RequirementStatus},
    **{normalised(s.label): s.value for s in RequirementStatus},
    "in review": RequirementStatus.IN_REVIEW.value,
    "inreview": RequirementStatus.IN_REVIEW.value,
}


def status_for(value: str) -> str | None:
    """The Safecase status a tool's value names, by value or label ("In review"), or None."""
    return _STATUS_NAMES.get(normalised(value).replace("-", " "))


def is_asil_attribute(name: str) -> bool:
    """Whether a normalised attribute name names an ASIL ("asil", "asil level", "target asil")."""
    words = re.sub(r"[_\-()]", " ", name).split()
    return "asil" in words and len(words) <= 2


_RELATION_WORDS = (
    (("derive", "parent", "refine"), LinkKind.DERIVES_FROM),
    (("satisf",), LinkKind.SATISFIES),
    (("verif", "test"), LinkKind.VERIFIES),
    (("implement",), LinkKind.IMPLEMENTS),
    (("mitigat",), LinkKind.MITIGATES),
)


def link_kind_for(type_name: str | None) -> tuple[str, bool]:
    """``(link kind, recognised)`` for a ReqIF relation type name; unknown names give
    derives-from and False."""
    lowered = (type_name or "").casefold()
    if lowered in LinkKind.values:
        return lowered, True
    for words, kind in _RELATION_WORDS:
        if any(word in lowered for word in words):
            return kind.value, True
    return LinkKind.DERIVES_FROM.value, False
