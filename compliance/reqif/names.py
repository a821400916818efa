"""Which attribute names carry a spec object's chapter title, title, text and foreign id.

The standard names of the prostep ivip ReqIF Implementation Guide and the tools' own names,
matched case-insensitively after :func:`normalised` (see :mod:`compliance.reqif` for the lists
and the heading rule). The reader derives ``title``, ``text`` and ``foreign_id`` by them; the
writer and the importer leave attributes so named alone, since their content travels in those
fields.
"""

from __future__ import annotations

__all__ = ["ROLES", "normalised"]

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
# Normalised attribute name -> (role, rank); a lower rank wins when an object has several.
ROLES: dict[str, tuple[str, int]] = {}
for _role, _names in (
    ("chapter", _CHAPTER_NAMES),
    ("title", _TITLE_NAMES),
    ("text", _TEXT_NAMES),
    ("foreign_id", _FOREIGN_ID_NAMES),
):
    for _rank, _name in enumerate(_names):
        ROLES[_name] = (_role, _rank)


def normalised(name: str) -> str:
    """An attribute name as :data:`ROLES` is keyed: blanks collapsed, case folded."""
    return " ".join(name.split()).casefold()
